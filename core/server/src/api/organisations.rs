//! `/api/v1/organisations/`: the top of the tree. Organisation settings that
//! documents carry (`persist_trait_data`, `stop_serving_flags`,
//! `feature_analytics`, the name) bump every environment beneath.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::format::iso;
use super::lookup::Lock;
use super::page::{PageQuery, paginated};
use super::routes::Routes;
use crate::auth::Admin;
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, Query};
use crate::state::AppState;
use crate::validate;
use sqlx::PgConnection;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add(
            "/api/v1/organisations/",
            &["GET", "POST"],
            get(list).post(create),
        )
        .add(
            "/api/v1/organisations/{id}/",
            &["GET", "PUT", "PATCH", "DELETE"],
            get(read).put(put).patch(patch).delete(delete),
        )
}

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
    Query(q): Query<PageQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM organisations WHERE ($1::bigint IS NULL OR id = $1)")
            .bind(admin.organisation)
            .fetch_one(&state.db)
            .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organisations WHERE ($1::bigint IS NULL OR id = $1) \
         ORDER BY id LIMIT $2 OFFSET $3"
    ))
    .bind(admin.organisation)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&state.db)
    .await?;
    paginated(
        &uri,
        &headers,
        page,
        count,
        rows.iter().map(to_json).collect(),
    )
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
    validate::name(
        &mut errors,
        "name",
        input.name.as_deref(),
        validate::NAME_MAX,
    );
    errors.check()?;
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO organisations (name, persist_trait_data, feature_analytics, stop_serving_flags) \
         VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(input.name)
    .bind(input.persist_trait_data.unwrap_or(true))
    .bind(input.feature_analytics.unwrap_or(false))
    .bind(input.stop_serving_flags.unwrap_or(false))
    .fetch_one(&state.db)
    .await?;
    Ok((StatusCode::CREATED, Json(to_json(&row))))
}

async fn fetch(db: &mut PgConnection, admin: &Admin, id: i64, lock: Lock) -> ApiResult<Row> {
    admin.check(id)?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organisations WHERE id = $1{}",
        lock.clause()
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?;
    row.ok_or(ApiError::NotFound)
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
    let mut tx = db::begin_write(&state.db).await?;
    let current = fetch(&mut tx, &admin, id, Lock::ForUpdate).await?;
    let mut errors = FieldErrors::new();
    if full || input.name.is_some() {
        validate::name(
            &mut errors,
            "name",
            input.name.as_deref(),
            validate::NAME_MAX,
        );
    }
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
    let mut tx = db::begin_write(&state.db).await?;
    sqlx::query("DELETE FROM organisations WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    db::bump(&mut tx, Scope::Deleted).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
