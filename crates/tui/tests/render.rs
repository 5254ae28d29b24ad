//! Screens of every view at 80×24 and 160×40, drawn on ratatui's
//! `TestBackend` from the fixed scenario and compared with insta snapshots.

mod common;

use crossterm::event::{KeyCode, KeyEvent};
use netoproc_tui::{App, Screen};

use common::{scenario, screen};

fn app_on(view: Screen) -> App {
    let mut app = App::new();
    app.view = view;
    app
}

fn press(app: &mut App, vm: &mut netoproc_tui::ViewModel, code: KeyCode) {
    vm.arrange(app);
    let keys = vm.row_keys().to_vec();
    app.on_key(KeyEvent::from(code), &keys);
    vm.arrange(app);
    app.follow(vm.row_keys());
}

#[test]
fn every_view_at_both_sizes() {
    for view in Screen::ALL {
        for (w, h) in [(80, 24), (160, 40)] {
            let mut vm = scenario();
            let out = screen(&mut app_on(view), &mut vm, w, h);
            let name = format!("{}_{w}x{h}", view.title().to_lowercase());
            insta::assert_snapshot!(name, out);
        }
    }
}

#[test]
fn totals_in_bits_sorted_by_pid() {
    let mut vm = scenario();
    let mut app = App::new();
    for k in ['t', 'b', 's'] {
        press(&mut app, &mut vm, KeyCode::Char(k));
    }
    // `s` from RX+TX goes to CONNS; back to PID with ←.
    for _ in 0..6 {
        press(&mut app, &mut vm, KeyCode::Left);
    }
    insta::assert_snapshot!(screen(&mut app, &mut vm, 80, 24));
}

#[test]
fn drill_down_into_a_process() {
    let mut vm = scenario();
    let mut app = App::new();
    // Select firefox (second by traffic after curl) and press Enter.
    press(&mut app, &mut vm, KeyCode::Down);
    press(&mut app, &mut vm, KeyCode::Enter);
    assert_eq!(app.drill_pid, Some(1717));
    insta::assert_snapshot!(screen(&mut app, &mut vm, 80, 24));
}

#[test]
fn filtering_while_typing() {
    let mut vm = scenario();
    let mut app = app_on(Screen::Connections);
    press(&mut app, &mut vm, KeyCode::Char('/'));
    for c in "127.0".chars() {
        press(&mut app, &mut vm, KeyCode::Char(c));
    }
    insta::assert_snapshot!(screen(&mut app, &mut vm, 80, 24));
}

#[test]
fn help_overlay_and_frozen() {
    let mut vm = scenario();
    let mut app = App::new();
    press(&mut app, &mut vm, KeyCode::Char(' '));
    press(&mut app, &mut vm, KeyCode::Char('?'));
    insta::assert_snapshot!(screen(&mut app, &mut vm, 80, 24));
}

#[test]
fn tiny_terminal_does_not_panic() {
    for (w, h) in [(1, 1), (20, 5), (80, 3)] {
        for view in Screen::ALL {
            let mut vm = scenario();
            let mut app = app_on(view);
            app.help = true;
            app.detail = true;
            app.drill_pid = (view == Screen::Connections).then_some(1717);
            screen(&mut app, &mut vm, w, h);
            app.help = false;
            screen(&mut app, &mut vm, w, h);
        }
    }
}

#[test]
fn fading_rows_are_grey() {
    use ratatui::backend::TestBackend;
    use ratatui::style::Color;
    use ratatui::Terminal;

    let mut vm = scenario();
    let app = app_on(Screen::Connections);
    vm.arrange(&app);
    let mut t = Terminal::new(TestBackend::new(160, 40)).unwrap();
    t.draw(|f| netoproc_tui::render(f, &app, &vm)).unwrap();
    let buf = t.backend().buffer();
    let row = (0..40)
        .find(|&y| {
            let line: String = (0..160).map(|x| buf[(x, y)].symbol()).collect();
            line.contains("alive.github.com:443")
        })
        .expect("the closed connection is still listed");
    assert_eq!(buf[(2, row)].fg, Color::DarkGray);
}

/// Types `text` into the filter and keeps it.
fn filter(app: &mut App, vm: &mut netoproc_tui::ViewModel, text: &str) {
    press(app, vm, KeyCode::Char('/'));
    for c in text.chars() {
        press(app, vm, KeyCode::Char(c));
    }
    press(app, vm, KeyCode::Enter);
}

#[test]
fn filter_by_container_by_dns_name_and_in_the_dns_view() {
    let mut vm = scenario();
    let mut app = App::new();
    filter(&mut app, &mut vm, "docker");
    let s = screen(&mut app, &mut vm, 160, 40);
    assert!(
        s.contains("docker:4c01db0b339c") && s.contains("postgres"),
        "{s}"
    );
    assert!(!s.contains("firefox"), "{s}");

    // A name DNS gave the remote address finds the connection, and its
    // process in the processes view.
    let mut app = app_on(Screen::Connections);
    filter(&mut app, &mut vm, "github");
    let s = screen(&mut app, &mut vm, 80, 24);
    assert!(s.contains("alive.github.com:443"), "{s}");
    assert_eq!(s.matches("firefox").count(), 1, "{s}");
    press(&mut app, &mut vm, KeyCode::Char('1'));
    let s = screen(&mut app, &mut vm, 80, 24);
    assert!(s.contains("1717 firefox") && !s.contains("curl"), "{s}");

    let mut app = app_on(Screen::Dns);
    filter(&mut app, &mut vm, "nxdomain");
    let s = screen(&mut app, &mut vm, 80, 24);
    assert!(
        s.contains("db.internal.example") && !s.contains("reddit"),
        "{s}"
    );
}

