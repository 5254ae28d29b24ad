//! The processes and connections tables. Columns adapt to the width: at 80
//! columns a connection shows its local port only and a process its
//! sparkline in what room is left; from 120 columns on, full local
//! addresses and command lines appear. The connections table's TCP health
//! columns (when the capture follows TCP lifecycles) have priorities: the
//! least telling are dropped first until the address columns keep their
//! room ([`fit`]). Only the visible window of rows is formatted.

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{column_title, column_widths, scroll_offset, DIM};
use crate::app::{App, SortColumn};
use crate::format::{amount, count, fit_end, fit_start, millis, rate};
use crate::model::{ConnectionView, Presence, ProcessView, ViewModel};
use netoproc_core::group::GroupBy;
use netoproc_core::workload::Workload;

/// From this width on, tables show their optional columns.
const WIDE: u16 = 120;
/// The container column: 12 cells at 80 columns (longer labels are cut),
/// 20 when wide, room for `docker:<12 hex>` and most service names.
const CONTAINER: u16 = 12;
const CONTAINER_WIDE: u16 = 20;

/// Room each `Fill` column keeps before optional columns are dropped.
const FILL_MIN: u16 = 18;

/// A column: title, what it sorts by, width, numbers right-aligned, and
/// when it is dropped for room (0: never; higher goes first).
pub(crate) struct Col {
    pub title: &'static str,
    pub sort: Option<SortColumn>,
    pub width: Constraint,
    pub right: bool,
    pub drop: u8,
}

/// The widths `cols` get in `width` cells (one cell between columns).
pub(crate) fn widths_of(width: u16, cols: &[Col]) -> Vec<u16> {
    column_widths(width, &cols.iter().map(|c| c.width).collect::<Vec<_>>())
}

const fn col(title: &'static str, sort: Option<SortColumn>, width: Constraint, right: bool) -> Col {
    Col {
        title,
        sort,
        width,
        right,
        drop: 0,
    }
}

impl Col {
    /// The same column, dropped with priority `rank` when room is short.
    const fn dropped(self, rank: u8) -> Col {
        Col { drop: rank, ..self }
    }
}

/// Drops optional columns, highest rank first, until every `Fill` column
/// has [`FILL_MIN`] cells in `width` (or nothing more can go).
pub(super) fn fit(mut cols: Vec<Col>, width: u16) -> Vec<Col> {
    loop {
        let fills = cols.iter().filter(|c| matches!(c.width, Fill(_))).count() as u16;
        let fixed: u16 = cols
            .iter()
            .map(|c| match c.width {
                Length(n) => n,
                _ => 0,
            })
            .sum::<u16>()
            + cols.len().saturating_sub(1) as u16;
        if width.saturating_sub(fixed) >= FILL_MIN * fills.max(1) {
            return cols;
        }
        let Some((at, _)) = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.drop > 0)
            .max_by_key(|(i, c)| (c.drop, *i))
        else {
            return cols;
        };
        cols.remove(at);
    }
}

use Constraint::{Fill, Length};
use SortColumn as S;

/// The processes table's columns at `width`.
pub(super) fn process_columns(app: &App, width: u16) -> Vec<Col> {
    let wide = width >= WIDE;
    let (rx, tx) = volume_titles(app);
    let container = if wide { CONTAINER_WIDE } else { CONTAINER };
    let grouped = app.group_by != GroupBy::Process;
    let (pid, process, key) = if grouped {
        ("PROCS", "GROUP", "KEY")
    } else {
        ("PID", "PROCESS", "CONTAINER")
    };
    let mut cols = vec![
        col(pid, Some(S::Pid), Length(7), true),
        col(process, Some(S::Process), Length(15), false),
        col(key, Some(S::Container), Length(container), false),
        col(rx, Some(S::Rx), Length(12), true),
        col(tx, Some(S::Tx), Length(12), true),
        col("CONNS", Some(S::Connections), Length(5), true),
    ];
    if wide {
        // Up to one cell per sample, leaving the command line 20 columns.
        let fixed: u16 = 7 + 15 + container + 12 + 12 + 5 + 7;
        let spark = width.saturating_sub(fixed + 20).min(60);
        cols.push(col("HISTORY 60 s", None, Length(spark), false));
        cols.push(col("COMMAND", None, Fill(1), false));
    } else {
        cols.push(col("HISTORY", None, Fill(1), false));
    }
    cols
}

/// The processes view: the table, the selected process's detail pane when
/// `d` opened it, and one line with the selected row's whole chain
/// (process → service or container → pod).
pub(super) fn split_processes(body: Rect, app: &App) -> [Rect; 3] {
    let pane = if app.detail {
        super::health::height(body)
    } else {
        0
    };
    ratatui::layout::Layout::vertical([Fill(1), Length(pane), Length(1)]).areas(body)
}

