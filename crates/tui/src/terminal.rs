//! Owning the real terminal for the length of the live view: raw mode and
//! the alternate screen on [`TerminalSession::enter`], and always back to
//! normal — when the session is dropped, on an early return, and on panic
//! (the hook restores the terminal before the panic message is printed).
//! The only module here that touches the terminal; tests use `TestBackend`.

use std::io::{self, Stdout};
use std::sync::Once;

use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub type RealTerminal = Terminal<CrosstermBackend<Stdout>>;

/// The terminal in raw mode on the alternate screen, until dropped.
pub struct TerminalSession {
    terminal: RealTerminal,
}

impl TerminalSession {
    pub fn enter() -> io::Result<Self> {
        static HOOK: Once = Once::new();
        // ratatui's own hook (installed by `try_init`) leaves the screen;
        // ours, around it, also shows the cursor again.
        let terminal = ratatui::try_init()?;
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = restore();
                previous(info);
            }));
        });
        Ok(TerminalSession { terminal })
    }

    pub fn terminal(&mut self) -> &mut RealTerminal {
        &mut self.terminal
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        let _ = restore();
    }
}

/// Leaves raw mode and the alternate screen and shows the cursor. Safe to
/// call more than once.
pub fn restore() -> io::Result<()> {
    ratatui::try_restore()?;
    execute!(io::stdout(), cursor::Show)
}
