//! Feature states: a feature's on/off and value in one scope. This module
//! serves `/api/v1/environments/{api_key}/featurestates/` — environment
//! defaults (one per feature, made when the feature or environment is) and
//! segment overrides (created here against a feature segment) — and holds what
//! identity overrides share with them: the JSON shape, and updates including
//! `multivariate_feature_state_values`, which replace a state's allocations.

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use utoipa::{IntoParams, ToSchema};

use super::delete::delete_and_bump;
use super::doc::{FlagValue, Resource};
use super::format::iso_time;
use super::list::{Listed, Listing};
use super::lookup::{EnvironmentRef, Lock, environment_ref};
use super::routes::Routes;
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, from_text, nullable};
use crate::state::AppState;
use crate::validate;
use sqlx::PgConnection;

use super::item::{Found, Item, Lookup};
use super::update::{Change, Update};

resource_routes!(
    "/api/v1/environments/{api_key}/featurestates/",
    "/api/v1/environments/{api_key}/featurestates/{id}/",
    Resource::<FeatureState, StateInput>::new("feature state"),
    StateRow,
    read,
    delete
);

/// A feature state as stored.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct StateRow {
    /// Its id.
    pub id: i64,
    /// Its feature.
    pub feature_id: i64,
    /// Its environment.
    pub environment_id: i64,
    /// Set for segment overrides.
    pub feature_segment_id: Option<i64>,
    /// Set for identity overrides.
    pub identity_id: Option<i64>,
    /// On or off.
    pub enabled: bool,
    /// The value.
    pub feature_state_value: Value,
    /// Its UUID.
    pub featurestate_uuid: uuid::Uuid,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Columns of [`StateRow`].
pub const COLUMNS: &str = "id, feature_id, environment_id, feature_segment_id, identity_id, \
    enabled, feature_state_value, featurestate_uuid, updated_at";

/// One multivariate allocation of a state, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
pub struct MultivariateValue {
    id: i64,
    #[serde(skip)]
    feature_state_id: i64,
    /// The option.
    #[serde(rename = "multivariate_feature_option")]
    mv_option_id: i64,
    #[schema(minimum = 0, maximum = 100)]
    percentage_allocation: f64,
    mv_fs_value_uuid: String,
}

/// A feature state as answered: the row with its allocations.
#[derive(Serialize, ToSchema)]
pub struct FeatureState {
    id: i64,
    feature: i64,
    environment: i64,
    /// Set for segment overrides.
    feature_segment: Option<i64>,
    /// Set for identity overrides.
    identity: Option<i64>,
    enabled: bool,
    #[schema(value_type = FlagValue)]
    feature_state_value: Value,
    featurestate_uuid: String,
    #[serde(serialize_with = "iso_time")]
    updated_at: DateTime<Utc>,
    multivariate_feature_state_values: Vec<MultivariateValue>,
}

/// States as answered, with their allocations.
pub async fn answers(db: impl PgExecutor<'_>, rows: Vec<StateRow>) -> ApiResult<Vec<FeatureState>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let values: Vec<MultivariateValue> = sqlx::query_as(
        "SELECT id, feature_state_id, mv_option_id, percentage_allocation, \
         mv_fs_value_uuid::text AS mv_fs_value_uuid \
         FROM mv_feature_state_values WHERE feature_state_id = ANY($1) ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(db)
    .await?;
    let mut by_state: HashMap<i64, Vec<MultivariateValue>> = HashMap::new();
    for value in values {
        by_state
            .entry(value.feature_state_id)
            .or_default()
            .push(value);
    }
    Ok(rows
        .into_iter()
        .map(|r| FeatureState {
            multivariate_feature_state_values: by_state.remove(&r.id).unwrap_or_default(),
            ..r.into()
        })
        .collect())
}

