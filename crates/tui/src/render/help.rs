//! The `?` overlay: every key, in a box centred over the current view.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::{BOLD, DIM, KEY};

const KEYS: [(&str, &str); 21] = [
    ("1-4, Tab", "processes, connections, interfaces, DNS"),
    ("↑ ↓ PgUp PgDn", "select a row (also j k g G)"),
    ("Enter", "connections of the selected process"),
    ("Esc", "back from a process / clear the filter"),
    ("d", "TCP health and response times of the process"),
    ("", "RESP median response time; aborted = by exit"),
    ("s, ← →", "sort by the next / previous column"),
    ("r", "reverse the sort"),
    ("/", "filter as you type: name, pid, port, address"),
    ("", "container; Enter keeps it, Esc clears it"),
    ("mouse", "header click sorts, row click selects, wheel"),
    ("space", "freeze the display (capture goes on)"),
    ("b", "bytes or bits"),
    ("t", "rates or totals since start"),
    ("w", "rate window: 1 s, 10 s, 60 s"),
    ("o", "group by container/pod/service/user/cgroup"),
    ("?", "this help; any key closes it"),
    ("q, Ctrl-C", "quit"),
    ("", "greyed rows ended in the last few seconds"),
    ("no socket", "IP bytes that matched no local socket"),
    ("no owner", "bytes of sockets no process was seen using"),
];

pub(super) fn render(frame: &mut Frame, area: Rect) {
    let width = 62.min(area.width);
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            let style = if k.is_empty() { DIM } else { KEY };
            Line::from(vec![
                Span::styled(format!(" {k:>13}  "), style),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(" netoproc keys ", BOLD))
                .title_bottom(Line::styled(" any key to close ", DIM).right_aligned()),
        ),
        popup,
    );
}
