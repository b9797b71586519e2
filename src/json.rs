//! A JSON object on one line, written by hand: the log lines of `--log-format json`.
//!
//! Log pipelines (Loki, Elasticsearch, Cloud Logging) parse every line, so every line must be
//! valid JSON whatever a target or reason holds. Strings are escaped as RFC 8259 requires (`"`,
//! `\` and every control character), plus U+2028/U+2029, which some JavaScript readers choke on.

use std::fmt::Write;

/// Builds `{"key":value,...}`; keys are fixed names, values are escaped.
pub struct Object(String);

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

impl Object {
    pub fn new() -> Object {
        Object(String::from("{"))
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        string(&mut self.0, key);
        self.0.push(':');
    }

    /// A string member.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Object {
        self.key(key);
        string(&mut self.0, value);
        self
    }

    /// A number member, written as given: the caller passes digits (`12`, `0.250`).
    pub fn raw_number(&mut self, key: &str, digits: &str) -> &mut Object {
        self.key(key);
        self.0.push_str(digits);
        self
    }

    /// An array of strings.
    pub fn strs(&mut self, key: &str, values: &[String]) -> &mut Object {
        self.key(key);
        self.0.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            string(&mut self.0, v);
        }
        self.0.push(']');
        self
    }

    /// The finished object and a newline.
    pub fn line(mut self) -> String {
        self.0.push_str("}\n");
        self.0
    }
}

/// Appends `s` as a JSON string.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_requires() {
        let mut o = Object::new();
        o.str("msg", "a \"q\" \\ \n\t\u{1b}\u{2028}é")
            .raw_number("elapsed", "1.250")
            .strs("addresses", &["10.0.0.1".into(), "::1".into()]);
        assert_eq!(
            o.line(),
            "{\"msg\":\"a \\\"q\\\" \\\\ \\n\\t\\u001b\\u2028é\",\"elapsed\":1.250,\
             \"addresses\":[\"10.0.0.1\",\"::1\"]}\n"
        );
        assert_eq!(Object::new().line(), "{}\n");
    }
}
