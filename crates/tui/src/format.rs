//! Numbers as the live view prints them: byte amounts with binary prefixes
//! (KiB, MiB, … as in the snapshot table), bit amounts with decimal ones
//! (kb, Mb, … as network people count), rates with `/s`, and strings fitted
//! to a column with an ellipsis — after [`netoproc_core::escape::for_terminal`],
//! so a name from outside shows its control and bidi characters escaped and
//! is fitted as it will be seen. Pure string work; nothing here draws.
//!
//! Hand-written for the same reason as the export crate's units: it is a
//! few lines, and the crates that do it differ in rounding and spacing.

use netoproc_core::escape::for_terminal;
use unicode_width::UnicodeWidthChar;

const BYTE_UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
const BIT_UNITS: [&str; 7] = ["b", "kb", "Mb", "Gb", "Tb", "Pb", "Eb"];

/// How amounts are shown: bytes (binary prefixes) or bits (decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// Bytes with binary prefixes (KiB, MiB, ...).
    #[default]
    Bytes,
    /// Bits with decimal prefixes (kb, Mb, ...).
    Bits,
}

/// `1536` bytes → `"1.5 KiB"`; in bits → `"12.3 kb"`.
pub fn amount(bytes: f64, unit: Unit) -> String {
    let (mut v, step, units) = match unit {
        Unit::Bytes => (bytes, 1024.0, &BYTE_UNITS),
        Unit::Bits => (bytes * 8.0, 1000.0, &BIT_UNITS),
    };
    let mut i = 0;
    if v.round() < step {
        return format!("{:.0} {}", v.max(0.0), units[0]);
    }
    while i + 1 < units.len() && (v * 10.0).round() >= step * 10.0 {
        v /= step;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

/// A rate: [`amount`] per second, `"1.5 KiB/s"`.
pub fn rate(bytes_per_sec: f64, unit: Unit) -> String {
    format!("{}/s", amount(bytes_per_sec, unit))
}

/// Plain counts with thousands grouped by commas: `1234567` → `"1,234,567"`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    // Digits before the first comma: 1 to 3.
    let head = (digits.len() - 1) % 3 + 1;
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(&digits[..head]);
    for group in digits.as_bytes()[head..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    out
}

/// `s`, escaped for a terminal, cut to `width` columns, ending in `…` when
/// cut.
pub fn fit_end(s: &str, width: usize) -> String {
    let s = &*for_terminal(s);
    if display_width(s) <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// `s`, escaped for a terminal, cut to `width` columns from the left,
/// starting with `…` when cut, so the end of an address (its port) stays
/// visible.
pub fn fit_start(s: &str, width: usize) -> String {
    let s = &*for_terminal(s);
    if display_width(s) <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut tail: Vec<char> = Vec::new();
    let mut w = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        tail.push(c);
        w += cw;
    }
    std::iter::once('…').chain(tail.into_iter().rev()).collect()
}

fn display_width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// A time in ms, in at most 7 cells: `0.42 ms`, `12.3 ms`, `187 ms`,
/// `1.24 s`, `12.3 s`, `187 s`.
pub fn millis(ms: f64) -> String {
    let ms = ms.max(0.0);
    // Rounded as printed, so 9.996 is `10.0 ms`, not `10.00 ms`.
    let under = |v: f64, decimals: i32, limit: f64| {
        let p = 10f64.powi(decimals);
        (v * p).round() / p < limit
    };
    if under(ms, 2, 10.0) {
        format!("{ms:.2} ms")
    } else if under(ms, 1, 100.0) {
        format!("{ms:.1} ms")
    } else if under(ms, 0, 1000.0) {
        format!("{ms:.0} ms")
    } else {
        let s = ms / 1000.0;
        if under(s, 2, 10.0) {
            format!("{s:.2} s")
        } else if under(s, 1, 100.0) {
            format!("{s:.1} s")
        } else {
            format!("{s:.0} s")
        }
    }
}

/// `h:mm:ss` for an uptime.
pub fn clock(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_binary_prefixes() {
        assert_eq!(amount(0.0, Unit::Bytes), "0 B");
        assert_eq!(amount(1023.0, Unit::Bytes), "1023 B");
        assert_eq!(amount(1536.0, Unit::Bytes), "1.5 KiB");
        assert_eq!(amount(1024.0 * 1024.0 - 1.0, Unit::Bytes), "1.0 MiB");
        assert_eq!(rate(3.0 * 1024.0 * 1024.0, Unit::Bytes), "3.0 MiB/s");
    }

    #[test]
    fn bits_use_decimal_prefixes() {
        assert_eq!(amount(100.0, Unit::Bits), "800 b");
        assert_eq!(amount(125.0, Unit::Bits), "1.0 kb");
        assert_eq!(rate(125_000_000.0, Unit::Bits), "1.0 Gb/s");
    }

    #[test]
    fn counts_and_clock() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(clock(3725), "1:02:05");
    }

    #[test]
    fn millis_fit_seven_cells() {
        assert_eq!(millis(0.4213), "0.42 ms");
        assert_eq!(millis(9.996), "10.0 ms");
        assert_eq!(millis(12.34), "12.3 ms");
        assert_eq!(millis(99.96), "100 ms");
        assert_eq!(millis(187.4), "187 ms");
        assert_eq!(millis(999.7), "1.00 s");
        assert_eq!(millis(12_345.0), "12.3 s");
        assert_eq!(millis(3_600_000.0), "3600 s");
        assert_eq!(millis(-1.0), "0.00 ms");
    }

    #[test]
    fn fitting_keeps_the_useful_end() {
        assert_eq!(fit_end("firefox-bin", 6), "firef…");
        assert_eq!(fit_end("ok", 6), "ok");
        assert_eq!(fit_start("[2001:db8::10]:51544", 10), "…10]:51544");
        assert_eq!(fit_start("abc", 0), "");
    }

    #[test]
    fn fitting_escapes_first_and_cuts_what_is_seen() {
        assert_eq!(fit_end("a\u{1b}[2Jb", 20), "a\\x1b[2Jb");
        assert_eq!(fit_end("a\u{1b}[2Jb", 4), "a\\x…");
        assert_eq!(fit_start("x\u{202e}gpj.exe", 12), "…02e}gpj.exe");
    }
}
