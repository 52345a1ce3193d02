//! `/api/v1/features/feature-segments/`: the link that makes a segment override
//! a feature in one environment, with a priority (lower is stronger; ties go
//! to the segment first in the project's order). The override's value lives
//! in a feature state created against the link
//! (`POST /api/v1/environments/{api_key}/featurestates/` with
//! `feature_segment`), as in Flagsmith. Deleting the link deletes that state.
//! `POST …/feature-segments/update-priorities/` reorders several at once, in
//! one transaction (Flagsmith's endpoint), so no edge ever sees half an order.

use axum::Json;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::doc::Doc;
use super::doc::Resource;
use super::item::{Found, Item, Lookup};
use super::list::{Listed, Listing};
use super::lookup::Lock;
use super::routes::Routes;
use super::update::{Change, Update};
use crate::auth::{Admin, Caller};
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, from_text};
use sqlx::{PgConnection, PgPool};

resource_routes!(
    fn resource_routes,
    "/api/v1/features/feature-segments/",
    "/api/v1/features/feature-segments/{id}/",
    Resource::<FeatureSegment, Input>::new("feature segment"),
    FeatureSegment
);

pub(super) fn routes(routes: Routes) -> Routes {
    let priorities = Doc::new("Set the priorities of several feature segments in one change")
        .body_list::<PriorityInput>(PRIORITIES_MAX)
        .answers_list::<FeatureSegment>("The feature segments, by priority")
        .fails(400, "Invalid input")
        .fails(404, "Not found");
    resource_routes(routes).post(PRIORITIES_PATH, priorities, update_priorities)
}

/// Where several priorities are set at once.
pub const PRIORITIES_PATH: &str = "/api/v1/features/feature-segments/update-priorities/";

/// One feature segment, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
struct FeatureSegment {
    id: i64,
    #[serde(rename = "feature")]
    feature_id: i64,
    #[serde(rename = "segment")]
    segment_id: i64,
    #[serde(rename = "environment")]
    environment_id: i64,
    priority: i32,
    /// For access checks only.
    #[serde(skip)]
    organisation_id: i64,
    segment_name: String,
}

const COLUMNS: &str = "fs.id, fs.feature_id, fs.segment_id, fs.environment_id, fs.priority, \
    p.organisation_id, s.name AS segment_name";

impl Item for FeatureSegment {
    type Ids = i64;
    const TABLE: &'static str = "feature_segments";

    async fn find(at: Lookup<'_>, &id: &i64) -> ApiResult<Found<FeatureSegment>> {
        let row: Option<FeatureSegment> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM {TABLES} WHERE fs.id = $1{}",
            at.lock.of("fs")
        ))
        .bind(id)
        .fetch_optional(&mut *at.db)
        .await?;
        let row = row.ok_or(ApiError::NotFound)?;
        at.admin.check(row.organisation_id)?;
        let scope = Scope::Environment(row.environment_id);
        Ok(Found::new(row, id, scope))
    }
}
/// A feature segment with the segment (its name) and the project (its
/// organisation, for access checks).
const TABLES: &str = "feature_segments fs \
    JOIN segments s ON s.id = fs.segment_id JOIN projects p ON p.id = s.project_id";

/// What create and update read; update keeps what is left out.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = FeatureSegmentInput)]
struct Input {
    feature: Option<i64>,
    segment: Option<i64>,
    environment: Option<i64>,
    priority: Option<i32>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Filter {
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    environment: Option<i64>,
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    feature: Option<i64>,
}

impl Listed for FeatureSegment {
    type Parent = ();
    type Filter = Filter;
    type Answer = FeatureSegment;

