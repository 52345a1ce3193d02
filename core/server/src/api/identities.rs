//! `/api/v1/environments/{api_key}/identities/`: identities, their traits
//! (`…/{id}/traits/`) and their overrides (`…/{id}/featurestates/`).
//!
//! Traits are not part of environment documents, so trait writes bump
//! nothing. Identity overrides are (when the environment sets
//! `use_identity_overrides_in_local_eval`), so they — and deleting an
//! identity — bump the environment.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::delete::delete_and_bump;
use super::feature_states::{self, COLUMNS as STATE_COLUMNS, StateInput, StateRow};
use super::format::iso;
use super::list::Listing;
use super::lookup::{EnvironmentRef, Lock, environment_ref, row_by_id};
use super::page::PageRequest;
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
            "/api/v1/environments/{api_key}/identities/",
            &["GET", "POST"],
            get(list).post(create),
        )
        .add(
            "/api/v1/environments/{api_key}/identities/{id}/",
            &["GET", "DELETE"],
            get(read).delete(delete),
        )
        .resource(
            "/api/v1/environments/{api_key}/identities/{id}/traits/",
            get(list_traits).post(create_trait),
            "/api/v1/environments/{api_key}/identities/{id}/traits/{trait_id}/",
            get(read_trait)
                .put(put_trait)
                .patch(patch_trait)
                .delete(delete_trait),
        )
        .resource(
            "/api/v1/environments/{api_key}/identities/{id}/featurestates/",
            get(list_overrides).post(create_override),
            "/api/v1/environments/{api_key}/identities/{id}/featurestates/{state_id}/",
            get(read_override)
                .put(put_override)
                .patch(patch_override)
                .delete(delete_override),
        )
}

// ---- identities -------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    identifier: String,
    identity_uuid: uuid::Uuid,
    environment_id: i64,
    created_date: DateTime<Utc>,
}

const COLUMNS: &str = "id, identifier, identity_uuid, environment_id, created_date";

fn to_json(row: &Row) -> Value {
    json!({
        "id": row.id,
        "identifier": row.identifier,
        "identity_uuid": row.identity_uuid.to_string(),
        "environment": row.environment_id,
        "created_date": iso(row.created_date),
    })
}

#[derive(Deserialize)]
struct Filter {
    q: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Ids(api_key): Ids<String>,
    request: PageRequest,
    Query(filter): Query<Filter>,
) -> ApiResult<Json<Value>> {
    let environment = environment_ref(&state.db, &admin, &api_key).await?;
    let page = request.page()?;
    Listing::new(
        COLUMNS,
        "identities WHERE environment_id = $1 \
         AND ($2::text IS NULL OR starts_with(identifier, $2))",
    )
    .bind(environment.id)
    .bind(filter.q)
    .respond(&state.db, &request, page, to_json)
    .await
}

#[derive(Deserialize)]
struct Input {
    identifier: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Ids(api_key): Ids<String>,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let environment = environment_ref(&state.db, &admin, &api_key).await?;
    let mut errors = FieldErrors::new();
    validate::name(
        &mut errors,
        "identifier",
        input.identifier.as_deref(),
        validate::IDENTIFIER_MAX,
    );
    errors.check()?;
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO identities (environment_id, identifier) VALUES ($1, $2) RETURNING {COLUMNS}"
    ))
    .bind(environment.id)
    .bind(input.identifier)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(to_json(&row))))
}

async fn fetch(
    db: &mut PgConnection,
    admin: &Admin,
    api_key: &str,
    id: i64,
    lock: Lock,
) -> ApiResult<(EnvironmentRef, Row)> {
    let environment = environment_ref(&mut *db, admin, api_key).await?;
    let row: Row = row_by_id(
        &mut *db,
        (COLUMNS, "identities"),
        id,
        Some(("environment_id", environment.id)),
        lock,
    )
    .await?;
    Ok((environment, row))
}

async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Ids((api_key, id)): Ids<(String, i64)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(
        &fetch(
            &mut *state.db.acquire().await?,
            &admin,
            &api_key,
            id,
            Lock::Read,
        )
        .await?
        .1,
    )))
}

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Ids((api_key, id)): Ids<(String, i64)>,
) -> ApiResult<StatusCode> {
    let (environment, _) = fetch(
        &mut *state.db.acquire().await?,
        &admin,
        &api_key,
        id,
        Lock::Read,
    )
    .await?;
    delete_and_bump(
        &state.db,
        &admin,
        "identities",
        id,
        Scope::Environment(environment.id),
    )
    .await
}

