//! The database: connecting, migrating, and the one rule every write follows.
//!
//! **Revisions.** Every transaction that changes what an environment serves
//! starts with [`begin_write`], which takes a transaction-level advisory lock,
//! and ends by calling [`bump`] for the scope it touched. Because the lock is
//! held from the first statement until commit, revisions are taken and become
//! visible strictly in order: a reader that sees revision `n` has seen every
//! change numbered below `n`. That is what lets the change feed hand out a
//! cursor without ever skipping a change. Admin writes are rare, so
//! serialising them costs nothing that matters.
//!
//! `bump` sets `revision = nextval('flagedge_revision')` and moves `updated_at`
//! forward on each affected environment, records the highest revision in
//! `flagedge_meta`, and `NOTIFY flagedge_changes, '<revision>'` — delivered to
//! listeners when (and only if) the transaction commits.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

/// The channel revisions are announced on.
pub const CHANNEL: &str = "flagedge_changes";

/// The advisory lock every revision-bumping transaction holds.
const WRITE_LOCK: i64 = 0x666c_6167_6564_6765; // "flagedge"

/// Core's migrations (versions 1–1000).
pub fn core_migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    // The analytics migrations may share the database and its history table.
    migrator.set_ignore_missing(true);
    migrator
}

/// The analytics tables' migrations (versions 1001+).
pub fn analytics_migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations_analytics");
    migrator.set_ignore_missing(true);
    migrator
}

/// Connects a pool (lazily, so a server can start while the database is down
/// and report not-ready until it is up).
pub fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.application_name("flagedge-core")))
}

/// Applies core's migrations to `db` and the analytics migrations to `analytics`
/// (which may be the same database).
pub async fn migrate(db: &PgPool, analytics: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    core_migrator().run(db).await?;
    analytics_migrator().run(analytics).await
}

/// Whether every migration in `migrator` has been applied to `pool`.
pub async fn migrations_applied(pool: &PgPool, migrator: &Migrator) -> Result<bool, sqlx::Error> {
    let applied: Vec<(i64,)> =
        match sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
        {
            Ok(rows) => rows,
            // No history table yet: nothing is applied.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
    Ok(migrator
        .iter()
        .all(|m| applied.iter().any(|(v,)| *v == m.version)))
}

/// Whoever writes: the audit log records the admin key (`auth::Admin` is one).
pub trait Writer {
    /// The admin key's id.
    fn admin_key_id(&self) -> i64;
}

/// Begins a transaction whose writes the audit log attributes to `admin`
/// (migration 0003: a trigger records every row an admin writes).
pub async fn begin_audited(
    pool: &PgPool,
    admin: &impl Writer,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('flagedge.admin_key', $1, true)")
        .bind(admin.admin_key_id().to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Begins an audited transaction that may bump revisions (see the module docs).
pub async fn begin_write(
    pool: &PgPool,
    admin: &impl Writer,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = begin_audited(pool, admin).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// What a write touched: the environments whose documents it changes.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// One environment.
    Environment(i64),
    /// Every environment of a project.
    Project(i64),
    /// Every environment of every project of an organisation.
    Organisation(i64),
    /// Nothing left to stamp (a deletion): only the overall revision moves.
    Deleted,
}

/// Stamps the scope's environments with fresh revisions and announces the
/// highest. Must run inside a transaction from [`begin_write`].
pub async fn bump(
    tx: &mut Transaction<'static, Postgres>,
    scope: Scope,
) -> Result<(), sqlx::Error> {
    const SET: &str = "UPDATE environments SET revision = nextval('flagedge_revision'), \
        updated_at = GREATEST(clock_timestamp(), updated_at + interval '1 microsecond')";
    let (sql, id) = match scope {
        Scope::Environment(id) => (format!("{SET} WHERE id = $1 RETURNING revision"), id),
        Scope::Project(id) => (
            format!("{SET} WHERE project_id = $1 RETURNING revision"),
            id,
        ),
        Scope::Organisation(id) => (
            format!(
                "{SET} WHERE project_id IN (SELECT id FROM projects WHERE organisation_id = $1) RETURNING revision"
            ),
            id,
        ),
        Scope::Deleted => (
            "SELECT nextval('flagedge_revision') AS revision WHERE $1::bigint IS NOT NULL"
                .to_string(),
            0,
        ),
    };
    let revisions: Vec<(i64,)> = sqlx::query_as(&sql).bind(id).fetch_all(&mut **tx).await?;
    let Some(highest) = revisions.iter().map(|(r,)| *r).max() else {
        return Ok(());
    };
    sqlx::query("UPDATE flagedge_meta SET revision = GREATEST(revision, $1) WHERE id = 1")
        .bind(highest)
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(highest.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The highest committed revision overall.
pub async fn current_revision(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let (revision,): (i64,) = sqlx::query_as("SELECT revision FROM flagedge_meta WHERE id = 1")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(revision).unwrap_or(0))
}

/// Creates the environment-default feature states (and their multivariate
/// allocations, from each option's default) that are missing for the given
/// environment or feature: a new environment gets one per feature of its
/// project, a new feature one per environment of its project.
pub async fn seed_default_states(
    tx: &mut Transaction<'static, Postgres>,
    environment: Option<i64>,
    feature: Option<i64>,
) -> Result<(), sqlx::Error> {
    // The states first: the allocations hang from them.
    for sql in [
        "INSERT INTO feature_states (feature_id, environment_id, enabled, feature_state_value) \
         SELECT f.id, e.id, f.default_enabled, f.initial_value \
         FROM features f JOIN environments e ON e.project_id = f.project_id \
         WHERE ($1::bigint IS NULL OR e.id = $1) AND ($2::bigint IS NULL OR f.id = $2) \
         ON CONFLICT DO NOTHING",
        "INSERT INTO mv_feature_state_values (feature_state_id, mv_option_id, percentage_allocation) \
         SELECT fs.id, o.id, o.default_percentage_allocation \
         FROM feature_states fs JOIN mv_options o ON o.feature_id = fs.feature_id \
         WHERE fs.feature_segment_id IS NULL AND fs.identity_id IS NULL \
         AND ($1::bigint IS NULL OR fs.environment_id = $1) AND ($2::bigint IS NULL OR fs.feature_id = $2) \
         ON CONFLICT DO NOTHING",
    ] {
        let seed = sqlx::query(sql).bind(environment).bind(feature);
        seed.execute(&mut **tx).await?;
    }
    Ok(())
}
