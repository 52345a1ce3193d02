//! One object of a resource, found by the ids of its item path: the
//! [`Item`] a resource module implements, and the `GET` and `DELETE` handlers
//! every such resource shares ([`read`], [`delete`]). Update handlers find the
//! current row through the same [`Item::find`], under `Lock::ForUpdate`.
//!
//! A leaf below the resource modules.

use std::future::Future;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use super::delete::delete_and_bump;
use super::lookup::Lock;
use crate::auth::Admin;
use crate::db::Scope;
use crate::error::ApiResult;
use crate::extract::Ids;
use crate::state::AppState;

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

/// An object a resource serves at its item path.
pub trait Item: Sized + Send + 'static {
    /// The ids of the item path, in order: `i64`, `(String, i64)`, …
    type Ids: DeserializeOwned + Send + Sync + 'static;
    /// Its table.
    const TABLE: &'static str;

    /// The object `ids` names, if `admin` may see it (else 404), read under `lock`.
    fn find(
        db: &mut PgConnection,
        admin: &Admin,
        ids: &Self::Ids,
        lock: Lock,
    ) -> impl Future<Output = ApiResult<Found<Self>>> + Send;
}

/// `GET` an item.
pub async fn read<T: Item + Serialize>(
    State(state): State<AppState>,
    admin: Admin,
    Ids(ids): Ids<T::Ids>,
) -> ApiResult<Json<T>> {
    let mut db = state.db.acquire().await?;
    Ok(Json(T::find(&mut db, &admin, &ids, Lock::Read).await?.row))
}

/// `DELETE` an item, bumping what it was seen in.
pub async fn delete<T: Item>(
    State(state): State<AppState>,
    admin: Admin,
    Ids(ids): Ids<T::Ids>,
) -> ApiResult<StatusCode> {
    let found = T::find(&mut *state.db.acquire().await?, &admin, &ids, Lock::Read).await?;
    delete_and_bump(&state.db, &admin, T::TABLE, found.id, found.scope).await
}
