//! Finding the one object a request names, or 404: the parents every resource
//! hangs from (a project, an environment by its client key), the row itself
//! ([`one`]), and whether that read locks the row ([`Lock`]).
//!
//! An update reads the current row inside its write transaction with
//! [`Lock::ForUpdate`] and merges the input into *that*: a copy read before the
//! transaction could be stale by the time it is written back, and two
//! concurrent PATCHes of different fields would lose one of them.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, PgConnection, PgExecutor, Postgres};

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};

/// Whether reading a row also locks it until the transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// A plain read (GET, DELETE's existence check).
    Read,
    /// `FOR UPDATE`: the row is read inside the write transaction that
    /// changes it, and nobody else changes it before that commits.
    ForUpdate,
}

impl Lock {
    /// The clause to append to a single-table `SELECT`.
    pub fn clause(self) -> &'static str {
        match self {
            Lock::Read => "",
            Lock::ForUpdate => " FOR UPDATE",
        }
    }

    /// The clause for a `SELECT` that joins: locks only the rows of `table`
    /// (an alias), not the parents it joins for scoping.
    pub fn of(self, table: &str) -> String {
        match self {
            Lock::Read => String::new(),
            Lock::ForUpdate => format!(" FOR UPDATE OF {table}"),
        }
    }
}

/// The row `query` selects, or 404.
pub async fn one<'e, T>(
    db: impl PgExecutor<'e>,
    query: QueryAs<'e, Postgres, T, PgArguments>,
) -> ApiResult<T>
where
    T: Send + Unpin + for<'r> FromRow<'r, PgRow>,
{
    query.fetch_optional(db).await?.ok_or(ApiError::NotFound)
}

/// `SELECT {columns} FROM {table} WHERE id = {id}`, read under `lock`, or 404.
/// With a `parent` (`(column, id)`), only the row that hangs from it: an id
/// under the wrong parent in the path is 404, not another parent's object.
pub async fn row_by_id<R>(
    db: &mut PgConnection,
    (columns, table): (&str, &str),
    id: i64,
    parent: Option<(&str, i64)>,
    lock: Lock,
) -> ApiResult<R>
where
    R: Send + Unpin + for<'r> FromRow<'r, PgRow>,
{
    let lock = lock.clause();
    match parent {
        None => {
            let sql = format!("SELECT {columns} FROM {table} WHERE id = $1{lock}");
            one(db, sqlx::query_as(&sql).bind(id)).await
        }
        Some((column, parent)) => {
            let sql =
                format!("SELECT {columns} FROM {table} WHERE id = $1 AND {column} = $2{lock}");
            one(db, sqlx::query_as(&sql).bind(id).bind(parent)).await
        }
    }
}

/// The organisation of a project the admin may see, or 404.
pub async fn project_organisation<'e>(
    db: impl PgExecutor<'e>,
    admin: &Admin,
    project: i64,
) -> ApiResult<i64> {
    let (organisation,): (i64,) = one(
        db,
        sqlx::query_as("SELECT organisation_id FROM projects WHERE id = $1").bind(project),
    )
    .await?;
    admin.check(organisation)?;
    Ok(organisation)
}

/// An environment the admin may see, found by its client key.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EnvironmentRef {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// Its project's organisation.
    pub organisation_id: i64,
    /// Its client key.
    pub api_key: String,
}

/// Finds an environment by client key, or 404.
pub async fn environment_ref<'e>(
    db: impl PgExecutor<'e>,
    admin: &Admin,
    api_key: &'e str,
) -> ApiResult<EnvironmentRef> {
    let environment: EnvironmentRef = one(
        db,
        sqlx::query_as(
            "SELECT e.id, e.project_id, p.organisation_id, e.api_key FROM environments e \
             JOIN projects p ON p.id = e.project_id WHERE e.api_key = $1",
        )
        .bind(api_key),
    )
    .await?;
    admin.check(environment.organisation_id)?;
    Ok(environment)
}
