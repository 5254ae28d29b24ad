//! The live view end to end without root or a terminal: the scripted
//! backend through the real engine and the live loop's tick (drain, read,
//! name, rates, retire) on a stepping clock, each tick's frame drawn on
//! ratatui's `TestBackend` and compared with an insta snapshot, like
//! bandwhich's UI cases. Keys move between views as a user would.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use netoproc_core::clock::Clock;
use netoproc_engine::fake::StepClock;
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

#[test]
fn four_ticks_of_the_live_view() {
    let roots = Roots::new();
    let cli = roots.cli(&[]);
    let clock = StepClock::new();
    let mut backend = backend(&clock);
    let session = session_config(&cli, FrontEnd::Live);
    let interval = session.read_interval;
    assert_eq!(interval, Duration::from_secs(1));
    let mut capture = Capture::new(
        session,
        &mut backend,
        &clock,
        netoproc_core::group::Selection::default(),
    );
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
        }
    }
}
