//! The `PUT` and `PATCH` handlers every resource shares: PUT requires every
//! required field (`full`), PATCH changes what it is given. Either way the
//! current row is read inside the write transaction (`SELECT … FOR UPDATE`,
//! see [`Lock`]) and the input merged into *that*, so two partial updates
//! never lose each other's fields. A resource says only how its input is
//! checked and written ([`Update::apply`]).
//!
//! A leaf below the resource modules, beside [`super::item`].

use std::future::Future;

use axum::Json;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{Postgres, Transaction};

use super::item::{Item, Lookup};
use super::lookup::Lock;
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::ApiResult;
use crate::extract::{Body, Ids};
use crate::state::AppState;

/// One `PUT` or `PATCH` of a `T`, with input `I`, inside its write transaction.
pub struct Change<'t, T: Item, I> {
    /// The write transaction (committed after [`Update::apply`] returns).
    pub tx: &'t mut Transaction<'static, Postgres>,
    /// The ids of the item path.
    pub ids: T::Ids,
    /// The row as it is, locked until the transaction ends.
    pub current: T,
    /// What deleting the row bumps ([`super::item::Found::scope`]).
    pub scope: Scope,
    /// What the request gave.
    pub input: I,
    /// PUT (every required field must be given), not PATCH.
    pub full: bool,
}

/// An item that `PUT` and `PATCH` change with an `Input`, answering an
/// `Output` (the item itself unless said).
pub trait Update<Input, Output = Self>: Item {
    /// Checks the input, writes it over the current row and bumps the
    /// documents the change is seen in.
    fn apply(change: Change<'_, Self, Input>) -> impl Future<Output = ApiResult<Output>> + Send;
}

/// `PUT` (`FULL`: the whole item) or `PATCH` (the fields given) an item.
pub async fn write<T, I, O, const FULL: bool>(
    Caller { state, admin }: Caller,
    Ids(ids): Ids<T::Ids>,
    Body(input): Body<I>,
) -> ApiResult<Json<O>>
where
    T: Update<I, O>,
    I: DeserializeOwned + Send,
    O: Serialize,
{
    change::<T, I, O>(state, admin, ids, input, FULL).await
}

async fn change<T: Update<I, O>, I, O>(
    state: AppState,
    admin: Admin,
    ids: T::Ids,
    input: I,
    full: bool,
) -> ApiResult<Json<O>> {
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let found = T::find(Lookup::new(&mut tx, &admin, Lock::ForUpdate), &ids).await?;
    let change = Change {
        tx: &mut tx,
        ids,
        current: found.row,
        scope: found.scope,
        input,
        full,
    };
    let output = T::apply(change).await?;
    tx.commit().await?;
    Ok(Json(output))
}
