//! The live view's state as the person at the keyboard set it — which view,
//! sorted how, filtered by what, frozen or not, bytes or bits, rates or
//! totals, which row is selected, which process is drilled into — and
//! [`App::on_key`], the pure function that moves it on a key press. It holds
//! no traffic data and does no I/O; the rows it selects among are passed in.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::format::Unit;
use netoproc_core::group::GroupBy;

/// The live view's four screens, in tab order (`netoproc_export::View` is
/// what a snapshot prints: processes or DNS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    /// One row per process (or per group of them).
    Processes,
    /// One row per connection, or socket and remote for unconnected UDP.
    Connections,
    /// The kernel's interface counters.
    Interfaces,
    /// DNS queries as the observatory saw them.
    Dns,
}

impl Screen {
    /// Every view, in tab order.
    pub const ALL: [Screen; 4] = [
        Screen::Processes,
        Screen::Connections,
        Screen::Interfaces,
        Screen::Dns,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Screen::Processes => "Processes",
            Screen::Connections => "Connections",
            Screen::Interfaces => "Interfaces",
            Screen::Dns => "DNS",
        }
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    /// The columns `s` and ←/→ cycle through, in screen order.
    pub fn sort_columns(self) -> &'static [SortColumn] {
        use SortColumn::*;
        match self {
            Screen::Processes => &[Pid, Process, Container, Rx, Tx, Traffic, Connections],
            Screen::Connections => &[
                Protocol,
                Local,
                Remote,
                State,
                Owner,
                Rx,
                Tx,
                Traffic,
                Handshake,
                Rtt,
                Retransmits,
                Response,
            ],
            Screen::Interfaces => &[Interface, Rx, Tx, Traffic, Errors, Drops],
            Screen::Dns => &[],
        }
    }

    fn default_sort(self) -> Sort {
        let column = match self {
            Screen::Interfaces => SortColumn::Interface,
            _ => SortColumn::Traffic,
        };
        Sort {
            column,
            descending: column.numeric(),
        }
    }
}

/// What a view can be sorted by. `Traffic` is rx + tx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    /// Process id.
    Pid,
    /// Task name.
    Process,
    /// Container or service label.
    Container,
    /// Received: rate, or bytes in totals mode.
    Rx,
    /// Sent: rate, or bytes in totals mode.
    Tx,
    /// Received plus sent.
    Traffic,
    /// Live connection rows of the process.
    Connections,
    /// TCP or UDP.
    Protocol,
    /// Local address and port.
    Local,
    /// Remote address and port.
    Remote,
    /// `open` or `closed`.
    State,
    /// The owner's task name.
    Owner,
    /// Interface name.
    Interface,
    /// Interface errors, both directions.
    Errors,
    /// Interface drops, both directions.
    Drops,
    /// TCP handshake time.
    Handshake,
    /// TCP smoothed round-trip time.
    Rtt,
    /// TCP segments retransmitted.
    Retransmits,
    /// Median response time.
    Response,
}

impl SortColumn {
    /// Numbers sort largest first when chosen; names alphabetically.
    pub fn numeric(self) -> bool {
        use SortColumn::*;
        matches!(
            self,
            Pid | Rx
                | Tx
                | Traffic
                | Connections
                | Errors
                | Drops
                | Handshake
                | Rtt
                | Retransmits
                | Response
        )
    }

    /// The column's header text.
    pub fn label(self) -> &'static str {
        use SortColumn::*;
        match self {
            Pid => "PID",
            Process => "PROCESS",
            Container => "CONTAINER",
            Rx => "RX",
            Tx => "TX",
            Traffic => "RX+TX",
            Connections => "CONNS",
            Protocol => "PROTO",
            Local => "LOCAL",
            Remote => "REMOTE",
            State => "STATE",
            Owner => "OWNER",
            Interface => "INTERFACE",
            Errors => "ERRORS",
            Drops => "DROPS",
            Handshake => "HSHAKE",
            Rtt => "RTT",
            Retransmits => "RETR",
            Response => "RESP",
        }
    }
}

/// A view's sort: a column and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    /// What rows are ordered by.
    pub column: SortColumn,
    /// Largest (or last) first.
    pub descending: bool,
}

