//! The one rule for showing text that comes from outside netoproc — task
//! names, command lines, cgroup, unit and container names, DNS names and
//! answers, interface names — on a terminal or in a text file: every
//! character a terminal would obey instead of show is written as a visible
//! escape, so a hostile name can neither drive the terminal (clear it, set
//! the clipboard through OSC 52, retitle the window), nor reorder what is
//! shown around it (bidi overrides), nor break a row. It owns only the
//! rule; the views (pretty, TSV, the live view) call it on every such
//! string, and JSON keeps its own escaping.
//!
//! Escaped: C0 controls, DEL and C1 controls (`\x1b`, `\x09`, `\x9b`),
//! the bidi marks, embeddings, overrides and isolates (U+061C, U+200E,
//! U+200F, U+202A–U+202E, U+2066–U+2069) and the line and paragraph
//! separators U+2028/U+2029 (`\u{202e}`). Everything else, other scripts
//! and emoji included, is shown as it is.
//!
//! Hand-written: `char::escape_debug` also escapes quotes and combining
//! marks (mangling names in many scripts) and leaves C1 in a different
//! form; the rule is a few lines and must be the same in every view.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a terminal would act on `c` (or reorder the text around it)
/// rather than print it.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` for a person at a terminal (the pretty format, the live view):
/// unsafe characters escaped, backslashes kept as they are, so a command
/// line stays readable. Escaping twice changes nothing.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// `s` as one field of a line-oriented file (TSV): unsafe characters
/// escaped as in [`for_terminal`] and a backslash written `\\`, so the
/// field never holds a tab or a line break and the original text can be
/// read back exactly ([`unescape`]).
pub fn reversible(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, backslash: bool) -> Cow<'_, str> {
    let needs = |c: char| is_unsafe(c) || (backslash && c == '\\');
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' if backslash => out.push_str("\\\\"),
            c if is_unsafe(c) && u32::from(c) < 0x100 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The text [`reversible`] was given, or `None` when `s` holds an escape
/// [`reversible`] does not write. For tests and for readers of TSV.
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let (c, used) = match tail.as_bytes().first()? {
            b'\\' => ('\\', 1),
            b'x' => {
                let hex = tail.get(1..3)?;
                (char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, 3)
            }
            b'u' => {
                let end = tail.find('}')?;
                let hex = tail.get(2..end).filter(|_| tail.get(1..2) == Some("{"))?;
                (char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, end + 1)
            }
            _ => return None,
        };
        out.push(c);
        rest = &tail[used..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
#[path = "escape_tests.rs"]
mod tests;