/// The row alone, without its allocations ([`answers`] reads those).
impl From<StateRow> for FeatureState {
    fn from(r: StateRow) -> FeatureState {
        FeatureState {
            id: r.id,
            feature: r.feature_id,
            environment: r.environment_id,
            feature_segment: r.feature_segment_id,
            identity: r.identity_id,
            enabled: r.enabled,
            feature_state_value: r.feature_state_value,
            featurestate_uuid: r.featurestate_uuid.to_string(),
            updated_at: r.updated_at,
            multivariate_feature_state_values: Vec::new(),
        }
    }
}

/// One state as answered.
pub async fn answer(db: impl PgExecutor<'_>, row: StateRow) -> ApiResult<FeatureState> {
    answers(db, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound)
}

/// One multivariate allocation as written.
#[derive(Deserialize, Clone, ToSchema)]
#[schema(as = MultivariateValueInput)]
pub struct MvInput {
    multivariate_feature_option: i64,
    percentage_allocation: f64,
}

/// A feature state as written.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = FeatureStateInput)]
pub struct StateInput {
    /// The feature (required when creating).
    pub feature: Option<i64>,
    /// On or off.
    pub enabled: Option<bool>,
    /// The value; Flagsmith's typed form `{"type", "string_value", …}` is accepted too.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<FlagValue>)]
    pub feature_state_value: Option<Option<Value>>,
    /// For segment overrides: the feature segment.
    pub feature_segment: Option<i64>,
    /// Replaces the state's allocations when given.
    pub multivariate_feature_state_values: Option<Vec<MvInput>>,
}

/// The value given, normalised: a primitive, or Flagsmith's typed object.
pub fn input_value(errors: &mut FieldErrors, value: &Option<Value>) -> Value {
    match value {
        None => Value::Null,
        Some(Value::Object(typed)) => {
            let kind = typed.get("type").and_then(Value::as_str).unwrap_or("");
            let field = match kind {
                "unicode" => "string_value",
                "int" => "integer_value",
                "bool" => "boolean_value",
                _ => {
                    errors.add(
                        "feature_state_value",
                        "Must be a string, integer, boolean or null.",
                    );
                    return Value::Null;
                }
            };
            let inner = typed.get(field).cloned().unwrap_or(Value::Null);
            validate::feature_value(errors, "feature_state_value", &inner)
        }
        Some(v) => validate::feature_value(errors, "feature_state_value", v),
    }
}

