//! The live view end to end without root or a terminal: the scripted
//! backend through the real engine and the live loop's tick (drain, read,
//! name, rates, retire) on a stepping clock, each tick's frame drawn on
//! ratatui's `TestBackend` and compared with an insta snapshot, like
//! bandwhich's UI cases. Keys move between views as a user would. The
//! same script as an eBPF capture that follows TCP connections runs the
//! lifecycle path too: the backend's steps through the engine's connection
//! book into the health columns and the process detail pane.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use netoproc_core::clock::Clock;
use netoproc_core::lifecycle::Outcome;
use netoproc_engine::fake::StepClock;
use netoproc_engine::fake::{FakeBackend, FakeFailure};
use netoproc_tui::{App, Screen, ViewModel};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::Capture;
use crate::fake_script::{backend, Roots};
use crate::session::{session_config, FrontEnd};

/// The frame `run` would draw for `vm`, at `width`×`height`.
fn frame(app: &mut App, vm: &mut ViewModel, width: u16, height: u16) -> String {
    vm.arrange(app);
    app.follow(vm.row_keys());
    let mut t = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    t.draw(|f| netoproc_tui::render(f, app, vm)).expect("drawn");
    t.backend().to_string()
}

/// The live loop's capture over `backend`, with the default command line
/// on the test roots, and its tick interval (1 s).
fn capture<'a>(
    roots: &Roots,
    backend: &'a mut FakeBackend,
    clock: &StepClock,
) -> (Capture<'a>, Duration) {
    let session = session_config(&roots.cli(&[]), FrontEnd::Live);
    let interval = session.read_interval;
    assert_eq!(interval, Duration::from_secs(1));
    let selection = netoproc_core::group::Selection::default();
    (Capture::new(session, backend, clock, selection), interval)
}

#[test]
fn four_ticks_of_the_live_view() {
    let roots = Roots::new();
    let clock = StepClock::new();
    let mut backend = backend(&clock);
    let (mut capture, interval) = capture(&roots, &mut backend, &clock);
    let mut app = App::new();
    for tick in 1..=4 {
        clock.advance(interval);
        let mut vm = capture.tick(clock.now()).expect("tick");
        let screen = frame(&mut app, &mut vm, 110, 14);
        // firefox's first connection closes after read 2: tick 3 counts it
        // with the one opening at read 3 (4 conns), then it is retired into
        // firefox's totals (3 conns at tick 4).
        let conns = if tick == 3 { "4 conns" } else { "3 conns" };
        assert!(screen.contains(conns), "tick {tick}: {screen}");
        insta::assert_snapshot!(format!("processes_tick_{tick}"), screen);
        if tick == 4 {
            for view in [Screen::Connections, Screen::Interfaces] {
                while app.view != view {
                    app.on_key(KeyEvent::from(KeyCode::Tab), vm.row_keys());
                }
                let name = format!("{}_tick_{tick}", view.title().to_lowercase());
                insta::assert_snapshot!(name, frame(&mut app, &mut vm, 110, 14));
            }
            // AF_PACKET follows TCP connections from packets, but this
            // script's capture sends no lifecycle step: the pane says so
            // in one line.
            app.on_key(KeyEvent::from(KeyCode::Char('1')), vm.row_keys());
            app.on_key(KeyEvent::from(KeyCode::Char('d')), vm.row_keys());
            let screen = frame(&mut app, &mut vm, 110, 24);
            assert!(
                screen.contains("No TCP connection of this process seen yet."),
                "{screen}"
            );
            assert!(!screen.contains("opened"), "no rollup of zeros: {screen}");
        }
    }
}

#[test]
fn tcp_health_over_four_ticks() {
    let roots = Roots::new();
    let clock = StepClock::new();
    let refused = FakeFailure {
        cookie: 90,
        pid: 1717,
        comm: "firefox".into(),
        remote: "198.51.100.99:443".parse().expect("address"),
        after_read: 2,
        outcome: Outcome::Refused,
    };
    let mut backend = backend(&clock).with_lifecycle(vec![refused]);
    let (mut capture, interval) = capture(&roots, &mut backend, &clock);
    let mut app = App::new();
    app.view = Screen::Connections;
    for tick in 1..=4 {
        clock.advance(interval);
        let mut vm = capture.tick(clock.now()).expect("tick");
        assert!(vm.lifecycle.on(), "tick {tick}: {:?}", vm.lifecycle.off);
        // curl's connection (cookie 1): a 6 ms handshake, 6.4 ms RTT.
        let curl = vm
            .connections
            .iter()
            .find(|c| c.pid == 4242)
            .and_then(|c| c.tcp)
            .expect("curl's connection has health");
        assert_eq!(curl.handshake_ms, Some(6.0), "tick {tick}");
        assert_eq!(curl.rtt_ms, Some(6.4), "tick {tick}");
        assert_eq!(curl.retransmits, Some(tick as u32 / 2), "tick {tick}");
        // UDP rows carry none.
        assert!(vm
            .connections
            .iter()
            .filter(|c| c.protocol == netoproc_core::Protocol::Udp)
            .all(|c| c.tcp.is_none()));
        let firefox = vm.lifecycle.processes[&1717].clone();
        let refused = firefox.failures["refused"];
        // Played with the events after read 2: counted from tick 3 on.
        assert_eq!(refused, u64::from(tick >= 3), "tick {tick}");
        insta::assert_snapshot!(
            format!("health_connections_tick_{tick}"),
            frame(&mut app, &mut vm, 150, 14)
        );
        if tick == 4 {
            assert_eq!(firefox.successes, 1, "the connection closed after read 2");
            assert_eq!(firefox.connections_opened, 3);
            // Into firefox's connections, with its pane.
            for key in [KeyCode::Char('1'), KeyCode::Down, KeyCode::Enter] {
                app.on_key(KeyEvent::from(key), vm.row_keys());
                vm.arrange(&app);
                app.follow(vm.row_keys());
            }
            assert_eq!(app.drill_pid, Some(1717));
            app.on_key(KeyEvent::from(KeyCode::Char('d')), vm.row_keys());
            insta::assert_snapshot!(
                "health_firefox_pane_tick_4",
                frame(&mut app, &mut vm, 110, 24)
            );
        }
    }
}