pub(super) fn processes(frame: &mut Frame, body: Rect, app: &App, vm: &ViewModel) {
    let [area, pane, detail] = split_processes(body, app);
    let rows_of = vm.process_rows();
    let chosen = vm
        .order()
        .get(app.selected)
        .and_then(|&i| rows_of.get(i as usize));
    if pane.height > 0 {
        use super::health::{self, Subject};
        let who = match chosen {
            None => Subject::Nothing,
            Some(_) if vm.grouped() => Subject::Group,
            Some(p) => Subject::Process(p.pid, &p.name),
        };
        health::pane(frame, pane, vm, who);
    }
    let text = chosen.map_or_else(String::new, |p| chain(p, vm.grouped()));
    frame.render_widget(
        Paragraph::new(Line::styled(fit_end(&text, detail.width as usize), DIM)),
        detail,
    );
    let wide = area.width >= WIDE;
    let cols = process_columns(app, area.width);
    let widths = widths_of(area.width, &cols);
    let spark_w = widths[6] as usize;
    let cmd_w = widths.get(7).copied().unwrap_or(0) as usize;

    let rows = visible(area, app, vm.order()).map(|(pos, &i)| {
        let p = &rows_of[i as usize];
        let (rx, tx) = volumes(app, p.rates, p.rx_bytes, p.tx_bytes);
        let mut cells = vec![
            if vm.grouped() {
                p.members.to_string()
            } else {
                p.pid.to_string()
            },
            fit_end(&p.name, 15),
            container(&p.container, widths[2] as usize),
            rx,
            tx,
            count(u64::from(p.connections)),
            sparkline(&p.history, spark_w),
        ];
        if wide {
            cells.push(fit_end(&p.cmdline, cmd_w));
        }
        (cells, row_style(p.presence, pos == app.selected))
    });
    let empty = if app.filter.is_empty() {
        "No traffic seen yet: processes appear here as they send or receive."
    } else {
        "No process matches the filter."
    };
    draw(
        frame,
        area,
        app,
        &cols,
        &widths,
        rows,
        vm.order().is_empty(),
        empty,
    );
}

/// The connections table's columns at `width`; `health` adds the TCP
/// health columns (the capture follows TCP lifecycles).
pub(super) fn connection_columns(app: &App, health: bool, width: u16) -> Vec<Col> {
    let (rx, tx) = volume_titles(app);
    // Drilled into one process, the owner is in the tab line: its column
    // is the first to give way to health.
    let owner_drop = if app.drill_pid.is_some() { 9 } else { 0 };
    let mut cols = if width >= WIDE {
        vec![
            col("PROTO", Some(S::Protocol), Length(5), false),
            col("LOCAL", Some(S::Local), Fill(1), false),
            col("REMOTE", Some(S::Remote), Fill(1), false),
            col("STATE", Some(S::State), Length(7), false),
            col("OWNER", Some(S::Owner), Length(23), false).dropped(owner_drop),
            col(rx, Some(S::Rx), Length(12), true),
            col(tx, Some(S::Tx), Length(12), true),
        ]
    } else {
        vec![
            col("PROTO", Some(S::Protocol), Length(5), false),
            col("LPORT", Some(S::Local), Length(5), true),
            col("REMOTE", Some(S::Remote), Fill(1), false),
            col("STATE", Some(S::State), Length(7), false),
            col("OWNER", Some(S::Owner), Length(13), false).dropped(owner_drop),
            col(rx, Some(S::Rx), Length(12), true),
            col(tx, Some(S::Tx), Length(12), true),
        ]
    };
    if health {
        // Most telling kept longest: RTT, response time, handshake, then
        // retransmissions.
        cols.extend([
            col("HSHAKE", Some(S::Handshake), Length(7), true).dropped(3),
            col("RTT", Some(S::Rtt), Length(7), true).dropped(1),
            col("RETR", Some(S::Retransmits), Length(5), true).dropped(4),
            col("RESP", Some(S::Response), Length(7), true).dropped(2),
        ]);
    }
    fit(cols, width)
}

pub(super) fn connections(frame: &mut Frame, area: Rect, app: &App, vm: &ViewModel) {
    let wide = area.width >= WIDE;
    let cols = connection_columns(app, vm.lifecycle.on(), area.width);
    let widths = widths_of(area.width, &cols);
    let rows = visible(area, app, vm.order()).map(|(pos, &i)| {
        let c = &vm.connections[i as usize];
        let cells = cols
            .iter()
            .zip(&widths)
            .map(|(col, &w)| connection_cell(app, c, col, wide, w as usize))
            .collect();
        (cells, row_style(c.presence, pos == app.selected))
    });
    let empty = match (app.drill_pid, app.filter.is_empty()) {
        (Some(_), _) => "This process has no connection now. Esc goes back.",
        (None, true) => "No connection seen yet.",
        (None, false) => "No connection matches the filter.",
    };
    draw(
        frame,
        area,
        app,
        &cols,
        &widths,
        rows,
        vm.order().is_empty(),
        empty,
    );
}