/// Applies an update to a state (inside a write transaction): `enabled`,
/// `feature_state_value` and, when given, the allocations.
pub async fn apply(
    tx: &mut Transaction<'static, Postgres>,
    current: &StateRow,
    input: &StateInput,
    full: bool,
) -> ApiResult<StateRow> {
    let mut errors = FieldErrors::new();
    let value = match &input.feature_state_value {
        None if full => Value::Null,
        None => current.feature_state_value.clone(),
        Some(v) => input_value(&mut errors, v),
    };
    if full && input.enabled.is_none() {
        errors.add("enabled", "This field is required.");
    }
    if let Some(values) = &input.multivariate_feature_state_values {
        if current.identity_id.is_some() && !values.is_empty() {
            errors.add(
                "multivariate_feature_state_values",
                "Identity overrides have no multivariate allocations.",
            );
        }
        let mut seen = std::collections::HashSet::new();
        let mut total = 0.0;
        for v in values {
            validate::percentage(
                &mut errors,
                "multivariate_feature_state_values",
                v.percentage_allocation,
            );
            total += v.percentage_allocation;
            if !seen.insert(v.multivariate_feature_option) {
                errors.add(
                    "multivariate_feature_state_values",
                    "An option is allocated twice.",
                );
            }
        }
        if total > 100.0 + 1e-9 {
            errors.add(
                "multivariate_feature_state_values",
                "Invalid percentage allocation: allocations may add up to at most 100.",
            );
        }
    }
    errors.check()?;
    let row: StateRow = sqlx::query_as(&format!(
        "UPDATE feature_states SET enabled = $2, feature_state_value = $3, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(current.id)
    .bind(input.enabled.unwrap_or(current.enabled))
    .bind(value)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(values) = &input.multivariate_feature_state_values {
        let options: Vec<i64> = values
            .iter()
            .map(|v| v.multivariate_feature_option)
            .collect();
        let (known,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM mv_options WHERE feature_id = $1 AND id = ANY($2)",
        )
        .bind(current.feature_id)
        .bind(&options)
        .fetch_one(&mut **tx)
        .await?;
        if known != options.len() as i64 {
            return Err(ApiError::field(
                "multivariate_feature_state_values",
                "Every option must be one of this feature's multivariate options.",
            ));
        }
        // Keep the rows (and their UUIDs) of options that stay allocated.
        sqlx::query(
            "DELETE FROM mv_feature_state_values WHERE feature_state_id = $1 AND NOT (mv_option_id = ANY($2))",
        )
        .bind(current.id)
        .bind(&options)
        .execute(&mut **tx)
        .await?;
        let pcts: Vec<f64> = values.iter().map(|v| v.percentage_allocation).collect();
        sqlx::query(
            "INSERT INTO mv_feature_state_values (feature_state_id, mv_option_id, percentage_allocation) \
             SELECT $1, o, p FROM UNNEST($2::bigint[], $3::float8[]) AS u(o, p) \
             ON CONFLICT (feature_state_id, mv_option_id) DO UPDATE SET percentage_allocation = EXCLUDED.percentage_allocation",
        )
        .bind(current.id)
        .bind(&options)
        .bind(&pcts)
        .execute(&mut **tx)
        .await?;
    }
    Ok(row)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Only this feature's states.
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    feature: Option<i64>,
    /// Only this segment override's state.
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    feature_segment: Option<i64>,
    /// Flagsmith's `anyIdentity`: non-empty lists identity overrides instead.
    #[serde(default, rename = "anyIdentity")]
    any_identity: Option<String>,
}

impl Listed for StateRow {
    type Parent = String;
    type Filter = Filter;
    type Answer = FeatureState;

    async fn listing(
        db: &PgPool,
        admin: &Admin,
        key: String,
        filter: Filter,
    ) -> ApiResult<Listing> {
        let any_identity = (filter.any_identity.as_deref())
            .is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
        let condition = "AND (CASE WHEN $4 THEN identity_id IS NOT NULL ELSE identity_id IS NULL END) \
             AND ($2::bigint IS NULL OR feature_id = $2) \
             AND ($3::bigint IS NULL OR feature_segment_id = $3)";
        let at = (COLUMNS, "feature_states");
        let listing = Listing::in_environment(db, admin, &key, at, condition).await?;
        Ok(listing
            .bind(filter.feature)
            .bind(filter.feature_segment)
            .bind(any_identity))
    }

    async fn answers(db: &PgPool, rows: Vec<StateRow>) -> ApiResult<Vec<FeatureState>> {
        answers(db, rows).await
    }
}

async fn create(
    Caller { state, admin }: Caller,
    Ids(api_key): Ids<String>,
    Body(input): Body<StateInput>,
) -> ApiResult<(StatusCode, Json<FeatureState>)> {
    let environment = environment_ref(&state.db, &admin, &api_key).await?;
    let Some(feature_segment) = input.feature_segment else {
        return Err(ApiError::field(
            "feature_segment",
            "This field is required: environment defaults exist already; only segment overrides are created here.",
        ));
    };
    let link: Option<(i64,)> = sqlx::query_as(
        "SELECT feature_id FROM feature_segments WHERE id = $1 AND environment_id = $2",
    )
    .bind(feature_segment)
    .bind(environment.id)
    .fetch_optional(&state.db)
    .await?;
    let Some((feature,)) = link else {
        return Err(ApiError::field(
            "feature_segment",
            "Invalid pk - object does not exist.",
        ));
    };
    if input.feature.is_some_and(|f| f != feature) {
        return Err(ApiError::field(
            "feature",
            "Does not match the feature segment's feature.",
        ));
    }
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let created: StateRow = sqlx::query_as(&format!(
        "INSERT INTO feature_states (feature_id, environment_id, feature_segment_id) \
         VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(feature)
    .bind(environment.id)
    .bind(feature_segment)
    .fetch_one(&mut *tx)
    .await?;
    let row = apply(&mut tx, &created, &input, false).await?;
    db::bump(&mut tx, Scope::Environment(environment.id)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(answer(&state.db, row).await?)))
}

async fn fetch(
    db: &mut PgConnection,
    admin: &Admin,
    api_key: &str,
    id: i64,
    lock: Lock,
) -> ApiResult<(EnvironmentRef, StateRow)> {
    let environment = environment_ref(&mut *db, admin, api_key).await?;
    let row: Option<StateRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM feature_states WHERE id = $1 AND environment_id = $2 AND identity_id IS NULL{}", lock.clause()))
    .bind(id)
    .bind(environment.id)
    .fetch_optional(&mut *db)
    .await?;
    Ok((environment, row.ok_or(ApiError::NotFound)?))
}

/// A state for reading (no lock), on a connection of its own.
async fn fetch_to_read(
    state: &AppState,
    admin: &Admin,
    api_key: &str,
    id: i64,
) -> ApiResult<(EnvironmentRef, StateRow)> {
    fetch(
        &mut *state.db.acquire().await?,
        admin,
        api_key,
        id,
        Lock::Read,
    )
    .await
}

async fn read(
    Caller { state, admin }: Caller,
    Ids((api_key, id)): Ids<(String, i64)>,
) -> ApiResult<Json<FeatureState>> {
    let (_, row) = fetch_to_read(&state, &admin, &api_key, id).await?;
    Ok(Json(answer(&state.db, row).await?))
}

impl Item for StateRow {
    type Ids = (String, i64);
    const TABLE: &'static str = "feature_states";

    async fn find(at: Lookup<'_>, (api_key, id): &(String, i64)) -> ApiResult<Found<StateRow>> {
        let (environment, row) = fetch(at.db, at.admin, api_key, *id, at.lock).await?;
        Ok(Found::new(row, *id, Scope::Environment(environment.id)))
    }
}

impl Update<StateInput, FeatureState> for StateRow {
    async fn apply(change: Change<'_, StateRow, StateInput>) -> ApiResult<FeatureState> {
        rewrite(
            change.tx,
            &change.current,
            &change.input,
            change.full,
            change.scope,
        )
        .await
    }
}

/// A `PUT` or `PATCH` of a state in `scope` (an environment default, a
/// segment or an identity override), answered as it then is.
pub async fn rewrite(
    tx: &mut Transaction<'static, Postgres>,
    current: &StateRow,
    input: &StateInput,
    full: bool,
    scope: Scope,
) -> ApiResult<FeatureState> {
    if input.feature.is_some_and(|f| f != current.feature_id) {
        return Err(ApiError::field(
            "feature",
            "A feature state cannot change its feature.",
        ));
    }
    let row = apply(tx, current, input, full).await?;
    db::bump(tx, scope).await?;
    answer(&mut **tx, row).await
}

async fn delete(
    Caller { state, admin }: Caller,
    Ids((api_key, id)): Ids<(String, i64)>,
) -> ApiResult<StatusCode> {
    let (environment, current) = fetch_to_read(&state, &admin, &api_key, id).await?;
    if current.feature_segment_id.is_none() {
        return Err(ApiError::BadRequest(
            "An environment default cannot be deleted; delete the feature instead.".into(),
        ));
    }
    delete_and_bump(
        &state.db,
        &admin,
        "feature_states",
        id,
        Scope::Environment(environment.id),
    )
    .await
}
