//! The process detail pane (`d`): one process's TCP lifecycle rollup —
//! connections opened and accepted, outcomes with every failure reason,
//! handshake, RTT and response p50/p99, retransmission ratio — beside a
//! small histogram of its response times (ratatui's `BarChart`, one bar per
//! range of milliseconds, neighbouring buckets merged until they fit). When
//! the capture does not follow TCP connections the pane says why in one
//! line instead of showing zeros. It draws what the model holds; names are
//! escaped like every other cell.

use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Paragraph, Wrap};
use ratatui::Frame;

use super::{BOLD, DIM, WARN};
use crate::format::{count, fit_end, millis};
use crate::model::ViewModel;
use netoproc_core::escape::for_terminal;
use netoproc_core::lifecycle::{BucketCount, ProcessHealth, Quantiles};

/// Lines the pane takes with its border, when the body has room.
const HEIGHT: u16 = 8;
/// The histogram's widest: labels, bars and counts.
const CHART_WIDTH: u16 = 60;

/// What the pane is about.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    /// A process: its pid and name.
    Process(u32, &'a str),
    /// A group row of the processes view.
    Group,
    /// No row is selected.
    Nothing,
}

/// The pane's height in `body`: [`HEIGHT`], or half the body when small.
pub(super) fn height(body: Rect) -> u16 {
    HEIGHT.min(body.height / 2)
}

