//! `/api/v1/environments/{api_key}/api-keys/`: an environment's server-side
//! keys (`ser.` + 22 random characters). A key is revoked by `active: false`
//! or by deleting it; either bumps the environment, so sync republishes the
//! key list and edges stop accepting the key.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

use super::doc::Resource;
use super::format::{expiry, iso_time, iso_time_opt};
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing, Unfiltered};
use super::lookup::environment_ref;
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiResult, FieldErrors};
use crate::extract::{Body, Ids, nullable};
use crate::keys;
use crate::validate;

resource_routes!(
    "/api/v1/environments/{api_key}/api-keys/",
    "/api/v1/environments/{api_key}/api-keys/{id}/",
    Resource::<ServerKey, Input>::new("server-side key"),
    ServerKey
);

/// One server-side key, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct ServerKey {
    id: i64,
    key: String,
    name: String,
    active: bool,
    #[serde(serialize_with = "iso_time_opt")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "iso_time")]
    created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, key, name, active, expires_at, created_at";

impl Item for ServerKey {
    type Ids = (String, i64);
    const TABLE: &'static str = "server_keys";

    async fn find(at: Lookup<'_>, (api_key, id): &(String, i64)) -> ApiResult<Found<ServerKey>> {
        at.in_environment(api_key, (COLUMNS, Self::TABLE), *id)
            .await
    }
}

/// What create and update read; update keeps what is left out.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = ServerKeyInput)]
struct Input {
    name: Option<String>,
    active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<String>>,
}

impl Listed for ServerKey {
    type Parent = String;
    type Filter = Unfiltered;
    type Answer = ServerKey;

    async fn listing(db: &PgPool, admin: &Admin, key: String, _: Unfiltered) -> ApiResult<Listing> {
        Listing::in_environment(db, admin, &key, (COLUMNS, "server_keys"), "").await
    }
}

async fn create(
    Caller { state, admin }: Caller,
    Ids(api_key): Ids<String>,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<ServerKey>)> {
    let environment = environment_ref(&state.db, &admin, &api_key).await?;
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), true);
    let expires_at = expiry(&mut errors, "expires_at", &input.expires_at, None);
    errors.check()?;
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let row: ServerKey = sqlx::query_as(&format!(
        "INSERT INTO server_keys (environment_id, key, name, active, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(environment.id)
    .bind(keys::server_key())
    .bind(input.name)
    .bind(input.active.unwrap_or(true))
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    db::bump(&mut tx, Scope::Environment(environment.id)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

impl Update<Input> for ServerKey {
    async fn apply(change: Change<'_, ServerKey, Input>) -> ApiResult<ServerKey> {
        let (input, current, tx) = (change.input, change.current, change.tx);
        let mut errors = FieldErrors::new();
        validate::resource_name(&mut errors, input.name.as_deref(), change.full);
        let expires_at = expiry(
            &mut errors,
            "expires_at",
            &input.expires_at,
            current.expires_at,
        );
        errors.check()?;
        let row: ServerKey = sqlx::query_as(&format!(
            "UPDATE server_keys SET name = COALESCE($2, name), active = COALESCE($3, active), \
             expires_at = $4 WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(current.id)
        .bind(input.name)
        .bind(input.active)
        .bind(expires_at)
        .fetch_one(&mut **tx)
        .await?;
        db::bump(tx, change.scope).await?;
        Ok(row)
    }
}
