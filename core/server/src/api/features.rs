//! `/api/v1/projects/{project_id}/features/`: features. Creating one creates its
//! default state in every environment of the project (`default_enabled`,
//! `initial_value`), with any `multivariate_options` given inline. Names are
//! unique per project, ignoring case, as in Flagsmith. Deleting a feature
//! deletes its states, segment overrides and identity overrides (cascade).

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::doc::{FlagValue, Resource};
use super::format::{id_value, iso_time};
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing};
use super::lookup::{Lock, project_organisation};
use super::mv_options::{self, MultivariateOption, OptionInput};
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, nullable};
use crate::validate;
use sqlx::{PgExecutor, PgPool};

resource_routes!(
    "/api/v1/projects/{project_id}/features/",
    "/api/v1/projects/{project_id}/features/{id}/",
    Resource::<Feature, Input>::new("feature"),
    Feature,
    read,
    super::item::delete::<Feature>
);

/// A feature, as stored (but its options) and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct Feature {
    id: i64,
    name: String,
    /// STANDARD or MULTIVARIATE.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    #[schema(schema_with = feature_types)]
    kind: String,
    #[schema(value_type = FlagValue)]
    initial_value: Value,
    default_enabled: bool,
    description: Option<String>,
    is_server_key_only: bool,
    #[serde(rename = "project")]
    project_id: i64,
    #[serde(serialize_with = "iso_time")]
    created_date: DateTime<Utc>,
    /// Read apart (`with_options`).
    #[sqlx(skip)]
    multivariate_options: Vec<MultivariateOption>,
}

fn feature_types() -> utoipa::openapi::schema::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["STANDARD", "MULTIVARIATE"]))
        .build()
}

const COLUMNS: &str = "id, project_id, name, type, initial_value, default_enabled, description, \
    is_server_key_only, created_date";

impl Item for Feature {
    type Ids = (i64, i64);
    const TABLE: &'static str = "features";

    async fn find(at: Lookup<'_>, &(project, id): &(i64, i64)) -> ApiResult<Found<Feature>> {
        at.in_project(project, (COLUMNS, Self::TABLE), id).await
    }
}

async fn with_options(
    db: impl PgExecutor<'_>,
    mut features: Vec<Feature>,
) -> ApiResult<Vec<Feature>> {
    let ids: Vec<i64> = features.iter().map(|f| f.id).collect();
    let mut options = mv_options::of_features(db, &ids).await?;
    for feature in &mut features {
        let (theirs, rest) = options
            .into_iter()
            .partition(|o| o.feature_id == feature.id);
        options = rest;
        feature.multivariate_options = theirs.into_iter().map(MultivariateOption::from).collect();
    }
    Ok(features)
}

/// One feature with its options.
async fn with_its_options(db: impl PgExecutor<'_>, feature: Feature) -> ApiResult<Feature> {
    let mut results = with_options(db, vec![feature]).await?;
    results.pop().ok_or(ApiError::NotFound)
}

/// What create and update read; update keeps what is left out.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = FeatureInput)]
struct Input {
    name: Option<String>,
    #[serde(rename = "type")]
    #[schema(schema_with = feature_types)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<FlagValue>)]
    initial_value: Option<Option<Value>>,
    default_enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    is_server_key_only: Option<bool>,
    multivariate_options: Option<Vec<OptionInput>>,
    #[schema(value_type = Option<i64>)]
    project: Option<Value>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Filter {
    /// Only features whose name contains this (any case).
    search: Option<String>,
}

impl Listed for Feature {
    type Parent = i64;
    type Filter = Filter;
    type Answer = Feature;

    async fn listing(
        db: &PgPool,
        admin: &Admin,
        project: i64,
        filter: Filter,
    ) -> ApiResult<Listing> {
        let containing = "AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0)";
        let at = (COLUMNS, "features");
        let listing = Listing::in_project(db, admin, project, at, containing).await?;
        Ok(listing.bind(filter.search))
    }

    async fn answers(db: &PgPool, rows: Vec<Feature>) -> ApiResult<Vec<Feature>> {
        with_options(db, rows).await
    }
}

fn check_kind(errors: &mut FieldErrors, kind: Option<&str>) {
    if let Some(kind) = kind
        && kind != "STANDARD"
        && kind != "MULTIVARIATE"
    {
        errors.add(
            "type",
            format!("\"{kind}\" is not a valid choice (STANDARD, MULTIVARIATE)."),
        );
    }
}

async fn name_taken(
    db: impl PgExecutor<'_>,
    project: i64,
    name: &str,
    except: i64,
) -> ApiResult<bool> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM features WHERE project_id = $1 AND lower(name) = lower($2) AND id <> $3",
    )
    .bind(project)
    .bind(name)
    .bind(except)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

const NAME_TAKEN: &str = "Feature with that name already exists in this project. Note that feature names are case insensitive.";

