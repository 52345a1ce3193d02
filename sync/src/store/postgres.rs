//! PostgreSQL: counts added into the analytics tables that flagedge-core
//! migrates and reads (`analytics_flag_evaluations`, `analytics_api_calls`, at
//! 1-minute, 15-minute and 1-hour buckets), and batch ids into
//! `analytics_batches`, all in one transaction: a generation is written whole
//! or not at all, and a batch id recorded means its counts are in. Each edge's
//! latest report goes into `edge_reports` in the same transaction (core's
//! `GET /api/v1/edges/` reads it).

use std::collections::HashMap;

use flagedge_analytics::{BUCKETS, BucketCount, Table};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::SeriesKey;
use super::{BoxFuture, Store, StoreError, Totals};

/// The Postgres store.
pub struct PostgresStore {
    pool: PgPool,
}

fn error(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
}

/// Sums counts into every bucket size.
fn rolled_up(series: &[(SeriesKey, u64)]) -> Vec<BucketCount> {
    let mut rows: HashMap<(&str, &str, &'static str, i64), u64> = HashMap::new();
    for ((environment, name, minute), count) in series {
        for (size, minutes) in BUCKETS {
            let start = minute.div_euclid(minutes) * minutes;
            let sum = rows.entry((environment, name, size, start)).or_default();
            *sum = sum.saturating_add(*count);
        }
    }
    rows.into_iter()
        .map(|((environment, name, size, start), count)| BucketCount {
            environment: environment.to_string(),
            name: name.to_string(),
            size,
            start: start * 60,
            count: i64::try_from(count).unwrap_or(i64::MAX),
        })
        .collect()
}

impl PostgresStore {
    /// Connects (lazily: a database that is down now is retried on each write).
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_lazy(url)
            .map_err(error)?;
        Ok(PostgresStore { pool })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

impl Store for PostgresStore {
    fn batch_recorded<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let found: Option<(i32,)> =
                sqlx::query_as("SELECT 1 FROM analytics_batches WHERE batch_id = $1")
                    .bind(batch_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(error)?;
            Ok(found.is_some())
        })
    }

    fn write<'a>(&'a self, totals: &'a Totals) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut transaction = self.pool.begin().await.map_err(error)?;
            let (ids, edges): (Vec<String>, Vec<String>) = totals.batches.iter().cloned().unzip();
            sqlx::query(
                "INSERT INTO analytics_batches (batch_id, edge_id) SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            )
            .bind(ids)
            .bind(edges)
            .execute(&mut *transaction)
            .await
            .map_err(error)?;
            for (table, series) in [
                (Table::FlagEvaluations, &totals.evaluations),
                (Table::ApiCalls, &totals.api_calls),
            ] {
                flagedge_analytics::add(&mut *transaction, table, rolled_up(series))
                    .await
                    .map_err(error)?;
            }
            for state in &totals.reports {
                // The newest report wins, whatever order retries arrive in.
                sqlx::query(
                    "INSERT INTO edge_reports (edge_id, region, version, reported_at, environments, received_at) \
                     VALUES ($1, $2, $3, COALESCE($4::timestamptz, now()), $5, now()) \
                     ON CONFLICT (edge_id) DO UPDATE SET region = EXCLUDED.region, version = EXCLUDED.version, \
                     reported_at = EXCLUDED.reported_at, environments = EXCLUDED.environments, received_at = now() \
                     WHERE edge_reports.reported_at <= EXCLUDED.reported_at",
                )
                .bind(&state.edge_id)
                .bind(&state.report.region)
                .bind(&state.report.version)
                .bind(state.reported_at.as_deref())
                .bind(sqlx::types::Json(&state.report.environments))
                .execute(&mut *transaction)
                .await
                .map_err(error)?;
            }
            transaction.commit().await.map_err(error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::rolled_up;

    #[test]
    fn counts_roll_up_into_every_bucket() {
        let series = vec![
            (("e".to_string(), "f".to_string(), 61), 2),
            (("e".to_string(), "f".to_string(), 74), 3),
        ];
        let mut rows: Vec<_> = rolled_up(&series)
            .into_iter()
            .map(|row| (row.size, row.start / 60, row.count))
            .collect();
        rows.sort();
        assert_eq!(
            rows,
            [("15m", 60, 5), ("1h", 60, 5), ("1m", 61, 2), ("1m", 74, 3)]
        );
    }
}
