//! DURATION text: parsing what users write, and writing durations and timestamps in log lines.
//!
//! The grammar and the output are humantime 2.4's (`parse_duration`, `format_duration`,
//! `format_rfc3339_millis`), which this program used before: the same inputs are accepted with
//! the same values, and the same text is written, so options, logs and tests did not change.
//! Our own copy is smaller and never panics (humantime's timestamp expects a time after 1970).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS: u64 = 1_000_000_000;
/// humantime's month, 30.44 days, and year, 365.25 days, in seconds.
const MONTH: u64 = 2_630_016;
const YEAR: u64 = 31_557_600;

/// Why a text is not a duration. Offsets are in bytes; the caller quotes the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Nothing but whitespace.
    Empty,
    /// The character at this offset fits nowhere: a number, a digit or a unit was expected.
    Unexpected(usize),
    /// The unit between these offsets is missing (an empty range) or unknown.
    Unit(usize, usize),
    /// A number too large for its unit, or a fraction finer than a nanosecond.
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DurationError::Empty => f.write_str("it is empty"),
            DurationError::Unexpected(at) => write!(f, "unexpected character at byte {at}"),
            DurationError::Unit(at, end) if at == end => write!(f, "no unit at byte {at}"),
            DurationError::Unit(at, _) => write!(f, "unknown unit at byte {at}"),
            DurationError::Overflow => f.write_str("too large, or finer than a nanosecond"),
        }
    }
}

/// Nanoseconds in one of a unit, by any of humantime's names for it.
fn unit(name: &str) -> Option<u64> {
    Some(match name {
        "nanos" | "nsec" | "ns" => 1,
        "usec" | "us" | "µs" => 1_000,
        "millis" | "msec" | "ms" => 1_000_000,
        "seconds" | "second" | "secs" | "sec" | "s" => NANOS,
        "minutes" | "minute" | "min" | "mins" | "m" => 60 * NANOS,
        "hours" | "hour" | "hr" | "hrs" | "h" => 3_600 * NANOS,
        "days" | "day" | "d" => 86_400 * NANOS,
        "weeks" | "week" | "wk" | "wks" | "w" => 7 * 86_400 * NANOS,
        "months" | "month" | "M" => MONTH * NANOS,
        "years" | "year" | "yr" | "yrs" | "y" => YEAR * NANOS,
        _ => return None,
    })
}

/// A letter of a unit's name.
fn is_unit_char(c: char) -> bool {
    c.is_ascii_alphabetic() || c == 'µ'
}

/// `a * b`, or `a / b` when exact; anything else is an overflow, as in humantime.
fn mul(a: u64, b: u64) -> Result<u64, DurationError> {
    a.checked_mul(b).ok_or(DurationError::Overflow)
}
fn div(a: u64, b: u64) -> Result<u64, DurationError> {
    match a % b {
        0 => Ok(a / b),
        _ => Err(DurationError::Overflow),
    }
}

/// Adds seconds and nanoseconds (any number of them) to `total`.
fn add(total: &mut Duration, secs: u64, nanos: u64) -> Result<(), DurationError> {
    let nanos = u64::from(total.subsec_nanos())
        .checked_add(nanos)
        .ok_or(DurationError::Overflow)?;
    // checked_add, not Duration::new, whose overflow check would panic.
    *total = total
        .as_secs()
        .checked_add(secs)
        .and_then(|s| s.checked_add(nanos / NANOS))
        .map(Duration::from_secs)
        .and_then(|d| d.checked_add(Duration::from_nanos(nanos % NANOS)))
        .ok_or(DurationError::Overflow)?;
    Ok(())
}

