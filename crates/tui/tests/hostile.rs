//! Hostile names in the live view: the fixed scenario with a task name that
//! clears the screen, a command line that writes the clipboard (OSC 52), a
//! container label that retitles the window, DNS names and answers with a
//! bidi override and a C1 CSI, an interface name that colours the screen.
//! Every view shows them escaped (`\x1b`, `\u{202e}`), pinned with insta,
//! and no cell holds a character a terminal would obey.

mod common;

use netoproc_core::escape::is_unsafe;
use netoproc_tui::{App, Screen};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn hostile(s: &str) -> String {
    s.replace("curl", "cu\u{1b}[2J\u{1b}[Hrl")
        .replace("runworker", "run\u{1b}]52;c;cHduZWQ=\u{7}worker")
        .replace("4c01db0b339c", "4c01\u{1b}]0;pwned\u{7}")
        .replace("downloads", "down\u{202e}exe.sdaol")
        .replace("reddit.map", "reddit\u{9b}31m.map")
        .replace("youtube", "you\u{2066}tube\u{2069}")
        .replace("eth0", "eth\u{1b}[31m0")
}

/// Every symbol the screen holds, row by row.
fn cells(view: Screen, width: u16, height: u16) -> String {
    let mut vm = common::scenario_named(&hostile);
    let mut app = App::new();
    app.view = view;
    // The detail pane too: under the processes table (curl's, selected).
    app.detail = true;
    vm.arrange(&app);
    app.follow(vm.row_keys());
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| netoproc_tui::render(f, &app, &vm)).unwrap();
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        for x in 0..width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn every_view_shows_hostile_names_escaped() {
    let wanted: &[(Screen, &[&str])] = &[
        (
            Screen::Processes,
            &[
                "TCP health · pid 4242 cu\\x1b[2J\\x1b[Hrl",
                "cu\\x1b[2J\\x1b[Hrl",
                "run\\x1b]52;c;cHduZWQ=\\x07worker",
                "4c01\\x1b]0;pwned\\x07",
            ],
        ),
        (Screen::Connections, &["down\\u{202e}exe.sdaol"]),
        (Screen::Interfaces, &["eth\\x1b[31m0"]),
        (
            Screen::Dns,
            &["reddit\\x9b31m.map", "you\\u{2066}tube\\u{2069}"],
        ),
    ];
    for (view, escaped) in wanted {
        let screen = cells(*view, 220, 40);
        for e in *escaped {
            assert!(screen.contains(e), "{view:?} lacks {e}:\n{screen}");
        }
    }
}

#[test]
fn no_cell_holds_what_a_terminal_obeys() {
    for view in Screen::ALL {
        for (w, h) in [(80, 24), (160, 40), (220, 40)] {
            let screen = cells(view, w, h);
            let bad: Vec<char> = screen
                .chars()
                .filter(|&c| c != '\n' && is_unsafe(c))
                .collect();
            assert!(bad.is_empty(), "{view:?} {w}x{h}: {bad:?}");
        }
    }
}

#[test]
fn hostile_screens() {
    for view in Screen::ALL {
        let mut vm = common::scenario_named(&hostile);
        let mut app = App::new();
        app.view = view;
        let out = common::screen(&mut app, &mut vm, 160, 40);
        insta::assert_snapshot!(format!("hostile_{}", view.title().to_lowercase()), out);
    }
}
