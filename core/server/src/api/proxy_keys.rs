//! `/api/v1/proxy-keys/`: proxy keys (`pk.<prefix>.<secret>`), with which an
//! edge proxy reads its organisation's environments and keys
//! (`GET /api/v1/proxy/config/`) and reports usage (see [`super::proxy`]).
//!
//! Like admin keys, the key is in the creation response only; the database
//! keeps its prefix and a SHA-256. `DELETE` revokes: the row stays, with
//! `revoked: true`, and the key stops working at once. A key belongs to one
//! organisation; an organisation admin key sees only its own.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::format::iso;
use super::list::Listing;
use super::lookup::{Lock, row_by_id};
use super::page::PageRequest;
use super::routes::Routes;
use crate::auth::Admin;
use crate::db;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, Query, from_text};
use crate::keys;
use crate::state::AppState;
use crate::validate;
use sqlx::PgConnection;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add(
            "/api/v1/proxy-keys/",
            &["GET", "POST"],
            get(list).post(create),
        )
        .add(
            "/api/v1/proxy-keys/{id}/",
            &["GET", "DELETE"],
            get(read).delete(revoke),
        )
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    organisation_id: i64,
    name: String,
    prefix: String,
    revoked: bool,
    created: DateTime<Utc>,
}

const COLUMNS: &str = "id, organisation_id, name, prefix, revoked, created";

/// A proxy key as the API shows it.
#[derive(Serialize)]
struct ProxyKey {
    id: i64,
    name: String,
    organisation: i64,
    prefix: String,
    revoked: bool,
    created: String,
    /// Only in the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl From<Row> for ProxyKey {
    fn from(row: Row) -> ProxyKey {
        ProxyKey {
            id: row.id,
            name: row.name,
            organisation: row.organisation_id,
            prefix: row.prefix,
            revoked: row.revoked,
            created: iso(row.created),
            key: None,
        }
    }
}

fn to_value(key: ProxyKey) -> ApiResult<Value> {
    serde_json::to_value(key).map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Deserialize)]
struct Input {
    name: Option<String>,
    organisation: Option<i64>,
}

#[derive(Deserialize)]
struct Filter {
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    organisation: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    admin: Admin,
    request: PageRequest,
    Query(filter): Query<Filter>,
) -> ApiResult<Json<Value>> {
    let page = request.page()?;
    let (count, rows) = Listing::new(
        COLUMNS,
        "proxy_keys WHERE ($1::bigint IS NULL OR organisation_id = $1) \
         AND ($2::bigint IS NULL OR organisation_id = $2)",
    )
    .bind(admin.organisation)
    .bind(filter.organisation)
    .rows::<Row>(&state.db, page)
    .await?;
    let results = rows
        .into_iter()
        .map(|row| to_value(row.into()))
        .collect::<ApiResult<Vec<Value>>>()?;
    request.respond(page, count, results)
}

const NO_ORGANISATION: &str = "Invalid pk - object does not exist.";

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), true);
    let organisation = input.organisation.or(admin.organisation);
    if organisation.is_none() {
        errors.add("organisation", "This field is required.");
    }
    errors.check()?;
    let organisation = organisation.unwrap_or_default();
    if !admin.may_see(organisation) {
        return Err(ApiError::field("organisation", NO_ORGANISATION));
    }
    let (prefix, key) = keys::proxy_key();
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "INSERT INTO proxy_keys (organisation_id, name, prefix, key_hash) \
         SELECT id, $2, $3, $4 FROM organisations WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(organisation)
    .bind(input.name)
    .bind(&prefix)
    .bind(keys::hash(&key))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let row = row.ok_or_else(|| ApiError::field("organisation", NO_ORGANISATION))?;
    let mut created = ProxyKey::from(row);
    // The only time the key is shown.
    created.key = Some(key);
    Ok((StatusCode::CREATED, Json(to_value(created)?)))
}

async fn fetch(db: &mut PgConnection, admin: &Admin, id: i64, lock: Lock) -> ApiResult<Row> {
    let row: Row = row_by_id(&mut *db, (COLUMNS, "proxy_keys"), id, None, lock).await?;
    admin.check(row.organisation_id)?;
    Ok(row)
}

async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Ids(id): Ids<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_value(
        fetch(&mut *state.db.acquire().await?, &admin, id, Lock::Read)
            .await?
            .into(),
    )?))
}

async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Ids(id): Ids<i64>,
) -> ApiResult<StatusCode> {
    fetch(&mut *state.db.acquire().await?, &admin, id, Lock::Read).await?;
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    sqlx::query("UPDATE proxy_keys SET revoked = true WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
