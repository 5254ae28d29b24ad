//! Errors as text: [`Chain`] shows an error and every source below it on one
//! line (`what: why: the OS's words`), for the places that keep an error as
//! a string (`meta.degraded`, `doctor`, a hook's status). Error types keep
//! their cause as a `#[source]` and do not print it in their own message,
//! so the text here says each cause once. It never decides what an error
//! means; [`io_error`] finds the OS error behind one for the code that does.

use std::error::Error;
use std::fmt;
use std::io;

/// An error and its sources, joined with `": "`. A source whose text the
/// line already holds is skipped (some libraries repeat their source in
/// their own message).
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut cur = self.0.source();
        while let Some(e) = cur {
            let text = e.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            cur = e.source();
        }
        f.write_str(&line)
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The first [`io::Error`] in an error's chain (the error itself included).
pub fn io_error<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a io::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
