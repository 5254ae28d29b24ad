//! The DNS view: the most recent queries by process — when on the run's
//! clock, who asked, the name and type, how it ended, how long it took
//! and, from 120 columns on, what came back — above the resolver table
//! (queries, median and 99th-percentile latency, failure rate). Failed
//! queries are shown in the warning colour. Without DNS capture it says
//! how to turn it on.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::tables::{draw, row_style, visible, widths_of, Col};
use super::{BOLD, DIM, WARN};
use crate::app::App;
use crate::format::{clock, count, fit_end, fit_start};
use crate::model::{Presence, ViewModel};

/// From this width on, answers are shown.
const WIDE: u16 = 120;
/// The resolver table: a blank line, its header and four resolvers.
const RESOLVERS_HEIGHT: u16 = 6;

use Constraint::{Fill, Length};

fn col(title: &'static str, width: Constraint, right: bool) -> Col {
    Col {
        title,
        sort: None,
        width,
        right,
        drop: 0,
    }
}

/// The queries table's columns at `width` (none sorts: newest first).
pub(super) fn query_columns(width: u16) -> Vec<Col> {
    let wide = width >= WIDE;
    let mut cols = vec![
        col("TIME", Length(7), true),
        col("PID", Length(7), true),
        col("PROCESS", Length(if wide { 15 } else { 12 }), false),
        col("NAME", Fill(1), false),
        col("TYPE", Length(5), false),
        col("RCODE", Length(8), false),
        col("MS", Length(6), true),
    ];
    if wide {
        cols.push(col("ANSWERS", Fill(1), false));
    }
    cols
}

/// The queries' part of the view and the resolvers' below it.
pub(super) fn split(area: Rect) -> [Rect; 2] {
    Layout::vertical([Fill(1), Length(RESOLVERS_HEIGHT)]).areas(area)
}

pub(super) fn dns(frame: &mut Frame, area: Rect, app: &App, vm: &ViewModel) {
    let Some(dns) = &vm.dns else {
        return off(frame, area);
    };
    let [queries_area, resolvers_area] = split(area);
    let cols = query_columns(queries_area.width);
    let widths = widths_of(queries_area.width, &cols);
    let rows = visible(queries_area, app, vm.order()).map(|(pos, &i)| {
        let q = &dns.queries[i as usize];
        let r = &q.row;
        let mut cells = vec![
            clock(q.at.as_secs()),
            if r.pid == 0 {
                "?".to_string()
            } else {
                r.pid.to_string()
            },
            fit_end(&r.process, widths[2] as usize),
            fit_start(&r.name, widths[3] as usize),
            fit_end(&r.qtype, widths[4] as usize),
            fit_end(q.outcome(), widths[5] as usize),
            r.latency_ms.map_or_else(|| "-".to_string(), millis),
        ];
        if let Some(w) = widths.get(7) {
            cells.push(fit_end(&r.answers.join(" "), *w as usize));
        }
        let style = row_style(Presence::Live, pos == app.selected);
        (cells, if q.failed() { style.patch(WARN) } else { style })
    });
    let empty = if app.filter.is_empty() {
        "No DNS query seen yet: queries appear here as processes resolve names."
    } else {
        "No query matches the filter."
    };
    draw(
        frame,
        queries_area,
        app,
        &cols,
        &widths,
        rows,
        vm.order().is_empty(),
        empty,
    );
    resolvers(frame, resolvers_area, app, vm);
}

fn resolvers(frame: &mut Frame, area: Rect, app: &App, vm: &ViewModel) {
    let Some(dns) = &vm.dns else { return };
    if area.height < 2 {
        return;
    }
    let table = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    let cols = [
        col("RESOLVER", Fill(1), false),
        col("QUERIES", Length(8), true),
        col("PENDING", Length(8), true),
        col("P50 MS", Length(7), true),
        col("P99 MS", Length(7), true),
        col("FAILED", Length(7), true),
        col("NXDOMAIN", Length(8), true),
    ];
    let widths = widths_of(table.width, &cols);
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), millis);
    let rows = dns.resolvers.iter().map(|r| {
        let cells = vec![
            fit_start(&r.resolver.to_string(), widths[0] as usize),
            count(r.queries),
            count(r.pending),
            ms(r.p50_ms),
            ms(r.p99_ms),
            if r.queries == 0 {
                "-".to_string()
            } else {
                format!("{:.1}%", 100.0 * r.failure_rate)
            },
            count(r.failures.nxdomain),
        ];
        let failing = r.failure_rate > 0.0;
        (cells, if failing { WARN } else { Default::default() })
    });
    draw(
        frame,
        table,
        app,
        &cols,
        &widths,
        rows,
        dns.resolvers.is_empty(),
        "No resolver asked yet.",
    );
}

/// Latency in ms: tenths below 100 ms, whole milliseconds above.
fn millis(ms: f64) -> String {
    if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

fn off(frame: &mut Frame, area: Rect) {
    let lines = vec![
        Line::raw(""),
        Line::styled("DNS capture is off.", BOLD),
        Line::raw(""),
        Line::styled(
            "Recent queries by process and resolver statistics show here when",
            DIM,
        ),
        Line::styled(
            "netoproc watches DNS ports: --dns-ports 53 (the default).",
            DIM,
        ),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        area,
    );
}
