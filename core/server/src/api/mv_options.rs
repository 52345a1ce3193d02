//! `/api/v1/projects/{project_id}/features/{feature_id}/mv-options/`: a
//! multivariate feature's options. An option's `default_percentage_allocation`
//! is what new environment-default states get; creating an option allocates it
//! in every environment default of the feature. Values are written in
//! Flagsmith's typed form (`type` + `string_value` / `integer_value` /
//! `boolean_value`) or simply as `value`.

use axum::Json;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use utoipa::ToSchema;

use super::doc::{FlagValue, Resource};
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing, Unfiltered};
use super::lookup::{Lock, project_organisation, row_by_id};
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, nullable};
use crate::validate;
use sqlx::PgConnection;

resource_routes!(
    "/api/v1/projects/{project_id}/features/{feature_id}/mv-options/",
    "/api/v1/projects/{project_id}/features/{feature_id}/mv-options/{id}/",
    Resource::<MultivariateOption, OptionInput>::new("multivariate option"),
    OptionRow,
    read,
    super::item::delete::<OptionRow>
);

/// An option as stored.
#[derive(sqlx::FromRow, Clone)]
pub struct OptionRow {
    /// Its id.
    pub id: i64,
    /// Its feature.
    pub feature_id: i64,
    /// Its value (string, integer or boolean).
    pub value: Value,
    /// Its variant key.
    pub key: Option<String>,
    /// Its default allocation.
    pub default_percentage_allocation: f64,
    /// Its UUID.
    pub uuid: uuid::Uuid,
}

/// Columns of [`OptionRow`].
pub const COLUMNS: &str = "id, feature_id, value, key, default_percentage_allocation, uuid";

impl Item for OptionRow {
    type Ids = (i64, i64, i64);
    const TABLE: &'static str = "mv_options";

    async fn find(
        at: Lookup<'_>,
        &(project, feature, id): &(i64, i64, i64),
    ) -> ApiResult<Found<OptionRow>> {
        feature_of_project(&mut *at.db, at.admin, project, feature).await?;
        let row = row_by_id(
            &mut *at.db,
            (COLUMNS, Self::TABLE),
            id,
            Some(("feature_id", feature)),
            at.lock,
        )
        .await?;
        Ok(Found::new(row, id, Scope::Project(project)))
    }
}

/// An option in Flagsmith's shape: the value once typed, once as it is.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct MultivariateOption {
    id: i64,
    uuid: String,
    feature: i64,
    /// Which of the three typed fields holds the value.
    #[serde(rename = "type")]
    #[schema(schema_with = value_types)]
    kind: &'static str,
    string_value: Option<String>,
    #[schema(value_type = Option<i64>)]
    integer_value: Option<serde_json::Number>,
    boolean_value: Option<bool>,
    #[schema(value_type = FlagValue)]
    value: Value,
    key: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    default_percentage_allocation: f64,
}

fn value_types() -> utoipa::openapi::schema::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["unicode", "int", "bool"]))
        .build()
}

impl From<OptionRow> for MultivariateOption {
    fn from(row: OptionRow) -> MultivariateOption {
        let (kind, string_value, integer_value, boolean_value) = match &row.value {
            Value::Bool(b) => ("bool", None, None, Some(*b)),
            Value::Number(n) => ("int", None, Some(n.clone()), None),
            other => ("unicode", other.as_str().map(str::to_string), None, None),
        };
        MultivariateOption {
            id: row.id,
            uuid: row.uuid.to_string(),
            feature: row.feature_id,
            kind,
            string_value,
            integer_value,
            boolean_value,
            value: row.value,
            key: row.key,
            default_percentage_allocation: row.default_percentage_allocation,
        }
    }
}

/// An option as written: `value`, or `type` and its typed field.
#[derive(Deserialize, Default, Clone, ToSchema)]
#[schema(as = MultivariateOptionInput)]
pub struct OptionInput {
    #[serde(rename = "type")]
    #[schema(schema_with = value_types)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    string_value: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    integer_value: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    boolean_value: Option<Option<bool>>,
    #[schema(value_type = Option<FlagValue>)]
    value: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    key: Option<Option<String>>,
    default_percentage_allocation: Option<f64>,
}

impl OptionInput {
    /// The value given, if any, checked.
    fn value(&self, errors: &mut FieldErrors) -> Option<Value> {
        if let Some(value) = &self.value {
            return match value {
                Value::String(_) | Value::Bool(_) => {
                    Some(validate::feature_value(errors, "value", value))
                }
                Value::Number(n) if n.is_i64() => Some(value.clone()),
                _ => {
                    errors.add("value", "Must be a string, integer or boolean.");
                    None
                }
            };
        }
        let typed = match self.kind.as_deref() {
            Some("unicode") => self.string_value.clone().flatten().map(Value::String),
            Some("int") => self.integer_value.flatten().map(Value::from),
            Some("bool") => self.boolean_value.flatten().map(Value::Bool),
            Some(_) => {
                errors.add("type", "Must be one of unicode, int, bool.");
                return None;
            }
            None => self
                .string_value
                .clone()
                .flatten()
                .map(Value::String)
                .or(self.integer_value.flatten().map(Value::from))
                .or(self.boolean_value.flatten().map(Value::Bool)),
        };
        if let Some(v) = &typed {
            validate::feature_value(errors, "string_value", v);
        }
        typed
    }

    /// Checks a new option: `(value, key, default allocation)`.
    pub fn for_create(&self, errors: &mut FieldErrors) -> (Value, Option<String>, f64) {
        let value = self.value(errors).unwrap_or_else(|| {
            errors.add(
                "value",
                "This field is required (or type with string_value, integer_value or boolean_value).",
            );
            Value::Null
        });
        let key = self.key.clone().flatten();
        if let Some(k) = &key {
            validate::text(errors, "key", k, validate::NAME_MAX, false);
        }
        let pct = self.default_percentage_allocation.unwrap_or(100.0);
        validate::percentage(errors, "default_percentage_allocation", pct);
        (value, key, pct)
    }
}