#[test]
fn dns_view_without_dns_capture_says_how_to_turn_it_on() {
    let mut vm = scenario();
    vm.dns = None;
    let s = screen(&mut app_on(Screen::Dns), &mut vm, 80, 24);
    assert!(s.contains("DNS capture is off."), "{s}");
    assert!(s.contains("--dns-ports 53"), "{s}");
}

#[test]
fn header_lost_counts_every_kind_of_loss() {
    let mut vm = scenario();
    vm.header.losses.capture_drops = 7;
    vm.header.losses.kretprobe_misses = 2;
    vm.header.losses.dns_packets_dropped = 1;
    let s = screen(&mut app_on(Screen::Processes), &mut vm, 160, 40);
    assert!(s.contains(" lost 10 "), "{s}");
}

#[test]
fn process_detail_pane_with_response_histogram() {
    let mut vm = scenario();
    let mut app = App::new();
    // firefox is second by traffic; `d` opens its pane under the table.
    press(&mut app, &mut vm, KeyCode::Down);
    press(&mut app, &mut vm, KeyCode::Char('d'));
    assert!(app.detail);
    insta::assert_snapshot!("detail_processes_80x24", screen(&mut app, &mut vm, 80, 24));
    insta::assert_snapshot!(
        "detail_processes_160x40",
        screen(&mut app, &mut vm, 160, 40)
    );
}

#[test]
fn drilled_connections_show_health_and_the_pane() {
    let mut vm = scenario();
    let mut app = App::new();
    press(&mut app, &mut vm, KeyCode::Down);
    press(&mut app, &mut vm, KeyCode::Enter);
    press(&mut app, &mut vm, KeyCode::Char('d'));
    assert_eq!((app.view, app.drill_pid), (Screen::Connections, Some(1717)));
    // At 80 columns the owner (in the tab line) gives way to RTT and RESP.
    insta::assert_snapshot!("detail_drilled_80x24", screen(&mut app, &mut vm, 80, 24));
    insta::assert_snapshot!("detail_drilled_160x40", screen(&mut app, &mut vm, 160, 40));
}

#[test]
fn connections_sort_by_rtt_with_unknown_last() {
    let mut vm = scenario();
    let mut app = app_on(Screen::Connections);
    app.sort_by(netoproc_tui::app::SortColumn::Rtt);
    let s = screen(&mut app, &mut vm, 160, 40);
    let rows: Vec<&str> = s.lines().skip(5).take(11).collect();
    assert!(rows[0].contains("alive.github.com"), "{s}");
    assert!(rows[1].contains("10.0.0.77:60122"), "{s}");
    // UDP and the unowned socket have no RTT: last, whatever the direction.
    assert!(
        rows[10].contains("udp") || rows[10].contains("unknown"),
        "{s}"
    );
    press(&mut app, &mut vm, KeyCode::Char('r'));
    let s = screen(&mut app, &mut vm, 160, 40);
    let rows: Vec<&str> = s.lines().skip(5).take(11).collect();
    assert!(rows[0].contains("127.0.0.1:39410"), "{s}");
    assert!(
        rows[10].contains("udp") || rows[10].contains("unknown"),
        "{s}"
    );
}

#[test]
fn without_lifecycle_the_pane_says_why_and_no_health_columns_show() {
    let why = "connection lifecycle, TCP health and response time: not derived from packets \
               in afpacket mode yet";
    let mut vm = scenario();
    vm.lifecycle.off = Some(why.into());
    let mut app = App::new();
    press(&mut app, &mut vm, KeyCode::Char('d'));
    let s = screen(&mut app, &mut vm, 160, 40);
    assert!(s.contains(&format!("Not captured: {why}.")), "{s}");
    assert!(!s.contains("opened"), "no rollup of zeros: {s}");
    let mut app = app_on(Screen::Connections);
    let s = screen(&mut app, &mut vm, 160, 40);
    assert!(!s.contains("RTT") && !s.contains("HSHAKE"), "{s}");
}

#[test]
fn the_pane_of_a_group_row_and_of_a_process_without_tcp() {
    let mut vm = scenario();
    let mut app = App::new();
    press(&mut app, &mut vm, KeyCode::Char('d'));
    press(&mut app, &mut vm, KeyCode::Char('o'));
    let s = screen(&mut app, &mut vm, 120, 30);
    assert!(s.contains("TCP health is kept per process"), "{s}");
    // systemd-resolve only has UDP sockets.
    let mut app = App::new();
    app.detail = true;
    filter(&mut app, &mut vm, "systemd");
    let s = screen(&mut app, &mut vm, 120, 30);
    assert!(
        s.contains("No TCP connection of this process seen yet."),
        "{s}"
    );
}