// ---- traits -----------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct TraitRow {
    id: i64,
    trait_key: String,
    trait_value: Value,
    created_date: DateTime<Utc>,
}

const TRAIT_COLUMNS: &str = "id, trait_key, trait_value, created_date";

fn trait_json(row: &TraitRow) -> Value {
    let value_type = match &row.trait_value {
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        _ => "unicode",
    };
    json!({
        "id": row.id,
        "trait_key": row.trait_key,
        "trait_value": row.trait_value,
        "value_type": value_type,
        "created_date": iso(row.created_date),
    })
}

#[derive(Deserialize)]
struct TraitInput {
    trait_key: Option<String>,
    trait_value: Option<Value>,
}

async fn list_traits(
    State(state): State<AppState>,
    admin: Admin,
    Ids((api_key, id)): Ids<(String, i64)>,
    request: PageRequest,
) -> ApiResult<Json<Value>> {
    fetch(
        &mut *state.db.acquire().await?,
        &admin,
        &api_key,
        id,
        Lock::Read,
    )
    .await?;
    let page = request.page()?;
    Listing::new(TRAIT_COLUMNS, "traits WHERE identity_id = $1")
        .bind(id)
        .respond(&state.db, &request, page, trait_json)
        .await
}

fn check_trait(input: &TraitInput, full: bool) -> ApiResult<Option<Value>> {
    let mut errors = FieldErrors::new();
    if full || input.trait_key.is_some() {
        validate::name(
            &mut errors,
            "trait_key",
            input.trait_key.as_deref(),
            validate::TRAIT_KEY_MAX,
        );
    }
    let value = match &input.trait_value {
        Some(v) => Some(validate::trait_value(&mut errors, "trait_value", v)),
        None if full => {
            errors.add("trait_value", "This field is required.");
            None
        }
        None => None,
    };
    errors.check()?;
    Ok(value)
}

async fn create_trait(
    State(state): State<AppState>,
    admin: Admin,
    Ids((api_key, id)): Ids<(String, i64)>,
    Body(input): Body<TraitInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    fetch(
        &mut *state.db.acquire().await?,
        &admin,
        &api_key,
        id,
        Lock::Read,
    )
    .await?;
    let value = check_trait(&input, true)?;
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    let row: TraitRow = sqlx::query_as(&format!(
        "INSERT INTO traits (identity_id, trait_key, trait_value) VALUES ($1, $2, $3) RETURNING {TRAIT_COLUMNS}"
    ))
    .bind(id)
    .bind(input.trait_key)
    .bind(value)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(trait_json(&row))))
}

async fn fetch_trait(
    db: &mut PgConnection,
    admin: &Admin,
    (api_key, id, trait_id): &(String, i64, i64),
    lock: Lock,
) -> ApiResult<TraitRow> {
    fetch(&mut *db, admin, api_key, *id, Lock::Read).await?;
    row_by_id(
        &mut *db,
        (TRAIT_COLUMNS, "traits"),
        *trait_id,
        Some(("identity_id", *id)),
        lock,
    )
    .await
}

async fn read_trait(
    State(state): State<AppState>,
    admin: Admin,
    Ids(ids): Ids<(String, i64, i64)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(trait_json(
        &fetch_trait(&mut *state.db.acquire().await?, &admin, &ids, Lock::Read).await?,
    )))
}

async fn update_trait(
    state: AppState,
    admin: Admin,
    ids: (String, i64, i64),
    input: TraitInput,
    full: bool,
) -> ApiResult<Json<Value>> {
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    let current = fetch_trait(&mut tx, &admin, &ids, Lock::ForUpdate).await?;
    let value = check_trait(&input, full)?;
    let row: TraitRow = sqlx::query_as(&format!(
        "UPDATE traits SET trait_key = $2, trait_value = $3 WHERE id = $1 RETURNING {TRAIT_COLUMNS}"
    ))
    .bind(current.id)
    .bind(input.trait_key.unwrap_or(current.trait_key))
    .bind(value.unwrap_or(current.trait_value))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(trait_json(&row)))
}

put_and_patch!(
    put_trait,
    patch_trait,
    update_trait,
    (String, i64, i64),
    TraitInput
);