/// One cell of a connection row, for column `col` of `width` cells.
fn connection_cell(app: &App, c: &ConnectionView, col: &Col, wide: bool, width: usize) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), millis);
    let tcp = c.tcp;
    match col.sort {
        Some(S::Protocol) => c.protocol.as_str().to_string(),
        Some(S::Local) => match (c.local, wide) {
            (None, _) => "?".to_string(),
            (Some(a), true) => fit_start(&a.to_string(), width),
            (Some(a), false) => a.port().to_string(),
        },
        Some(S::Remote) => {
            let remote = match (c.remote, &c.remote_host) {
                (None, _) => "*".to_string(),
                (Some(a), Some(host)) => format!("{host}:{}", a.port()),
                (Some(a), None) => a.to_string(),
            };
            fit_start(&remote, width)
        }
        Some(S::State) => c.state_label().to_string(),
        Some(S::Owner) => {
            let owner = if c.pid == 0 {
                "unknown".to_string()
            } else {
                format!("{} {}", c.pid, c.process)
            };
            fit_end(&owner, width)
        }
        Some(S::Rx) => volumes(app, c.rates, c.rx_bytes, c.tx_bytes).0,
        Some(S::Tx) => volumes(app, c.rates, c.rx_bytes, c.tx_bytes).1,
        Some(S::Handshake) => ms(tcp.and_then(|t| t.handshake_ms)),
        Some(S::Rtt) => ms(tcp.and_then(|t| t.rtt_ms)),
        Some(S::Retransmits) => tcp
            .and_then(|t| t.retransmits)
            .map_or_else(|| "-".to_string(), |n| count(u64::from(n))),
        Some(S::Response) => ms(tcp.and_then(|t| t.response_p50_ms)),
        _ => String::new(),
    }
}

/// Draws a table of pre-formatted cells, or `empty` when there is no row.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    cols: &[Col],
    widths: &[u16],
    rows: impl Iterator<Item = (Vec<String>, Style)>,
    is_empty: bool,
    empty: &str,
) {
    let header = Row::new(cols.iter().map(|c| {
        let t = column_title(app, c.title, c.sort);
        aligned(t, c.right)
    }))
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let rows: Vec<Row> = rows
        .map(|(cells, style)| {
            Row::new(
                cells
                    .into_iter()
                    .zip(cols)
                    .map(|(text, c)| aligned(text, c.right)),
            )
            .style(style)
        })
        .collect();
    let table = Table::new(rows, widths.iter().map(|w| Length(*w))).header(header);
    frame.render_widget(table, area);
    if is_empty && area.height > 2 {
        let hint = Rect::new(area.x, area.y + 2, area.width, 1);
        frame.render_widget(
            Paragraph::new(empty)
                .style(DIM)
                .alignment(Alignment::Center),
            hint,
        );
    }
}

fn aligned(text: String, right: bool) -> Cell<'static> {
    let line = Line::from(text);
    Cell::from(if right { line.right_aligned() } else { line })
}

/// The rows that fit below the table header, with their screen positions.
pub(super) fn visible<'v>(
    area: Rect,
    app: &App,
    order: &'v [u32],
) -> impl Iterator<Item = (usize, &'v u32)> {
    let height = area.height.saturating_sub(1) as usize;
    let offset = scroll_offset(app.selected, height);
    order.iter().enumerate().skip(offset).take(height)
}

pub(super) fn row_style(presence: Presence, selected: bool) -> Style {
    let base = match presence {
        Presence::Live => Style::new(),
        Presence::Fading | Presence::Idle => DIM,
    };
    if selected {
        base.add_modifier(Modifier::REVERSED)
    } else {
        base
    }
}

pub(super) fn volume_titles(app: &App) -> (&'static str, &'static str) {
    if app.totals {
        ("RX", "TX")
    } else {
        ("RX/s", "TX/s")
    }
}

/// The rx and tx cells: rates over the chosen window, or totals.
pub(super) fn volumes(
    app: &App,
    rates: netoproc_core::rates::Rates,
    rx_bytes: u64,
    tx_bytes: u64,
) -> (String, String) {
    if app.totals {
        (
            amount(rx_bytes as f64, app.unit),
            amount(tx_bytes as f64, app.unit),
        )
    } else {
        let r = rates.window(app.window);
        (rate(r.rx, app.unit), rate(r.tx, app.unit))
    }
}

