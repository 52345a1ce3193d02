//! Adding counts to the analytics tables — the one place in core that knows
//! the bucket rule.
//!
//! The tables, their buckets and the upsert are flagedge-analytics' (sync
//! writes the same tables through it); this module sums what core's writers
//! count and sends it to the deployment's store.
//!
//! Writers in core: proxies' usage reports (`api::proxy`, into
//! `analytics_api_calls`) and the evaluations SDKs report themselves
//! (`api::sdk_analytics`, into `analytics_flag_evaluations`). All of them go to
//! the analytics pool, which may be another database than core's — or, when
//! analytics are kept in InfluxDB, to `feature_evaluation` / `api_call` points
//! tagged with the environment's ids and names ([`add_to_influx`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use flagedge_analytics::BucketCount;
use flagedge_influx::{Counted, EnvironmentTags};
use sqlx::{PgExecutor, PgPool};

use crate::error::ApiResult;
use crate::state::{AppState, InfluxStore};

pub use flagedge_analytics::{BUCKETS, Table};

/// Each bucket size with the start, in Unix seconds, of its bucket holding the
/// minute of `at`.
pub fn bucket_starts(at: DateTime<Utc>) -> [(&'static str, i64); 3] {
    let minute = at.timestamp().div_euclid(60);
    BUCKETS.map(|(size, minutes)| (size, minute.div_euclid(minutes) * minutes * 60))
}

/// Counts to add, summed per (environment client key, name). One upsert may
/// not touch a row twice, so duplicates are summed here; counts of zero or
/// less write nothing, and sums saturate instead of overflowing.
#[derive(Debug, Default)]
pub struct Tally(HashMap<(String, String), i64>);

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Adds `count` for `name` in the environment with client key `environment`.
    pub fn add(&mut self, environment: &str, name: &str, count: i64) {
        if count <= 0 {
            return;
        }
        let total = self
            .0
            .entry((environment.to_string(), name.to_string()))
            .or_default();
        *total = total.saturating_add(count);
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What to add to each bucket holding the minute of `at`.
    fn rows(self, at: DateTime<Utc>) -> Vec<BucketCount> {
        let starts = bucket_starts(at);
        let mut rows = Vec::with_capacity(self.0.len() * starts.len());
        for ((environment, name), count) in self.0 {
            for (size, start) in starts {
                rows.push(BucketCount {
                    environment: environment.clone(),
                    name: name.clone(),
                    size,
                    start,
                    count,
                });
            }
        }
        rows
    }
}

/// Adds `tally` to `table` in the buckets of `at`, in one statement (so all of
/// it or none). A row's count saturates at `i64::MAX` rather than failing the
/// write: counts come from clients, and one absurd report must not make every
/// later one in that bucket fail.
pub async fn add<'e>(
    executor: impl PgExecutor<'e>,
    table: Table,
    at: DateTime<Utc>,
    tally: Tally,
) -> Result<(), sqlx::Error> {
    if tally.is_empty() {
        return Ok(());
    }
    flagedge_analytics::add(executor, table, tally.rows(at)).await
}

/// Adds `tally` to the deployment's analytics store: InfluxDB when
/// configured, else `table` in the analytics database.
pub async fn record(state: &AppState, table: Table, tally: Tally) -> ApiResult<()> {
    match &state.influx {
        Some(store) => add_to_influx(&state.db, store, table, Utc::now(), tally).await,
        None => Ok(add(&state.analytics, table, Utc::now(), tally).await?),
    }
}

/// Environment tags by client key, from core's database.
pub async fn environment_tags(
    db: &PgPool,
    keys: &[String],
) -> Result<HashMap<String, EnvironmentTags>, sqlx::Error> {
    let rows: Vec<(String, i64, String, i64, String, i64, String)> = sqlx::query_as(
        "SELECT e.api_key, e.id, e.name, p.id, p.name, o.id, o.name FROM environments e \
         JOIN projects p ON p.id = e.project_id JOIN organisations o ON o.id = p.organisation_id \
         WHERE e.api_key = ANY($1)",
    )
    .bind(keys)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(key, id, name, project_id, project, organisation_id, organisation)| {
                let tags = EnvironmentTags {
                    key: key.clone(),
                    id,
                    name,
                    project_id,
                    project,
                    organisation_id,
                    organisation,
                };
                (key, tags)
            },
        )
        .collect())
}

/// Writes `tally` as InfluxDB points stamped `at`, tagged as Flagsmith tags them.
pub async fn add_to_influx(
    db: &PgPool,
    store: &InfluxStore,
    table: Table,
    at: DateTime<Utc>,
    tally: Tally,
) -> ApiResult<()> {
    if tally.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = tally.0.keys().map(|(key, _)| key.clone()).collect();
    let known = environment_tags(db, &keys).await?;
    let time = at.timestamp_nanos_opt().unwrap_or_default();
    let points: Vec<_> = tally
        .0
        .into_iter()
        .map(|((key, name), count)| {
            let tags = known.get(&key).cloned().unwrap_or(EnvironmentTags {
                key,
                ..EnvironmentTags::default()
            });
            match table.counted() {
                Counted::Evaluations => tags.evaluations(&name, count, time),
                Counted::ApiCalls => tags.api_calls(&name, &store.host_tag, count, time),
            }
        })
        .collect();
    store.influx.write(&points).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_moment_falls_into_the_buckets_holding_its_minute() {
        let at = Utc.with_ymd_and_hms(2025, 1, 1, 10, 44, 59).unwrap();
        let start = |h, m| {
            Utc.with_ymd_and_hms(2025, 1, 1, h, m, 0)
                .unwrap()
                .timestamp()
        };
        assert_eq!(
            bucket_starts(at),
            [
                ("1m", start(10, 44)),
                ("15m", start(10, 30)),
                ("1h", start(10, 0))
            ]
        );
        // Before the epoch too (floor, not truncation toward zero).
        let early = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 30).unwrap();
        assert_eq!(
            bucket_starts(early),
            [("1m", -60), ("15m", -900), ("1h", -3600)]
        );
    }

    #[test]
    fn a_tally_sums_per_environment_and_name_and_drops_what_counts_nothing() {
        let mut tally = Tally::new();
        tally.add("env", "banner", 2);
        tally.add("env", "banner", 3);
        tally.add("env", "checkout", 0);
        tally.add("env", "checkout", -4);
        tally.add("other", "banner", i64::MAX);
        tally.add("other", "banner", 1);
        let at = Utc.with_ymd_and_hms(2025, 1, 1, 10, 0, 0).unwrap();
        let mut rows: Vec<_> = (tally.rows(at).into_iter())
            .map(|r| (r.environment, r.name, r.size, r.start, r.count))
            .collect();
        rows.sort();
        let t = at.timestamp();
        assert_eq!(
            rows,
            vec![
                ("env".into(), "banner".into(), "15m", t, 5),
                ("env".into(), "banner".into(), "1h", t, 5),
                ("env".into(), "banner".into(), "1m", t, 5),
                ("other".into(), "banner".into(), "15m", t, i64::MAX),
                ("other".into(), "banner".into(), "1h", t, i64::MAX),
                ("other".into(), "banner".into(), "1m", t, i64::MAX),
            ]
        );
        assert!(Tally::new().is_empty());
    }
}
