//! The three header lines: how capture runs (mode, hooks, degraded
//! features, uptime, refresh), what moved (rates and totals), and what was
//! lost or could not be attributed, next to netoproc's own CPU and memory.
//! Losses are shown even when zero, so their absence is visible too.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{BOLD, DIM, KEY, WARN};
use crate::app::App;
use crate::format::{amount, clock, count, rate};
use crate::model::ViewModel;

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, vm: &ViewModel) {
    let h = &vm.header;
    let u = app.unit;

    let mut first = vec![Span::styled(" netoproc", BOLD)];
    if app.frozen {
        first.push(Span::styled(" FROZEN", KEY));
    }
    first.push(Span::raw(format!(" · {}/{}", h.capture_mode, h.hooks)));
    first.push(Span::styled(
        format!(
            " · up {} · every {} · {} procs · {} conns",
            clock(h.uptime.as_secs()),
            interval(h.interval),
            count(h.active_processes as u64),
            count(h.connections as u64)
        ),
        DIM,
    ));
    if !h.degraded.is_empty() {
        first.push(Span::styled(
            format!(" · {} degraded, see netoproc doctor", h.degraded.len()),
            WARN,
        ));
    }

    let r = h.total_rates.window(app.window);
    let second = vec![
        Span::styled(" RX ", DIM),
        Span::styled(rate(r.rx, u), BOLD),
        Span::styled("  TX ", DIM),
        Span::styled(rate(r.tx, u), BOLD),
        Span::styled(" · since start RX ", DIM),
        Span::raw(amount(h.total.rx_bytes as f64, u)),
        Span::styled("  TX ", DIM),
        Span::raw(amount(h.total.tx_bytes as f64, u)),
    ];

    let l = &h.losses;
    let lost = l.lost_events();
    let no_socket = l.unattributed_rx_wire_bytes + l.unattributed_tx_wire_bytes;
    let no_owner = l.no_owner_wire_bytes.max(l.no_owner_bytes);
    let mut third = vec![
        Span::styled(" lost ", DIM),
        Span::styled(count(lost), if lost > 0 { WARN } else { Style::new() }),
        Span::styled(" · no socket ", DIM),
        Span::raw(amount(no_socket as f64, u)),
        Span::styled(" · no owner ", DIM),
        Span::raw(amount(no_owner as f64, u)),
    ];
    if let Some(own) = h.own {
        third.push(Span::styled(" · self ", DIM));
        third.push(Span::raw(format!(
            "{:.1}% CPU, {}",
            own.cpu_percent,
            amount(own.rss_kib as f64 * 1024.0, crate::format::Unit::Bytes)
        )));
    }
    let lines = vec![Line::from(first), Line::from(second), Line::from(third)];
    frame.render_widget(Paragraph::new(lines), area);
}

fn interval(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}
