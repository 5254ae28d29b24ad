//! The interfaces view — the kernel's own counters per interface since
//! netoproc started, and under them how much of that traffic netoproc could
//! attribute to processes (the rest shown as unattributed, never hidden).

use netoproc_core::escape::for_terminal;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::tables::{draw, row_style, visible, volume_titles, volumes, widths_of, Col};
use super::{BOLD, DIM, WARN};
use crate::app::{App, SortColumn as S};
use crate::format::{amount, count, fit_end};
use crate::model::{Presence, ViewModel};

/// The interfaces table's columns.
pub(super) fn interface_columns(app: &App) -> Vec<Col> {
    let (rx, tx) = volume_titles(app);
    let c = |title, sort, width, right| Col {
        title,
        sort,
        width,
        right,
        drop: 0,
    };
    vec![
        c(
            "INTERFACE",
            Some(S::Interface),
            Constraint::Length(16),
            false,
        ),
        c(rx, Some(S::Rx), Constraint::Length(12), true),
        c(tx, Some(S::Tx), Constraint::Length(12), true),
        c("RX PKTS", None, Constraint::Length(10), true),
        c("TX PKTS", None, Constraint::Length(10), true),
        c("ERRORS", Some(S::Errors), Constraint::Length(7), true),
        c("DROPS", Some(S::Drops), Constraint::Length(7), true),
    ]
}

/// The table's part of the view and the attribution summary's below it.
pub(super) fn split(area: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Fill(1), Constraint::Length(4)]).areas(area)
}

pub(super) fn interfaces(frame: &mut Frame, area: Rect, app: &App, vm: &ViewModel) {
    let [table_area, summary_area] = split(area);
    let cols = interface_columns(app);
    let widths = widths_of(table_area.width, &cols);
    let rows = visible(table_area, app, vm.order()).map(|(pos, &i)| {
        let v = &vm.interfaces[i as usize];
        let s = &v.since_start;
        let (rx, tx) = volumes(app, v.rates, s.rx_bytes, s.tx_bytes);
        let cells = vec![
            fit_end(&s.name, widths[0] as usize),
            rx,
            tx,
            count(s.rx_packets),
            count(s.tx_packets),
            count(s.errors()),
            count(s.drops()),
        ];
        (cells, row_style(Presence::Live, pos == app.selected))
    });
    let empty = match &vm.interfaces_error {
        Some(_) => "Interface counters could not be read.",
        None if !app.filter.is_empty() => "No interface matches the filter.",
        None => "No network interface found.",
    };
    draw(
        frame,
        table_area,
        app,
        &cols,
        &widths,
        rows,
        vm.order().is_empty(),
        empty,
    );
    frame.render_widget(Paragraph::new(summary(app, vm)), summary_area);
}

/// Interface bytes against process-socket bytes since start.
fn summary(app: &App, vm: &ViewModel) -> Vec<Line<'static>> {
    if let Some(e) = &vm.interfaces_error {
        return vec![Line::styled(
            format!(" interface counters unavailable: {}", for_terminal(e)),
            WARN,
        )];
    }
    let a = vm.attribution;
    let u = app.unit;
    let total = &vm.header.total;
    if a.process_rx_wire_bytes + a.process_tx_wire_bytes == 0 && total.rx_bytes + total.tx_bytes > 0
    {
        return vec![Line::styled(
            " IP-layer bytes are not captured (wire hook not attached), so the share \
             attributed to processes is unknown.",
            WARN,
        )];
    }
    let share = |part: u64, whole: u64| match whole {
        0 => "-".to_string(),
        w => format!("{:.0}%", 100.0 * part.min(w) as f64 / w as f64),
    };
    let un_rx = a.interface_rx_bytes.saturating_sub(a.process_rx_wire_bytes);
    let un_tx = a.interface_tx_bytes.saturating_sub(a.process_tx_wire_bytes);
    let amt = |n: u64| amount(n as f64, u);
    let row = |label: &str, rx: u64, rx_share: String, tx: u64, tx_share: String| {
        format!(
            " {label:<13}{:>11} {rx_share:>4}   {:>11} {tx_share:>4}",
            amt(rx),
            amt(tx)
        )
    };
    let (irx, itx) = (a.interface_rx_bytes, a.interface_tx_bytes);
    let (prx, ptx) = (a.process_rx_wire_bytes, a.process_tx_wire_bytes);
    vec![
        Line::styled(
            format!(
                " {:<13}{:>11} {:>4}   {:>11}",
                "since start", "RX", "", "TX"
            ),
            DIM,
        ),
        Line::raw(row("interfaces", irx, String::new(), itx, String::new())),
        Line::raw(row("processes", prx, share(prx, irx), ptx, share(ptx, itx))),
        Line::from(vec![
            Span::styled(
                row(
                    "unattributed",
                    un_rx,
                    share(un_rx, irx),
                    un_tx,
                    share(un_tx, itx),
                ),
                BOLD,
            ),
            Span::styled(
                "  no local socket: ARP, ICMP, forwarded, other netns, link headers",
                DIM,
            ),
        ]),
    ]
}
