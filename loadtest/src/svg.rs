//! The SVG chart of a run: latency percentiles (log scale) and throughput, per
//! second, warm-up shaded. Written by hand — a few dozen elements do not need a
//! plotting library — and self-contained, so it opens in any browser or can be
//! embedded in a pull request.

use std::fmt::Write as _;

use crate::report::RunReport;
use crate::stats::Second;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 616.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const LATENCY_TOP: f64 = 96.0;
const LATENCY_HEIGHT: f64 = 280.0;
const THROUGHPUT_TOP: f64 = 426.0;
const THROUGHPUT_HEIGHT: f64 = 140.0;

type Series = (&'static str, &'static str, fn(&Second) -> f64);

const SERIES: [Series; 5] = [
    ("p50", "#1f77b4", |s| s.p50_ms),
    ("p90", "#2ca02c", |s| s.p90_ms),
    ("p99", "#ff7f0e", |s| s.p99_ms),
    ("p99.9", "#d62728", |s| s.p999_ms),
    ("max", "#7f7f7f", |s| s.max_ms),
];

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The chart of a run.
pub fn chart(report: &RunReport) -> String {
    let seconds = &report.timeline;
    let n = seconds.len().max(1) as f64;
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + t / n * plot_width;

    // Latency axis: decades covering every plotted value.
    let values: Vec<f64> = seconds
        .iter()
        .filter(|s| s.requests > 0)
        .flat_map(|s| SERIES.iter().map(move |(_, _, f)| f(s)))
        .filter(|v| *v > 0.0)
        .collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    let (low_exp, high_exp) = if values.is_empty() {
        (-1, 1)
    } else {
        let low_exp = low.log10().floor() as i32;
        (low_exp, (high.log10().ceil() as i32).max(low_exp + 1))
    };
    let y_latency = |ms: f64| {
        let fraction = (ms.log10() - f64::from(low_exp)) / f64::from(high_exp - low_exp);
        LATENCY_TOP + LATENCY_HEIGHT * (1.0 - fraction.clamp(0.0, 1.0))
    };
    let peak = seconds
        .iter()
        .map(|s| (s.requests + s.errors) as f64)
        .fold(0.0, f64::max)
        .max(1.0);
    let y_throughput = |count: f64| THROUGHPUT_TOP + THROUGHPUT_HEIGHT * (1.0 - count / peak);

    let mut svg = String::with_capacity(16 * 1024);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    // The headline is "scenario → target  mode, connections, …": two lines.
    let headline = report.headline();
    let (title, subtitle) = headline.split_once("  ").unwrap_or((&headline, ""));
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="44">{}</text>"#,
        escape(subtitle)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="62">{} req/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms, errors {}</text>"#,
        report.throughput.round(),
        report.latency.p50_ms,
        report.latency.p99_ms,
        report.latency.p999_ms,
        report.latency.max_ms,
        report.error_count
    );

    // Warm-up shading on both panels.
    let warm = seconds.iter().filter(|s| s.warmup).count() as f64;
    if warm > 0.0 {
        for (top, height) in [
            (LATENCY_TOP, LATENCY_HEIGHT),
            (THROUGHPUT_TOP, THROUGHPUT_HEIGHT),
        ] {
            let _ = writeln!(
                svg,
                r##"<rect x="{LEFT}" y="{top}" width="{:.1}" height="{height}" fill="#eeeeee"/>"##,
                x(warm) - LEFT
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" fill="#888888">warm-up</text>"##,
            LEFT + 4.0,
            LATENCY_TOP + 14.0
        );
    }

    // Latency grid: one line per decade.
    for exp in low_exp..=high_exp {
        let value = 10f64.powi(exp);
        let y = y_latency(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/>"##,
            WIDTH - RIGHT
        );
        let label = if exp >= 0 {
            format!("{value:.0} ms")
        } else {
            format!("{value} ms")
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" font-weight="bold">latency per second (log scale)</text>"#,
        LATENCY_TOP - 10.0
    );

    // Percentile lines; a second without responses breaks the line.
    for (i, (name, color, value)) in SERIES.iter().enumerate() {
        let mut path = String::new();
        let mut pen_down = false;
        for second in seconds {
            if second.requests == 0 || value(second) <= 0.0 {
                pen_down = false;
                continue;
            }
            let command = if pen_down { 'L' } else { 'M' };
            let _ = write!(
                path,
                "{command}{:.1},{:.1} ",
                x(second.second as f64 + 0.5),
                y_latency(value(second))
            );
            pen_down = true;
        }
        if !path.is_empty() {
            let dash = if *name == "max" {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            };
            let _ = writeln!(
                svg,
                r#"<path d="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
                path.trim_end()
            );
        }
        let legend_x = WIDTH - RIGHT - 330.0 + i as f64 * 66.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{legend_x:.1}" y="{:.1}" width="12" height="12" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LATENCY_TOP - 21.0,
            legend_x + 16.0,
            LATENCY_TOP - 10.0,
            escape(name)
        );
    }

    // Throughput bars, errors stacked in red.
    let bar = plot_width / n * 0.8;
    for second in seconds {
        let left = x(second.second as f64) + plot_width / n * 0.1;
        let ok = second.requests.saturating_sub(second.errors) as f64;
        let total = (second.requests + second.errors) as f64;
        let _ = writeln!(
            svg,
            r##"<rect x="{left:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="#1f77b4"><title>second {}: {} responses, {} errors</title></rect>"##,
            y_throughput(ok),
            THROUGHPUT_TOP + THROUGHPUT_HEIGHT - y_throughput(ok),
            second.second,
            second.requests,
            second.errors
        );
        if total > ok {
            let _ = writeln!(
                svg,
                r##"<rect x="{left:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="#d62728"/>"##,
                y_throughput(total),
                y_throughput(ok) - y_throughput(total)
            );
        }
    }
    for fraction in [0.0, 0.5, 1.0] {
        let value = peak * fraction;
        let y = y_throughput(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            crate::report::thousands(value.round() as u64)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" font-weight="bold">requests per second (errors in red)</text>"#,
        THROUGHPUT_TOP - 10.0
    );

    // Time axis.
    let step = ((n / 10.0).ceil() as usize).max(1);
    for t in (0..=seconds.len()).step_by(step) {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t} s</text>"#,
            x(t as f64),
            THROUGHPUT_TOP + THROUGHPUT_HEIGHT + 18.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }

    #[test]
    fn chart_is_well_formed_svg() {
        let report = crate::report::tests::sample();
        let svg = chart(&report);
        let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let paths = root
            .descendants()
            .filter(|n| n.has_tag_name("path"))
            .count();
        assert_eq!(paths, 5, "one line per percentile");
        let text: String = root
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        assert!(
            text.contains("flags <&>"),
            "the title is escaped and readable"
        );
        assert!(text.contains("warm-up"));
        // A run with no responses at all still draws.
        let mut empty = report;
        for second in &mut empty.timeline {
            second.requests = 0;
        }
        roxmltree::Document::parse(&chart(&empty)).expect("well-formed XML");
    }
}
