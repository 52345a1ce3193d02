//! `/api/v1/projects/`: projects hold features and segments; their settings
//! (`hide_disabled_flags`, `enable_realtime_updates`, the name) are in every
//! environment document of the project, so changing one bumps them all.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

use super::doc::Resource;
use super::format::iso_time;
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing, OrganisationFilter};
use super::lookup::{project_organisation, row_by_id};
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::Body;
use crate::validate;

resource_routes!(
    "/api/v1/projects/",
    "/api/v1/projects/{id}/",
    Resource::<Project, Input>::new("project"),
    Project
);

/// A project, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct Project {
    id: i64,
    name: String,
    #[serde(rename = "organisation")]
    organisation_id: i64,
    hide_disabled_flags: bool,
    enable_realtime_updates: bool,
    #[serde(serialize_with = "iso_time")]
    created_date: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, name, organisation_id, hide_disabled_flags, enable_realtime_updates, created_date";

impl Item for Project {
    type Ids = i64;
    const TABLE: &'static str = "projects";

    async fn find(at: Lookup<'_>, &id: &i64) -> ApiResult<Found<Project>> {
        project_organisation(&mut *at.db, at.admin, id).await?;
        let row = row_by_id(&mut *at.db, (COLUMNS, Self::TABLE), id, None, at.lock).await?;
        Ok(Found::new(row, id, Scope::Deleted))
    }
}

/// What create and update read; update keeps what is left out.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = ProjectInput)]
struct Input {
    name: Option<String>,
    organisation: Option<i64>,
    hide_disabled_flags: Option<bool>,
    enable_realtime_updates: Option<bool>,
}

impl Listed for Project {
    type Parent = ();
    type Filter = OrganisationFilter;
    type Answer = Project;

    async fn listing(_: &PgPool, admin: &Admin, _: (), filter: Self::Filter) -> ApiResult<Listing> {
        Ok(Listing::of_organisations(
            COLUMNS, "projects", admin, filter,
        ))
    }
}

async fn create(
    Caller { state, admin }: Caller,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), true);
    let organisation = match input.organisation.or(admin.organisation) {
        None => {
            errors.add("organisation", "This field is required.");
            0
        }
        Some(o) => o,
    };
    errors.check()?;
    if !admin.may_see(organisation) {
        return Err(ApiError::field(
            "organisation",
            "Invalid pk - object does not exist.",
        ));
    }
    let row: Option<Project> = sqlx::query_as(&format!(
        "INSERT INTO projects (name, organisation_id, hide_disabled_flags, enable_realtime_updates) \
         SELECT $1, id, $3, $4 FROM organisations WHERE id = $2 RETURNING {COLUMNS}"
    ))
    .bind(input.name)
    .bind(organisation)
    .bind(input.hide_disabled_flags.unwrap_or(false))
    .bind(input.enable_realtime_updates.unwrap_or(false))
    .fetch_optional(&state.db)
    .await?;
    let row =
        row.ok_or_else(|| ApiError::field("organisation", "Invalid pk - object does not exist."))?;
    Ok((StatusCode::CREATED, Json(row)))
}

impl Update<Input> for Project {
    async fn apply(change: Change<'_, Project, Input>) -> ApiResult<Project> {
        let (input, current) = (change.input, change.current);
        let mut errors = FieldErrors::new();
        validate::resource_name(&mut errors, input.name.as_deref(), change.full);
        if input
            .organisation
            .is_some_and(|o| o != current.organisation_id)
        {
            errors.add(
                "organisation",
                "A project cannot move to another organisation.",
            );
        }
        errors.check()?;
        let row: Project = sqlx::query_as(&format!(
            "UPDATE projects SET name = COALESCE($2, name), \
             hide_disabled_flags = COALESCE($3, hide_disabled_flags), \
             enable_realtime_updates = COALESCE($4, enable_realtime_updates) \
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(current.id)
        .bind(input.name)
        .bind(input.hide_disabled_flags)
        .bind(input.enable_realtime_updates)
        .fetch_one(&mut **change.tx)
        .await?;
        db::bump(change.tx, Scope::Project(current.id)).await?;
        Ok(row)
    }
}
