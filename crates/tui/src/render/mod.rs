//! Drawing one frame from an [`App`] and an arranged [`ViewModel`]: the
//! header, the tab line, the current view and the footer, plus the help
//! overlay and the process detail pane. Only the rows that fit are turned into widgets, so a frame
//! costs the same at 100 or 10,000 connections. Nothing here sorts, filters
//! or computes rates; that happened when the model was arranged.

mod dns;
mod header;
mod health;
mod help;
mod interfaces;
mod tables;

use netoproc_core::escape::for_terminal;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::app::{App, Screen, SortColumn};
use crate::format::{count, Unit};
use crate::model::ViewModel;

pub(crate) const DIM: Style = Style::new().fg(Color::DarkGray);
pub(crate) const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
pub(crate) const KEY: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
pub(crate) const WARN: Style = Style::new().fg(Color::Yellow);

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App, vm: &ViewModel) {
    let [header, tabs, body, footer] = areas(frame.area());
    header::render(frame, header, app, vm);
    render_tabs(frame, tabs, app, vm);
    match app.view {
        Screen::Processes => tables::processes(frame, body, app, vm),
        Screen::Connections => {
            let [table, pane] = split_connections(body, app);
            tables::connections(frame, table, app, vm);
            if let Some(pid) = app.drill_pid.filter(|_| pane.height > 0) {
                let name = vm
                    .processes
                    .iter()
                    .find(|p| p.pid == pid)
                    .map_or("", |p| &p.name);
                health::pane(frame, pane, vm, health::Subject::Process(pid, name));
            }
        }
        Screen::Interfaces => interfaces::interfaces(frame, body, app, vm),
        Screen::Dns => dns::dns(frame, body, app, vm),
    }
    render_footer(frame, footer, app);
    if app.help {
        help::render(frame, frame.area());
    }
}

/// The header, tab line, body (the current view) and footer of `screen`.
pub(crate) fn areas(screen: Rect) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(screen)
}

/// A tab's label on the tab line; the tabs sit side by side from the left.
pub(crate) fn tab_label(i: usize, v: Screen) -> String {
    format!(" {} {} ", i + 1, v.title())
}

/// The connections view: the table, and under it the detail pane of the
/// process drilled into, when `d` opened it.
pub(crate) fn split_connections(body: Rect, app: &App) -> [Rect; 2] {
    let pane = if app.detail && app.drill_pid.is_some() {
        health::height(body)
    } else {
        0
    };
    Layout::vertical([Constraint::Fill(1), Constraint::Length(pane)]).areas(body)
}

/// The current view's table in `body`: where it is and its columns, as
/// drawn (they depend on whether `vm` has TCP health). Shared with the
/// mouse's hit-testing.
pub(crate) fn table_layout(app: &App, vm: &ViewModel, body: Rect) -> (Rect, Vec<tables::Col>) {
    match app.view {
        Screen::Processes => {
            let [table, _, _] = tables::split_processes(body, app);
            (table, tables::process_columns(app, body.width))
        }
        Screen::Connections => {
            let [table, _] = split_connections(body, app);
            (
                table,
                tables::connection_columns(app, vm.lifecycle.on(), body.width),
            )
        }
        Screen::Interfaces => {
            let [table, _] = interfaces::split(body);
            (table, interfaces::interface_columns(app))
        }
        Screen::Dns => {
            let [table, _] = dns::split(body);
            (table, dns::query_columns(table.width))
        }
    }
}

fn render_tabs(frame: &mut Frame, area: Rect, app: &App, vm: &ViewModel) {
    let mut spans = Vec::new();
    for (i, v) in Screen::ALL.iter().enumerate() {
        let style = if *v == app.view {
            BOLD.add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        spans.push(Span::styled(tab_label(i, *v), style));
    }
    // Most telling first; whatever does not fit is left out.
    let mut status = Vec::new();
    if let Some(pid) = app.drill_pid {
        let name = vm
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .map_or("", |p| &p.name);
        status.push(format!("pid {pid} {}", for_terminal(name)));
    }
    if !app.filter.is_empty() && !app.editing_filter {
        status.push(format!("filter \"{}\"", for_terminal(&app.filter)));
    }
    if app.view == Screen::Dns {
        if let Some(d) = &vm.dns {
            status.push(format!("{} queries", count(d.total_queries as u64)));
        }
    } else {
        status.push(if app.totals {
            "totals".to_string()
        } else {
            format!("rates {}", window_label(app.window))
        });
    }
    status.push(format!("{} rows", vm.order().len()));
    let room = (area.width as usize).saturating_sub(spans.iter().map(|s| s.width()).sum());
    while !status.is_empty() && status.join(" · ").chars().count() + 2 > room {
        status.pop();
    }
    let right = format!("{} ", status.join(" · "));
    let pad = room.saturating_sub(right.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(right, DIM));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_footer(frame: &mut Frame, area: Rect, app: &App) {
    let line = if app.editing_filter {
        Line::from(vec![
            Span::styled(" filter: ", KEY),
            Span::raw(for_terminal(&app.filter).into_owned()),
            Span::styled("█", DIM),
            Span::styled("   Enter keep · Esc clear", DIM),
        ])
    } else {
        let mut hints: Vec<(&str, &str)> = vec![("q", "quit"), ("?", "help")];
        if app.drill_pid.is_some() {
            hints.push(("Esc", "back"));
        } else if app.view == Screen::Processes {
            hints.push(("Enter", "connections"));
        }
        if app.drill_pid.is_some() || app.view == Screen::Processes {
            hints.push(("d", if app.detail { "hide health" } else { "health" }));
        }
        hints.extend([
            ("1-4", "view"),
            ("s", "sort"),
            ("r", "reverse"),
            ("/", "filter"),
            ("space", if app.frozen { "resume" } else { "freeze" }),
            (
                "b",
                if app.unit == Unit::Bytes {
                    "bits"
                } else {
                    "bytes"
                },
            ),
            ("t", if app.totals { "rates" } else { "totals" }),
            ("w", "window"),
            ("o", "group"),
        ]);
        let mut spans = vec![Span::raw(" ")];
        for (k, what) in hints {
            spans.push(Span::styled(k, KEY));
            spans.push(Span::raw(format!(" {what}  ")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

pub(crate) fn window_label(i: usize) -> &'static str {
    ["1 s", "10 s", "60 s"][i.min(2)]
}

/// A column header with the sort arrow when the view is sorted by it (both
/// RX and TX carry it when sorted by RX+TX).
pub(crate) fn column_title(app: &App, title: &str, col: Option<SortColumn>) -> String {
    let sort = app.sort();
    let marked = match (col, sort.column) {
        (Some(c), s) if c == s => true,
        (Some(SortColumn::Rx | SortColumn::Tx), SortColumn::Traffic) => true,
        _ => false,
    };
    if marked {
        format!("{title}{}", if sort.descending { "▼" } else { "▲" })
    } else {
        title.to_string()
    }
}

/// First row to show so that `selected` is visible in `height` rows.
pub(crate) fn scroll_offset(selected: usize, height: usize) -> usize {
    if height == 0 || selected < height {
        0
    } else {
        selected + 1 - height
    }
}

/// Column widths as the table will lay them out (one space between).
pub(crate) fn column_widths(width: u16, constraints: &[Constraint]) -> Vec<u16> {
    Layout::horizontal(constraints.iter().copied())
        .spacing(1)
        .split(Rect::new(0, 0, width, 1))
        .iter()
        .map(|r| r.width)
        .collect()
}
