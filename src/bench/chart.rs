//! Small SVG charts for the README: scheduling throughput (log-scale bars) and pods Running
//! over time (lines).

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

/// Lines of pods Running over time, one per store, for `skiff bench e2e`.
pub fn timeline_svg(title: &str, pods: usize, series: &[(&str, &[(f64, usize)])]) -> String {
    const LEFT: f64 = 70.0;
    const W: f64 = 560.0;
    const H: f64 = 260.0;
    const COLORS: [&str; 2] = ["#2b6cb0", "#dd6b20"];
    let t_max = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    // Round the time axis up to a multiple of a readable step.
    let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|s| t_max / s <= 10.0)
        .unwrap_or(600.0);
    let t_end = (t_max / step).ceil() * step;
    let x = |t: f64| LEFT + t / t_end * W;
    let y = |n: usize| TOP + H - n as f64 / pods.max(1) as f64 * H;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">"#,
        LEFT + W + 130.0,
        TOP + H + 50.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="14">{title}: pods Running over time</text>"#
    );
    for i in 0..=4 {
        let n = pods * i / 4;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end" fill="#666">{4}</text>"##,
            y(n),
            LEFT + W,
            LEFT - 6.0,
            y(n) + 4.0,
            thousands(n as f64)
        );
    }
    let mut t = 0.0;
    while t <= t_end {
        let _ = writeln!(
            s,
            r##"<line x1="{0}" y1="{TOP}" x2="{0}" y2="{1}" stroke="#eee"/><text x="{0}" y="{2}" text-anchor="middle" fill="#666">{t} s</text>"##,
            x(t),
            TOP + H,
            TOP + H + 18.0
        );
        t += step;
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = std::iter::once((0.0, 0))
            .chain(points.iter().copied())
            .map(|(t, n)| format!("{:.1},{:.1}", x(t), y(n)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            path.join(" ")
        );
        let (t_last, _) = points.last().copied().unwrap_or((0.0, 0));
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" fill="{color}">{name}: {t_last:.1} s</text>"#,
            LEFT + W + 8.0,
            TOP + 14.0 + 18.0 * i as f64
        );
    }
    s.push_str("</svg>\n");
    s
}
