//! Reading counts and fleet reports back.
//!
//! Counts are summed into windows of 1, 15 or 60 minutes aligned to the epoch
//! (the same buckets as the PostgreSQL store). For 15 and 60 minutes the
//! downsampled bucket is read when it exists, up to one whole window before the
//! current one (a continuous query sums a window after it ends); the rest comes
//! from raw points, so the newest counts show at once and nothing is counted
//! twice.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::influxql::{ident, string};
use crate::schema::{self, Counted};
use crate::{Influx, InfluxError};

/// Whose counts: an environment by id (Flagsmith's tag) or client key (flagedge's).
#[derive(Debug, Clone)]
pub struct Environment<'a> {
    /// Its id.
    pub id: i64,
    /// Its client-side key.
    pub key: &'a str,
}

/// A read of counts.
#[derive(Debug, Clone)]
pub struct CountQuery<'a> {
    /// Evaluations or API calls.
    pub counted: Counted,
    /// Whose.
    pub environment: Environment<'a>,
    /// Only this feature or resource.
    pub name: Option<&'a str>,
    /// Windows starting at or after this…
    pub from: DateTime<Utc>,
    /// …and before this.
    pub to: DateTime<Utc>,
    /// The window, in minutes (1, 15 or 60).
    pub minutes: i64,
}

/// A window's count of one feature or resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// The window's start.
    pub start: DateTime<Utc>,
    /// The feature or resource.
    pub name: String,
    /// The sum.
    pub count: i64,
}

/// An edge's latest report as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EdgeRecord {
    /// The edge.
    pub edge_id: String,
    /// Its region or label.
    #[serde(default)]
    pub region: String,
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// When the edge cut the batch that carried the report.
    pub reported_at: DateTime<Utc>,
    /// When sync wrote it.
    pub received_at: DateTime<Utc>,
    /// What it serves, as the edge reported it.
    #[serde(default)]
    pub environments: Value,
}

/// `at` rounded up to a multiple of `seconds`.
fn ceil(at: i64, seconds: i64) -> i64 {
    at.div_euclid(seconds) * seconds
        + if at.rem_euclid(seconds) == 0 {
            0
        } else {
            seconds
        }
}