/// 400 unless every allocation list of the feature's states, and its options'
/// defaults, add up to at most 100.
pub async fn check_allocations(
    tx: &mut Transaction<'static, Postgres>,
    feature: i64,
) -> ApiResult<()> {
    let over: Option<(i64,)> = sqlx::query_as(
        "SELECT v.feature_state_id FROM mv_feature_state_values v \
         JOIN feature_states fs ON fs.id = v.feature_state_id WHERE fs.feature_id = $1 \
         GROUP BY v.feature_state_id HAVING sum(v.percentage_allocation) > 100 LIMIT 1",
    )
    .bind(feature)
    .fetch_optional(&mut **tx)
    .await?;
    let (defaults,): (Option<f64>,) = sqlx::query_as(
        "SELECT sum(default_percentage_allocation) FROM mv_options WHERE feature_id = $1",
    )
    .bind(feature)
    .fetch_one(&mut **tx)
    .await?;
    if over.is_some() || defaults.unwrap_or(0.0) > 100.0 + 1e-9 {
        return Err(ApiError::field(
            "default_percentage_allocation",
            "Invalid percentage allocation: allocations may add up to at most 100.",
        ));
    }
    Ok(())
}

/// Inserts an option and allocates it in every environment default of its feature.
pub async fn insert(
    tx: &mut Transaction<'static, Postgres>,
    feature: i64,
    (value, key, pct): (Value, Option<String>, f64),
) -> ApiResult<OptionRow> {
    let row: OptionRow = sqlx::query_as(&format!(
        "INSERT INTO mv_options (feature_id, value, key, default_percentage_allocation) \
         VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(feature)
    .bind(&value)
    .bind(key)
    .bind(pct)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("UPDATE features SET type = 'MULTIVARIATE' WHERE id = $1")
        .bind(feature)
        .execute(&mut **tx)
        .await?;
    db::seed_default_states(tx, None, Some(feature)).await?;
    Ok(row)
}

/// Options of the given features, in id order.
pub async fn of_features(db: impl PgExecutor<'_>, features: &[i64]) -> ApiResult<Vec<OptionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mv_options WHERE feature_id = ANY($1) ORDER BY id"
    ))
    .bind(features)
    .fetch_all(db)
    .await?)
}

async fn feature_of_project(
    db: &mut PgConnection,
    admin: &Admin,
    project: i64,
    feature: i64,
) -> ApiResult<()> {
    project_organisation(&mut *db, admin, project).await?;
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM features WHERE id = $1 AND project_id = $2")
            .bind(feature)
            .bind(project)
            .fetch_optional(&mut *db)
            .await?;
    found.map(|_| ()).ok_or(ApiError::NotFound)
}

impl Listed for OptionRow {
    type Parent = (i64, i64);
    type Filter = Unfiltered;
    type Answer = MultivariateOption;

    async fn listing(
        db: &PgPool,
        admin: &Admin,
        (project, feature): (i64, i64),
        _: Unfiltered,
    ) -> ApiResult<Listing> {
        feature_of_project(&mut *db.acquire().await?, admin, project, feature).await?;
        Ok(Listing::new(COLUMNS, "mv_options WHERE feature_id = $1").bind(feature))
    }
}

async fn create(
    Caller { state, admin }: Caller,
    Ids((project, feature)): Ids<(i64, i64)>,
    Body(input): Body<OptionInput>,
) -> ApiResult<(StatusCode, Json<MultivariateOption>)> {
    feature_of_project(&mut *state.db.acquire().await?, &admin, project, feature).await?;
    let mut errors = FieldErrors::new();
    let checked = input.for_create(&mut errors);
    errors.check()?;
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let row = insert(&mut tx, feature, checked).await?;
    check_allocations(&mut tx, feature).await?;
    db::bump(&mut tx, Scope::Project(project)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

async fn read(
    Caller { state, admin }: Caller,
    Ids(ids): Ids<(i64, i64, i64)>,
) -> ApiResult<Json<MultivariateOption>> {
    let mut db = state.db.acquire().await?;
    let found = OptionRow::find(Lookup::new(&mut db, &admin, Lock::Read), &ids).await?;
    Ok(Json(MultivariateOption::from(found.row)))
}

impl Update<OptionInput, MultivariateOption> for OptionRow {
    async fn apply(change: Change<'_, OptionRow, OptionInput>) -> ApiResult<MultivariateOption> {
        let (input, current, tx) = (change.input, change.current, change.tx);
        let mut errors = FieldErrors::new();
        let value = if change.full {
            Some(input.for_create(&mut errors).0)
        } else {
            input.value(&mut errors)
        };
        let key = input.key.clone().unwrap_or(current.key);
        if let Some(k) = &key {
            validate::text(&mut errors, "key", k, validate::NAME_MAX, false);
        }
        let pct = input
            .default_percentage_allocation
            .unwrap_or(current.default_percentage_allocation);
        validate::percentage(&mut errors, "default_percentage_allocation", pct);
        errors.check()?;
        let row: OptionRow = sqlx::query_as(&format!(
            "UPDATE mv_options SET value = $2, key = $3, \
             default_percentage_allocation = $4 WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(current.id)
        .bind(value.unwrap_or(current.value))
        .bind(key)
        .bind(pct)
        .fetch_one(&mut **tx)
        .await?;
        check_allocations(tx, current.feature_id).await?;
        db::bump(tx, Scope::Project(change.ids.0)).await?;
        Ok(row.into())
    }
}
