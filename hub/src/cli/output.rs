//! Human-readable output: aligned tables and key-value blocks.

use std::fmt::Write;

/// A plain-text table with columns sized to their widest cell.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (i, (cell, width)) in cells.zip(&widths).enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let _ = write!(text, "{cell:<width$}");
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut self.headers.iter().map(String::as_str));
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str));
        }
        out
    }
}

/// `key: value` lines, aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let shown: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    let width = shown.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    shown
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}\n", format!("{k}:")))
        .collect()
}

pub fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("-").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["NAME", "ROLE"]);
        t.row(vec!["alice".into(), "admin".into()]);
        t.row(vec!["bob-the-builder".into(), "member".into()]);
        assert_eq!(
            t.render(),
            "NAME             ROLE\nalice            admin\nbob-the-builder  member\n"
        );
    }

    #[test]
    fn fields_skip_empty_values() {
        assert_eq!(
            fields(&[
                ("id", "1".into()),
                ("email", String::new()),
                ("name", "x".into())
            ]),
            "id:   1\nname: x\n"
        );
    }
}
