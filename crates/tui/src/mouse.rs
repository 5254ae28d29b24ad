//! The mouse: a click on a column header sorts by that column (a second
//! click reverses it), a click on a row selects it, a click on a tab
//! switches view, and the wheel moves the selection. [`hit_test`] maps a
//! screen cell to what is drawn there from the same layout the renderer
//! uses, so it is tested without a terminal; [`App::on_mouse`] acts on it.
//! Like [`App::on_key`] it is pure: no terminal; of the data it reads only
//! the row keys and whether the connections table has health columns.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use crate::app::{Action, App, Screen, SortColumn};
use crate::model::ViewModel;
use crate::render::{areas, column_widths, scroll_offset, tab_label, table_layout};

/// Rows one notch of the wheel moves the selection.
pub const WHEEL_ROWS: usize = 3;

/// What is drawn at a screen cell, as far as a click is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// A view's tab.
    Tab(Screen),
    /// The header of a column the view can be sorted by.
    Header(SortColumn),
    /// A table row, as a position in the arranged rows (it may be past the
    /// last row: the caller checks against the rows it has).
    Row(usize),
    /// Anything else: a click there does nothing.
    Nothing,
}

/// What a click at (`x`, `y`) of a `screen`-sized frame showing `vm` would
/// hit.
pub fn hit_test(app: &App, vm: &ViewModel, screen: Rect, x: u16, y: u16) -> Hit {
    let [_, tabs, body, _] = areas(screen);
    if tabs.height > 0 && y == tabs.y {
        let mut left = tabs.x;
        for (i, v) in Screen::ALL.iter().enumerate() {
            let w = tab_label(i, *v).chars().count() as u16;
            if (left..left + w).contains(&x) {
                return Hit::Tab(*v);
            }
            left += w;
        }
        return Hit::Nothing;
    }
    let (table, cols) = table_layout(app, vm, body);
    let inside = |r: Rect| (r.x..r.right()).contains(&x) && (r.y..r.bottom()).contains(&y);
    if !inside(table) {
        return Hit::Nothing;
    }
    if y == table.y {
        let constraints: Vec<_> = cols.iter().map(|c| c.width).collect();
        let mut left = table.x;
        for (c, w) in cols.iter().zip(column_widths(table.width, &constraints)) {
            if (left..left + w).contains(&x) {
                return c.sort.map_or(Hit::Nothing, Hit::Header);
            }
            // One blank cell between columns belongs to neither.
            left += w + 1;
        }
        return Hit::Nothing;
    }
    let height = table.height.saturating_sub(1) as usize;
    Hit::Row(scroll_offset(app.selected, height) + (y - table.y - 1) as usize)
}

impl App {
    /// Moves the state on a mouse event in a `screen`-sized frame showing
    /// `vm` (arranged for this app).
    pub fn on_mouse(&mut self, ev: MouseEvent, screen: Rect, vm: &ViewModel) -> Action {
        let rows = vm.row_keys();
        match ev.kind {
            MouseEventKind::Down(MouseButton::Left) if self.help => {
                self.help = false;
                Action::Redraw
            }
            MouseEventKind::Down(MouseButton::Left) => {
                match hit_test(self, vm, screen, ev.column, ev.row) {
                    Hit::Tab(v) => self.switch_view(v),
                    Hit::Header(c) => self.sort_by(c),
                    Hit::Row(pos) if pos < rows.len() => self.select(rows, |_| pos),
                    Hit::Row(_) | Hit::Nothing => Action::None,
                }
            }
            MouseEventKind::ScrollDown if !self.help => self.select(rows, |s| s + WHEEL_ROWS),
            MouseEventKind::ScrollUp if !self.help => {
                self.select(rows, |s| s.saturating_sub(WHEEL_ROWS))
            }
            _ => Action::None,
        }
    }
}

#[cfg(test)]
#[path = "mouse_tests.rs"]
mod tests;
