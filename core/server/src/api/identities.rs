//! `/api/v1/environments/{api_key}/identities/`: identities, their traits
//! (`…/{id}/traits/`) and their overrides (`…/{id}/featurestates/`).
//!
//! Traits are not part of environment documents, so trait writes bump
//! nothing. Identity overrides are (when the environment sets
//! `use_identity_overrides_in_local_eval`), so they — and deleting an
//! identity — bump the environment.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::delete::delete_and_bump;
use super::doc::{Resource, TraitValue};
use super::feature_states::{self, COLUMNS as STATE_COLUMNS, FeatureState, StateInput, StateRow};
use super::format::iso_time;
use super::item::{self, Found, Item, Lookup};
use super::list::{Listed, Listing, Unfiltered};
use super::lookup::{EnvironmentRef, Lock, environment_ref, row_by_id};
use super::page::{PageRequest, Paged};
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids};
use crate::validate;
use sqlx::{PgConnection, PgPool};

const IDENTITIES: &str = "/api/v1/environments/{api_key}/identities/";
const IDENTITY: &str = "/api/v1/environments/{api_key}/identities/{id}/";
const TRAITS: &str = "/api/v1/environments/{api_key}/identities/{id}/traits/";
const TRAIT: &str = "/api/v1/environments/{api_key}/identities/{id}/traits/{trait_id}/";
const OVERRIDES: &str = "/api/v1/environments/{api_key}/identities/{id}/featurestates/";
const OVERRIDE: &str = "/api/v1/environments/{api_key}/identities/{id}/featurestates/{state_id}/";

pub(super) fn routes(routes: Routes) -> Routes {
    let identities = Resource::<Identity, Input>::new("identity");
    let traits = Resource::<Trait, TraitInput>::new("trait");
    let overrides = Resource::<FeatureState, StateInput>::new("identity override");
    routes
        .collection::<Identity, _, _>(IDENTITIES, &identities)
        .post(IDENTITIES, identities.create(), create)
        .get(IDENTITY, identities.read(), item::read::<Identity>)
        .delete(IDENTITY, identities.delete(), item::delete::<Identity>)
        .collection::<TraitRow, _, _>(TRAITS, &traits)
        .post(TRAITS, traits.create(), create_trait)
        .get(TRAIT, traits.read(), read_trait)
        .put_and_patch::<TraitRow, _, _, _>(TRAIT, &traits)
        .delete(TRAIT, traits.delete(), delete_trait)
        .get(OVERRIDES, overrides.list::<Unfiltered>(), list_overrides)
        .post(OVERRIDES, overrides.create(), create_override)
        .get(OVERRIDE, overrides.read(), read_override)
        .put_and_patch::<Override, _, _, _>(OVERRIDE, &overrides)
        .delete(OVERRIDE, overrides.delete(), delete_override)
}

// ---- identities -------------------------------------------------------------

/// An identity, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct Identity {
    id: i64,
    identifier: String,
    identity_uuid: String,
    #[serde(rename = "environment")]
    environment_id: i64,
    #[serde(serialize_with = "iso_time")]
    created_date: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, identifier, identity_uuid::text AS identity_uuid, environment_id, created_date";

impl Item for Identity {
    type Ids = (String, i64);
    const TABLE: &'static str = "identities";

    async fn find(at: Lookup<'_>, (api_key, id): &(String, i64)) -> ApiResult<Found<Identity>> {
        at.in_environment(api_key, (COLUMNS, Self::TABLE), *id)
            .await
    }
}

