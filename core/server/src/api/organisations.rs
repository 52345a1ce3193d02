//! `/api/v1/organisations/`: the top of the tree. Organisation settings that
//! documents carry (`persist_trait_data`, `stop_serving_flags`,
//! `feature_analytics`, the name) bump every environment beneath.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

use super::doc::Resource;
use super::format::iso_time;
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing, Unfiltered};
use super::lookup::row_by_id;
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::Body;
use crate::validate;

resource_routes!(
    "/api/v1/organisations/",
    "/api/v1/organisations/{id}/",
    Resource::<Organisation, Input>::new("organisation"),
    Organisation
);

/// One organisation, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct Organisation {
    id: i64,
    name: String,
    persist_trait_data: bool,
    feature_analytics: bool,
    stop_serving_flags: bool,
    #[serde(serialize_with = "iso_time")]
    created_date: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, name, persist_trait_data, feature_analytics, stop_serving_flags, created_date";

impl Item for Organisation {
    type Ids = i64;
    const TABLE: &'static str = "organisations";

    async fn find(at: Lookup<'_>, &id: &i64) -> ApiResult<Found<Organisation>> {
        at.admin.check(id)?;
        let row = row_by_id(&mut *at.db, (COLUMNS, Self::TABLE), id, None, at.lock).await?;
        Ok(Found::new(row, id, Scope::Deleted))
    }
}

/// What create and update read; update keeps what is left out.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = OrganisationInput)]
struct Input {
    name: Option<String>,
    persist_trait_data: Option<bool>,
    feature_analytics: Option<bool>,
    stop_serving_flags: Option<bool>,
}

impl Listed for Organisation {
    type Parent = ();
    type Filter = Unfiltered;
    type Answer = Organisation;

    async fn listing(_: &PgPool, admin: &Admin, _: (), _: Unfiltered) -> ApiResult<Listing> {
        let from = "organisations WHERE ($1::bigint IS NULL OR id = $1)";
        Ok(Listing::new(COLUMNS, from).bind(admin.organisation))
    }
}

async fn create(
    Caller { state, admin }: Caller,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Organisation>)> {
    if admin.organisation.is_some() {
        return Err(ApiError::Forbidden(
            "An organisation's API key cannot create organisations.",
        ));
    }
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), true);
    errors.check()?;
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    let row: Organisation = sqlx::query_as(&format!(
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
    Ok((StatusCode::CREATED, Json(row)))
}

impl Update<Input> for Organisation {
    async fn apply(change: Change<'_, Organisation, Input>) -> ApiResult<Organisation> {
        let input = change.input;
        let mut errors = FieldErrors::new();
        validate::resource_name(&mut errors, input.name.as_deref(), change.full);
        errors.check()?;
        let row: Organisation = sqlx::query_as(&format!(
            "UPDATE organisations SET name = COALESCE($2, name), \
             persist_trait_data = COALESCE($3, persist_trait_data), \
             feature_analytics = COALESCE($4, feature_analytics), \
             stop_serving_flags = COALESCE($5, stop_serving_flags) WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(change.ids)
        .bind(input.name)
        .bind(input.persist_trait_data)
        .bind(input.feature_analytics)
        .bind(input.stop_serving_flags)
        .fetch_one(&mut **change.tx)
        .await?;
        db::bump(change.tx, Scope::Organisation(change.ids)).await?;
        Ok(row)
    }
}
