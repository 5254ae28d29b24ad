//! How one value becomes one cell of a text table (TSV or pretty): strings
//! from untrusted sources (command lines, task names, kernel strings)
//! flattened to a single printable line, and socket addresses with `*` for
//! an unknown one. JSON does not use this; it escapes on its own.

use std::borrow::Cow;
use std::net::SocketAddr;

/// Replaces every control character (tab, newline, escape, ...) with a
/// space, so a cell can neither break a row nor drive the terminal.
pub(crate) fn one_line(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_control) {
        Cow::Owned(
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// `10.0.0.1:80`, `[fd00::1]:80`, or `*` when unknown.
pub(crate) fn addr(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "*".to_string(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(one_line("a\tb\nc\r\u{1b}[31md"), "a b c  [31md");
        assert!(matches!(one_line("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn addresses_bracket_ipv6_and_star_unknown() {
        assert_eq!(addr(Some("10.0.0.1:80".parse().unwrap())), "10.0.0.1:80");
        assert_eq!(addr(Some("[fd00::1]:80".parse().unwrap())), "[fd00::1]:80");
        assert_eq!(addr(None), "*");
    }
}
