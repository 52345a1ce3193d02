//! The edge/sync API, for flagedge-sync and edges that read core directly
//! (`Authorization: Bearer <sync token>`, or an admin key):
//!
//! - `GET /api/v1/edge/changes?since=<revision>&timeout=<s>` long-polls until
//!   an environment's revision exceeds `since` (or the timeout, default 30 s,
//!   at most 60 s, passes) and lists the changed environments. The `revision`
//!   it returns is a safe cursor: revisions commit in order (see `db`), so no
//!   change numbered at or below it can still appear. Edges reading core
//!   directly hold it too, with a proxy key (`X-Proxy-Key`: its organisation)
//!   or a server-side key (`X-Environment-Key`: its environment); `since=0`
//!   answers at once with every environment in scope (a full check).
//! - `GET /api/v1/edge/environments` lists every environment with its revision
//!   and active server-side keys (the full reconcile).
//! - `GET /api/v1/edge/environments/{environment_key}/document` is the
//!   document, with the same validators and 304s as the SDK endpoint.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use flagedge_cloud::changes::{Changed, Listing};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;
use utoipa::IntoParams;

use super::doc::{Doc, Security};
use super::routes::Routes;
use super::sdk::serve_document;
use crate::auth::{FeedCaller, FeedScope, SyncCaller};
use crate::changes::FALLBACK_POLL;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Ids, Query, from_text};
use crate::keys::USABLE_SERVER_KEY;
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    let changes_doc = Doc::new("Long-poll for environments changed after a revision")
        .security(Security::ChangeFeed)
        .query::<ChangesQuery>()
        .answers::<Listing>(200, "Changed environments")
        .fails(400, "Malformed parameter");
    let environments_doc = Doc::new("Every environment with its revision and server-side keys")
        .security(Security::SyncOrAdmin)
        .answers::<Listing>(200, "Environments");
    let document_doc = Doc::new("An environment's document by client key")
        .security(Security::SyncOrAdmin)
        .respond(200, json!({"description": "The document (as `/api/v1/environment-document/` serves it)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnvironmentDocument"}}}}))
        .empty(304, "Not modified")
        .fails(404, "No such environment");
    routes
        .get("/api/v1/edge/changes", changes_doc, changes)
        .get("/api/v1/edge/environments", environments_doc, environments)
        .get(
            "/api/v1/edge/environments/{environment_key}/document",
            document_doc,
            document,
        )
}

/// Default long-poll.
pub const TIMEOUT_DEFAULT: u64 = 30;
/// Longest long-poll.
pub const TIMEOUT_MAX: u64 = 60;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ChangesQuery {
    /// Revision cursor (default 0).
    #[serde(default, deserialize_with = "from_text::opt_u64")]
    since: Option<u64>,
    /// Seconds to wait (default 30, at most 60).
    #[serde(default, deserialize_with = "from_text::opt_u64")]
    timeout: Option<u64>,
}

async fn changed_since(
    state: &AppState,
    scope: FeedScope,
    since: u64,
) -> ApiResult<(u64, Vec<Changed>)> {
    let (organisation, environment) = match scope {
        FeedScope::Everything => (None, None),
        FeedScope::Organisation(organisation) => (Some(organisation), None),
        FeedScope::Environment(environment) => (None, Some(environment)),
    };
    // Read the cursor first: everything at or below it is already committed.
    let revision = db::current_revision(&state.db).await?;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT e.api_key, e.revision FROM environments e JOIN projects p ON p.id = e.project_id \
         WHERE e.revision > $1 AND e.revision <= $2 \
         AND ($3::bigint IS NULL OR p.organisation_id = $3) \
         AND ($4::bigint IS NULL OR e.id = $4) ORDER BY e.revision",
    )
    .bind(i64::try_from(since).unwrap_or(i64::MAX))
    .bind(i64::try_from(revision).unwrap_or(i64::MAX))
    .bind(organisation)
    .bind(environment)
    .fetch_all(&state.db)
    .await?;
    let environments = rows
        .into_iter()
        .map(|(environment_key, revision)| Changed {
            environment_key,
            revision: u64::try_from(revision).unwrap_or_default(),
            server_keys: Vec::new(),
        })
        .collect();
    Ok((revision, environments))
}

async fn changes(
    State(state): State<AppState>,
    caller: FeedCaller,
    Query(query): Query<ChangesQuery>,
) -> ApiResult<Json<Listing>> {
    let since = query.since.unwrap_or(0);
    let timeout = query.timeout.unwrap_or(TIMEOUT_DEFAULT).min(TIMEOUT_MAX);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut signal = state.changes.clone();
    let mut shutdown = state.shutdown.clone();
    let question = match caller.scope {
        FeedScope::Everything => (None, None, since),
        FeedScope::Organisation(organisation) => (Some(organisation), None, since),
        FeedScope::Environment(environment) => (None, Some(environment), since),
    };
    loop {
        let announced = *signal.borrow_and_update();
        let answer = state
            .feed_answers
            .answer(
                question,
                announced,
                changed_since(&state, caller.scope, since),
            )
            .await?;
        let (revision, environments) = (answer.0, answer.1.clone());
        let now = Instant::now();
        if !environments.is_empty() || now >= deadline || *shutdown.borrow() {
            return Ok(Json(Listing {
                revision,
                environments,
                ..Listing::default()
            }));
        }
        let wake = deadline.min(now + FALLBACK_POLL);
        tokio::select! {
            _ = signal.changed() => {}
            _ = tokio::time::sleep_until(wake) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn environments(
    State(state): State<AppState>,
    caller: SyncCaller,
) -> ApiResult<Json<Listing>> {
    let revision = db::current_revision(&state.db).await?;
    let rows: Vec<(String, i64, Vec<String>)> = sqlx::query_as(&format!(
        "SELECT e.api_key, e.revision, COALESCE(array_agg(k.key ORDER BY k.id) \
           FILTER (WHERE k.key IS NOT NULL), '{{}}') \
         FROM environments e JOIN projects p ON p.id = e.project_id \
         LEFT JOIN server_keys k ON k.environment_id = e.id AND {USABLE_SERVER_KEY} \
         WHERE ($1::bigint IS NULL OR p.organisation_id = $1) \
         GROUP BY e.id ORDER BY e.id"
    ))
    .bind(caller.organisation)
    .fetch_all(&state.db)
    .await?;
    let environments = rows
        .into_iter()
        .map(|(environment_key, revision, server_keys)| Changed {
            environment_key,
            revision: u64::try_from(revision).unwrap_or_default(),
            server_keys,
        })
        .collect();
    Ok(Json(Listing {
        revision,
        environments,
        ..Listing::default()
    }))
}

async fn document(
    State(state): State<AppState>,
    caller: SyncCaller,
    Ids(environment_key): Ids<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let found: Option<(i64, i64, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT e.id, e.revision, e.updated_at, p.organisation_id FROM environments e \
         JOIN projects p ON p.id = e.project_id WHERE e.api_key = $1",
    )
    .bind(&environment_key)
    .fetch_optional(&state.db)
    .await?;
    let (id, revision, updated_at, organisation) = found.ok_or(ApiError::NotFound)?;
    if caller.organisation.is_some_and(|o| o != organisation) {
        return Err(ApiError::NotFound);
    }
    serve_document(&state, id, revision, updated_at, &headers).await
}
