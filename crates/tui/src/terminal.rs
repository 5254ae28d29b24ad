//! Owning the real terminal for the length of the live view: raw mode, the
//! alternate screen and mouse capture on [`TerminalSession::enter`], and
//! always back to normal — when the session is dropped, on an early return,
//! and on panic (the hook restores the terminal before the panic message is
//! printed).
//! The only module here that touches the terminal; tests use `TestBackend`.

use std::io::{self, Stdout};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

/// A ratatui terminal drawing to stdout through crossterm.
pub type RealTerminal = Terminal<CrosstermBackend<Stdout>>;

/// The terminal in raw mode on the alternate screen, reporting the mouse,
/// until dropped.
pub struct TerminalSession {
    terminal: RealTerminal,
}

impl TerminalSession {
    /// Takes over the terminal: raw mode, alternate screen, mouse
    /// reporting, and a panic hook that gives it back.
    pub fn enter() -> io::Result<Self> {
        static HOOK: Once = Once::new();
        // ratatui's own hook (installed by `try_init`) leaves the screen;
        // ours, around it, also stops mouse reporting and shows the cursor.
        let terminal = ratatui::try_init()?;
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = restore();
                previous(info);
            }));
        });
        let session = TerminalSession { terminal };
        // On failure the session is dropped here, which restores.
        execute!(io::stdout(), EnableMouseCapture)?;
        Ok(session)
    }

    /// The terminal to draw on.
    pub fn terminal(&mut self) -> &mut RealTerminal {
        &mut self.terminal
    }

    /// The whole screen, as [`crate::App::on_mouse`] wants it.
    pub fn screen(&self) -> io::Result<Rect> {
        let size = self.terminal.size()?;
        Ok(Rect::new(0, 0, size.width, size.height))
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        let _ = restore();
    }
}

/// Stops mouse reporting, leaves raw mode and the alternate screen and
/// shows the cursor. Safe to call more than once.
pub fn restore() -> io::Result<()> {
    let mouse = execute!(io::stdout(), DisableMouseCapture);
    ratatui::try_restore()?;
    execute!(io::stdout(), cursor::Show)?;
    mouse
}