/// Draws the pane for `who` in `area`.
pub(super) fn pane(frame: &mut Frame, area: Rect, vm: &ViewModel, who: Subject<'_>) {
    if area.height < 3 || area.width < 10 {
        return;
    }
    let life = &vm.lifecycle;
    let title = match who {
        Subject::Process(pid, name) => format!(" TCP health · pid {pid} {name} "),
        _ => " TCP health ".to_string(),
    };
    let mut block = Block::bordered().title(Line::styled(
        fit_end(&title, area.width.saturating_sub(4) as usize),
        BOLD,
    ));
    // Nothing lost silently: what the view could not keep is said here.
    let mut lost = Vec::new();
    if life.steps_lost > 0 {
        lost.push(format!("{} lifecycle steps lost", count(life.steps_lost)));
    }
    if life.rows_dropped > 0 {
        lost.push(format!(
            "{} connections not tracked (limit)",
            count(life.rows_dropped)
        ));
    }
    if !lost.is_empty() {
        block = block.title_bottom(Line::styled(format!(" {} ", lost.join(" · ")), WARN));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);

    // One statement, wrapped over the pane's lines when it is long.
    let say = |frame: &mut Frame, text: String| {
        frame.render_widget(
            Paragraph::new(Line::styled(for_terminal(&text).into_owned(), DIM))
                .wrap(Wrap { trim: true }),
            inner,
        );
    };
    if let Some(why) = &life.off {
        return say(frame, format!("Not captured: {why}."));
    }
    let pid = match who {
        Subject::Process(pid, _) => pid,
        Subject::Group => {
            return say(
                frame,
                "TCP health is kept per process: press o until rows are processes.".into(),
            )
        }
        Subject::Nothing => return say(frame, "No process selected.".into()),
    };
    let Some(h) = life.processes.get(&pid) else {
        return say(frame, "No TCP connection of this process seen yet.".into());
    };
    let left_w = if inner.width >= 100 {
        56
    } else {
        inner.width * 3 / 5
    };
    let [left, _, right] = Layout::horizontal([
        Constraint::Length(left_w),
        Constraint::Length(2),
        Constraint::Fill(1),
    ])
    .areas(inner);
    let lines: Vec<Line> = rollup(h)
        .into_iter()
        .map(|(label, value)| {
            Line::from(vec![
                Span::styled(format!("{label:<13}"), DIM),
                Span::raw(fit_end(&value, (left.width as usize).saturating_sub(13))),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), left);
    histogram(frame, right, vm, h);
}

/// The rollup as (label, value) lines.
fn rollup(h: &ProcessHealth) -> Vec<(&'static str, String)> {
    let failed: Vec<String> = h
        .failures
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(reason, &n)| format!("{} {reason}", count(n)))
        .collect();
    let outcomes = if h.successes == 0 && failed.is_empty() {
        "none closed yet".to_string()
    } else {
        std::iter::once(format!("{} success", count(h.successes)))
            .chain(failed)
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let retransmits = match h.retransmit_ratio {
        Some(r) => format!(
            "{:.2} % · {} of {} segments",
            r * 100.0,
            count(h.retransmits),
            count(h.segments_out)
        ),
        None => "no segment sent yet".to_string(),
    };
    vec![
        (
            "connections",
            format!(
                "{} opened · {} accepted · {} open",
                count(h.connections_opened),
                count(h.connections_accepted),
                count(h.open)
            ),
        ),
        ("outcomes", outcomes),
        ("handshake", quantiles(&h.handshake_ms)),
        ("RTT", quantiles(&h.rtt_ms)),
        ("retransmits", retransmits),
        ("response", quantiles(&h.response_ms)),
    ]
}

fn quantiles(q: &Quantiles) -> String {
    match (q.p50, q.p99) {
        (Some(p50), Some(p99)) => format!(
            "p50 {} · p99 {} · {}",
            millis(p50),
            millis(p99),
            count(q.count)
        ),
        _ => "none measured".to_string(),
    }
}

/// The response-time histogram in `area`, or why there is none.
fn histogram(frame: &mut Frame, area: Rect, vm: &ViewModel, h: &ProcessHealth) {
    if area.height < 2 || area.width < 16 {
        return;
    }
    let buckets = h.response.non_empty();
    if buckets.is_empty() {
        let why = vm
            .lifecycle
            .missing
            .iter()
            .find(|m| m.starts_with("response time"))
            .map_or("No response time measured yet.".to_string(), |m| {
                format!("Not measured: {m}.")
            });
        frame.render_widget(
            Paragraph::new(Line::styled(for_terminal(&why).into_owned(), DIM))
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [title, chart] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(Line::styled(
            fit_end("response time, ms", title.width as usize),
            DIM,
        )),
        title,
    );
    // A short histogram reads better than one stretched over a wide pane.
    let chart = Rect {
        width: chart.width.min(CHART_WIDTH),
        ..chart
    };
    let bins = merge(&buckets, chart.height as usize);
    let labels: Vec<String> = bins.iter().map(|b| range_ms(b.lo_us, b.hi_us)).collect();
    let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16;
    // The chart needs its labels, a space and a few cells of bar.
    if chart.width < label_w + 1 + 6 {
        return;
    }
    let bars: Vec<Bar> = bins
        .iter()
        .zip(labels)
        .map(|(b, label)| {
            Bar::default()
                .label(Line::from(format!("{label:>w$}", w = label_w as usize)))
                .value(b.count)
                .text_value(count(b.count))
        })
        .collect();
    frame.render_widget(
        BarChart::default()
            .direction(Direction::Horizontal)
            .bar_width(1)
            .bar_gap(0)
            .bar_style(Style::new().fg(Color::Cyan))
            .value_style(Style::new().fg(Color::Black).bg(Color::Cyan))
            .data(BarGroup::default().bars(&bars)),
        chart,
    );
}

/// `buckets` (in order) merged into at most `max` bars: each step joins
/// the two neighbours whose joint range is narrowest (by ratio, as the
/// buckets are log-linear), so resolution stays even across the range.
pub(crate) fn merge(buckets: &[BucketCount], max: usize) -> Vec<BucketCount> {
    let mut bins = buckets.to_vec();
    while bins.len() > max.max(1) {
        let span = |a: &BucketCount, b: &BucketCount| b.hi_us as f64 / a.lo_us.max(1) as f64;
        let Some(at) = (0..bins.len() - 1)
            .min_by(|&i, &j| span(&bins[i], &bins[i + 1]).total_cmp(&span(&bins[j], &bins[j + 1])))
        else {
            break;
        };
        let next = bins.remove(at + 1);
        let b = &mut bins[at];
        b.hi_us = next.hi_us;
        b.count += next.count;
    }
    bins
}

/// A bucket's range in ms, as short as reads well: `0.06–0.13`,
/// `16.4–18.4`, `262–295`.
pub(crate) fn range_ms(lo_us: u64, hi_us: u64) -> String {
    let short = |us: u64| {
        let ms = us as f64 / 1000.0;
        if us == 0 {
            "0".to_string()
        } else if ms < 1.0 {
            format!("{ms:.2}")
        } else if ms < 100.0 {
            format!("{ms:.1}")
        } else {
            format!("{ms:.0}")
        }
    };
    format!("{}–{}", short(lo_us), short(hi_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(lo_us: u64, hi_us: u64, count: u64) -> BucketCount {
        BucketCount {
            lo_us,
            hi_us,
            count,
        }
    }

    #[test]
    fn merging_keeps_every_sample_and_the_whole_range() {
        let buckets = [
            b(0, 72, 1),
            b(1024, 1152, 2),
            b(1152, 1280, 3),
            b(30_720, 32_768, 40),
            b(32_768, 36_864, 10),
            b(2_097_152, 2_359_296, 1),
        ];
        assert_eq!(merge(&buckets, 10), buckets);
        let three = merge(&buckets, 3);
        assert_eq!(three.len(), 3);
        assert_eq!(three.iter().map(|b| b.count).sum::<u64>(), 57);
        assert_eq!((three[0].lo_us, three[2].hi_us), (0, 2_359_296));
        // The narrow neighbours join first: 1.0–1.3 ms and 30.7–36.9 ms.
        assert_eq!(merge(&buckets, 4)[1], b(1024, 1280, 5));
        assert_eq!(merge(&buckets, 4)[2], b(30_720, 36_864, 50));
        assert_eq!(merge(&buckets, 0).len(), 1);
        assert!(merge(&[], 3).is_empty());
    }

    #[test]
    fn ranges_read_in_ms() {
        assert_eq!(range_ms(0, 72), "0–0.07");
        assert_eq!(range_ms(30_720, 32_768), "30.7–32.8");
        assert_eq!(range_ms(262_144, 294_912), "262–295");
    }
}
