//! Usage of an environment: SDK API calls per resource and flag evaluations
//! per feature (the busiest few, the rest summed; or one feature), over the
//! last hour (1-minute buckets), day (15-minute) or 30 days (1-hour). Read
//! through core's analytics API (`/api/v1/analytics/usage/`, `…/flags/`),
//! drawn with `flagedge-chart` as inline SVG, and the numbers as a table.

use std::collections::BTreeMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, DurationRound, Utc};
use flagedge_chart::{Chart, Line, PALETTE, Panel, Scale, thousands};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use serde_json::Value;

use super::api::{Api, Refused};
use super::layout::page;
use super::pages::Pages;
use super::place::{EnvironmentVisit, enter};
use super::view::{Place, Section, encode, error_page, section_url};

/// The usage route.
pub fn routes(pages: Pages) -> Pages {
    pages.route("/environments/{key}/usage", &["GET"], get(show))
}

/// Features drawn on their own; the rest are summed as "other".
const BUSIEST: usize = 5;

/// A period the page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Period {
    Hour,
    Day,
    Month,
}

impl Period {
    fn parse(text: &str) -> Option<Period> {
        match text {
            "" | "hour" => Some(Period::Hour),
            "day" => Some(Period::Day),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Period::Hour => "last hour",
            Period::Day => "last day",
            Period::Month => "last 30 days",
        }
    }

    /// (bucket name, bucket length, buckets).
    fn buckets(self) -> (&'static str, Duration, usize) {
        match self {
            Period::Hour => ("1m", Duration::minutes(1), 60),
            Period::Day => ("15m", Duration::minutes(15), 96),
            Period::Month => ("1h", Duration::hours(1), 720),
        }
    }
}

#[derive(Deserialize, Default)]
struct Ask {
    period: Option<String>,
    feature: Option<String>,
}

/// Counts per series per slot.
struct Series {
    names: Vec<String>,
    counts: Vec<Vec<u64>>,
}

impl Series {
    fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
}

