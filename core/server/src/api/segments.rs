//! `/api/v1/projects/{project_id}/segments/`: segments with their nested rules
//! and conditions, written and read as Flagsmith's admin API does
//! (`{"type": "ALL", "rules": [...], "conditions": [{"operator", "property",
//! "value"}]}`). A write replaces the whole rule tree. Segments are in every
//! environment document of the project, so every write bumps them all.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::doc::Resource;
use super::format::{id_value, iso_time};
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing, Unfiltered};
use super::lookup::project_organisation;
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, nullable};
use crate::rules::{Condition, Rule};
use crate::validate;

resource_routes!(
    "/api/v1/projects/{project_id}/segments/",
    "/api/v1/projects/{project_id}/segments/{id}/",
    Resource::<Segment, Input>::new("segment"),
    Segment
);

fn modulo_ok(text: &str) -> bool {
    text.split_once('|').is_some_and(|(d, r)| {
        d.trim()
            .parse::<f64>()
            .is_ok_and(|d| d != 0.0 && d.is_finite())
            && r.trim().parse::<f64>().is_ok_and(f64::is_finite)
    })
}

fn check_condition(condition: &mut Condition) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let op = condition.operator.as_str();
    if !flagedge_engine::OPERATORS.contains(&op) {
        errors.add("operator", format!("\"{op}\" is not a valid choice."));
        return errors;
    }
    match &condition.property {
        Some(p) if !p.is_empty() => {
            validate::text(&mut errors, "property", p, validate::CONDITION_MAX, false)
        }
        _ if op == "PERCENTAGE_SPLIT" => {}
        _ => errors.add("property", "This field is required."),
    }
    // Numbers and booleans are written as their text; IN lists as JSON text.
    let text = match condition.value.take() {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(match v {
            Value::Bool(true) => "true".to_string(),
            Value::Bool(false) => "false".to_string(),
            other => other.to_string(),
        }),
        Some(v @ Value::Array(_)) if op == "IN" => Some(v.to_string()),
        Some(_) => {
            errors.add("value", "Must be a string.");
            None
        }
    };
    match (&text, op) {
        (_, "IS_SET" | "IS_NOT_SET") => {}
        (None, _) => errors.add("value", "This field is required."),
        (Some(t), _) if t.chars().count() > validate::CONDITION_MAX => errors.add(
            "value",
            format!(
                "Ensure this field has no more than {} characters.",
                validate::CONDITION_MAX
            ),
        ),
        (Some(t), "PERCENTAGE_SPLIT")
            if !t
                .trim()
                .parse::<f64>()
                .is_ok_and(|p| (0.0..=100.0).contains(&p)) =>
        {
            errors.add(
                "value",
                "A percentage split needs a number between 0 and 100.",
            );
        }
        (Some(t), "MODULO") if !modulo_ok(t) => {
            errors.add("value", "MODULO needs \"divisor|remainder\", e.g. \"2|0\".");
        }
        (Some(t), "REGEX") if !flagedge_engine::is_valid_regex(t) => {
            errors.add(
                "value",
                "Not a valid regular expression (Python syntax, at most 4096 characters).",
            );
        }
        _ => {}
    }
    if let Some(d) = &condition.description {
        validate::text(
            &mut errors,
            "description",
            d,
            validate::DESCRIPTION_MAX,
            true,
        );
    }
    condition.value = text.map(Value::String);
    errors
}

fn check_rules(rules: &mut [Rule], depth: usize, count: &mut usize) -> Option<Value> {
    let mut all = Vec::new();
    let mut any = false;
    for rule in rules.iter_mut() {
        let mut errors = FieldErrors::new();
        if !["ALL", "ANY", "NONE"].contains(&rule.kind.as_str()) {
            errors.add(
                "type",
                format!("\"{}\" is not a valid choice (ALL, ANY, NONE).", rule.kind),
            );
        }
        if depth >= validate::RULE_DEPTH_MAX && !rule.rules.is_empty() {
            errors.add(
                "rules",
                format!("Rules nest at most {} deep.", validate::RULE_DEPTH_MAX),
            );
        } else if let Some(nested) = check_rules(&mut rule.rules, depth + 1, count) {
            errors.add_nested("rules", nested);
        }
        let mut condition_errors = Vec::new();
        let mut bad = false;
        for condition in rule.conditions.iter_mut() {
            *count += 1;
            let e = check_condition(condition);
            bad |= !e.is_empty();
            condition_errors.push(e.into_value());
        }
        if bad {
            errors.add_nested("conditions", Value::Array(condition_errors));
        }
        any |= !errors.is_empty();
        all.push(errors.into_value());
    }
    any.then_some(Value::Array(all))
}

