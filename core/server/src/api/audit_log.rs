//! `GET /api/v1/audit-log/`: what admins changed, newest first. Rows are
//! written by a trigger on every audited table (migration 0003), so every
//! admin write is here whichever path made it; this module only reads.
//!
//! Filters: `organisation`, `project`, `environment` (an id or a client key;
//! with `shared=true` also the changes to what its project's environments
//! share: features, segments, options), `feature`, `resource` (`feature`,
//! `feature_state`, `segment`, …) and `action` (`created`, `updated`,
//! `deleted`). An admin key limited to an
//! organisation sees that organisation's entries only.

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::doc::{AnyObject, Doc};
use super::format::iso_time;
use super::list::Listing;
use super::page::{PageRequest, Paged};
use super::routes::Routes;
use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Query, from_text};
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    let doc = Doc::new("What admins changed, newest first")
        .answers_page::<Entry>()
        .query::<Filter>();
    routes.get("/api/v1/audit-log/", doc, list)
}

/// One entry of the audit log, as stored and as answered.
#[derive(sqlx::FromRow, Serialize, ToSchema, Debug, Clone)]
#[schema(as = AuditLogEntry)]
pub struct Entry {
    /// Its id (entries are numbered in the order they were written).
    pub id: i64,
    /// When.
    #[serde(rename = "created_date", serialize_with = "iso_time")]
    pub created_at: DateTime<Utc>,
    /// The admin key's name at the time.
    #[serde(rename = "author")]
    pub admin_key_name: String,
    /// The organisation, project, environment and feature it concerns, when known.
    #[serde(rename = "organisation")]
    pub organisation_id: Option<i64>,
    /// See `organisation`.
    #[serde(rename = "project")]
    pub project_id: Option<i64>,
    /// See `organisation`.
    #[serde(rename = "environment")]
    pub environment_id: Option<i64>,
    /// See `organisation`.
    #[serde(rename = "feature")]
    pub feature_id: Option<i64>,
    /// `feature`, `feature_state`, `segment`, …
    pub resource: String,
    /// The row's id.
    pub resource_id: Option<i64>,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    /// The row before (absent for `created`).
    #[schema(value_type = Option<AnyObject>)]
    pub before: Option<Value>,
    /// The row after (absent for `deleted`).
    #[schema(value_type = Option<AnyObject>)]
    pub after: Option<Value>,
    /// Entries written by one request share this.
    #[serde(rename = "transaction")]
    pub transaction_id: i64,
}

const COLUMNS: &str = "id, created_at, admin_key_name, organisation_id, project_id, \
    environment_id, feature_id, resource, resource_id, action, before, after, transaction_id";

/// What to list.
#[derive(Deserialize, Default, Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Entries of this organisation.
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    pub organisation: Option<i64>,
    /// Entries of this project.
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    pub project: Option<i64>,
    /// Entries of this environment: its id or its client key.
    pub environment: Option<String>,
    /// With `environment`: also the entries of its project that belong to no
    /// environment (features, segments, multivariate options).
    #[serde(default)]
    pub shared: Option<String>,
    /// Entries of this feature.
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    pub feature: Option<i64>,
    /// Entries about this kind of row.
    pub resource: Option<String>,
    /// Entries of this action.
    pub action: Option<String>,
}

/// The environment filter as an id: a number, or a client key looked up.
async fn environment_id(state: &AppState, text: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(id) = text.parse() {
        return Ok(Some(id));
    }
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM environments WHERE api_key = $1")
        .bind(text)
        .fetch_optional(&state.db)
        .await?;
    // An unknown key selects nothing rather than everything.
    Ok(Some(found.map_or(-1, |(id,)| id)))
}

/// The listing of `filter` as `admin` may see it, newest first.
pub async fn listing(state: &AppState, admin: &Admin, filter: &Filter) -> ApiResult<Listing> {
    if let Some(action) = &filter.action
        && !["created", "updated", "deleted"].contains(&action.as_str())
    {
        return Err(ApiError::field(
            "action",
            format!("\"{action}\" is not a valid choice (created, updated, deleted)."),
        ));
    }
    let shared = match filter.shared.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::field(
                "shared",
                format!("\"{other}\" is not true or false."),
            ));
        }
    };
    let environment = environment_id(state, filter.environment.as_deref()).await?;
    Ok(Listing::new(
        COLUMNS,
        "audit_log WHERE ($1::bigint IS NULL OR organisation_id = $1) \
         AND ($2::bigint IS NULL OR organisation_id = $2) \
         AND ($3::bigint IS NULL OR project_id = $3) \
         AND ($4::bigint IS NULL OR environment_id = $4 OR ($8 AND environment_id IS NULL \
              AND project_id = (SELECT project_id FROM environments WHERE id = $4))) \
         AND ($5::bigint IS NULL OR feature_id = $5) \
         AND ($6::text IS NULL OR resource = $6) \
         AND ($7::text IS NULL OR action = $7)",
    )
    .order_by("id DESC")
    .bind(admin.organisation)
    .bind(filter.organisation)
    .bind(filter.project)
    .bind(environment)
    .bind(filter.feature)
    .bind(filter.resource.clone())
    .bind(filter.action.clone())
    .bind(shared))
}

async fn list(
    Caller { state, admin }: Caller,
    request: PageRequest,
    Query(filter): Query<Filter>,
) -> ApiResult<Json<Paged<Entry>>> {
    listing(&state, &admin, &filter)
        .await?
        .respond(&state.db, &request)
        .await
}
