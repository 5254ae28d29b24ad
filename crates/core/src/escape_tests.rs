use super::*;

const HOSTILE: &str = "a\u{1b}[2J\u{1b}]52;c;aGk=\u{7}b\tc\nd\r\u{7f}\u{9b}\u{202e}gpj.exe\u{2066}\u{200f}\u{61c}\u{2028}";

#[test]
fn terminal_text_shows_every_unsafe_character_escaped() {
    assert_eq!(
        for_terminal(HOSTILE),
        "a\\x1b[2J\\x1b]52;c;aGk=\\x07b\\x09c\\x0ad\\x0d\\x7f\\x9b\\u{202e}gpj.exe\\u{2066}\\u{200f}\\u{61c}\\u{2028}"
    );
}

#[test]
fn safe_text_is_borrowed_unchanged() {
    for s in [
        "curl",
        "grep -E a\\|b",
        "Straße",
        "日本語 🦀",
        "e\u{301}",
        "",
    ] {
        assert!(matches!(for_terminal(s), Cow::Borrowed(b) if b == s), "{s}");
    }
    assert!(matches!(reversible("plain"), Cow::Borrowed("plain")));
}

#[test]
fn escaped_text_holds_nothing_a_terminal_obeys() {
    for s in [for_terminal(HOSTILE), reversible(HOSTILE)] {
        assert!(!s.chars().any(is_unsafe), "{s}");
    }
}

#[test]
fn escaping_twice_for_a_terminal_changes_nothing() {
    let once = for_terminal(HOSTILE);
    assert_eq!(for_terminal(&once), once);
}

#[test]
fn reversible_doubles_backslashes_and_reads_back() {
    let s = "C:\\x1b is not ESC\u{1b}";
    assert_eq!(reversible(s), "C:\\\\x1b is not ESC\\x1b");
    for s in [s, HOSTILE, "", "\\", "\u{85}\u{2029}"] {
        assert_eq!(unescape(&reversible(s)).as_deref(), Some(s));
    }
}

#[test]
fn unescape_refuses_what_reversible_never_writes() {
    for s in [
        "\\",
        "\\q",
        "\\x1",
        "\\xzz",
        "\\u202e",
        "\\u{d800}",
        "\\u{zz}",
        "\\u{",
    ] {
        assert_eq!(unescape(s), None, "{s}");
    }
}
