//! `/api/v1/organisations/`: the top of the tree. Organisation settings that
//! documents carry (`persist_trait_data`, `stop_serving_flags`,
//! `feature_analytics`, the name) bump every environment beneath.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::delete::delete_and_bump;
use super::format::iso;
use super::list::Listing;
use super::lookup::{Lock, row_by_id};
use super::page::PageRequest;
use super::routes::Routes;
use crate::auth::Admin;
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids};
use crate::state::AppState;
use crate::validate;
use sqlx::PgConnection;

resource_routes!("/api/v1/organisations/", "/api/v1/organisations/{id}/");

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    persist_trait_data: bool,
    feature_analytics: bool,
    stop_serving_flags: bool,
    created_date: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, name, persist_trait_data, feature_analytics, stop_serving_flags, created_date";

fn to_json(row: &Row) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "persist_trait_data": row.persist_trait_data,
        "feature_analytics": row.feature_analytics,
        "stop_serving_flags": row.stop_serving_flags,
        "created_date": iso(row.created_date),
    })
}

#[derive(Deserialize, Default)]
struct Input {
    name: Option<String>,
    persist_trait_data: Option<bool>,
    feature_analytics: Option<bool>,
    stop_serving_flags: Option<bool>,
}

async fn list(
    State(state): State<AppState>,
    admin: Admin,
    request: PageRequest,
) -> ApiResult<Json<Value>> {
    let page = request.page()?;
    Listing::new(
        COLUMNS,
        "organisations WHERE ($1::bigint IS NULL OR id = $1)",
    )
    .bind(admin.organisation)
    .respond(&state.db, &request, page, to_json)
    .await
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if admin.organisation.is_some() {
        return Err(ApiError::Forbidden(
            "An organisation's API key cannot create organisations.",
        ));
    }
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), true);
    errors.check()?;
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO organisations (name, persist_trait_data, feature_analytics, stop_serving_flags) \
         VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(input.name)
    .bind(input.persist_trait_data.unwrap_or(true))
    .bind(input.feature_analytics.unwrap_or(false))
    .bind(input.stop_serving_flags.unwrap_or(false))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(to_json(&row))))
}

async fn fetch(db: &mut PgConnection, admin: &Admin, id: i64, lock: Lock) -> ApiResult<Row> {
    admin.check(id)?;
    row_by_id(&mut *db, (COLUMNS, "organisations"), id, None, lock).await
}

async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Ids(id): Ids<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(
        &fetch(&mut *state.db.acquire().await?, &admin, id, Lock::Read).await?,
    )))
}

async fn update(
    state: AppState,
    admin: Admin,
    id: i64,
    input: Input,
    full: bool,
) -> ApiResult<Json<Value>> {
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let current = fetch(&mut tx, &admin, id, Lock::ForUpdate).await?;
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), full);
    errors.check()?;

    let row: Row = sqlx::query_as(&format!(
        "UPDATE organisations SET name = $2, persist_trait_data = $3, feature_analytics = $4, \
         stop_serving_flags = $5 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(input.name.unwrap_or(current.name))
    .bind(
        input
            .persist_trait_data
            .unwrap_or(current.persist_trait_data),
    )
    .bind(input.feature_analytics.unwrap_or(current.feature_analytics))
    .bind(
        input
            .stop_serving_flags
            .unwrap_or(current.stop_serving_flags),
    )
    .fetch_one(&mut *tx)
    .await?;
    db::bump(&mut tx, Scope::Organisation(id)).await?;
    tx.commit().await?;
    Ok(Json(to_json(&row)))
}

put_and_patch!(put, patch, update, i64, Input);

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Ids(id): Ids<i64>,
) -> ApiResult<StatusCode> {
    fetch(&mut *state.db.acquire().await?, &admin, id, Lock::Read).await?;
    delete_and_bump(&state.db, &admin, "organisations", id, Scope::Deleted).await
}
