//! Hit-testing against the layout alone, against what a `TestBackend`
//! frame shows, and the clicks' effect on [`App`].

use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

use super::*;
use crate::model::ViewModel;

const SMALL: Rect = Rect::new(0, 0, 80, 24);

fn click(app: &mut App, x: u16, y: u16, rows: &[u64]) -> Action {
    mouse(app, MouseEventKind::Down(MouseButton::Left), x, y, rows)
}

fn mouse(app: &mut App, kind: MouseEventKind, x: u16, y: u16, rows: &[u64]) -> Action {
    let ev = MouseEvent {
        kind,
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    };
    app.on_mouse(ev, SMALL, &ViewModel::with_row_keys(rows))
}

#[test]
fn header_cells_map_to_their_columns_at_80_columns() {
    let app = App::new();
    // Three header lines, the tab line, then the table's header row:
    // PID in 0..7, PROCESS in 8..23, CONTAINER in 24..36, RX/s 37..49.
    let at = |x| hit_test(&app, &ViewModel::default(), SMALL, x, 4);
    assert_eq!(at(0), Hit::Header(SortColumn::Pid));
    assert_eq!(at(6), Hit::Header(SortColumn::Pid));
    assert_eq!(at(7), Hit::Nothing, "the gap between columns");
    assert_eq!(at(8), Hit::Header(SortColumn::Process));
    assert_eq!(at(24), Hit::Header(SortColumn::Container));
    assert_eq!(at(40), Hit::Header(SortColumn::Rx));
    assert_eq!(at(79), Hit::Nothing, "HISTORY does not sort");
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 5),
        Hit::Row(0)
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 21),
        Hit::Row(16)
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 22),
        Hit::Nothing,
        "the selected row's chain"
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 23),
        Hit::Nothing,
        "the footer"
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 1),
        Hit::Nothing,
        "the header"
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 1, 3),
        Hit::Tab(Screen::Processes)
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 16, 3),
        Hit::Tab(Screen::Connections)
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 45, 3),
        Hit::Tab(Screen::Dns)
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 60, 3),
        Hit::Nothing
    );
}

#[test]
fn rows_below_a_scrolled_selection_count_from_the_first_shown() {
    let mut app = App::new();
    // 17 rows fit at 80x24 (the line below is the selected row's chain);
    // with the 30th selected, rows 13.. are shown.
    app.selected = 29;
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 5),
        Hit::Row(13)
    );
    // In the interfaces view the summary below the table is not a row.
    app.view = Screen::Interfaces;
    app.selected = 0;
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 18),
        Hit::Row(13)
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 19),
        Hit::Nothing
    );
    // The DNS view: queries above, the resolver table (6 lines) below.
    app.view = Screen::Dns;
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 4),
        Hit::Nothing,
        "no column sorts"
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 5),
        Hit::Row(0)
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 16),
        Hit::Row(11)
    );
    assert_eq!(
        hit_test(&app, &ViewModel::default(), SMALL, 3, 17),
        Hit::Nothing
    );
}

/// The sort column a header word stands for, as a person reads the screen
/// (rates mode, where a bare `RX` is only part of `RX PKTS`).
fn column_named(word: &str) -> Option<SortColumn> {
    let word = word.trim_end_matches(['▲', '▼']);
    let named = [
        SortColumn::Pid,
        SortColumn::Process,
        SortColumn::Container,
        SortColumn::Connections,
        SortColumn::Protocol,
        SortColumn::Local,
        SortColumn::Remote,
        SortColumn::State,
        SortColumn::Owner,
        SortColumn::Interface,
        SortColumn::Errors,
        SortColumn::Drops,
        SortColumn::Handshake,
        SortColumn::Rtt,
        SortColumn::Retransmits,
        SortColumn::Response,
    ];
    match word {
        "RX/s" => Some(SortColumn::Rx),
        "TX/s" => Some(SortColumn::Tx),
        "LPORT" => Some(SortColumn::Local),
        w => named.into_iter().find(|c| c.label() == w),
    }
}