    async fn listing(_: &PgPool, admin: &Admin, _: (), filter: Filter) -> ApiResult<Listing> {
        let from = format!(
            "{TABLES} WHERE ($1::bigint IS NULL OR p.organisation_id = $1) \
             AND ($2::bigint IS NULL OR fs.environment_id = $2) \
             AND ($3::bigint IS NULL OR fs.feature_id = $3)"
        );
        Ok(Listing::new(COLUMNS, &from)
            .order_by("fs.priority, fs.id")
            .bind(admin.organisation)
            .bind(filter.environment)
            .bind(filter.feature))
    }
}

async fn create(
    Caller { state, admin }: Caller,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<FeatureSegment>)> {
    let mut errors = FieldErrors::new();
    for (field, value) in [
        ("feature", input.feature),
        ("segment", input.segment),
        ("environment", input.environment),
    ] {
        if value.is_none() {
            errors.add(field, "This field is required.");
        }
    }
    errors.check()?;
    // All three must exist, in one project the admin may see.
    let found: Option<(i64, i64)> = sqlx::query_as(
        "SELECT p.id, p.organisation_id FROM features f \
         JOIN segments s ON s.project_id = f.project_id \
         JOIN environments e ON e.project_id = f.project_id \
         JOIN projects p ON p.id = f.project_id \
         WHERE f.id = $1 AND s.id = $2 AND e.id = $3",
    )
    .bind(input.feature)
    .bind(input.segment)
    .bind(input.environment)
    .fetch_optional(&state.db)
    .await?;
    let Some((_, organisation)) = found.filter(|(_, o)| admin.may_see(*o)) else {
        return Err(ApiError::BadRequest(
            "feature, segment and environment must exist and belong to one project.".into(),
        ));
    };
    let _ = organisation;
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO feature_segments (feature_id, segment_id, environment_id, priority) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(input.feature)
    .bind(input.segment)
    .bind(input.environment)
    .bind(input.priority.unwrap_or(0))
    .fetch_one(&mut *tx)
    .await?;
    db::bump(
        &mut tx,
        Scope::Environment(input.environment.unwrap_or_default()),
    )
    .await?;
    let row = written(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// A feature segment as just written, in the writing transaction.
async fn written(tx: &mut PgConnection, id: i64) -> ApiResult<FeatureSegment> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM {TABLES} WHERE fs.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?,
    )
}

impl Update<Input> for FeatureSegment {
    async fn apply(change: Change<'_, FeatureSegment, Input>) -> ApiResult<FeatureSegment> {
        let (input, current, tx) = (change.input, change.current, change.tx);
        let mut errors = FieldErrors::new();
        if change.full && input.priority.is_none() {
            errors.add("priority", "This field is required.");
        }
        for (field, given, have) in [
            ("feature", input.feature, current.feature_id),
            ("segment", input.segment, current.segment_id),
            ("environment", input.environment, current.environment_id),
        ] {
            if given.is_some_and(|g| g != have) {
                errors.add(
                    field,
                    "Cannot be changed; delete and recreate the feature segment.",
                );
            }
        }
        errors.check()?;
        sqlx::query("UPDATE feature_segments SET priority = COALESCE($2, priority) WHERE id = $1")
            .bind(change.ids)
            .bind(input.priority)
            .execute(&mut **tx)
            .await?;
        db::bump(tx, Scope::Environment(current.environment_id)).await?;
        written(tx, change.ids).await
    }
}

/// One entry of an update-priorities request.
#[derive(Deserialize, ToSchema)]
struct PriorityInput {
    id: i64,
    priority: i32,
}

/// Most entries one update-priorities request may carry.
const PRIORITIES_MAX: usize = 1000;

async fn update_priorities(
    Caller { state, admin }: Caller,
    Body(input): Body<Vec<PriorityInput>>,
) -> ApiResult<Json<Vec<FeatureSegment>>> {
    if input.len() > PRIORITIES_MAX {
        return Err(ApiError::BadRequest(format!(
            "At most {PRIORITIES_MAX} feature segments at once."
        )));
    }
    let mut tx = db::begin_write(&state.db, &admin).await?;
    let mut environments = std::collections::BTreeSet::new();
    for item in &input {
        let current = FeatureSegment::find(Lookup::new(&mut tx, &admin, Lock::ForUpdate), &item.id)
            .await?
            .row;
        sqlx::query("UPDATE feature_segments SET priority = $2 WHERE id = $1")
            .bind(item.id)
            .bind(item.priority)
            .execute(&mut *tx)
            .await?;
        environments.insert(current.environment_id);
    }
    for environment in environments {
        db::bump(&mut tx, Scope::Environment(environment)).await?;
    }
    let ids: Vec<i64> = input.iter().map(|i| i.id).collect();
    let rows: Vec<FeatureSegment> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {TABLES} WHERE fs.id = ANY($1) ORDER BY fs.priority, fs.id"
    ))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows))
}