/// The environment of identity `id` under `api_key`, or 404: what the
/// identity's traits and overrides check before anything else.
async fn environment_of(
    db: &mut PgConnection,
    admin: &Admin,
    api_key: &str,
    id: i64,
) -> ApiResult<EnvironmentRef> {
    let environment = environment_ref(&mut *db, admin, api_key).await?;
    let _: Identity = row_by_id(
        db,
        (COLUMNS, Identity::TABLE),
        id,
        Some(("environment_id", environment.id)),
        Lock::Read,
    )
    .await?;
    Ok(environment)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Filter {
    /// Only identifiers that start with this.
    q: Option<String>,
}

impl Listed for Identity {
    type Parent = String;
    type Filter = Filter;
    type Answer = Identity;

    async fn listing(
        db: &PgPool,
        admin: &Admin,
        key: String,
        filter: Filter,
    ) -> ApiResult<Listing> {
        let starting = "AND ($2::text IS NULL OR starts_with(identifier, $2))";
        let at = (COLUMNS, "identities");
        let listing = Listing::in_environment(db, admin, &key, at, starting).await?;
        Ok(listing.bind(filter.q))
    }
}

/// What create reads.
#[derive(Deserialize, ToSchema)]
#[schema(as = IdentityInput)]
struct Input {
    identifier: Option<String>,
}

async fn create(
    Caller { state, admin }: Caller,
    Ids(api_key): Ids<String>,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Identity>)> {
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
    let row: Identity = sqlx::query_as(&format!(
        "INSERT INTO identities (environment_id, identifier) VALUES ($1, $2) RETURNING {COLUMNS}"
    ))
    .bind(environment.id)
    .bind(input.identifier)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

// ---- traits -----------------------------------------------------------------

/// A trait as stored.
#[derive(sqlx::FromRow)]
struct TraitRow {
    id: i64,
    trait_key: String,
    trait_value: Value,
    created_date: DateTime<Utc>,
}

const TRAIT_COLUMNS: &str = "id, trait_key, trait_value, created_date";

/// A trait as answered: the row and the type of its value.
#[derive(Serialize, ToSchema)]
struct Trait {
    id: i64,
    trait_key: String,
    #[schema(value_type = TraitValue)]
    trait_value: Value,
    /// unicode, int, float or bool.
    value_type: &'static str,
    #[serde(serialize_with = "iso_time")]
    created_date: DateTime<Utc>,
}

impl From<TraitRow> for Trait {
    fn from(row: TraitRow) -> Trait {
        let value_type = match &row.trait_value {
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            _ => "unicode",
        };
        Trait {
            id: row.id,
            trait_key: row.trait_key,
            trait_value: row.trait_value,
            value_type,
            created_date: row.created_date,
        }
    }
}

/// What create and update read.
#[derive(Deserialize, ToSchema)]
struct TraitInput {
    trait_key: Option<String>,
    #[schema(value_type = Option<TraitValue>)]
    trait_value: Option<Value>,
}

impl Listed for TraitRow {
    type Parent = (String, i64);
    type Filter = Unfiltered;
    type Answer = Trait;

    async fn listing(
        db: &PgPool,
        admin: &Admin,
        (key, id): (String, i64),
        _: Unfiltered,
    ) -> ApiResult<Listing> {
        environment_of(&mut *db.acquire().await?, admin, &key, id).await?;
        Ok(Listing::new(TRAIT_COLUMNS, "traits WHERE identity_id = $1").bind(id))
    }
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
    Caller { state, admin }: Caller,
    Ids((api_key, id)): Ids<(String, i64)>,
    Body(input): Body<TraitInput>,
) -> ApiResult<(StatusCode, Json<Trait>)> {
    environment_of(&mut *state.db.acquire().await?, &admin, &api_key, id).await?;
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
    Ok((StatusCode::CREATED, Json(Trait::from(row))))
}

async fn fetch_trait(
    db: &mut PgConnection,
    admin: &Admin,
    (api_key, id, trait_id): &(String, i64, i64),
    lock: Lock,
) -> ApiResult<TraitRow> {
    environment_of(&mut *db, admin, api_key, *id).await?;
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
    Caller { state, admin }: Caller,
    Ids(ids): Ids<(String, i64, i64)>,
) -> ApiResult<Json<Trait>> {
    Ok(Json(Trait::from(
        fetch_trait(&mut *state.db.acquire().await?, &admin, &ids, Lock::Read).await?,
    )))
}

impl Item for TraitRow {
    type Ids = (String, i64, i64);
    const TABLE: &'static str = "traits";

    async fn find(at: Lookup<'_>, ids: &(String, i64, i64)) -> ApiResult<Found<TraitRow>> {
        let row = fetch_trait(at.db, at.admin, ids, at.lock).await?;
        // Traits are in no document: deleting one bumps nothing.
        Ok(Found::new(row, ids.2, Scope::Deleted))
    }
}

impl Update<TraitInput, Trait> for TraitRow {
    async fn apply(change: Change<'_, TraitRow, TraitInput>) -> ApiResult<Trait> {
        let (input, current) = (change.input, change.current);
        let value = check_trait(&input, change.full)?;
        let row: TraitRow = sqlx::query_as(&format!(
            "UPDATE traits SET trait_key = COALESCE($2, trait_key), trait_value = $3 \
             WHERE id = $1 RETURNING {TRAIT_COLUMNS}"
        ))
        .bind(current.id)
        .bind(input.trait_key)
        .bind(value.unwrap_or(current.trait_value))
        .fetch_one(&mut **change.tx)
        .await?;
        Ok(Trait::from(row))
    }
}

async fn delete_trait(
    Caller { state, admin }: Caller,
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
    Caller { state, admin }: Caller,
    Ids((api_key, id)): Ids<(String, i64)>,
    request: PageRequest,
) -> ApiResult<Json<Paged<FeatureState>>> {
    environment_of(&mut *state.db.acquire().await?, &admin, &api_key, id).await?;
    let page = request.page()?;
    let (count, rows) = Listing::new(STATE_COLUMNS, "feature_states WHERE identity_id = $1")
        .bind(id)
        .rows::<StateRow>(&state.db, page)
        .await?;
    let results = feature_states::answers(&state.db, rows).await?;
    request.respond(page, count, results)
}

async fn create_override(
    Caller { state, admin }: Caller,
    Ids((api_key, id)): Ids<(String, i64)>,
    Body(input): Body<StateInput>,
) -> ApiResult<(StatusCode, Json<FeatureState>)> {
    let environment = environment_of(&mut *state.db.acquire().await?, &admin, &api_key, id).await?;
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
        Json(feature_states::answer(&state.db, row).await?),
    ))
}