fn rfc3339(seconds: i64) -> String {
    Utc.timestamp_opt(seconds, 0)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The (retention policy, from, to) parts a read is made of, in seconds.
fn parts(
    bucket: &str,
    downsampled: Option<String>,
    from: i64,
    to: i64,
    window: i64,
    now: i64,
) -> Vec<(String, i64, i64)> {
    let (from, to) = (ceil(from, window), ceil(to, window));
    let mut parts = Vec::new();
    let mut raw_from = from;
    if let Some(downsampled) = downsampled {
        // Windows before the last whole one are summed by now.
        let boundary = now.div_euclid(window) * window - window;
        if from < boundary.min(to) {
            parts.push((downsampled, from, boundary.min(to)));
        }
        raw_from = from.max(boundary);
    }
    if raw_from < to {
        parts.push((bucket.to_string(), raw_from, to));
    }
    parts
}

impl Influx {
    /// Counts per window and name, oldest first; windows without counts are absent.
    pub async fn counts(
        &self,
        query: &CountQuery<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Count>, InfluxError> {
        let window = query.minutes * 60;
        let downsampled = match schema::downsampled(&self.settings.bucket, query.minutes) {
            Some(name) => {
                let exists = self.retention_policies().await?.contains(&name);
                exists.then_some(name)
            }
            None => None,
        };
        let tag = query.counted.name_tag();
        let mut filter = format!(
            "({} = {} OR {} = {})",
            ident("environment_id"),
            string(&query.environment.id.to_string()),
            ident("environment_key"),
            string(query.environment.key)
        );
        if let Some(name) = query.name {
            filter.push_str(&format!(" AND {} = {}", ident(tag), string(name)));
        }
        let mut sums: std::collections::BTreeMap<(i64, String), i64> = Default::default();
        for (retention_policy, from, to) in parts(
            &self.settings.bucket,
            downsampled,
            query.from.timestamp(),
            query.to.timestamp(),
            window,
            now.timestamp(),
        ) {
            let statement = format!(
                "SELECT sum({}) FROM {} WHERE {filter} AND time >= {} AND time < {} GROUP BY time({}m), {} fill(none)",
                ident(schema::REQUEST_COUNT),
                self.target(&retention_policy, query.counted.measurement()),
                string(&rfc3339(from)),
                string(&rfc3339(to)),
                query.minutes,
                ident(tag),
            );
            for series in self.query(&statement).await?.into_iter().flatten() {
                let name = series.tags.get(tag).cloned().unwrap_or_default();
                let (Some(time), Some(sum)) = (series.column("time"), series.column("sum")) else {
                    return Err(InfluxError::Answer("no time or sum column".into()));
                };
                for row in &series.values {
                    let (Some(start), Some(count)) = (
                        row.get(time).and_then(Value::as_i64),
                        row.get(sum)
                            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))),
                    ) else {
                        continue;
                    };
                    let total = sums.entry((start, name.clone())).or_default();
                    *total = total.saturating_add(count);
                }
            }
        }
        Ok(sums
            .into_iter()
            .filter_map(|((start, name), count)| {
                let start = Utc.timestamp_opt(start, 0).single()?;
                Some(Count { start, name, count })
            })
            .collect())
    }

    /// Writes edges' latest reports.
    pub async fn write_edges(&self, records: &[EdgeRecord]) -> Result<(), InfluxError> {
        let points: Vec<_> = records
            .iter()
            .map(|record| {
                let json = serde_json::to_string(record).unwrap_or_default();
                let time = record.received_at.timestamp_nanos_opt().unwrap_or_default();
                schema::edge_report(&record.edge_id, &json, time)
            })
            .collect();
        self.write(&points).await
    }

    /// Each edge's latest report received in the last `seconds`.
    pub async fn edges(&self, seconds: i64) -> Result<Vec<EdgeRecord>, InfluxError> {
        let statement = format!(
            "SELECT last({}) FROM {} WHERE time > now() - {seconds}s GROUP BY {}",
            ident("report"),
            self.target(&self.settings.bucket, schema::EDGE_REPORT),
            ident("edge_id"),
        );
        let mut records = Vec::new();
        for series in self.query(&statement).await?.into_iter().flatten() {
            let at = series.column("last").unwrap_or(1);
            for row in &series.values {
                if let Some(record) = row
                    .get(at)
                    .and_then(Value::as_str)
                    .and_then(|json| serde_json::from_str::<EdgeRecord>(json).ok())
                {
                    records.push(record);
                }
            }
        }
        records.sort_by(|a, b| (&a.region, &a.edge_id).cmp(&(&b.region, &b.edge_id)));
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_takes_whole_windows_from_downsampled_sums_then_raw_points() {
        let (m15, h) = (900, 3600);
        // Now is 10:20; the 15-minute sums are complete up to 10:00.
        let now = 10 * h + 20 * 60;
        assert_eq!(
            parts(
                "default",
                Some("ds".into()),
                8 * h + 5 * 60,
                11 * h,
                m15,
                now
            ),
            vec![
                ("ds".to_string(), 8 * h + 15 * 60, 10 * h),
                ("default".to_string(), 10 * h, 11 * h)
            ]
        );
        // All of it recent: raw only.
        assert_eq!(
            parts("default", Some("ds".into()), 10 * h, 11 * h, m15, now),
            vec![("default".to_string(), 10 * h, 11 * h)]
        );
        // All of it old: downsampled only.
        assert_eq!(
            parts("default", Some("ds".into()), 0, h, m15, now),
            vec![("ds".to_string(), 0, h)]
        );
        // No downsampled bucket.
        assert_eq!(
            parts("default", None, 0, h, m15, now),
            vec![("default".to_string(), 0, h)]
        );
    }

    #[test]
    fn windows_are_whole() {
        assert_eq!(ceil(0, 60), 0);
        assert_eq!(ceil(1, 60), 60);
        assert_eq!(ceil(-1, 60), 0);
    }
}
