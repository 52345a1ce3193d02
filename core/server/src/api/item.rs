//! One object of a resource, found by the ids of its item path: the
//! [`Item`] a resource module implements, and the `GET` and `DELETE` handlers
//! every such resource shares ([`read`], [`delete`]). Update handlers find the
//! current row through the same [`Item::find`], under `Lock::ForUpdate`.
//!
//! A leaf below the resource modules.

use std::future::Future;

use axum::Json;
use axum::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use sqlx::FromRow;
use sqlx::postgres::PgRow;

use super::delete::delete_and_bump;
use super::lookup::{Lock, environment_ref, project_organisation, row_by_id};
use crate::auth::{Admin, Caller};
use crate::db::Scope;
use crate::error::ApiResult;
use crate::extract::Ids;

/// A row found, with what deleting it bumps.
pub struct Found<T> {
    /// The row.
    pub row: T,
    /// Its id (in its table).
    pub id: i64,
    /// The environments a change to it is seen in.
    pub scope: Scope,
}

impl<T> Found<T> {
    /// `row`, whose id is `id`, seen in `scope`.
    pub fn new(row: T, id: i64, scope: Scope) -> Found<T> {
        Found { row, id, scope }
    }
}

/// Where an item is looked for: the connection, who asks, and whether the
/// read locks the row.
pub struct Lookup<'c> {
    /// The connection (inside the write transaction, for updates).
    pub db: &'c mut PgConnection,
    /// Who asks: an object of an organisation they may not see is 404.
    pub admin: &'c Admin,
    /// Whether the row is locked until the transaction ends.
    pub lock: Lock,
}

impl<'c> Lookup<'c> {
    /// A lookup on `db` for `admin`, under `lock`.
    pub fn new(db: &'c mut PgConnection, admin: &'c Admin, lock: Lock) -> Lookup<'c> {
        Lookup { db, admin, lock }
    }

    /// The row `id` of `table` in project `project` (if the admin may see
    /// the project), seen in the project's environments; 404 when either is
    /// not there.
    pub async fn in_project<R>(
        self,
        project: i64,
        table: (&str, &str),
        id: i64,
    ) -> ApiResult<Found<R>>
    where
        R: Send + Unpin + for<'r> FromRow<'r, PgRow>,
    {
        project_organisation(&mut *self.db, self.admin, project).await?;
        let parent = Some(("project_id", project));
        let row = row_by_id(self.db, table, id, parent, self.lock).await?;
        Ok(Found::new(row, id, Scope::Project(project)))
    }

    /// The row `id` of `table` in the environment `api_key` names (if the
    /// admin may see it), seen in that environment; 404 when either is not
    /// there.
    pub async fn in_environment<R>(
        self,
        api_key: &str,
        table: (&str, &str),
        id: i64,
    ) -> ApiResult<Found<R>>
    where
        R: Send + Unpin + for<'r> FromRow<'r, PgRow>,
    {
        let environment = environment_ref(&mut *self.db, self.admin, api_key).await?;
        let parent = Some(("environment_id", environment.id));
        let row = row_by_id(self.db, table, id, parent, self.lock).await?;
        Ok(Found::new(row, id, Scope::Environment(environment.id)))
    }
}

/// An object a resource serves at its item path.
pub trait Item: Sized + Send + 'static {
    /// The ids of the item path, in order: `i64`, `(String, i64)`, …
    type Ids: DeserializeOwned + Send + Sync + 'static;
    /// Its table.
    const TABLE: &'static str;

    /// The object `ids` names, if the admin may see it (else 404).
    fn find(at: Lookup<'_>, ids: &Self::Ids)
    -> impl Future<Output = ApiResult<Found<Self>>> + Send;
}

/// `GET` an item.
pub async fn read<T: Item + Serialize>(
    Caller { state, admin }: Caller,
    Ids(ids): Ids<T::Ids>,
) -> ApiResult<Json<T>> {
    let mut db = state.db.acquire().await?;
    let at = Lookup::new(&mut db, &admin, Lock::Read);
    Ok(Json(T::find(at, &ids).await?.row))
}

/// `DELETE` an item, bumping what it was seen in.
pub async fn delete<T: Item>(
    Caller { state, admin }: Caller,
    Ids(ids): Ids<T::Ids>,
) -> ApiResult<StatusCode> {
    let mut db = state.db.acquire().await?;
    let found = T::find(Lookup::new(&mut db, &admin, Lock::Read), &ids).await?;
    delete_and_bump(&state.db, &admin, T::TABLE, found.id, found.scope).await
}