async fn fetch_override(
    db: &mut PgConnection,
    admin: &Admin,
    (api_key, id, state_id): &(String, i64, i64),
    lock: Lock,
) -> ApiResult<(EnvironmentRef, StateRow)> {
    let environment = environment_of(&mut *db, admin, api_key, *id).await?;
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
    Caller { state, admin }: Caller,
    Ids(ids): Ids<(String, i64, i64)>,
) -> ApiResult<Json<FeatureState>> {
    let (_, row) =
        fetch_override(&mut *state.db.acquire().await?, &admin, &ids, Lock::Read).await?;
    Ok(Json(feature_states::answer(&state.db, row).await?))
}

/// An identity override: a state found under its identity.
struct Override(StateRow);

impl Item for Override {
    type Ids = (String, i64, i64);
    const TABLE: &'static str = "feature_states";

    async fn find(at: Lookup<'_>, ids: &(String, i64, i64)) -> ApiResult<Found<Override>> {
        let (environment, row) = fetch_override(at.db, at.admin, ids, at.lock).await?;
        Ok(Found::new(
            Override(row),
            ids.2,
            Scope::Environment(environment.id),
        ))
    }
}

impl Update<StateInput, FeatureState> for Override {
    async fn apply(change: Change<'_, Override, StateInput>) -> ApiResult<FeatureState> {
        let current = &change.current.0;
        feature_states::rewrite(change.tx, current, &change.input, change.full, change.scope).await
    }
}

async fn delete_override(
    Caller { state, admin }: Caller,
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
