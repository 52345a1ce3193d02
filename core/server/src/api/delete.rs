//! The end of most DELETE handlers: remove one row by id and bump the
//! revision of what it was part of, in one write transaction (see the
//! revision rule in `db.rs`), answering 204. Handlers check first that the
//! admin may see the row (a plain read, so a 404 takes no write lock).

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::auth::Admin;
use crate::db::{self, Scope};
use crate::error::ApiResult;

/// `DELETE FROM {table} WHERE id = {id}`, then bumps `scope`; 204.
pub async fn delete_and_bump(
    db: &PgPool,
    admin: &Admin,
    table: &'static str,
    id: i64,
    scope: Scope,
) -> ApiResult<StatusCode> {
    let mut tx = db::begin_write(db, admin).await?;
    sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    db::bump(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
