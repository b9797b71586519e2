//! Quoting user input in messages: `'...'` with control and bidi characters escaped.
//!
//! A target or value is echoed back in usage errors and log lines. Raw, an ESC could recolour or
//! rewrite the user's terminal and a U+202E could reverse what they read, so every user string
//! goes through `quoted`, which escapes them Rust-style (`\u{1b}`), as well as `\` and `'`.

use std::fmt::{self, Write};

/// `s` between single quotes, with the characters a terminal would act on escaped.
pub fn quoted(s: &str) -> Quoted<'_> {
    Quoted(s)
}

/// `s` with the characters a terminal would act on escaped, without quotes: for text that
/// others wrote around user input (a library's error message).
pub fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// See [`quoted`].
pub struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('\'')?;
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\'' => f.write_str("\\'")?,
                c if needs_escape(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('\'')
    }
}

/// Control characters (C0, DEL, C1) and the invisible format characters that reorder or hide
/// text: zero-width and directional marks, bidi embeddings, overrides and isolates, the BOM.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_acts_on() {
        assert_eq!(quoted("db:5432").to_string(), "'db:5432'");
        assert_eq!(quoted("a\x1b[31mb").to_string(), "'a\\u{1b}[31mb'");
        assert_eq!(quoted("x\u{202e}y").to_string(), "'x\\u{202e}y'");
        assert_eq!(quoted("it's a\\b").to_string(), "'it\\'s a\\\\b'");
        assert_eq!(
            quoted("\u{7f}\u{85}\t\n").to_string(),
            "'\\u{7f}\\u{85}\\u{9}\\u{a}'"
        );
        assert_eq!(quoted("héllo ✓").to_string(), "'héllo ✓'");
        assert_eq!(escaped("bad \u{200e}x' \\"), "bad \\u{200e}x' \\");
    }
}
