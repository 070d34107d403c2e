//! Printing a comparison table and writing machine-readable results under `target/bench/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// One measured quantity, for each system compared.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub metric: String,
    /// Values in column order, already formatted; `None` when not measured.
    pub values: Vec<Option<String>>,
    /// Raw numbers in column order, for JSON.
    pub raw: Vec<Option<f64>>,
    pub target: Option<String>,
    /// Whether skiff (the first column) meets the target.
    pub meets_target: Option<bool>,
}

impl Row {
    /// A row of raw measurements, formatted with `fmt`; `target` is its text and whether the
    /// first column meets it.
    pub fn new(
        metric: impl Into<String>,
        fmt: &dyn Fn(f64) -> String,
        raw: &[Option<f64>],
        target: Option<(&str, bool)>,
    ) -> Self {
        Row {
            metric: metric.into(),
            values: raw.iter().map(|v| v.map(fmt)).collect(),
            raw: raw.to_vec(),
            target: target.map(|(t, _)| t.to_owned()),
            meets_target: target.map(|(_, ok)| ok),
        }
    }
}

/// Formats for table cells.
pub fn per_sec(v: f64) -> String {
    format!("{}/s", thousands(v))
}

pub fn millis(v: f64) -> String {
    format!("{v:.1} ms")
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub cores: usize,
}

impl Report {
    pub fn new(title: &str, columns: &[&str]) -> Self {
        Report {
            title: title.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    pub fn render(&self) -> String {
        let mut header = vec!["metric".to_owned()];
        header.extend(self.columns.iter().cloned());
        header.push("target".into());
        header.push("".into());
        let mut lines: Vec<Vec<String>> = vec![header];
        for row in &self.rows {
            let mut cells = vec![row.metric.clone()];
            cells.extend(
                row.values
                    .iter()
                    .map(|v| v.clone().unwrap_or_else(|| "-".into())),
            );
            cells.push(row.target.clone().unwrap_or_default());
            cells.push(match row.meets_target {
                Some(true) => "met".into(),
                Some(false) => "MISSED".into(),
                None => String::new(),
            });
            lines.push(cells);
        }
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
            .collect();
        let mut out = format!("{} ({} cores)\n", self.title, self.cores);
        for line in &lines {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    // Text (metric, verdict) left, numbers and targets right.
                    if i == 0 || i == widths.len() - 1 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }

    /// Writes the report as JSON to `dir/<name>.json` and returns the path.
    pub fn write_json(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// Thousands separators for rates and counts.
pub fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// The median of some samples (they are sorted in place).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(-12345.0), "-12,345");
    }

    #[test]
    fn renders_aligned_columns_with_verdicts() {
        let mut r = Report::new("demo", &["a", "bb"]);
        r.rows.push(Row {
            metric: "speed".into(),
            values: vec![Some("10".into()), None],
            raw: vec![Some(10.0), None],
            target: Some(">= 5".into()),
            meets_target: Some(true),
        });
        r.rows.push(Row {
            metric: "latency".into(),
            values: vec![Some("7".into()), Some("9".into())],
            raw: vec![Some(7.0), Some(9.0)],
            target: Some("<= 5".into()),
            meets_target: Some(false),
        });
        let text = r.render();
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "metric    a  bb  target",
                "speed    10   -    >= 5  met",
                "latency   7   9    <= 5  MISSED",
            ],
            "{text}"
        );
    }
}
