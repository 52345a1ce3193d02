//! The SVG chart of a run: latency percentiles (log scale) and throughput, per
//! second, warm-up shaded — drawn with `flagedge-chart`, the workspace's one
//! chart code.

use flagedge_chart::{Bar, BarPart, Chart, Line, PALETTE, Panel, Scale};

use crate::report::{RunReport, thousands};
use crate::stats::Second;

type Series = (&'static str, usize, fn(&Second) -> f64);

const SERIES: [Series; 5] = [
    ("p50", 0, |s| s.p50_ms),
    ("p90", 1, |s| s.p90_ms),
    ("p99", 2, |s| s.p99_ms),
    ("p99.9", 3, |s| s.p999_ms),
    ("max", 7, |s| s.max_ms),
];

/// The chart of a run.
pub fn chart(report: &RunReport) -> String {
    let seconds = &report.timeline;
    let headline = report.headline();
    // The headline is "scenario → target  mode, connections, …": two lines.
    let (title, subtitle) = headline.split_once("  ").unwrap_or((&headline, ""));
    let mut chart = Chart::new(
        title,
        format!(
            "Latency percentiles per second on a log scale, and responses per second, over {} seconds.",
            seconds.len()
        ),
        seconds.len(),
    );
    chart.subtitles = vec![
        subtitle.to_string(),
        format!(
            "{} req/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms, errors {}",
            report.throughput.round(),
            report.latency.p50_ms,
            report.latency.p99_ms,
            report.latency.p999_ms,
            report.latency.max_ms,
            report.error_count
        ),
    ];
    let warm = seconds.iter().filter(|s| s.warmup).count();
    if warm > 0 {
        chart.shaded = Some((0.0, warm as f64, "warm-up".to_string()));
    }
    let mut latency = Panel::new("latency per second (log scale)", 280.0, Scale::Log10, " ms");
    for (name, color, value) in SERIES {
        latency.lines.push(Line {
            name: name.to_string(),
            color: PALETTE[color].to_string(),
            dashed: name == "max",
            // A second without responses breaks the line.
            values: seconds
                .iter()
                .map(|s| (s.requests > 0 && value(s) > 0.0).then(|| value(s)))
                .collect(),
        });
    }
    let mut throughput = Panel::new(
        "requests per second (errors in red)",
        140.0,
        Scale::Linear,
        "",
    );
    for (slot, second) in seconds.iter().enumerate() {
        let ok = second.requests.saturating_sub(second.errors) as f64;
        throughput.bars.push(Bar {
            slot,
            parts: vec![
                BarPart {
                    value: ok,
                    color: PALETTE[0].to_string(),
                },
                BarPart {
                    value: second.errors as f64,
                    color: PALETTE[3].to_string(),
                },
            ],
            tooltip: format!(
                "second {}: {} responses, {} errors",
                second.second,
                thousands(second.requests),
                thousands(second.errors)
            ),
        });
    }
    chart.panels = vec![latency, throughput];
    let step = seconds.len().div_ceil(10).max(1);
    chart.axis_labels = (0..=seconds.len())
        .step_by(step)
        .map(|t| (t as f64, format!("{t} s")))
        .collect();
    chart.render()
}

#[cfg(test)]
mod tests {
    use super::*;

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

/// A bar per labelled value (e.g. RSS per environment count), with each
/// value written above its bar's slot label: for measurements that are not
/// a time series.
pub fn bars(title: &str, description: &str, unit: &str, points: &[(String, f64)]) -> String {
    let mut chart = Chart::new(title, description, points.len().max(1));
    chart.axis_labels = points
        .iter()
        .enumerate()
        .map(|(slot, (label, value))| (slot as f64 + 0.5, format!("{label}: {value:.0}{unit}")))
        .collect();
    let mut panel = Panel::new("", 240.0, Scale::Linear, unit);
    panel.bars = points
        .iter()
        .enumerate()
        .map(|(slot, (label, value))| Bar {
            slot,
            parts: vec![BarPart {
                value: *value,
                color: PALETTE[0].to_string(),
            }],
            tooltip: format!("{label}: {value:.0}{unit}"),
        })
        .collect();
    chart.panels.push(panel);
    chart.render()
}

#[cfg(test)]
mod bars_tests {
    #[test]
    fn each_value_is_a_labelled_bar() {
        let svg = super::bars(
            "RSS",
            "RSS after loading, by environments.",
            " MiB",
            &[("10".into(), 20.0), ("100".into(), 45.0)],
        );
        assert!(svg.contains("<desc>RSS after loading, by environments.</desc>"));
        assert!(svg.contains("10: 20 MiB") && svg.contains("100: 45 MiB"));
    }
}
