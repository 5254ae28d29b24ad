//! Column alignment for the pretty view: each column as wide as its widest
//! cell, two spaces between columns, numbers right-aligned, and the last
//! column (free text such as a command line) cut with `…` so a line stays
//! within a width. Widths count characters, not terminal cells.
//!
//! Hand-written: this is all we need, while comfy-table and tabled bring
//! terminal detection, borders and styling we would have to turn off.

use std::io::{self, Write};

const GAP: &str = "  ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

pub(crate) struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(columns: &[(&'static str, Align)]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub(crate) fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// Writes the header and the rows. Lines are at most `max_width`
    /// characters unless the columns before the last already exceed it.
    pub(crate) fn write(&self, out: &mut dyn Write, max_width: usize) -> io::Result<()> {
        let widths = self.widths(max_width);
        let header: Vec<String> = self.columns.iter().map(|c| c.0.to_string()).collect();
        self.write_row(out, &header, &widths)?;
        for row in &self.rows {
            self.write_row(out, row, &widths)?;
        }
        Ok(())
    }

    fn widths(&self, max_width: usize) -> Vec<usize> {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| len(c.0)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(len(cell));
            }
        }
        if let Some((last, before)) = widths.split_last_mut() {
            let used: usize = before.iter().map(|w| w + GAP.len()).sum();
            let header = len(self.columns[before.len()].0);
            *last = (*last).min(max_width.saturating_sub(used)).max(header);
        }
        widths
    }

    fn write_row(&self, out: &mut dyn Write, row: &[String], widths: &[usize]) -> io::Result<()> {
        let mut line = String::new();
        let last = self.columns.len() - 1;
        for (i, ((cell, width), (_, align))) in
            row.iter().zip(widths).zip(&self.columns).enumerate()
        {
            if i > 0 {
                line.push_str(GAP);
            }
            let cell = fit(cell, *width);
            let pad = width - len(&cell);
            match align {
                Align::Right => {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(&cell);
                }
                Align::Left if i == last => line.push_str(&cell),
                Align::Left => {
                    line.push_str(&cell);
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

fn len(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `width` characters, the last one replaced by `…` when cut.
fn fit(s: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if len(s) <= width {
        return s.into();
    }
    let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Table, max: usize) -> String {
        let mut buf = Vec::new();
        t.write(&mut buf, max).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn aligns_numbers_right_and_text_left() {
        let mut t = Table::new(&[("PID", Align::Right), ("NAME", Align::Left)]);
        t.push(vec!["1".into(), "init".into()]);
        t.push(vec!["12345".into(), "x".into()]);
        assert_eq!(render(&t, 80), "  PID  NAME\n    1  init\n12345  x\n");
    }

    #[test]
    fn cuts_the_last_column_to_the_width() {
        let mut t = Table::new(&[("N", Align::Right), ("CMDLINE", Align::Left)]);
        t.push(vec!["1".into(), "ééééééééééééééé".into()]);
        let out = render(&t, 12);
        assert_eq!(out, "N  CMDLINE\n1  éééééééé…\n");
        assert!(out.lines().all(|l| len(l) <= 12));
    }
}
