//! `/api/v1/environments/`: environments, looked up by their client key
//! (`api_key`, 22 random URL-safe characters) as in Flagsmith. Creating one
//! gives it a default feature state for every feature of its project.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};

use super::delete::delete_and_bump;
use super::doc::Resource;
use super::format::iso_time;
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing};
use super::lookup::{environment_ref, project_organisation, row_by_id};
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, from_text, nullable};
use crate::keys;
use crate::validate;

resource_routes!(
    "/api/v1/environments/",
    "/api/v1/environments/{api_key}/",
    Resource::<Environment, Input>::new("environment"),
    Environment,
    super::item::read::<Environment>,
    delete
);

/// One environment, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct Environment {
    id: i64,
    name: String,
    description: Option<String>,
    api_key: String,
    #[serde(rename = "project")]
    project_id: i64,
    allow_client_traits: bool,
    hide_sensitive_data: bool,
    hide_disabled_flags: Option<bool>,
    use_identity_composite_key_for_hashing: bool,
    use_identity_overrides_in_local_eval: bool,
    revision: i64,
    #[serde(serialize_with = "iso_time")]
    updated_at: DateTime<Utc>,
    #[serde(serialize_with = "iso_time")]
    created_date: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, description, api_key, project_id, allow_client_traits, \
    hide_sensitive_data, hide_disabled_flags, use_identity_composite_key_for_hashing, \
    use_identity_overrides_in_local_eval, revision, updated_at, created_date";

impl Item for Environment {
    type Ids = String;
    const TABLE: &'static str = "environments";

    async fn find(at: Lookup<'_>, api_key: &String) -> ApiResult<Found<Environment>> {
        let environment = environment_ref(&mut *at.db, at.admin, api_key).await?;
        let row = row_by_id(
            &mut *at.db,
            (COLUMNS, Self::TABLE),
            environment.id,
            None,
            at.lock,
        )
        .await?;
        Ok(Found::new(row, environment.id, Scope::Deleted))
    }
}

/// What create and update read; update keeps what is left out.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = EnvironmentInput)]
struct Input {
    name: Option<String>,
    project: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    allow_client_traits: Option<bool>,
    hide_sensitive_data: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    hide_disabled_flags: Option<Option<bool>>,
    use_identity_composite_key_for_hashing: Option<bool>,
    use_identity_overrides_in_local_eval: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Filter {
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    project: Option<i64>,
}

impl Listed for Environment {
    type Parent = ();
    type Filter = Filter;
    type Answer = Environment;

    async fn listing(_: &PgPool, admin: &Admin, _: (), filter: Filter) -> ApiResult<Listing> {
        let from = "environments WHERE ($1::bigint IS NULL OR project_id IN \
                    (SELECT id FROM projects WHERE organisation_id = $1)) \
                    AND ($2::bigint IS NULL OR project_id = $2)";
        Ok(Listing::new(COLUMNS, from)
            .bind(admin.organisation)
            .bind(filter.project))
    }
}

fn check(errors: &mut FieldErrors, input: &Input, full: bool) {
    validate::resource_name(errors, input.name.as_deref(), full);
    if let Some(Some(description)) = &input.description {
        validate::description(errors, Some(description));
    }
}

async fn create(
    Caller { state, admin }: Caller,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Environment>)> {
    let mut errors = FieldErrors::new();
    check(&mut errors, &input, true);
    if input.project.is_none() {
        errors.add("project", "This field is required.");
    }
    errors.check()?;
    let project = input.project.unwrap_or_default();
    if project_organisation(&state.db, &admin, project)
        .await
        .is_err()
    {
        return Err(ApiError::field(
            "project",
            "Invalid pk - object does not exist.",
        ));
    }
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO environments (name, description, api_key, project_id, allow_client_traits, \
         hide_sensitive_data, hide_disabled_flags, use_identity_composite_key_for_hashing, \
         use_identity_overrides_in_local_eval, revision, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, clock_timestamp()) RETURNING id",
    )
    .bind(input.name)
    .bind(input.description.flatten())
    .bind(keys::client_key())
    .bind(project)
    .bind(input.allow_client_traits.unwrap_or(true))
    .bind(input.hide_sensitive_data.unwrap_or(false))
    .bind(input.hide_disabled_flags.flatten())
    .bind(input.use_identity_composite_key_for_hashing.unwrap_or(true))
    .bind(input.use_identity_overrides_in_local_eval.unwrap_or(false))
    .fetch_one(&mut *tx)
    .await?;
    db::seed_default_states(&mut tx, Some(id), None).await?;
    db::bump(&mut tx, Scope::Environment(id)).await?;
    let row: Environment =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM environments WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

impl Update<Input> for Environment {
    async fn apply(change: Change<'_, Environment, Input>) -> ApiResult<Environment> {
        let (input, current, tx) = (change.input, change.current, change.tx);
        let mut errors = FieldErrors::new();
        check(&mut errors, &input, change.full);
        if input.project.is_some_and(|p| p != current.project_id) {
            errors.add("project", "An environment cannot move to another project.");
        }
        errors.check()?;
        sqlx::query(
            "UPDATE environments SET name = COALESCE($2, name), description = $3, \
             allow_client_traits = COALESCE($4, allow_client_traits), \
             hide_sensitive_data = COALESCE($5, hide_sensitive_data), hide_disabled_flags = $6, \
             use_identity_composite_key_for_hashing = \
               COALESCE($7, use_identity_composite_key_for_hashing), \
             use_identity_overrides_in_local_eval = \
               COALESCE($8, use_identity_overrides_in_local_eval) \
             WHERE id = $1",
        )
        .bind(current.id)
        .bind(input.name)
        .bind(input.description.unwrap_or(current.description))
        .bind(input.allow_client_traits)
        .bind(input.hide_sensitive_data)
        .bind(
            input
                .hide_disabled_flags
                .unwrap_or(current.hide_disabled_flags),
        )
        .bind(input.use_identity_composite_key_for_hashing)
        .bind(input.use_identity_overrides_in_local_eval)
        .execute(&mut **tx)
        .await?;
        db::bump(tx, Scope::Environment(current.id)).await?;
        let select = format!("SELECT {COLUMNS} FROM environments WHERE id = $1");
        let row = sqlx::query_as(&select).bind(current.id);
        Ok(row.fetch_one(&mut **tx).await?)
    }
}

async fn delete(
    Caller { state, admin }: Caller,
    Ids(api_key): Ids<String>,
) -> ApiResult<StatusCode> {
    let environment = environment_ref(&state.db, &admin, &api_key).await?;
    delete_and_bump(
        &state.db,
        &admin,
        "environments",
        environment.id,
        Scope::Deleted,
    )
    .await?;
    state
        .documents
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&environment.id);
    Ok(StatusCode::NO_CONTENT)
}