/// The API's rows (`bucket_start`, `column`, `count`) as slots of the period.
fn by_slot(
    rows: &[Value],
    column: &str,
    from: DateTime<Utc>,
    bucket: Duration,
    slots: usize,
) -> BTreeMap<String, Vec<u64>> {
    let mut series: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for row in rows {
        let Some(start) = row["bucket_start"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        else {
            continue;
        };
        let slot = (start.with_timezone(&Utc) - from).num_seconds() / bucket.num_seconds().max(1);
        let Ok(slot) = usize::try_from(slot) else {
            continue;
        };
        if slot >= slots {
            continue;
        }
        let name = row[column].as_str().unwrap_or("").to_string();
        let counts = series.entry(name).or_insert_with(|| vec![0; slots]);
        counts[slot] = counts[slot].saturating_add(row["count"].as_u64().unwrap_or(0));
    }
    series
}

/// The busiest `BUSIEST` series by total, and the rest summed as "other".
fn busiest(mut all: BTreeMap<String, Vec<u64>>, slots: usize) -> Series {
    let mut ranked: Vec<(String, Vec<u64>)> = std::mem::take(&mut all).into_iter().collect();
    ranked.sort_by(|a, b| {
        b.1.iter()
            .sum::<u64>()
            .cmp(&a.1.iter().sum::<u64>())
            .then(a.0.cmp(&b.0))
    });
    let mut names = Vec::new();
    let mut counts = Vec::new();
    let mut other = vec![0u64; slots];
    let mut others = 0;
    for (i, (name, values)) in ranked.into_iter().enumerate() {
        if i < BUSIEST {
            names.push(name);
            counts.push(values);
        } else {
            others += 1;
            for (sum, value) in other.iter_mut().zip(values) {
                *sum = sum.saturating_add(value);
            }
        }
    }
    if others > 0 {
        names.push(format!("{others} other features"));
        counts.push(other);
    }
    Series { names, counts }
}

fn slot_label(from: DateTime<Utc>, bucket: Duration, slot: usize, period: Period) -> String {
    let at = from + bucket * slot as i32;
    match period {
        Period::Month => at.format("%m-%d %H:%M").to_string(),
        _ => at.format("%H:%M").to_string(),
    }
}

/// The chart and its table, or a sentence saying the period was quiet.
fn figure(
    title: &str,
    what: &str,
    series: &Series,
    window: (DateTime<Utc>, Duration, usize, Period),
    id: &str,
) -> Markup {
    let (from, bucket, slots, period) = window;
    if series.total() == 0 {
        return html! { p.muted id=(id) { "No " (what) " in the " (period.label()) "." } };
    }
    let mut chart = Chart::new(
        title,
        format!(
            "{what} per {} bucket over the {}, one line per series: {}. The numbers are in the table below.",
            period.buckets().0,
            period.label(),
            series.names.join(", ")
        ),
        slots,
    );
    let mut panel = Panel::new(
        format!("{what} per {} bucket", period.buckets().0),
        220.0,
        Scale::Linear,
        "",
    );
    for (i, (name, counts)) in series.names.iter().zip(&series.counts).enumerate() {
        panel.lines.push(Line {
            name: name.clone(),
            color: PALETTE[i % PALETTE.len()].to_string(),
            dashed: false,
            values: counts.iter().map(|c| Some(*c as f64)).collect(),
        });
    }
    chart.panels = vec![panel];
    let step = slots.div_ceil(6).max(1);
    chart.axis_labels = (0..=slots)
        .step_by(step)
        .map(|s| (s as f64, slot_label(from, bucket, s, period)))
        .collect();
    let busy: Vec<usize> = (0..slots)
        .filter(|s| series.counts.iter().any(|c| c[*s] > 0))
        .collect();
    html! {
        figure.chart id=(id) {
            div.chart-svg { (PreEscaped(chart.render())) }
            figcaption { (title) ", " (period.label()) " (UTC)" }
            div.table-wrap { table.numbers {
                thead { tr { th { "Bucket (UTC)" } @for name in &series.names { th { (name) } } } }
                tbody {
                    @for slot in &busy {
                        tr {
                            td { (slot_label(from, bucket, *slot, period)) }
                            @for counts in &series.counts { td.count { (thousands(counts[*slot])) } }
                        }
                    }
                }
                tfoot { tr {
                    th { "Total" }
                    @for counts in &series.counts { td.count data-total=(counts.iter().sum::<u64>()) { (thousands(counts.iter().sum::<u64>())) } }
                } }
            } }
        }
    }
}

async fn series_of(
    api: &Api,
    path: &str,
    column: &str,
    window: (DateTime<Utc>, Duration, usize),
) -> Result<BTreeMap<String, Vec<u64>>, Refused> {
    let answer = api.get(path).await?;
    let rows = answer["results"].as_array().cloned().unwrap_or_default();
    Ok(by_slot(&rows, column, window.0, window.1, window.2))
}

fn links(place: &Place, current: Period, feature: Option<&str>) -> Markup {
    let base = section_url(&place.api_key, Section::Usage);
    let feature_query = feature.map_or(String::new(), |f| format!("&feature={}", encode(f)));
    html! {
        nav.periods aria-label="Period" {
            @for period in [Period::Hour, Period::Day, Period::Month] {
                @let url = format!("{base}?period={}{feature_query}", period.slug());
                @if period == current {
                    a href=(url) aria-current="page" { (period.label()) }
                } @else {
                    a href=(url) { (period.label()) }
                }
                " "
            }
        }
    }
}

async fn show(visit: EnvironmentVisit, Query(ask): Query<Ask>) -> Response {
    let Some(period) = Period::parse(ask.period.as_deref().unwrap_or("")) else {
        return error_page(StatusCode::BAD_REQUEST, "The period is hour, day or month.");
    };
    let (api, place) = or_page!(enter(&visit.state, &visit.session, &visit.key).await);
    let (bucket_name, bucket, slots) = period.buckets();
    // Whole buckets, the current one last.
    let now = Utc::now();
    let to = now.duration_trunc(bucket).unwrap_or(now) + bucket;
    let from = to - bucket * slots as i32;
    let range = format!(
        "environment={}&bucket={bucket_name}&from={}&to={}",
        encode(&place.api_key),
        encode(&from.to_rfc3339()),
        encode(&to.to_rfc3339())
    );
    let feature = ask.feature.filter(|f| !f.is_empty());
    let feature_filter = feature
        .as_deref()
        .map_or(String::new(), |f| format!("&feature={}", encode(f)));
    let loaded = async {
        let calls = series_of(
            &api,
            &format!("/api/v1/analytics/usage/?{range}"),
            "resource",
            (from, bucket, slots),
        )
        .await?;
        let evaluations = series_of(
            &api,
            &format!("/api/v1/analytics/flags/?{range}{feature_filter}"),
            "feature_name",
            (from, bucket, slots),
        )
        .await?;
        Ok::<_, Refused>((calls, evaluations))
    };
    let (calls, evaluations) = or_page!(loaded.await);
    let calls = Series {
        names: calls.keys().cloned().collect(),
        counts: calls.into_values().collect(),
    };
    let evaluations = busiest(evaluations, slots);
    let window = (from, bucket, slots, period);
    let body = html! {
        h1 { "Usage" @if let Some(feature) = &feature { " of " code { (feature) } } }
        p.muted { "Counted by edges (and SDKs that report evaluations), shipped through flagedge-sync into the analytics store." }
        (links(&place, period, feature.as_deref()))
        @if feature.is_none() {
            h2 { "SDK API calls" }
            (figure("SDK API calls by resource", "SDK API calls", &calls, window, "api-calls"))
        }
        h2 { "Flag evaluations" }
        (figure(
            &if feature.is_some() { "Evaluations".to_string() } else { format!("Evaluations, the {BUSIEST} busiest features") },
            "flag evaluations",
            &evaluations,
            window,
            "evaluations",
        ))
        @if let Some(feature) = &feature {
            p { a href={ (section_url(&place.api_key, Section::Usage)) "?period=" (period.slug()) } { "Every feature" } }
            p.muted { "Series of " code { (feature) } " only." }
        }
    };
    Html(
        page(
            "Usage",
            &visit.session,
            Some((&place, Section::Usage)),
            body,
        )
        .into_string(),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_land_in_their_slots_and_the_rest_is_summed() {
        let from: DateTime<Utc> = "2026-12-02T10:00:00Z".parse().unwrap();
        let rows = vec![
            json!({"bucket_start": "2026-12-02T10:00:00+00:00", "feature_name": "a", "count": 3}),
            json!({"bucket_start": "2026-12-02T10:02:00+00:00", "feature_name": "a", "count": 4}),
            json!({"bucket_start": "2026-12-02T10:59:00+00:00", "feature_name": "b", "count": 1}),
            json!({"bucket_start": "2026-12-02T11:00:00+00:00", "feature_name": "b", "count": 100}),
            json!({"bucket_start": "2026-12-02T09:59:00+00:00", "feature_name": "b", "count": 100}),
        ];
        let slots = by_slot(&rows, "feature_name", from, Duration::minutes(1), 60);
        assert_eq!(slots["a"][0], 3);
        assert_eq!(slots["a"][2], 4);
        assert_eq!(slots["b"][59], 1);
        assert_eq!(
            slots["b"].iter().sum::<u64>(),
            1,
            "rows outside the period are left out"
        );

        let many: BTreeMap<String, Vec<u64>> = (0..8)
            .map(|i| (format!("f{i}"), vec![i as u64, 1]))
            .collect();
        let series = busiest(many, 2);
        assert_eq!(series.names.len(), BUSIEST + 1);
        assert_eq!(series.names[0], "f7");
        assert_eq!(series.names[BUSIEST], "3 other features");
        // f0, f1, f2 summed: (0+1+2, 1+1+1).
        assert_eq!(series.counts[BUSIEST], vec![3, 3]);
        assert_eq!(series.total(), (0..8).sum::<u64>() + 8);
    }
}
