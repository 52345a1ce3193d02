//! The evaluations SDKs count themselves and report (SPEC §1.5), for SDKs
//! pointed at core and for edges that forward what their SDKs reported to
//! `{api_url}analytics/flags/`:
//!
//! - `POST /api/v1/analytics/flags/` — `{"<feature name>": <count>, …}` →
//!   200 with an empty body. Entries whose count is not a non-negative integer,
//!   or whose name is not a feature of the environment's project, are skipped,
//!   as Flagsmith skips them; a body that is not a JSON object is 400
//!   `{"non_field_errors": ["Expected a JSON object."]}`.
//! - `POST /api/v2/analytics/flags/` — `{"evaluations": [{"feature_name",
//!   "count", "identity_identifier", "enabled_when_evaluated"}]}` → 204.
//!   Malformed input is 400 naming the field (`evaluations[2].count`); unknown
//!   features are skipped. Core keeps counts per feature only, so the identity
//!   and the evaluated state are checked for type and not stored.
//!
//! Either kind of environment key authenticates ([`EnvironmentCaller`]); a
//! missing or unknown one is 403 before the body is read. Counts go into
//! `analytics_flag_evaluations` under the environment's client-side key, at the
//! buckets of the minute they arrive ([`crate::counts`]), where the read API
//! (`GET /api/v1/analytics/flags/`) finds them next to what flagedge-sync
//! wrote. Nothing is deduplicated: like Flagsmith, a report sent twice counts
//! twice.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::doc::{Doc, Security};
use super::routes::Routes;
use crate::auth::EnvironmentCaller;
use crate::counts::{self, Table, Tally};
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    let reported = |doc: Doc| {
        doc.security(Security::EnvironmentKey)
            .invalid()
            .fails(413, "Body too large")
            .fails(415, "Not JSON")
    };
    let v1 = Doc::new("Report flag evaluations per feature name (v1)")
        .body::<EvaluationCountsV1>()
        .empty(200, "Counted (an empty body)");
    let v2 = Doc::new("Report flag evaluations, one entry per feature and identity (v2)")
        .body::<EvaluationsV2>()
        .empty(204, "Counted");
    routes
        .post("/api/v1/analytics/flags/", reported(v1), flags_v1)
        .post("/api/v2/analytics/flags/", reported(v2), flags_v2)
}

/// v1's body: feature name → evaluations since the last report (read as a
/// JSON object, so entries that are not counts can be skipped one by one).
struct EvaluationCountsV1;

impl utoipa::PartialSchema for EvaluationCountsV1 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let count = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(0));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(count.into())))
            .description(Some("Feature name → evaluations since the last report. Entries whose count is not a non-negative integer, or whose name is not a feature of the environment's project, are skipped."))
            .into()
    }
}

impl utoipa::ToSchema for EvaluationCountsV1 {
    fn name() -> std::borrow::Cow<'static, str> {
        "SdkEvaluationCounts".into()
    }
}

/// v1: the counts that are non-negative integers; the rest are skipped.
async fn flags_v1(
    State(state): State<AppState>,
    caller: EnvironmentCaller,
    body: Result<Body<Map<String, Value>>, ApiError>,
) -> ApiResult<StatusCode> {
    let Body(entries) = body?;
    let counts = entries
        .iter()
        .filter_map(|(name, count)| Some((name.as_str(), count.as_i64().filter(|c| *c >= 0)?)));
    record(&state, &caller, counts).await?;
    Ok(StatusCode::OK)
}

/// v2's body.
#[derive(Deserialize, ToSchema)]
#[schema(as = SdkEvaluationsV2)]
struct EvaluationsV2 {
    evaluations: Vec<EvaluationV2>,
}

/// One v2 entry. Unknown fields are ignored, as DRF ignores them.
#[derive(Deserialize, ToSchema)]
#[schema(as = SdkEvaluationV2)]
struct EvaluationV2 {
    /// Not a feature of the environment's project: skipped.
    feature_name: String,
    #[schema(minimum = 0)]
    count: i64,
    /// Type-checked (a string or null) and not stored: core counts per feature.
    #[serde(default)]
    #[allow(dead_code)]
    identity_identifier: Option<String>,
    /// Type-checked (a boolean) and not stored.
    #[serde(default)]
    #[allow(dead_code)]
    enabled_when_evaluated: Option<bool>,
}

/// v2: every entry must be well formed, or nothing is counted.
async fn flags_v2(
    State(state): State<AppState>,
    caller: EnvironmentCaller,
    body: Result<Body<EvaluationsV2>, ApiError>,
) -> ApiResult<StatusCode> {
    let Body(body) = body?;
    if let Some(i) = body.evaluations.iter().position(|e| e.count < 0) {
        return Err(ApiError::field(
            &format!("evaluations[{i}].count"),
            "Ensure this value is greater than or equal to 0.",
        ));
    }
    let counts = body
        .evaluations
        .iter()
        .map(|e| (e.feature_name.as_str(), e.count));
    record(&state, &caller, counts).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds the counts of features of the caller's project (others are skipped)
/// to `analytics_flag_evaluations`.
async fn record<'a>(
    state: &AppState,
    caller: &EnvironmentCaller,
    counts: impl Iterator<Item = (&'a str, i64)> + Clone,
) -> ApiResult<()> {
    // Text PostgreSQL cannot hold (NUL) names no feature either.
    let wanted: Vec<&str> = counts
        .clone()
        .filter(|(name, count)| *count > 0 && !name.contains('\0'))
        .map(|(name, _)| name)
        .collect::<HashSet<&str>>()
        .into_iter()
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let known: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM features WHERE project_id = $1 AND name = ANY($2)")
            .bind(caller.project)
            .bind(&wanted)
            .fetch_all(&state.db)
            .await?;
    let known: HashSet<String> = known.into_iter().map(|(name,)| name).collect();
    let mut tally = Tally::new();
    for (name, count) in counts.filter(|(name, _)| known.contains(*name)) {
        tally.add(&caller.client_key, name, count);
    }
    counts::record(state, Table::FlagEvaluations, tally).await
}
