//! PostgreSQL: counts added into the analytics tables that flagedge-core
//! migrates and reads (`analytics_flag_evaluations`, `analytics_api_calls`, at
//! 1-minute, 15-minute and 1-hour buckets), and batch ids into
//! `analytics_batches`, all in one transaction: a generation is written whole
//! or not at all, and a batch id recorded means its counts are in. Each edge's
//! latest report goes into `edge_reports` in the same transaction (core's
//! `GET /api/v1/edges/` reads it).

use std::collections::HashMap;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

use super::SeriesKey;
use super::{BUCKETS, BoxFuture, Store, StoreError, Totals};

/// The Postgres store.
pub struct PostgresStore {
    pool: PgPool,
}

fn error(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
}

/// Sums counts into every bucket size: `(environment, name, size, bucket start in minutes) → count`.
fn rolled_up(series: &[(SeriesKey, u64)]) -> HashMap<(String, String, &'static str, i64), u64> {
    let mut rows = HashMap::new();
    for ((environment, name, minute), count) in series {
        for (size, minutes) in BUCKETS {
            let start = minute.div_euclid(minutes) * minutes;
            *rows
                .entry((environment.clone(), name.clone(), size, start))
                .or_default() += count;
        }
    }
    rows
}

async fn upsert(
    transaction: &mut Transaction<'_, Postgres>,
    table: &str,
    column: &str,
    rows: HashMap<(String, String, &'static str, i64), u64>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut environments = Vec::with_capacity(rows.len());
    let mut names = Vec::with_capacity(rows.len());
    let mut sizes = Vec::with_capacity(rows.len());
    let mut starts = Vec::with_capacity(rows.len());
    let mut counts = Vec::with_capacity(rows.len());
    for ((environment, name, size, start), count) in rows {
        environments.push(environment);
        names.push(name);
        sizes.push(size.to_string());
        starts.push(start * 60);
        counts.push(i64::try_from(count).unwrap_or(i64::MAX));
    }
    // Table and column names are constants of this module, never input.
    let sql = format!(
        "INSERT INTO {table} (environment_key, {column}, bucket_size, bucket_start, count) \
         SELECT e, n, s, to_timestamp(t), c FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(e, n, s, t, c) \
         ON CONFLICT (environment_key, {column}, bucket_size, bucket_start) DO UPDATE SET count = {table}.count + EXCLUDED.count"
    );
    sqlx::query(&sql)
        .bind(environments)
        .bind(names)
        .bind(sizes)
        .bind(starts)
        .bind(counts)
        .execute(&mut **transaction)
        .await
        .map_err(error)?;
    Ok(())
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
            upsert(
                &mut transaction,
                "analytics_flag_evaluations",
                "feature_name",
                rolled_up(&totals.evaluations),
            )
            .await?;
            upsert(
                &mut transaction,
                "analytics_api_calls",
                "resource",
                rolled_up(&totals.api_calls),
            )
            .await?;
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
        let rows = rolled_up(&series);
        assert_eq!(rows[&("e".into(), "f".into(), "1m", 61)], 2);
        assert_eq!(rows[&("e".into(), "f".into(), "15m", 60)], 5);
        assert_eq!(rows[&("e".into(), "f".into(), "1h", 60)], 5);
    }
}