/// What the caller should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    None,
    /// Draw again (selection, toggles, help).
    Redraw,
    /// Sort, filter, view or drill-down changed: arrange rows again, then draw.
    Rearrange,
    /// `q` or Ctrl-C: leave the live view.
    Quit,
}

/// How far PageUp/PageDown move.
const PAGE: usize = 10;

/// The live view's state, as keys set it; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The view on screen.
    pub view: Screen,
    sorts: [Sort; 4],
    /// Filter text, matched against names, pids, ports, addresses and
    /// containers of the current view.
    pub filter: String,
    /// `/` was pressed: keys go to the filter until Enter or Esc.
    pub editing_filter: bool,
    /// Space: the display keeps its rows while capture goes on.
    pub frozen: bool,
    /// `b`: bytes or bits.
    pub unit: Unit,
    /// `t`: totals since start instead of rates.
    pub totals: bool,
    /// Index into [`netoproc_core::rates::WINDOWS`] of the rate shown.
    pub window: usize,
    /// Selected row, as a position in the arranged rows.
    pub selected: usize,
    /// The selected row's key, so the selection follows it when rows move.
    pub selected_key: Option<u64>,
    /// Enter on a process: the connections view shows only this pid.
    pub drill_pid: Option<u32>,
    /// `?`: the help overlay is shown.
    pub help: bool,
    /// `d`: the process detail pane (TCP health and a response-time
    /// histogram) is open, under the processes table and under a process's
    /// connections.
    pub detail: bool,
    /// `o`: the processes view sums its rows by container, pod, service,
    /// user or cgroup (`Process`: one row per process).
    pub group_by: GroupBy,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// The processes view, sorted by traffic, rates over the shortest
    /// window, in bytes, nothing filtered or selected.
    pub fn new() -> Self {
        App {
            view: Screen::Processes,
            sorts: Screen::ALL.map(Screen::default_sort),
            filter: String::new(),
            editing_filter: false,
            frozen: false,
            unit: Unit::Bytes,
            totals: false,
            window: 0,
            selected: 0,
            selected_key: None,
            drill_pid: None,
            help: false,
            detail: false,
            group_by: GroupBy::Process,
        }
    }

    /// The sort of the current view.
    pub fn sort(&self) -> Sort {
        self.sorts[self.view.index()]
    }

    /// Moves the state on one key press. `rows` are the keys of the current
    /// view's arranged rows, in screen order (for selection and Enter).
    pub fn on_key(&mut self, key: KeyEvent, rows: &[u64]) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
            return Action::Quit;
        }
        if self.editing_filter {
            return self.on_filter_key(key);
        }
        if self.help {
            return match key.code {
                KeyCode::Char('q') => Action::Quit,
                _ => {
                    self.help = false;
                    Action::Redraw
                }
            };
        }
        match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('?') => {
                self.help = true;
                Action::Redraw
            }
            KeyCode::Char(c @ '1'..='4') => {
                self.switch_view(Screen::ALL[c as usize - '1' as usize])
            }
            KeyCode::Tab => self.switch_view(Screen::ALL[(self.view.index() + 1) % 4]),
            KeyCode::BackTab => self.switch_view(Screen::ALL[(self.view.index() + 3) % 4]),
            KeyCode::Char('s') | KeyCode::Right => self.cycle_sort(1),
            KeyCode::Left => self.cycle_sort(-1),
            KeyCode::Char('r') => {
                let i = self.view.index();
                self.sorts[i].descending = !self.sorts[i].descending;
                Action::Rearrange
            }
            KeyCode::Char('/') => {
                self.editing_filter = true;
                Action::Redraw
            }
            KeyCode::Char(' ') => {
                self.frozen = !self.frozen;
                Action::Redraw
            }
            KeyCode::Char('b') => {
                self.unit = match self.unit {
                    Unit::Bytes => Unit::Bits,
                    Unit::Bits => Unit::Bytes,
                };
                Action::Redraw
            }
            KeyCode::Char('t') => {
                self.totals = !self.totals;
                Action::Rearrange
            }
            KeyCode::Char('d') => {
                self.detail = !self.detail;
                Action::Redraw
            }
            KeyCode::Char('o') => {
                self.group_by = self.group_by.next();
                self.selected = 0;
                self.selected_key = None;
                Action::Rearrange
            }
            KeyCode::Char('w') => {
                self.window = (self.window + 1) % netoproc_core::rates::WINDOWS.len();
                Action::Rearrange
            }
            KeyCode::Up | KeyCode::Char('k') => self.select(rows, |s| s.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.select(rows, |s| s + 1),
            KeyCode::PageUp => self.select(rows, |s| s.saturating_sub(PAGE)),
            KeyCode::PageDown => self.select(rows, |s| s + PAGE),
            KeyCode::Home | KeyCode::Char('g') => self.select(rows, |_| 0),
            KeyCode::End | KeyCode::Char('G') => self.select(rows, |_| usize::MAX),
            // A group row has no pid to drill into.
            KeyCode::Enter
                if self.view == Screen::Processes && self.group_by == GroupBy::Process =>
            {
                match rows.get(self.selected) {
                    Some(&pid) => {
                        self.drill_pid = Some(pid as u32);
                        self.view = Screen::Connections;
                        self.selected = 0;
                        self.selected_key = None;
                        Action::Rearrange
                    }
                    None => Action::None,
                }
            }
            KeyCode::Esc => self.back(),
            _ => Action::None,
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent) -> Action {
        match key.code {
            KeyCode::Esc => {
                self.editing_filter = false;
                self.filter.clear();
            }
            KeyCode::Enter => self.editing_filter = false,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.filter.push(c)
            }
            _ => return Action::None,
        }
        self.selected = 0;
        self.selected_key = None;
        Action::Rearrange
    }

    /// Esc outside the filter: leave the drill-down, else clear the filter.
    fn back(&mut self) -> Action {
        if let Some(pid) = self.drill_pid.take() {
            self.view = Screen::Processes;
            self.selected_key = Some(u64::from(pid));
            return Action::Rearrange;
        }
        if !self.filter.is_empty() {
            self.filter.clear();
            return Action::Rearrange;
        }
        Action::None
    }

    pub(crate) fn switch_view(&mut self, v: Screen) -> Action {
        if v == self.view && self.drill_pid.is_none() {
            return Action::None;
        }
        self.view = v;
        self.drill_pid = None;
        self.selected = 0;
        self.selected_key = None;
        Action::Rearrange
    }

    fn cycle_sort(&mut self, step: isize) -> Action {
        let cols = self.view.sort_columns();
        if cols.is_empty() {
            return Action::None;
        }
        let i = self.view.index();
        let at = cols
            .iter()
            .position(|c| *c == self.sorts[i].column)
            .unwrap_or(0) as isize;
        let column = cols[(at + step).rem_euclid(cols.len() as isize) as usize];
        self.sorts[i] = Sort {
            column,
            descending: column.numeric(),
        };
        Action::Rearrange
    }

    /// Sorts the current view by `column`, or reverses the sort when it
    /// already is (a click on a column header).
    pub fn sort_by(&mut self, column: SortColumn) -> Action {
        let i = self.view.index();
        self.sorts[i] = if self.sorts[i].column == column {
            Sort {
                column,
                descending: !self.sorts[i].descending,
            }
        } else {
            Sort {
                column,
                descending: column.numeric(),
            }
        };
        Action::Rearrange
    }

    pub(crate) fn select(&mut self, rows: &[u64], to: impl Fn(usize) -> usize) -> Action {
        if rows.is_empty() {
            return Action::None;
        }
        let new = to(self.selected).min(rows.len() - 1);
        self.selected = new;
        self.selected_key = Some(rows[new]);
        Action::Redraw
    }

    /// After the rows were arranged again: keep the selection on the same
    /// row if it is still there, else keep the position within bounds.
    pub fn follow(&mut self, rows: &[u64]) {
        let Some(k) = self.selected_key else {
            // Nothing chosen yet: the selection stays on its line.
            self.selected = self.selected.min(rows.len().saturating_sub(1));
            return;
        };
        match rows.iter().position(|r| *r == k) {
            Some(p) => self.selected = p,
            None => {
                // The row is gone: its neighbour takes over.
                self.selected = self.selected.min(rows.len().saturating_sub(1));
                self.selected_key = rows.get(self.selected).copied();
            }
        }
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