async fn create(
    Caller { state, admin }: Caller,
    Ids(project): Ids<i64>,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Feature>)> {
    project_organisation(&state.db, &admin, project).await?;
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), true);
    check_kind(&mut errors, input.kind.as_deref());
    let initial_value = input
        .initial_value
        .clone()
        .flatten()
        .map(|v| validate::feature_value(&mut errors, "initial_value", &v))
        .unwrap_or(Value::Null);
    validate::description(&mut errors, input.description.clone().flatten().as_deref());
    let mut options = Vec::new();
    for (i, option) in input.multivariate_options.iter().flatten().enumerate() {
        let mut option_errors = FieldErrors::new();
        options.push(option.for_create(&mut option_errors));
        if !option_errors.is_empty() {
            errors.add_nested(
                format!("multivariate_options[{i}]"),
                option_errors.into_value(),
            );
        }
    }
    if input.kind.as_deref() == Some("STANDARD") && !options.is_empty() {
        errors.add("type", "A STANDARD feature has no multivariate options.");
    }
    errors.check()?;
    let name = input.name.unwrap_or_default();
    if name_taken(&state.db, project, &name, 0).await? {
        return Err(ApiError::field("name", NAME_TAKEN));
    }
    let kind = input.kind.unwrap_or_else(|| {
        if options.is_empty() {
            "STANDARD"
        } else {
            "MULTIVARIATE"
        }
        .to_string()
    });
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let row: Feature = sqlx::query_as(&format!(
        "INSERT INTO features (project_id, name, type, initial_value, default_enabled, description, \
         is_server_key_only) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(project)
    .bind(&name)
    .bind(&kind)
    .bind(&initial_value)
    .bind(input.default_enabled.unwrap_or(false))
    .bind(input.description.flatten())
    .bind(input.is_server_key_only.unwrap_or(false))
    .fetch_one(&mut *tx)
    .await?;
    db::seed_default_states(&mut tx, None, Some(row.id)).await?;
    let mut created = Vec::new();
    for option in options {
        created.push(mv_options::insert(&mut tx, row.id, option).await?);
    }
    mv_options::check_allocations(&mut tx, row.id).await?;
    db::bump(&mut tx, Scope::Project(project)).await?;
    tx.commit().await?;
    let mut row = row;
    row.multivariate_options = created.into_iter().map(MultivariateOption::from).collect();
    Ok((StatusCode::CREATED, Json(row)))
}

async fn read(
    Caller { state, admin }: Caller,
    Ids(ids): Ids<(i64, i64)>,
) -> ApiResult<Json<Feature>> {
    let mut db = state.db.acquire().await?;
    let row = Feature::find(Lookup::new(&mut db, &admin, Lock::Read), &ids)
        .await?
        .row;
    Ok(Json(with_its_options(&mut *db, row).await?))
}

impl Update<Input> for Feature {
    async fn apply(change: Change<'_, Feature, Input>) -> ApiResult<Feature> {
        let (input, current, tx) = (change.input, change.current, change.tx);
        let (project, id) = change.ids;
        let mut errors = FieldErrors::new();
        validate::resource_name(&mut errors, input.name.as_deref(), change.full);
        check_kind(&mut errors, input.kind.as_deref());
        let initial_value = match &input.initial_value {
            None => current.initial_value.clone(),
            Some(v) => validate::feature_value(
                &mut errors,
                "initial_value",
                v.as_ref().unwrap_or(&Value::Null),
            ),
        };
        validate::description(&mut errors, input.description.clone().flatten().as_deref());
        if input.multivariate_options.is_some() {
            errors.add(
                "multivariate_options",
                "Change options through /mv-options/.",
            );
        }
        if input
            .project
            .as_ref()
            .and_then(id_value)
            .is_some_and(|p| p != project)
        {
            errors.add("project", "A feature cannot move to another project.");
        }
        errors.check()?;
        let name = input.name.unwrap_or(current.name);
        if name_taken(&mut **tx, project, &name, id).await? {
            return Err(ApiError::field("name", NAME_TAKEN));
        }
        let kind = input.kind.unwrap_or(current.kind);
        if kind == "STANDARD" && !mv_options::of_features(&mut **tx, &[id]).await?.is_empty() {
            return Err(ApiError::field(
                "type",
                "Delete the multivariate options before making the feature STANDARD.",
            ));
        }
        let row: Feature = sqlx::query_as(&format!(
            "UPDATE features SET name = $2, type = $3, initial_value = $4, \
             default_enabled = COALESCE($5, default_enabled), description = $6, \
             is_server_key_only = COALESCE($7, is_server_key_only) WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(&name)
        .bind(&kind)
        .bind(&initial_value)
        .bind(input.default_enabled)
        .bind(input.description.unwrap_or(current.description))
        .bind(input.is_server_key_only)
        .fetch_one(&mut **tx)
        .await?;
        db::bump(tx, Scope::Project(project)).await?;
        with_its_options(&mut **tx, row).await
    }
}
