//! `--plot`: rate against latency as a small hand-written SVG, one point per step, so a report
//! needs no plotting dependency.

use std::fmt::Write as _;

use super::report::BenchReport;

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// The SVG document: achieved MiB/s (and items/s) across, p50/p95/p99 latency up; saturated
/// steps drawn hollow in red, the configured ceiling as a dashed line.
pub fn svg(report: &BenchReport) -> String {
    let mut steps: Vec<_> = report.steps.iter().collect();
    steps.sort_by(|a, b| a.achieved_mib_per_s.total_cmp(&b.achieved_mib_per_s));
    let ceiling = report.limits.as_ref().map(|l| l.ingestion_rate_mib);
    let x_max = steps
        .iter()
        .map(|s| s.achieved_mib_per_s)
        .chain(ceiling)
        .fold(0.0f64, f64::max)
        .max(1e-6)
        * 1.1;
    let y_max = steps
        .iter()
        .map(|s| s.delivery.latency_ms.p99)
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    let px = |x: f64| LEFT + x / x_max * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - y / y_max * (H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">telltale bench {}: rate against delivery latency ({})</text>"#,
        W / 2.0,
        escape(&report.signal),
        escape(&report.run_id)
    );
    // Axes with five ticks each.
    let _ = writeln!(
        out,
        r#"<path d="M{LEFT} {TOP} V{} H{}" fill="none" stroke="black"/>"#,
        H - BOTTOM,
        W - RIGHT
    );
    for i in 0..=5 {
        let f = f64::from(i) / 5.0;
        let (x, y) = (px(f * x_max), py(f * y_max));
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#ccc"/><text x="{x:.1}" y="{}" text-anchor="middle">{:.2}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 5.0,
            H - BOTTOM + 18.0,
            f * x_max
        );
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{:.0}</text>"##,
            LEFT,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            f * y_max
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">achieved MiB/s of lines ({} B lines)</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 20.0,
        report.settings.line_bytes
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">send to first visible, ms</text>"#,
        (TOP + H - BOTTOM) / 2.0
    );
    if let Some(c) = ceiling {
        let x = px(c);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#888" stroke-dasharray="6 4"/><text x="{:.1}" y="{}" fill="#555">ingestion_rate_mb {c}</text>"##,
            H - BOTTOM,
            x + 4.0,
            TOP + 12.0
        );
    }
    for (name, color, pick) in [
        ("p50", "#1f77b4", 0usize),
        ("p95", "#ff7f0e", 1),
        ("p99", "#2ca02c", 2),
    ] {
        let value = |s: &super::Step| {
            let l = s.delivery.latency_ms;
            [l.p50, l.p95, l.p99][pick]
        };
        let points: Vec<String> = steps
            .iter()
            .map(|s| format!("{:.1},{:.1}", px(s.achieved_mib_per_s), py(value(s))))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.5"/>"#,
            points.join(" ")
        );
        for s in &steps {
            let (fill, stroke) = if s.sustained() {
                (color, color)
            } else {
                ("white", "#d62728")
            };
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{fill}" stroke="{stroke}"><title>step {} {name}: {:.0} items/s, {:.3} MiB/s, {:.1} ms</title></circle>"#,
                px(s.achieved_mib_per_s),
                py(value(s)),
                s.step,
                s.achieved_items_per_s,
                s.achieved_mib_per_s,
                value(s)
            );
        }
        let ly = TOP + 14.0 + 16.0 * pick as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            LEFT + 12.0,
            LEFT + 32.0,
            LEFT + 38.0,
            ly + 4.0
        );
    }
    let _ = writeln!(
        out,
        r##"<circle cx="{}" cy="{}" r="3.5" fill="white" stroke="#d62728"/><text x="{}" y="{}">saturated step</text>"##,
        LEFT + 22.0,
        TOP + 62.0,
        LEFT + 38.0,
        TOP + 66.0
    );
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