/// Parses a sequence of NUMBER[.FRACTION]UNIT items, such as `1h 30m`, `1.5s` or `2min10s`.
///
/// Exactly humantime 2.4's grammar: whitespace may stand between items and, as there, between
/// the digits of a number; a bare `0` (and no other number) needs no unit; a month is 30.44 days
/// and a year 365.25 days; a fraction must come out in whole nanoseconds (whole seconds for
/// hours and longer units); every overflow is an error, never a panic.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut chars = text.char_indices().peekable();
    let mut total = Duration::ZERO;
    let mut items = 0;
    loop {
        while chars.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None if items == 0 => return Err(DurationError::Empty),
            None => return Ok(total),
            Some(&(_, c)) if c.is_ascii_digit() => items += 1,
            Some(&(at, _)) => return Err(DurationError::Unexpected(at)),
        }
        // The number: digits, then maybe a point and more digits (numerator / denominator).
        let mut whole = 0u64;
        let mut fraction = None;
        while let Some(&(at, c)) = chars.peek() {
            if let Some(digit) = c.to_digit(10) {
                whole = mul(whole, 10)?
                    .checked_add(u64::from(digit))
                    .ok_or(DurationError::Overflow)?;
            } else if c == '.' {
                chars.next();
                let (mut num, mut den) = (0u64, 1u64);
                let mut end = at + 1;
                while let Some(&(at, c)) = chars.peek() {
                    if let Some(digit) = c.to_digit(10) {
                        den = mul(den, 10)?;
                        num = mul(num, 10)?
                            .checked_add(u64::from(digit))
                            .ok_or(DurationError::Overflow)?;
                    } else if is_unit_char(c) {
                        break;
                    } else if !c.is_whitespace() {
                        return Err(DurationError::Unexpected(at));
                    }
                    chars.next();
                    end = at + c.len_utf8();
                }
                if den == 1 {
                    return Err(DurationError::Unexpected(end));
                }
                fraction = Some((num, den));
                break;
            } else if is_unit_char(c) {
                break;
            } else if !c.is_whitespace() {
                return Err(DurationError::Unexpected(at));
            }
            chars.next();
        }
        // The unit: letters up to a digit (the next item), whitespace or the end.
        let start = chars.peek().map_or(text.len(), |&(at, _)| at);
        while chars.next_if(|&(_, c)| is_unit_char(c)).is_some() {}
        let end = match chars.peek() {
            None => text.len(),
            Some(&(at, c)) if c.is_ascii_digit() || c.is_whitespace() => at,
            Some(&(at, _)) => return Err(DurationError::Unexpected(at)),
        };
        let Some(per) = unit(&text[start..end]) else {
            return Err(DurationError::Unit(start, end));
        };
        // In humantime's arithmetic, so that the same values overflow: units below a second
        // count in nanoseconds, the others in seconds; a fraction of a minute or less in
        // nanoseconds, of an hour or more in seconds.
        if per < NANOS {
            add(&mut total, 0, mul(whole, per)?)?;
        } else {
            add(&mut total, mul(whole, per / NANOS)?, 0)?;
        }
        if let Some((num, den)) = fraction {
            if per == 1 {
                return Err(DurationError::Overflow);
            } else if per <= 60 * NANOS {
                add(&mut total, 0, div(mul(num, per)?, den)?)?;
            } else {
                add(&mut total, div(mul(num, per / NANOS)?, den)?, 0)?;
            }
        }
    }
}

/// Writes a duration as humantime's `format_duration` does: `1h 30m`, `500ms`, `2days 3h`, `0s`.
pub fn format(d: Duration) -> impl fmt::Display {
    Formatted(d)
}

struct Formatted(Duration);

impl fmt::Display for Formatted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, nanos) = (self.0.as_secs(), u64::from(self.0.subsec_nanos()));
        if secs == 0 && nanos == 0 {
            return f.write_str("0s");
        }
        let day = secs % YEAR % MONTH;
        let items: [(u64, &str); 9] = [
            (secs / YEAR, "year"),
            (secs % YEAR / MONTH, "month"),
            (day / 86_400, "day"),
            (day % 86_400 / 3_600, "h"),
            (day % 3_600 / 60, "m"),
            (day % 60, "s"),
            (nanos / 1_000_000, "ms"),
            (nanos / 1_000 % 1_000, "us"),
            (nanos % 1_000, "ns"),
        ];
        let mut sep = "";
        for (i, &(n, name)) in items.iter().enumerate() {
            if n > 0 {
                // Years, months and days take a plural s; the short units do not.
                let plural = if i < 3 && n > 1 { "s" } else { "" };
                write!(f, "{sep}{n}{name}{plural}")?;
                sep = " ";
            }
        }
        Ok(())
    }
}

/// Writes a time in UTC as humantime's `format_rfc3339_millis` does: `2026-12-06T02:39:00.123Z`.
///
/// A time before 1970 is written as 1970-01-01T00:00:00.000Z and one after the year 9999 as
/// 9999-12-31T23:59:59.999Z (where humantime panics or fails).
pub fn rfc3339_millis(t: SystemTime) -> impl fmt::Display {
    Timestamp(t)
}

struct Timestamp(SystemTime);

