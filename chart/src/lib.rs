//! # flagedge-chart
//!
//! The workspace's one chart code: an SVG of one or more panels stacked over a
//! shared time axis, each with lines (a gap where a value is missing) and/or
//! stacked bars, on a linear or logarithmic scale. Written by hand — a chart of
//! a few hundred elements needs no plotting library — and self-contained, so
//! it opens in any browser, embeds in a page or a pull request, and carries a
//! `<title>` and `<desc>` for screen readers. Every text is XML-escaped.
//!
//! Used by `flagedge-loadtest` (a run's latency and throughput) and by
//! flagedge-core's console (usage over an hour, a day, a month).

use std::fmt::Write as _;

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

/// A number with commas every three digits: `12,345`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `value` (at least 2), so a linear
/// axis's ticks (0, ½, top) are round numbers.
pub fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 2.0 {
        return 2.0;
    }
    let decade = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|c| *c >= value)
        .unwrap_or(10.0 * decade)
}

/// Colours for series, in order (distinguishable on white and on dark grey).
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// How a panel's values map to height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// From zero to the largest value; ticks at 0, ½ and the top.
    Linear,
    /// Decades covering every value; a tick per decade.
    Log10,
}

/// A line: one value per slot (`None` breaks the line).
#[derive(Clone, Debug)]
pub struct Line {
    /// Its name in the legend.
    pub name: String,
    /// Its colour.
    pub color: String,
    /// Drawn dashed.
    pub dashed: bool,
    /// One value per slot of the chart.
    pub values: Vec<Option<f64>>,
}

/// One segment of a stacked bar.
#[derive(Clone, Debug)]
pub struct BarPart {
    /// Its height in the panel's units.
    pub value: f64,
    /// Its colour.
    pub color: String,
}

/// A bar in one slot, its parts stacked bottom up, with a tooltip.
#[derive(Clone, Debug)]
pub struct Bar {
    /// The slot it stands in.
    pub slot: usize,
    /// Bottom up.
    pub parts: Vec<BarPart>,
    /// What a pointer over it says.
    pub tooltip: String,
}

/// One panel: a title, a scale, lines and bars.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Above the panel.
    pub title: String,
    /// Plot height in pixels.
    pub height: f64,
    /// The scale.
    pub scale: Scale,
    /// The unit after tick values (`" ms"`, `""`).
    pub unit: String,
    /// Lines.
    pub lines: Vec<Line>,
    /// Bars.
    pub bars: Vec<Bar>,
}

impl Panel {
    /// An empty panel.
    pub fn new(
        title: impl Into<String>,
        height: f64,
        scale: Scale,
        unit: impl Into<String>,
    ) -> Panel {
        Panel {
            title: title.into(),
            height,
            scale,
            unit: unit.into(),
            lines: Vec::new(),
            bars: Vec::new(),
        }
    }

    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        let lines = self
            .lines
            .iter()
            .flat_map(|l| l.values.iter().flatten().copied());
        let bars = self
            .bars
            .iter()
            .map(|b| b.parts.iter().map(|p| p.value).sum::<f64>());
        lines.chain(bars).filter(|v| v.is_finite())
    }
}

/// A chart: headline lines, panels over `slots` time slots, axis labels.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Width in pixels.
    pub width: f64,
    /// The first headline line (bold); also the SVG's `<title>`.
    pub title: String,
    /// Further headline lines.
    pub subtitles: Vec<String>,
    /// What the chart shows, for screen readers (`<desc>`).
    pub description: String,
    /// How many slots the time axis has.
    pub slots: usize,
    /// Labels under the time axis: (slot boundary, text).
    pub axis_labels: Vec<(f64, String)>,
    /// A shaded span across every panel: (from slot, to slot, label).
    pub shaded: Option<(f64, f64, String)>,
    /// Top to bottom.
    pub panels: Vec<Panel>,
}

const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const HEADLINE: f64 = 22.0;
const PANEL_GAP: f64 = 50.0;

impl Chart {
    /// A chart of `slots` slots with a title and a description.
    pub fn new(title: impl Into<String>, description: impl Into<String>, slots: usize) -> Chart {
        Chart {
            width: 960.0,
            title: title.into(),
            subtitles: Vec::new(),
            description: description.into(),
            slots,
            axis_labels: Vec::new(),
            shaded: None,
            panels: Vec::new(),
        }
    }