async fn delete_trait(
    State(state): State<AppState>,
    admin: Admin,
    Ids(ids): Ids<(String, i64, i64)>,
) -> ApiResult<StatusCode> {
    let current = fetch_trait(&mut *state.db.acquire().await?, &admin, &ids, Lock::Read).await?;
    let mut tx = db::begin_audited(&state.db, &admin).await?;
    sqlx::query("DELETE FROM traits WHERE id = $1")
        .bind(current.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- identity overrides -----------------------------------------------------

async fn list_overrides(
    State(state): State<AppState>,
    admin: Admin,
    Ids((api_key, id)): Ids<(String, i64)>,
    request: PageRequest,
) -> ApiResult<Json<Value>> {
    fetch(
        &mut *state.db.acquire().await?,
        &admin,
        &api_key,
        id,
        Lock::Read,
    )
    .await?;
    let page = request.page()?;
    let (count, rows) = Listing::new(STATE_COLUMNS, "feature_states WHERE identity_id = $1")
        .bind(id)
        .rows::<StateRow>(&state.db, page)
        .await?;
    let results = feature_states::to_json(&state.db, &rows).await?;
    request.respond(page, count, results)
}

async fn create_override(
    State(state): State<AppState>,
    admin: Admin,
    Ids((api_key, id)): Ids<(String, i64)>,
    Body(input): Body<StateInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (environment, _) = fetch(
        &mut *state.db.acquire().await?,
        &admin,
        &api_key,
        id,
        Lock::Read,
    )
    .await?;
    let Some(feature) = input.feature else {
        return Err(ApiError::field("feature", "This field is required."));
    };
    let known: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM features WHERE id = $1 AND project_id = $2")
            .bind(feature)
            .bind(environment.project_id)
            .fetch_optional(&state.db)
            .await?;
    if known.is_none() {
        return Err(ApiError::field(
            "feature",
            "Invalid pk - object does not exist.",
        ));
    }
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let created: StateRow = sqlx::query_as(&format!(
        "INSERT INTO feature_states (feature_id, environment_id, identity_id) VALUES ($1, $2, $3) \
         RETURNING {STATE_COLUMNS}"
    ))
    .bind(feature)
    .bind(environment.id)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let row = feature_states::apply(&mut tx, &created, &input, false).await?;
    db::bump(&mut tx, Scope::Environment(environment.id)).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(feature_states::one_json(&state.db, &row).await?),
    ))
}

async fn fetch_override(
    db: &mut PgConnection,
    admin: &Admin,
    (api_key, id, state_id): &(String, i64, i64),
    lock: Lock,
) -> ApiResult<(EnvironmentRef, StateRow)> {
    let (environment, _) = fetch(&mut *db, admin, api_key, *id, Lock::Read).await?;
    let row: StateRow = row_by_id(
        &mut *db,
        (STATE_COLUMNS, "feature_states"),
        *state_id,
        Some(("identity_id", *id)),
        lock,
    )
    .await?;
    Ok((environment, row))
}

async fn read_override(
    State(state): State<AppState>,
    admin: Admin,
    Ids(ids): Ids<(String, i64, i64)>,
) -> ApiResult<Json<Value>> {
    let (_, row) =
        fetch_override(&mut *state.db.acquire().await?, &admin, &ids, Lock::Read).await?;
    Ok(Json(feature_states::one_json(&state.db, &row).await?))
}

async fn update_override(
    state: AppState,
    admin: Admin,
    ids: (String, i64, i64),
    input: StateInput,
    full: bool,
) -> ApiResult<Json<Value>> {
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let (environment, current) = fetch_override(&mut tx, &admin, &ids, Lock::ForUpdate).await?;
    if input.feature.is_some_and(|f| f != current.feature_id) {
        return Err(ApiError::field(
            "feature",
            "A feature state cannot change its feature.",
        ));
    }

    let row = feature_states::apply(&mut tx, &current, &input, full).await?;
    db::bump(&mut tx, Scope::Environment(environment.id)).await?;
    tx.commit().await?;
    Ok(Json(feature_states::one_json(&state.db, &row).await?))
}

put_and_patch!(
    put_override,
    patch_override,
    update_override,
    (String, i64, i64),
    StateInput
);

async fn delete_override(
    State(state): State<AppState>,
    admin: Admin,
    Ids(ids): Ids<(String, i64, i64)>,
) -> ApiResult<StatusCode> {
    let (environment, current) =
        fetch_override(&mut *state.db.acquire().await?, &admin, &ids, Lock::Read).await?;
    delete_and_bump(
        &state.db,
        &admin,
        "feature_states",
        current.id,
        Scope::Environment(environment.id),
    )
    .await
}
