//! `App::on_key`: keys in, state out, no terminal and no data needed.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;

fn key(app: &mut App, code: KeyCode, rows: &[u64]) -> Action {
    app.on_key(KeyEvent::from(code), rows)
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c), &[]);
    }
}

#[test]
fn filter_is_typed_kept_with_enter_and_cleared_with_esc() {
    let mut app = App::new();
    assert_eq!(key(&mut app, KeyCode::Char('/'), &[]), Action::Redraw);
    typed(&mut app, "fire q");
    assert_eq!(app.filter, "fire q", "q is text while typing, not quit");
    key(&mut app, KeyCode::Backspace, &[]);
    key(&mut app, KeyCode::Backspace, &[]);
    assert_eq!(key(&mut app, KeyCode::Enter, &[]), Action::Rearrange);
    assert!(!app.editing_filter);
    assert_eq!(app.filter, "fire");
    // Out of the editor, q quits again; Esc clears the kept filter.
    assert_eq!(key(&mut app, KeyCode::Esc, &[]), Action::Rearrange);
    assert!(app.filter.is_empty());
    key(&mut app, KeyCode::Char('/'), &[]);
    typed(&mut app, "443");
    key(&mut app, KeyCode::Esc, &[]);
    assert!(app.filter.is_empty() && !app.editing_filter);
    assert_eq!(key(&mut app, KeyCode::Char('q'), &[]), Action::Quit);
}

#[test]
fn sort_cycles_through_the_views_columns_and_reverses() {
    let mut app = App::new();
    assert_eq!(app.sort().column, SortColumn::Traffic);
    assert!(app.sort().descending);
    key(&mut app, KeyCode::Char('s'), &[]);
    assert_eq!(app.sort().column, SortColumn::Connections);
    key(&mut app, KeyCode::Right, &[]);
    assert_eq!(app.sort().column, SortColumn::Pid, "wraps around");
    key(&mut app, KeyCode::Right, &[]);
    assert_eq!(
        app.sort(),
        Sort {
            column: SortColumn::Process,
            descending: false
        },
        "names sort A to Z first"
    );
    key(&mut app, KeyCode::Char('r'), &[]);
    assert!(app.sort().descending);
    key(&mut app, KeyCode::Left, &[]);
    key(&mut app, KeyCode::Left, &[]);
    assert_eq!(app.sort().column, SortColumn::Connections);
    // Each view keeps its own sort.
    key(&mut app, KeyCode::Char('3'), &[]);
    assert_eq!(app.sort().column, SortColumn::Interface);
    key(&mut app, KeyCode::Char('1'), &[]);
    assert_eq!(app.sort().column, SortColumn::Connections);
    // DNS has nothing to sort.
    key(&mut app, KeyCode::Char('4'), &[]);
    assert_eq!(key(&mut app, KeyCode::Char('s'), &[]), Action::None);
}

#[test]
fn enter_drills_into_the_selected_process_and_esc_comes_back() {
    let mut app = App::new();
    let pids = [4242, 1717, 812];
    key(&mut app, KeyCode::Down, &pids);
    assert_eq!((app.selected, app.selected_key), (1, Some(1717)));
    assert_eq!(key(&mut app, KeyCode::Enter, &pids), Action::Rearrange);
    assert_eq!(app.view, Screen::Connections);
    assert_eq!(app.drill_pid, Some(1717));
    // Enter on a connection does nothing.
    assert_eq!(key(&mut app, KeyCode::Enter, &[77]), Action::None);
    key(&mut app, KeyCode::Esc, &[77]);
    assert_eq!(app.view, Screen::Processes);
    assert_eq!(app.drill_pid, None);
    // The selection goes back to the process, wherever it is now.
    app.follow(&[812, 4242, 1717]);
    assert_eq!(app.selected, 2);
    // Switching views leaves a drill-down too.
    key(&mut app, KeyCode::Enter, &[812, 4242, 1717]);
    key(&mut app, KeyCode::Tab, &[]);
    assert_eq!((app.view, app.drill_pid), (Screen::Interfaces, None));
    // Nothing to drill into in an empty view.
    let mut empty = App::new();
    assert_eq!(key(&mut empty, KeyCode::Enter, &[]), Action::None);
}

#[test]
fn freeze_units_totals_window_and_help_toggle() {
    let mut app = App::new();
    key(&mut app, KeyCode::Char(' '), &[]);
    assert!(app.frozen);
    key(&mut app, KeyCode::Char(' '), &[]);
    assert!(!app.frozen);
    key(&mut app, KeyCode::Char('b'), &[]);
    assert_eq!(app.unit, Unit::Bits);
    assert_eq!(key(&mut app, KeyCode::Char('t'), &[]), Action::Rearrange);
    assert!(app.totals);
    for expected in [1, 2, 0] {
        key(&mut app, KeyCode::Char('w'), &[]);
        assert_eq!(app.window, expected);
    }
    key(&mut app, KeyCode::Char('?'), &[]);
    assert!(app.help);
    // Any key closes help without acting; q still quits.
    assert_eq!(key(&mut app, KeyCode::Char('t'), &[]), Action::Redraw);
    assert!(!app.help && app.totals);
    key(&mut app, KeyCode::Char('?'), &[]);
    assert_eq!(key(&mut app, KeyCode::Char('q'), &[]), Action::Quit);
}

#[test]
fn ctrl_c_quits_even_while_typing_a_filter() {
    let mut app = App::new();
    key(&mut app, KeyCode::Char('/'), &[]);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.on_key(ctrl_c, &[]), Action::Quit);
}

#[test]
fn selection_stays_in_bounds_and_follows_its_row() {
    let mut app = App::new();
    let rows = [1, 2, 3, 4, 5];
    key(&mut app, KeyCode::End, &rows);
    assert_eq!(app.selected, 4);
    key(&mut app, KeyCode::PageDown, &rows);
    assert_eq!(app.selected, 4);
    key(&mut app, KeyCode::PageUp, &rows);
    assert_eq!(app.selected, 0);
    key(&mut app, KeyCode::Char('j'), &rows);
    assert_eq!(app.selected_key, Some(2));
    // Row 2 moved to the end.
    app.follow(&[1, 3, 4, 5, 2]);
    assert_eq!(app.selected, 4);
    // Row 2 is gone: the neighbour at the same place takes over.
    app.follow(&[1, 3, 4]);
    assert_eq!((app.selected, app.selected_key), (2, Some(4)));
    // Nothing selected yet: the position stays.
    let mut fresh = App::new();
    fresh.follow(&[9, 8]);
    assert_eq!((fresh.selected, fresh.selected_key), (0, None));
    assert_eq!(key(&mut fresh, KeyCode::Down, &[]), Action::None);
}