    /// The SVG document.
    pub fn render(&self) -> String {
        let n = self.slots.max(1) as f64;
        let plot_width = self.width - LEFT - RIGHT;
        let x = |slot: f64| LEFT + slot / n * plot_width;
        let headline_height = 10.0 + HEADLINE * (1 + self.subtitles.len()) as f64;
        let mut tops = Vec::new();
        let mut top = headline_height + 36.0;
        for panel in &self.panels {
            tops.push(top);
            top += panel.height + PANEL_GAP;
        }
        let height = top - PANEL_GAP + 34.0;
        let width = self.width;
        let mut svg = String::with_capacity(16 * 1024);
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="sans-serif" font-size="12" role="img">"#
        );
        let _ = writeln!(svg, "<title>{}</title>", escape(&self.title));
        let _ = writeln!(svg, "<desc>{}</desc>", escape(&self.description));
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{HEADLINE}" font-size="15" font-weight="bold">{}</text>"#,
            escape(&self.title)
        );
        for (i, line) in self.subtitles.iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<text x="{LEFT}" y="{:.0}">{}</text>"#,
                HEADLINE * (i + 2) as f64,
                escape(line)
            );
        }
        for (panel, top) in self.panels.iter().zip(&tops) {
            self.panel(&mut svg, panel, *top, &x, plot_width / n);
        }
        let bottom = tops
            .last()
            .zip(self.panels.last())
            .map_or(top, |(t, p)| t + p.height);
        for (slot, label) in &self.axis_labels {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x(*slot),
                bottom + 18.0,
                escape(label)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    fn panel(
        &self,
        svg: &mut String,
        panel: &Panel,
        top: f64,
        x: &dyn Fn(f64) -> f64,
        slot_width: f64,
    ) {
        let right = self.width - RIGHT;
        let values: Vec<f64> = panel.values().collect();
        let y: Box<dyn Fn(f64) -> f64> = match panel.scale {
            Scale::Linear => {
                let peak = nice_ceiling(values.iter().copied().fold(0.0, f64::max));
                for fraction in [0.0, 0.5, 1.0] {
                    let value = peak * fraction;
                    let at = top + panel.height * (1.0 - fraction);
                    let label = if value.fract() == 0.0 {
                        thousands(value as u64)
                    } else {
                        format!("{value}")
                    };
                    gridline(svg, (at, right), &label, &panel.unit);
                }
                Box::new(move |v: f64| top + panel.height * (1.0 - (v / peak).clamp(0.0, 1.0)))
            }
            Scale::Log10 => {
                let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
                let (low, high) = if positive.is_empty() {
                    (-1, 1)
                } else {
                    let low = positive
                        .iter()
                        .copied()
                        .fold(f64::INFINITY, f64::min)
                        .log10()
                        .floor() as i32;
                    let high = positive.iter().copied().fold(0.0, f64::max).log10().ceil() as i32;
                    (low, high.max(low + 1))
                };
                for exp in low..=high {
                    let value = 10f64.powi(exp);
                    let fraction = f64::from(exp - low) / f64::from(high - low);
                    let at = top + panel.height * (1.0 - fraction);
                    let label = if exp >= 0 {
                        format!("{value:.0}")
                    } else {
                        format!("{value}")
                    };
                    gridline(svg, (at, right), &label, &panel.unit);
                }
                Box::new(move |v: f64| {
                    let fraction =
                        (v.max(f64::MIN_POSITIVE).log10() - f64::from(low)) / f64::from(high - low);
                    top + panel.height * (1.0 - fraction.clamp(0.0, 1.0))
                })
            }
        };
        if let Some((from, to, label)) = &self.shaded {
            let _ = writeln!(
                svg,
                r##"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#eeeeee"/><text x="{:.1}" y="{:.1}" fill="#888888">{}</text>"##,
                x(*from),
                x(*to) - x(*from),
                panel.height,
                x(*from) + 4.0,
                top + 14.0,
                escape(label)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{:.1}" font-weight="bold">{}</text>"#,
            top - 10.0,
            escape(&panel.title)
        );
        for bar in &panel.bars {
            let left = x(bar.slot as f64) + slot_width * 0.1;
            let width = (slot_width * 0.8).max(1.0);
            let mut base = 0.0;
            let _ = write!(svg, "<g><title>{}</title>", escape(&bar.tooltip));
            for part in &bar.parts {
                let (low, high) = (y(base), y(base + part.value));
                let _ = write!(
                    svg,
                    r#"<rect x="{left:.1}" y="{high:.1}" width="{width:.1}" height="{:.1}" fill="{}"/>"#,
                    (low - high).max(0.0),
                    escape(&part.color)
                );
                base += part.value;
            }
            svg.push_str("</g>\n");
        }
        for (i, line) in panel.lines.iter().enumerate() {
            let mut path = String::new();
            let mut pen_down = false;
            for (slot, value) in line.values.iter().enumerate() {
                let Some(value) =
                    value.filter(|v| v.is_finite() && (panel.scale == Scale::Linear || *v > 0.0))
                else {
                    pen_down = false;
                    continue;
                };
                let command = if pen_down { 'L' } else { 'M' };
                let _ = write!(
                    path,
                    "{command}{:.1},{:.1} ",
                    x(slot as f64 + 0.5),
                    y(value)
                );
                pen_down = true;
            }
            if !path.is_empty() {
                let dash = if line.dashed {
                    r#" stroke-dasharray="4 3""#
                } else {
                    ""
                };
                let _ = writeln!(
                    svg,
                    r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"{dash}><title>{}</title></path>"#,
                    path.trim_end(),
                    escape(&line.color),
                    escape(&line.name)
                );
            }
            let legend_x = right - 66.0 * (panel.lines.len() - i) as f64;
            let _ = writeln!(
                svg,
                r#"<rect x="{legend_x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                top - 21.0,
                escape(&line.color),
                legend_x + 16.0,
                top - 10.0,
                escape(&line.name)
            );
        }
    }
}

/// A horizontal grid line at `at` (from the left margin to `right`), labelled
/// `label` and `unit` in the margin.
fn gridline(svg: &mut String, (at, right): (f64, f64), label: &str, unit: &str) {
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{at:.1}" x2="{right:.1}" y2="{at:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}{}</text>"##,
        LEFT - 6.0,
        at + 4.0,
        escape(unit)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_groups_digits() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn linear_axes_end_on_round_numbers() {
        for (value, top) in [
            (0.0, 2.0),
            (1.5, 2.0),
            (7.0, 10.0),
            (10.0, 10.0),
            (11.0, 20.0),
            (50.0, 50.0),
            (51.0, 100.0),
            (12345.0, 20000.0),
        ] {
            assert_eq!(nice_ceiling(value), top, "{value}");
        }
    }

    fn sample() -> Chart {
        let mut chart = Chart::new("calls <&>", "what it shows", 4);
        chart.subtitles.push("a subtitle".into());
        chart.axis_labels = vec![(0.0, "0 s".into()), (4.0, "4 s".into())];
        chart.shaded = Some((0.0, 1.0, "warm-up".into()));
        let mut lines = Panel::new("latency", 200.0, Scale::Log10, " ms");
        lines.lines.push(Line {
            name: "p50".into(),
            color: PALETTE[0].into(),
            dashed: false,
            values: vec![Some(0.5), None, Some(2.0), Some(20.0)],
        });
        lines.lines.push(Line {
            name: "max".into(),
            color: PALETTE[1].into(),
            dashed: true,
            values: vec![Some(1.0); 4],
        });
        let mut bars = Panel::new("requests", 100.0, Scale::Linear, "");
        bars.bars.push(Bar {
            slot: 1,
            parts: vec![
                BarPart {
                    value: 10.0,
                    color: PALETTE[0].into(),
                },
                BarPart {
                    value: 2.0,
                    color: PALETTE[3].into(),
                },
            ],
            tooltip: "slot 1".into(),
        });
        chart.panels = vec![lines, bars];
        chart
    }

    #[test]
    fn renders_well_formed_accessible_svg() {
        let svg = sample().render();
        let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let root = document.root_element();
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let first = root.children().find(|n| n.is_element()).unwrap();
        assert!(first.has_tag_name("title"));
        assert_eq!(first.text(), Some("calls <&>"));
        assert!(root.children().any(|n| n.has_tag_name("desc")));
        // The gap splits p50 into two runs; max is one dashed run.
        let paths: Vec<_> = root
            .descendants()
            .filter(|n| n.has_tag_name("path"))
            .collect();
        assert_eq!(paths.len(), 2);
        assert_eq!(paths[0].attribute("d").unwrap().matches('M').count(), 2);
        assert!(paths[1].attribute("stroke-dasharray").is_some());
        let text: String = root
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        assert!(text.contains("warm-up") && text.contains("4 s") && text.contains("10 ms"));
    }

    #[test]
    fn empty_charts_still_draw() {
        let mut chart = sample();
        for panel in &mut chart.panels {
            panel.lines.clear();
            panel.bars.clear();
        }
        chart.slots = 0;
        roxmltree::Document::parse(&chart.render()).expect("well-formed XML");
    }
}