/// Checks and normalises a rule tree; the errors are shaped like the input.
pub fn check(errors: &mut FieldErrors, rules: &mut [Rule]) {
    let mut count = 0;
    if let Some(nested) = check_rules(rules, 1, &mut count) {
        errors.add_nested("rules", nested);
    }
    if count > validate::CONDITIONS_MAX {
        errors.add(
            "rules",
            format!(
                "A segment has at most {} conditions.",
                validate::CONDITIONS_MAX
            ),
        );
    }
}

/// One segment, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct Segment {
    id: i64,
    #[serde(rename = "project")]
    project_id: i64,
    name: String,
    description: Option<String>,
    #[schema(value_type = Vec<Rule>)]
    rules: Value,
    #[serde(serialize_with = "iso_time")]
    created_date: DateTime<Utc>,
}

const COLUMNS: &str = "id, project_id, name, description, rules, created_date";

impl Item for Segment {
    type Ids = (i64, i64);
    const TABLE: &'static str = "segments";

    async fn find(at: Lookup<'_>, &(project, id): &(i64, i64)) -> ApiResult<Found<Segment>> {
        at.in_project(project, (COLUMNS, Self::TABLE), id).await
    }
}

/// What create and update read; update keeps what is left out.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = SegmentInput)]
struct Input {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    rules: Option<Vec<Rule>>,
    #[schema(value_type = Option<i64>)]
    project: Option<Value>,
}

impl Listed for Segment {
    type Parent = i64;
    type Filter = Unfiltered;
    type Answer = Segment;

    async fn listing(
        db: &PgPool,
        admin: &Admin,
        project: i64,
        _: Unfiltered,
    ) -> ApiResult<Listing> {
        Listing::in_project(db, admin, project, (COLUMNS, "segments"), "").await
    }
}

fn checked(input: &mut Input, full: bool, project: i64) -> ApiResult<()> {
    let mut errors = FieldErrors::new();
    validate::resource_name(&mut errors, input.name.as_deref(), full);
    validate::description(&mut errors, input.description.clone().flatten().as_deref());
    if let Some(rules) = input.rules.as_mut() {
        check(&mut errors, rules);
    }
    if input
        .project
        .as_ref()
        .and_then(id_value)
        .is_some_and(|p| p != project)
    {
        errors.add("project", "A segment cannot move to another project.");
    }
    errors.check()
}

async fn create(
    Caller { state, admin }: Caller,
    Ids(project): Ids<i64>,
    Body(mut input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Segment>)> {
    project_organisation(&state.db, &admin, project).await?;
    checked(&mut input, true, project)?;
    let rules = serde_json::to_value(input.rules.unwrap_or_default())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let row: Segment = sqlx::query_as(&format!(
        "INSERT INTO segments (project_id, name, description, rules) VALUES ($1, $2, $3, $4) \
         RETURNING {COLUMNS}"
    ))
    .bind(project)
    .bind(input.name)
    .bind(input.description.flatten())
    .bind(rules)
    .fetch_one(&mut *tx)
    .await?;
    db::bump(&mut tx, Scope::Project(project)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

impl Update<Input> for Segment {
    async fn apply(mut change: Change<'_, Segment, Input>) -> ApiResult<Segment> {
        let (project, id) = change.ids;
        checked(&mut change.input, change.full, project)?;
        let (input, current, tx) = (change.input, change.current, change.tx);
        let rules = match input.rules {
            Some(rules) => {
                serde_json::to_value(rules).map_err(|e| ApiError::Internal(e.to_string()))?
            }
            None => current.rules,
        };
        let row: Segment = sqlx::query_as(&format!(
            "UPDATE segments SET name = COALESCE($2, name), description = $3, rules = $4 \
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(input.name)
        .bind(input.description.unwrap_or(current.description))
        .bind(rules)
        .fetch_one(&mut **tx)
        .await?;
        db::bump(tx, Scope::Project(project)).await?;
        Ok(row)
    }
}
