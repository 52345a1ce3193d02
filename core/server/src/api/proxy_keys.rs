//! `/api/v1/proxy-keys/`: proxy keys (`pk.<prefix>.<secret>`), with which an
//! edge proxy reads its organisation's environments and keys
//! (`GET /api/v1/proxy/config/`) and reports usage (see [`super::proxy`]).
//!
//! Like admin keys, the key is in the creation response only; the database
//! keeps its prefix and a SHA-256. `DELETE` revokes: the row stays, with
//! `revoked: true`, and the key stops working at once. A key belongs to one
//! organisation; an organisation admin key sees only its own.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::doc::{Doc, Resource};
use super::format::iso_time;
use super::list::{Listed, Listing, OrganisationFilter};
use super::lookup::{Lock, row_by_id};
use super::routes::Routes;
use crate::auth::{Admin, Caller};
use crate::db;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids};
use crate::keys;
use crate::validate;
use sqlx::{PgConnection, PgPool};

pub(super) fn routes(routes: Routes) -> Routes {
    let docs = Resource::<ProxyKey, Input, NewProxyKey>::new("proxy key");
    routes
        .collection::<ProxyKey, _, _>("/api/v1/proxy-keys/", &docs)
        .post("/api/v1/proxy-keys/", docs.create(), create)
        .get("/api/v1/proxy-keys/{id}/", docs.read(), read)
        .delete("/api/v1/proxy-keys/{id}/", revoke_doc(), revoke)
}

fn revoke_doc() -> Doc {
    Doc::new("Revoke a proxy key (it stays listed, revoked)")
        .empty(204, "Revoked")
        .fails(404, "Not found")
}

/// A proxy key, as stored (its secret only as a hash) and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct ProxyKey {
    id: i64,
    name: String,
    #[serde(rename = "organisation")]
    organisation_id: i64,
    prefix: String,
    revoked: bool,
    #[serde(serialize_with = "iso_time")]
    created: DateTime<Utc>,
}

const COLUMNS: &str = "id, organisation_id, name, prefix, revoked, created";

/// A key just made: the only answer with its secret.
#[derive(Serialize, ToSchema)]
struct NewProxyKey {
    #[serde(flatten)]
    made: ProxyKey,
    /// `pk.<prefix>.<secret>`; stored only as a hash.
    key: String,
}

/// What create reads.
#[derive(Deserialize, ToSchema)]
#[schema(as = ProxyKeyInput)]
struct Input {
    name: Option<String>,
    organisation: Option<i64>,
}

impl Listed for ProxyKey {
    type Parent = ();
    type Filter = OrganisationFilter;
    type Answer = ProxyKey;

    async fn listing(_: &PgPool, admin: &Admin, _: (), filter: Self::Filter) -> ApiResult<Listing> {
        Ok(Listing::of_organisations(
            COLUMNS,
            "proxy_keys",
            admin,
            filter,
        ))
    }
}

const NO_ORGANISATION: &str = "Invalid pk - object does not exist.";

async fn create(
    Caller { state, admin }: Caller,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<NewProxyKey>)> {
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
    let row: Option<ProxyKey> = sqlx::query_as(&format!(
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
    Ok((StatusCode::CREATED, Json(NewProxyKey { made: row, key })))
}

async fn fetch(db: &mut PgConnection, admin: &Admin, id: i64, lock: Lock) -> ApiResult<ProxyKey> {
    let row: ProxyKey = row_by_id(&mut *db, (COLUMNS, "proxy_keys"), id, None, lock).await?;
    admin.check(row.organisation_id)?;
    Ok(row)
}

async fn read(Caller { state, admin }: Caller, Ids(id): Ids<i64>) -> ApiResult<Json<ProxyKey>> {
    Ok(Json(
        fetch(&mut *state.db.acquire().await?, &admin, id, Lock::Read).await?,
    ))
}

async fn revoke(Caller { state, admin }: Caller, Ids(id): Ids<i64>) -> ApiResult<StatusCode> {
    fetch(&mut *state.db.acquire().await?, &admin, id, Lock::Read).await?;
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    sqlx::query("UPDATE proxy_keys SET revoked = true WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