#[test]
fn every_header_word_on_screen_hits_its_column() {
    for view in [Screen::Processes, Screen::Connections, Screen::Interfaces] {
        for (w, h) in [(80, 24), (160, 40)] {
            for health in [false, true] {
                let mut app = App::new();
                app.view = view;
                let mut vm = ViewModel::default();
                if health {
                    vm.lifecycle.off = None;
                }
                vm.arrange(&app);
                let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
                t.draw(|f| crate::render(f, &app, &vm)).unwrap();
                let buf = t.backend().buffer();
                let y = 4;
                let line: Vec<String> = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
                let mut words = 0;
                let mut x = 0;
                while x < w as usize {
                    if line[x] == " " {
                        x += 1;
                        continue;
                    }
                    let start = x;
                    while x < w as usize && line[x] != " " {
                        x += 1;
                    }
                    let word: String = line[start..x].concat();
                    let want = column_named(&word).map_or(Hit::Nothing, Hit::Header);
                    let screen = Rect::new(0, 0, w, h);
                    for cx in start..x {
                        let got = hit_test(&app, &vm, screen, cx as u16, y);
                        assert_eq!(got, want, "{view:?} {w}x{h}: {word} at x={cx}");
                    }
                    words += 1;
                }
                assert!(words >= 6, "{view:?} {w}x{h}: header not found");
            }
        }
    }
}

#[test]
fn clicks_sort_select_and_switch_views() {
    let mut app = App::new();
    let rows = [10, 20, 30, 40, 50];
    assert_eq!(click(&mut app, 2, 4, &rows), Action::Rearrange);
    assert_eq!(app.sort().column, SortColumn::Pid);
    assert!(app.sort().descending, "numbers: largest first");
    click(&mut app, 2, 4, &rows);
    assert!(!app.sort().descending, "a second click reverses");
    click(&mut app, 10, 4, &rows);
    assert_eq!(app.sort().column, SortColumn::Process);
    assert!(!app.sort().descending, "names: A to Z");

    assert_eq!(click(&mut app, 3, 7, &rows), Action::Redraw);
    assert_eq!((app.selected, app.selected_key), (2, Some(30)));
    assert_eq!(
        click(&mut app, 3, 12, &rows),
        Action::None,
        "below the rows"
    );
    assert_eq!(app.selected, 2);

    let down = MouseEventKind::ScrollDown;
    assert_eq!(mouse(&mut app, down, 0, 0, &rows), Action::Redraw);
    assert_eq!(app.selected, 4, "stops at the last row");
    mouse(&mut app, MouseEventKind::ScrollUp, 0, 0, &rows);
    assert_eq!(app.selected, 1);
    assert_eq!(mouse(&mut app, down, 0, 0, &[]), Action::None);

    assert_eq!(click(&mut app, 16, 3, &rows), Action::Rearrange);
    assert_eq!(app.view, Screen::Connections);
    assert_eq!(click(&mut app, 16, 3, &rows), Action::None);
    // Moves and releases do nothing; with help open a click closes it.
    let up = MouseEventKind::Up(MouseButton::Left);
    assert_eq!(mouse(&mut app, up, 2, 4, &rows), Action::None);
    app.help = true;
    assert_eq!(click(&mut app, 2, 4, &rows), Action::Redraw);
    assert!(!app.help);
    assert_eq!(
        app.sort().column,
        SortColumn::Traffic,
        "the click only closed help"
    );
}

#[test]
fn the_detail_pane_is_not_a_row() {
    let mut app = App::new();
    app.detail = true;
    let vm = ViewModel::default();
    // 19 body lines at 80x24: a table of 10 (header and 9 rows), the pane
    // of 8, the chain line.
    assert_eq!(hit_test(&app, &vm, SMALL, 3, 13), Hit::Row(8));
    assert_eq!(hit_test(&app, &vm, SMALL, 3, 14), Hit::Nothing, "the pane");
    assert_eq!(hit_test(&app, &vm, SMALL, 3, 21), Hit::Nothing, "the pane");
    // Under a process's connections too.
    app.view = Screen::Connections;
    app.drill_pid = Some(1717);
    assert_eq!(hit_test(&app, &vm, SMALL, 3, 14), Hit::Row(9));
    assert_eq!(hit_test(&app, &vm, SMALL, 3, 15), Hit::Nothing, "the pane");
}
