//! The analytics tables of counts in PostgreSQL, defined once for the two
//! crates that write them: flagedge-core (the counts SDKs and proxies report)
//! and flagedge-sync (edges' counts). Core migrates and reads them.
//!
//! A count that arrives during minute `m` (UTC) is added to three rows: the
//! 1-minute, 15-minute and 1-hour buckets that hold `m`, each starting at a
//! multiple of its size ([`BUCKETS`]). The read API selects rows of the size
//! asked for, so every size must be written. Rows are upserted
//! (`count = count + new`), so writers never read first and concurrent
//! writers add up; a sum saturates at `i64::MAX` instead of failing, because
//! counts come from clients and one absurd report must not make every later
//! write to its bucket fail.

use flagedge_influx::Counted;
use sqlx::PgExecutor;

/// Bucket sizes as stored in `bucket_size`, with their length in minutes.
pub const BUCKETS: [(&str, i64); 3] = [("1m", 1), ("15m", 15), ("1h", 60)];

/// The tables of counts. They differ only in the column that names what is
/// counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `analytics_flag_evaluations`: evaluations per feature name.
    FlagEvaluations,
    /// `analytics_api_calls`: SDK API calls per resource.
    ApiCalls,
}

impl Table {
    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            Table::FlagEvaluations => "analytics_flag_evaluations",
            Table::ApiCalls => "analytics_api_calls",
        }
    }

    /// The column naming what a row counts.
    pub fn column(self) -> &'static str {
        match self {
            Table::FlagEvaluations => "feature_name",
            Table::ApiCalls => "resource",
        }
    }

    /// The same counts in InfluxDB.
    pub fn counted(self) -> Counted {
        match self {
            Table::FlagEvaluations => Counted::Evaluations,
            Table::ApiCalls => Counted::ApiCalls,
        }
    }
}

/// One count to add to one bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketCount {
    /// The environment's client-side key.
    pub environment: String,
    /// What is counted: a feature name or an API resource.
    pub name: String,
    /// The bucket's size, as in [`BUCKETS`].
    pub size: &'static str,
    /// The bucket's start, in Unix seconds.
    pub start: i64,
    /// How many (positive).
    pub count: i64,
}

/// Adds `counts` to `table` in one statement, so all of them or none. One
/// statement may not touch a row twice: the caller sums counts of the same
/// bucket first.
pub async fn add<'e>(
    executor: impl PgExecutor<'e>,
    table: Table,
    counts: Vec<BucketCount>,
) -> Result<(), sqlx::Error> {
    if counts.is_empty() {
        return Ok(());
    }
    let mut environments = Vec::with_capacity(counts.len());
    let mut names = Vec::with_capacity(counts.len());
    let mut sizes = Vec::with_capacity(counts.len());
    let mut starts = Vec::with_capacity(counts.len());
    let mut values = Vec::with_capacity(counts.len());
    for count in counts {
        environments.push(count.environment);
        names.push(count.name);
        sizes.push(count.size);
        starts.push(count.start);
        values.push(count.count);
    }
    let (name, column) = (table.name(), table.column());
    // Table and column names are constants of `Table`, never input. Counts
    // are positive, so `MAX - EXCLUDED.count` cannot overflow.
    let sql = format!(
        "INSERT INTO {name} (environment_key, {column}, bucket_size, bucket_start, count) \
         SELECT e, n, s, to_timestamp(t), c \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(e, n, s, t, c) \
         ON CONFLICT (environment_key, {column}, bucket_size, bucket_start) DO UPDATE SET count = \
         CASE WHEN {name}.count > 9223372036854775807 - EXCLUDED.count THEN 9223372036854775807 \
         ELSE {name}.count + EXCLUDED.count END"
    );
    sqlx::query(&sql)
        .bind(environments)
        .bind(names)
        .bind(sizes)
        .bind(starts)
        .bind(values)
        .execute(executor)
        .await?;
    Ok(())
}