/// The first second of the year 10000.
const YEAR_10000: u64 = 253_402_300_800;

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        let (secs, millis) = match since.as_secs() {
            s if s >= YEAR_10000 => (YEAR_10000 - 1, 999),
            s => (s, u64::from(since.subsec_millis())),
        };
        let (year, month, day) = civil(secs / 86_400);
        let mut buf = *b"0000-00-00T00:00:00.000Z";
        for (at, width, n) in [
            (0, 4, year),
            (5, 2, month),
            (8, 2, day),
            (11, 2, secs % 86_400 / 3_600),
            (14, 2, secs % 3_600 / 60),
            (17, 2, secs % 60),
            (20, 3, millis),
        ] {
            let mut n = n;
            for b in buf[at..at + width].iter_mut().rev() {
                *b = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

/// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`: years of 400 starting on March 1st, so that February comes last).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (era * 400 + yoe + u64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small xorshift generator: the random inputs repeat from run to run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len() as u64) as usize]
        }
    }

    /// Ours and humantime agree: the same value, or both refuse. humantime panics on one
    /// overflow (u64::MAX seconds and a carried second); we refuse that too.
    fn agree(text: &str) -> bool {
        let ours = parse(text).ok();
        let theirs = std::panic::catch_unwind(|| humantime::parse_duration(text).ok());
        assert_eq!(ours, theirs.unwrap_or(None), "parse({text:?})");
        ours.is_some()
    }

    const UNITS: &[&str] = &[
        "nanos", "nsec", "ns", "usec", "us", "µs", "millis", "msec", "ms", "seconds", "second",
        "secs", "sec", "s", "minutes", "minute", "min", "mins", "m", "hours", "hour", "hr", "hrs",
        "h", "days", "day", "d", "weeks", "week", "wk", "wks", "w", "months", "month", "M",
        "years", "year", "yr", "yrs", "y", "", "S", "H", "D", "mon", "sek", "msecs", "µ", "nights",
    ];

    #[test]
    fn parses_as_humantime_on_a_table() {
        for text in [
            "0",
            "00",
            " 0",
            "0 ",
            "0s",
            "0.0s",
            "1",
            "15",
            "15s",
            "500ms",
            "5m",
            "1h 30m",
            "1h30m",
            "2h 37min",
            "1.5s",
            "4.2s",
            "0.5h",
            "1.5d",
            "2.5h",
            "1.7m",
            "12.1min",
            "3.1us",
            "3.0001us",
            "31.000001ms",
            "31.0000001ms",
            "1.123456789s",
            "1.0000000002s",
            "0.0000000002s",
            "17.5ns",
            "1.0ns",
            "0.00000005d",
            "1.s",
            "1..s",
            ".1s",
            ".",
            "1. s",
            "1 .5s",
            "1.5 5s",
            "1 2s",
            "1 2 s",
            "20 min 17 nsec ",
            "7.120us 3ns",
            "1.234s0.345ms0.678us0ns",
            "1s ",
            " 1s",
            "1s .",
            "1s s",
            "1s,2s",
            "1s-",
            "-1s",
            "+1s",
            "1s 2",
            "10 months 1",
            "10nights",
            "1Nå",
            "1~",
            "\0",
            "\r",
            "",
            " ",
            "\u{a0}1s",
            "1\u{2003}s",
            "1µs",
            "163µs",
            "1µ",
            "1sµ",
            "5s5",
            "5s 5s 5s",
            "1e3s",
            "1E3s",
            "0x10s",
            "１s",
            "1ｓ",
            "1.5",
            "1.5 ",
            "1h 1.5",
            "100000000000000000000ns",
            "18446744073709551615ns",
            "18446744073709551616ns",
            "18446744073709551615s",
            "18446744073709551615s 1s",
            "18446744073709551615s 999999999ns",
            "18446744073709551615s 1000000000ns",
            "100000000000000ms",
            "10000000000000y",
            "584542046090y",
            "584542046091y",
            "1.12345678901m",
            "1.1234567890123456789s",
            "1.12345678901234567890s",
            "0.99999999999999999999y",
            "999999999.999999999s",
            "1000000000000000000000000s",
            "1y 1M 1w 1d 1h 1m 1s 1ms 1us 1ns",
        ] {
            agree(text);
        }
    }

    #[test]
    fn parses_as_humantime_on_random_texts() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let pieces = &[
            "0",
            "1",
            "5",
            "9",
            "10",
            "15",
            "30",
            "60",
            "90",
            "123",
            "999",
            "1000",
            "4294967296",
            "18446744073709551615",
            "99999999999",
        ];
        let gaps = &["", "", " ", "  ", "\t", "."];
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut text = String::new();
            for _ in 0..=rng.below(3) {
                text.push_str(rng.pick(gaps));
                text.push_str(rng.pick(pieces));
                if rng.below(3) == 0 {
                    text.push('.');
                    text.push_str(rng.pick(pieces));
                }
                text.push_str(rng.pick(gaps));
                text.push_str(rng.pick(UNITS));
            }
            accepted += usize::from(agree(&text));
        }
        // Not only refusals agree: about a quarter of these are durations.
        assert!(accepted > 40_000, "only {accepted} accepted");
        // Any bytes from a small alphabet, so that odd mixtures meet too.
        let alphabet: Vec<char> = "0123456789 .smhdyMµnu,-x".chars().collect();
        let mut accepted = 0;
        for _ in 0..200_000 {
            let text: String = (0..rng.below(9))
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            accepted += usize::from(agree(&text));
        }
        assert!(accepted > 4_000, "only {accepted} accepted");
    }

    #[test]
    fn parses_what_users_write() {
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("5"), Err(DurationError::Unit(1, 1)));
        assert_eq!(parse("5 parsecs"), Err(DurationError::Unit(2, 9)));
        assert_eq!(parse(" "), Err(DurationError::Empty));
        assert_eq!(parse("1s,2s"), Err(DurationError::Unexpected(2)));
        assert_eq!(parse("1.s"), Err(DurationError::Unexpected(2)));
        assert_eq!(parse("0.5ns"), Err(DurationError::Overflow));
        assert_eq!(parse("18446744073709551616s"), Err(DurationError::Overflow));
    }

    fn check_format(d: Duration) {
        let ours = format(d).to_string();
        assert_eq!(ours, humantime::format_duration(d).to_string(), "{d:?}");
        assert_eq!(parse(&ours), Ok(d), "{ours}");
    }

    #[test]
    fn formats_as_humantime() {
        for (secs, nanos) in [
            (0, 0),
            (0, 1),
            (0, 500_000_000),
            (1, 0),
            (90, 0),
            (5_400, 0),
            (86_400, 0),
            (2 * 86_400 + 3 * 3_600, 0),
            (MONTH, 0),
            (2 * MONTH + 1, 0),
            (YEAR, 0),
            (2 * YEAR + MONTH + 86_400 + 3_661, 1_001_001),
            (u64::MAX, 999_999_999),
        ] {
            check_format(Duration::new(secs, nanos));
        }
        assert_eq!(
            format(Duration::from_millis(90_500)).to_string(),
            "1m 30s 500ms"
        );
        let mut rng = Rng(12_345);
        for _ in 0..100_000 {
            let secs = match rng.below(3) {
                0 => rng.below(100_000),
                1 => rng.below(10 * YEAR),
                _ => rng.next(),
            };
            let nanos = match rng.below(3) {
                0 => 0,
                1 => rng.below(1_000) * 1_000_000,
                _ => rng.below(NANOS),
            };
            check_format(Duration::new(secs, nanos as u32));
        }
    }

    fn check_timestamp(secs: u64, nanos: u32) {
        let t = UNIX_EPOCH + Duration::new(secs, nanos);
        let theirs = humantime::format_rfc3339_millis(t).to_string();
        assert_eq!(rfc3339_millis(t).to_string(), theirs, "{secs}.{nanos:09}");
    }

    #[test]
    fn timestamps_as_humantime() {
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::new(1_796_524_740, 123_456_789)).to_string(),
            "2026-12-06T02:39:00.123Z"
        );
        for (secs, nanos) in [
            (0, 0),
            (0, 999_999_999),
            (86_399, 1_000_000),
            (951_782_400, 0),   // 2000-02-29
            (951_868_799, 0),   // 2000-02-29T23:59:59
            (4_107_542_400, 0), // 2100-03-01
            (YEAR_10000 - 1, 999_999_999),
        ] {
            check_timestamp(secs, nanos);
        }
        let mut rng = Rng(777);
        for _ in 0..100_000 {
            check_timestamp(rng.below(YEAR_10000), rng.below(NANOS) as u32);
        }
        // Every day of four centuries, at noon.
        for day in 0..146_097 {
            check_timestamp(day * 86_400 + 43_200, 0);
        }
    }

    #[test]
    fn timestamps_outside_humantime_do_not_panic() {
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(
            rfc3339_millis(before).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        let after = UNIX_EPOCH + Duration::from_secs(YEAR_10000 + 86_400);
        assert_eq!(
            rfc3339_millis(after).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