/// Who a row's traffic is for, as one line: `pid 812 nginx · user www-data
/// → nginx.service · netns 4026531840 · cgroup /system.slice/nginx.service`,
/// a container with its id and in-container pid, then its pod. Unescaped
/// (the caller fits and escapes it).
pub(crate) fn chain(p: &ProcessView, grouped: bool) -> String {
    if grouped {
        return format!("{} · {} processes · key {}", p.name, p.members, p.container);
    }
    let mut out = format!("pid {} {}", p.pid, p.name);
    let Some(id) = &p.identity else {
        out.push_str(" · not identified (gone before /proc was read)");
        return out;
    };
    match (&id.user, p.uid) {
        (Some(name), Some(uid)) => out.push_str(&format!(" · user {name} ({uid})")),
        (None, Some(uid)) => out.push_str(&format!(" · uid {uid}")),
        _ => {}
    }
    let w = &id.workload;
    if !matches!(w, Workload::Host) {
        out.push_str(&format!(" → {}", w.label()));
        if let Some(cid) = w.container_id() {
            if !w.label().contains(&cid[..cid.len().min(12)]) {
                out.push_str(&format!(" ({})", &cid[..cid.len().min(12)]));
            }
        }
        if let Some(pid) = id.container_pid {
            out.push_str(&format!(", pid {pid} inside"));
        }
    }
    if let Some(pod) = w.pod_label() {
        out.push_str(&format!(" → pod {pod}"));
    }
    if let Some(ns) = id.netns {
        out.push_str(&format!(" · netns {ns}"));
    }
    if !id.cgroup.is_empty() {
        out.push_str(&format!(" · cgroup {}", id.cgroup));
    }
    out
}

/// The container cell: the label, or when it does not fit, the short id
/// alone (`4c01db0b339c` for `docker:4c01db0b339c`, as `docker ps` shows).
fn container(label: &str, width: usize) -> String {
    if label.is_empty() {
        return "-".to_string();
    }
    match label.split_once(':') {
        Some((_, id)) if label.len() > width => fit_end(id, width),
        _ => fit_end(label, width),
    }
}

/// The last `width` samples as block characters, scaled to their own peak;
/// a quiet tick is a blank. Hand-written: ratatui's `Sparkline` is a
/// widget of its own and cannot sit in a table cell.
pub(crate) fn sparkline(samples: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &samples[samples.len().saturating_sub(width)..];
    let peak = tail.iter().copied().max().unwrap_or(0);
    let mut out = String::with_capacity(width * 3);
    for _ in tail.len()..width {
        out.push(' ');
    }
    for &v in tail {
        if v == 0 || peak == 0 {
            out.push(' ');
        } else {
            let level = (v as u128 * 8).div_ceil(peak as u128) as usize - 1;
            out.push(BARS[level.min(7)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_process_container_and_pod() {
        use crate::model::ProcessView;
        use netoproc_core::workload::{KubeRuntime, ProcessIdentity};
        use std::sync::Arc;
        let id = "d7dfb4a21fe1cf9eab5c8acf590e1503bbf16480df2f73bb47a41331fe204258";
        let p = ProcessView {
            pid: 812,
            name: Arc::from("nginx"),
            cmdline: String::new(),
            container: Arc::from(""),
            uid: Some(101),
            identity: Some(Arc::new(ProcessIdentity {
                cgroup: "/kubepods.slice/x".into(),
                netns: Some(4026532001),
                user: Some("nginx".into()),
                ppid: Some(1),
                container_pid: Some(7),
                workload: Workload::Kubernetes {
                    pod_uid: "1e597579-417e-482f-bf65-5fe170c3aebd".into(),
                    container_id: id.into(),
                    runtime: Some(KubeRuntime::Containerd),
                    pod_name: Some("web-0".into()),
                    namespace: Some("shop".into()),
                },
            })),
            members: 1,
            rates: Default::default(),
            rx_bytes: 0,
            tx_bytes: 0,
            connections: 0,
            history: Vec::new(),
            presence: Presence::Live,
        };
        assert_eq!(
            chain(&p, false),
            "pid 812 nginx · user nginx (101) → k8s:shop/web-0 (d7dfb4a21fe1), pid 7 inside \
             → pod shop/web-0 · netns 4026532001 · cgroup /kubepods.slice/x"
        );
    }

    #[test]
    fn sparkline_scales_to_its_peak_and_right_aligns() {
        assert_eq!(sparkline(&[0, 1, 7, 14], 6), "   ▁▄█");
        assert_eq!(sparkline(&[5, 5, 5], 2), "██");
        assert_eq!(sparkline(&[], 3), "   ");
    }
}
