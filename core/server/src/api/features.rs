//! `/api/v1/projects/{project_id}/features/`: features. Creating one creates its
//! default state in every environment of the project (`default_enabled`,
//! `initial_value`), with any `multivariate_options` given inline. Names are
//! unique per project, ignoring case, as in Flagsmith. Deleting a feature
//! deletes its states, segment overrides and identity overrides (cascade).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::delete::delete_and_bump;
use super::format::{id_value, iso};
use super::list::Listing;
use super::lookup::{Lock, project_organisation, row_by_id};
use super::mv_options::{self, OptionInput, OptionRow};
use super::page::PageRequest;
use super::routes::Routes;
use crate::auth::Admin;
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, Query, nullable};
use crate::state::AppState;
use crate::validate;
use sqlx::PgConnection;

resource_routes!(
    "/api/v1/projects/{project_id}/features/",
    "/api/v1/projects/{project_id}/features/{id}/"
);

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    project_id: i64,
    name: String,
    #[sqlx(rename = "type")]
    kind: String,
    initial_value: Value,
    default_enabled: bool,
    description: Option<String>,
    is_server_key_only: bool,
    created_date: DateTime<Utc>,
}

const COLUMNS: &str = "id, project_id, name, type, initial_value, default_enabled, description, \
    is_server_key_only, created_date";

fn to_json(row: &Row, options: &[&OptionRow]) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "type": row.kind,
        "initial_value": row.initial_value,
        "default_enabled": row.default_enabled,
        "description": row.description,
        "is_server_key_only": row.is_server_key_only,
        "project": row.project_id,
        "created_date": iso(row.created_date),
        "multivariate_options": options.iter().map(|o| mv_options::to_json(o)).collect::<Vec<_>>(),
    })
}

async fn with_options(state: &AppState, rows: &[Row]) -> ApiResult<Vec<Value>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let options = mv_options::of_features(&state.db, &ids).await?;
    let mut by_feature: HashMap<i64, Vec<&OptionRow>> = HashMap::new();
    for option in &options {
        by_feature
            .entry(option.feature_id)
            .or_default()
            .push(option);
    }
    Ok(rows
        .iter()
        .map(|r| to_json(r, by_feature.get(&r.id).map_or(&[][..], Vec::as_slice)))
        .collect())
}

#[derive(Deserialize, Default)]
struct Input {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    initial_value: Option<Option<Value>>,
    default_enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    is_server_key_only: Option<bool>,
    multivariate_options: Option<Vec<OptionInput>>,
    project: Option<Value>,
}

#[derive(Deserialize)]
struct Filter {
    search: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Ids(project): Ids<i64>,
    request: PageRequest,
    Query(filter): Query<Filter>,
) -> ApiResult<Json<Value>> {
    project_organisation(&state.db, &admin, project).await?;
    let page = request.page()?;
    let (count, rows) = Listing::new(
        COLUMNS,
        "features WHERE project_id = $1 \
         AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0)",
    )
    .bind(project)
    .bind(filter.search)
    .rows::<Row>(&state.db, page)
    .await?;
    let results = with_options(&state, &rows).await?;
    request.respond(page, count, results)
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

async fn name_taken(state: &AppState, project: i64, name: &str, except: i64) -> ApiResult<bool> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM features WHERE project_id = $1 AND lower(name) = lower($2) AND id <> $3",
    )
    .bind(project)
    .bind(name)
    .bind(except)
    .fetch_optional(&state.db)
    .await?;
    Ok(found.is_some())
}

const NAME_TAKEN: &str = "Feature with that name already exists in this project. Note that feature names are case insensitive.";

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Ids(project): Ids<i64>,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    if name_taken(&state, project, &name, 0).await? {
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
    let row: Row = sqlx::query_as(&format!(
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
    let refs: Vec<&OptionRow> = created.iter().collect();
    Ok((StatusCode::CREATED, Json(to_json(&row, &refs))))
}

async fn fetch(
    db: &mut PgConnection,
    admin: &Admin,
    project: i64,
    id: i64,
    lock: Lock,
) -> ApiResult<Row> {
    project_organisation(&mut *db, admin, project).await?;
    row_by_id(
        &mut *db,
        (COLUMNS, "features"),
        id,
        Some(("project_id", project)),
        lock,
    )
    .await
}

async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Ids((project, id)): Ids<(i64, i64)>,
) -> ApiResult<Json<Value>> {
    let row = fetch(
        &mut *state.db.acquire().await?,
        &admin,
        project,
        id,
        Lock::Read,
    )
    .await?;
    let mut results = with_options(&state, std::slice::from_ref(&row)).await?;
    Ok(Json(results.pop().unwrap_or(Value::Null)))
}

async fn update(
    state: AppState,
    admin: Admin,
    (project, id): (i64, i64),
    input: Input,
    full: bool,
) -> ApiResult<Json<Value>> {
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let current = fetch(&mut tx, &admin, project, id, Lock::ForUpdate).await?;
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), full);
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
    if name_taken(&state, project, &name, id).await? {
        return Err(ApiError::field("name", NAME_TAKEN));
    }
    let kind = input.kind.unwrap_or(current.kind);
    if kind == "STANDARD" {
        let options = mv_options::of_features(&state.db, &[id]).await?;
        if !options.is_empty() {
            return Err(ApiError::field(
                "type",
                "Delete the multivariate options before making the feature STANDARD.",
            ));
        }
    }

    let row: Row = sqlx::query_as(&format!(
        "UPDATE features SET name = $2, type = $3, initial_value = $4, default_enabled = $5, \
         description = $6, is_server_key_only = $7 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&name)
    .bind(&kind)
    .bind(&initial_value)
    .bind(input.default_enabled.unwrap_or(current.default_enabled))
    .bind(input.description.unwrap_or(current.description))
    .bind(
        input
            .is_server_key_only
            .unwrap_or(current.is_server_key_only),
    )
    .fetch_one(&mut *tx)
    .await?;
    db::bump(&mut tx, Scope::Project(project)).await?;
    tx.commit().await?;
    let mut results = with_options(&state, std::slice::from_ref(&row)).await?;
    Ok(Json(results.pop().unwrap_or(Value::Null)))
}

put_and_patch!(put, patch, update, (i64, i64), Input);

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Ids((project, id)): Ids<(i64, i64)>,
) -> ApiResult<StatusCode> {
    fetch(
        &mut *state.db.acquire().await?,
        &admin,
        project,
        id,
        Lock::Read,
    )
    .await?;
    delete_and_bump(&state.db, &admin, "features", id, Scope::Project(project)).await
}
