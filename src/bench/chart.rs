//! A small SVG bar chart of scheduling throughput (log scale), for the README.

use std::fmt::Write;

use super::report::thousands;
use super::scheduler::Run;

const ROW: f64 = 22.0;
const LABEL_W: f64 = 130.0;
const BAR_W: f64 = 520.0;
const TOP: f64 = 40.0;

/// Horizontal bars, one per workload and scheduler, pods/s on a log axis from 10 to 10^7.
pub fn throughput_svg(runs: &[Run]) -> String {
    let (lo, hi) = (1.0f64, 7.0f64);
    let x = |v: f64| LABEL_W + (v.max(10.0).log10() - lo) / (hi - lo) * BAR_W;
    let height = TOP + ROW * runs.len() as f64 + 40.0;
    let width = LABEL_W + BAR_W + 120.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{LABEL_W}" y="20" font-size="14">Scheduling throughput, pods/s (log scale): skiff vs kube-scheduler's algorithm</text>"#
    );
    for p in 1..=7 {
        let px = x(10f64.powi(p));
        let _ = writeln!(
            s,
            r##"<line x1="{px}" y1="{TOP}" x2="{px}" y2="{}" stroke="#ddd"/><text x="{px}" y="{}" text-anchor="middle" fill="#666">1e{p}</text>"##,
            height - 30.0,
            height - 15.0
        );
    }
    for (i, r) in runs.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let color = if r.scheduler == "skiff" {
            "#2b6cb0"
        } else {
            "#a0aec0"
        };
        let w = x(r.pods_per_sec) - LABEL_W;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{} {}</text><rect x="{LABEL_W}" y="{}" width="{w:.1}" height="{}" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            LABEL_W - 6.0,
            y + 14.0,
            r.workload,
            r.scheduler,
            y + 3.0,
            ROW - 6.0,
            LABEL_W + w + 4.0,
            y + 14.0,
            thousands(r.pods_per_sec)
        );
    }
    s.push_str("</svg>\n");
    s
}
