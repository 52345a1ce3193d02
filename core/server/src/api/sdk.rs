//! `GET /api/v1/environment-document/`: the document for Flagsmith SDKs in
//! local-evaluation mode and for edges, by server-side key
//! (`X-Environment-Key: ser.…`, active and unexpired). A client key is 403, as
//! in Flagsmith; so is an unknown key.
//!
//! Conditional requests: `ETag: "<revision>"` with `If-None-Match`, and
//! `Last-Modified` with `If-Modified-Since` (second precision, as HTTP dates
//! are): either matching gives 304. Built documents are cached per
//! environment and reused while the revision stands.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use flagedge_engine::KeyKind;
use flagedge_engine::timestamp::Timestamp;

use super::Routes;
use crate::document::{self, BuiltDocument};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    routes.add(
        "/api/v1/environment-document/",
        &["GET"],
        get(environment_document),
    )
}

/// Flagsmith's header carrying `updated_at` as epoch seconds.
pub const UPDATED_AT_HEADER: &str = "x-flagsmith-document-updated-at";

async fn environment_document(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let key = headers
        .get("x-environment-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if KeyKind::of(key) != KeyKind::Server {
        return Err(ApiError::Forbidden(
            "The environment document needs a server-side key (ser.…).",
        ));
    }
    let found: Option<(i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT e.id, e.revision, e.updated_at FROM server_keys k \
         JOIN environments e ON e.id = k.environment_id \
         WHERE k.key = $1 AND k.active AND (k.expires_at IS NULL OR k.expires_at > now())",
    )
    .bind(key)
    .fetch_optional(&state.db)
    .await?;
    let Some((id, revision, updated_at)) = found else {
        return Err(ApiError::Forbidden("Invalid or missing Environment Key"));
    };
    serve_document(&state, id, revision, updated_at, &headers).await
}

fn not_modified(headers: &HeaderMap, revision: u64, updated_at: Timestamp) -> bool {
    if let Some(tags) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
        let ours = revision.to_string();
        return tags.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == ours
        });
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(Timestamp::parse_http_date)
        .is_some_and(|since| since.unix_seconds() >= updated_at.unix_seconds())
}

fn validators(response: &mut Response, revision: u64, updated_at: Timestamp) {
    let headers = response.headers_mut();
    let pairs = [
        (header::ETAG.as_str(), format!("\"{revision}\"")),
        (header::LAST_MODIFIED.as_str(), updated_at.to_http_date()),
        (
            UPDATED_AT_HEADER,
            format!("{:.6}", updated_at.epoch_seconds_f64()),
        ),
        (header::CACHE_CONTROL.as_str(), "no-cache".to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Serves environment `id` (at `revision`, changed at `updated_at` as just
/// read), answering conditional requests.
pub async fn serve_document(
    state: &AppState,
    id: i64,
    revision: i64,
    updated_at: DateTime<Utc>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let revision = u64::try_from(revision).unwrap_or(0);
    let updated_at = document::timestamp(updated_at);
    if not_modified(headers, revision, updated_at) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        validators(&mut response, revision, updated_at);
        return Ok(response);
    }
    let built = cached_or_built(state, id, revision).await?;
    let mut response = Response::new(Body::from(built.body.clone()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    validators(&mut response, built.revision, built.updated_at);
    Ok(response)
}

async fn cached_or_built(
    state: &AppState,
    id: i64,
    revision: u64,
) -> ApiResult<Arc<BuiltDocument>> {
    let cached = state
        .documents
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .filter(|d| d.revision >= revision)
        .cloned();
    if let Some(document) = cached {
        return Ok(document);
    }
    let built = document::build(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let built = Arc::new(built);
    let mut cache = state.documents.lock().unwrap_or_else(|p| p.into_inner());
    let keep = cache
        .get(&id)
        .is_none_or(|existing| existing.revision < built.revision);
    if keep {
        cache.insert(id, built.clone());
    }
    Ok(built)
}
