//! netoproc-tui: the live terminal view. [`App`] is the state the keys move
//! ([`App::on_key`] is pure), [`aggregate::LiveModel`] turns each tick's
//! report into a [`ViewModel`] with rates, history and fading rows, and
//! [`render()`] draws an arranged model into any ratatui frame — a real
//! terminal through [`terminal::TerminalSession`], or `TestBackend` in tests.
//! It never captures and never reads the clock: the binary's loop feeds it.

#![warn(missing_docs)]

pub mod aggregate;
pub mod app;
pub mod dns;
pub mod format;
pub mod model;
pub mod mouse;
mod render;
/// Moved to `netoproc-procfs` (the agent reads it too); kept at this path.
pub use netoproc_procfs::sysnet;
pub mod terminal;

pub use aggregate::{Containers, LiveModel, RunInfo, Tick};
pub use app::{Action, App, Screen};
pub use dns::DnsTick;
pub use model::ViewModel;
pub use render::render;
