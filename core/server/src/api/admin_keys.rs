//! `/api/v1/organisations/{id}/master-api-keys/`: admin API keys limited to one
//! organisation (Flagsmith's "organisation API keys"). The key itself is in
//! the creation response only; afterwards a key is known by its prefix.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::doc::Resource;
use super::format::{expiry, iso_time, iso_time_opt};
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing, Unfiltered};
use super::lookup::{Lock, one};
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, nullable};
use crate::keys;
use crate::state::AppState;
use crate::validate;
use sqlx::{PgConnection, PgExecutor, PgPool};

resource_routes!(
    "/api/v1/organisations/{id}/master-api-keys/",
    "/api/v1/organisations/{id}/master-api-keys/{prefix}/",
    Resource::<AdminApiKey, Input, NewAdminApiKey>::new("admin key"),
    AdminApiKey,
    read,
    delete
);

/// One admin key, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct AdminApiKey {
    #[serde(skip)]
    id: i64,
    prefix: String,
    name: String,
    #[serde(rename = "organisation")]
    organisation_id: Option<i64>,
    revoked: bool,
    #[serde(serialize_with = "iso_time_opt")]
    expiry_date: Option<DateTime<Utc>>,
    #[serde(serialize_with = "iso_time")]
    created: DateTime<Utc>,
    /// Always true: Flagsmith's admin keys say so.
    is_admin: bool,
}

/// A key just made: the only answer with its secret.
#[derive(Serialize, ToSchema)]
struct NewAdminApiKey {
    #[serde(flatten)]
    made: AdminApiKey,
    /// `Api-Key <key>` authenticates; stored only as a hash.
    key: String,
}

const COLUMNS: &str =
    "id, prefix, name, organisation_id, revoked, expiry_date, created, true AS is_admin";

/// What create and update read; update keeps what is left out.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = AdminApiKeyInput)]
struct Input {
    name: Option<String>,
    revoked: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    expiry_date: Option<Option<String>>,
}

async fn organisation(db: impl PgExecutor<'_>, admin: &Admin, id: i64) -> ApiResult<()> {
    admin.check(id)?;
    let _: (i64,) = one(
        db,
        sqlx::query_as("SELECT id FROM organisations WHERE id = $1").bind(id),
    )
    .await?;
    Ok(())
}

impl Listed for AdminApiKey {
    type Parent = i64;
    type Filter = Unfiltered;
    type Answer = AdminApiKey;

    async fn listing(db: &PgPool, admin: &Admin, id: i64, _: Unfiltered) -> ApiResult<Listing> {
        organisation(db, admin, id).await?;
        Ok(Listing::new(COLUMNS, "admin_api_keys WHERE organisation_id = $1").bind(id))
    }
}

async fn create(
    Caller { state, admin }: Caller,
    Ids(id): Ids<i64>,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<NewAdminApiKey>)> {
    organisation(&state.db, &admin, id).await?;
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), true);
    let expiry_date = expiry(&mut errors, "expiry_date", &input.expiry_date, None);
    errors.check()?;
    let (prefix, key) = keys::admin_key();
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    let row: AdminApiKey = sqlx::query_as(&format!(
        "INSERT INTO admin_api_keys (organisation_id, name, prefix, key_hash, expiry_date) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(input.name)
    .bind(&prefix)
    .bind(keys::hash(&key))
    .bind(expiry_date)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(NewAdminApiKey { made: row, key })))
}

async fn fetch(
    db: &mut PgConnection,
    admin: &Admin,
    id: i64,
    prefix: &str,
    lock: Lock,
) -> ApiResult<AdminApiKey> {
    organisation(&mut *db, admin, id).await?;
    let row: Option<AdminApiKey> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM admin_api_keys WHERE organisation_id = $1 AND prefix = $2{}",
        lock.clause()
    ))
    .bind(id)
    .bind(prefix)
    .fetch_optional(&mut *db)
    .await?;
    row.ok_or(ApiError::NotFound)
}

async fn read(
    Caller { state, admin }: Caller,
    Ids((id, prefix)): Ids<(i64, String)>,
) -> ApiResult<Json<AdminApiKey>> {
    Ok(Json(fetch_to_read(&state, &admin, id, &prefix).await?))
}

/// A key for reading (no lock), on a connection of its own.
async fn fetch_to_read(
    state: &AppState,
    admin: &Admin,
    id: i64,
    prefix: &str,
) -> ApiResult<AdminApiKey> {
    fetch(
        &mut *state.db.acquire().await?,
        admin,
        id,
        prefix,
        Lock::Read,
    )
    .await
}

impl Item for AdminApiKey {
    type Ids = (i64, String);
    const TABLE: &'static str = "admin_api_keys";

    async fn find(
        at: Lookup<'_>,
        (organisation, prefix): &(i64, String),
    ) -> ApiResult<Found<AdminApiKey>> {
        let row = fetch(at.db, at.admin, *organisation, prefix, at.lock).await?;
        // Keys are in no document: deleting one bumps nothing.
        let id = row.id;
        Ok(Found::new(row, id, Scope::Deleted))
    }
}

impl Update<Input> for AdminApiKey {
    async fn apply(change: Change<'_, AdminApiKey, Input>) -> ApiResult<AdminApiKey> {
        let (input, current) = (change.input, change.current);
        let mut errors = FieldErrors::new();
        validate::resource_name(&mut errors, input.name.as_deref(), change.full);
        let expiry_date = expiry(
            &mut errors,
            "expiry_date",
            &input.expiry_date,
            current.expiry_date,
        );
        errors.check()?;
        let row: AdminApiKey = sqlx::query_as(&format!(
            "UPDATE admin_api_keys SET name = COALESCE($2, name), \
             revoked = COALESCE($3, revoked), expiry_date = $4 WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(current.id)
        .bind(input.name)
        .bind(input.revoked)
        .bind(expiry_date)
        .fetch_one(&mut **change.tx)
        .await?;
        Ok(row)
    }
}

async fn delete(
    Caller { state, admin }: Caller,
    Ids((id, prefix)): Ids<(i64, String)>,
) -> ApiResult<StatusCode> {
    fetch_to_read(&state, &admin, id, &prefix).await?;
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    sqlx::query("DELETE FROM admin_api_keys WHERE organisation_id = $1 AND prefix = $2")
        .bind(id)
        .bind(&prefix)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
