//! `GET /api/v1/environment-document/`: the document for Flagsmith SDKs in
//! local-evaluation mode and for edges, by server-side key
//! (`X-Environment-Key: ser.…`, active and unexpired). A client key is 403, as
//! in Flagsmith; so is an unknown key.
//!
//! Conditional requests: `ETag: "<revision>"` with `If-None-Match`, and
//! `Last-Modified` with `If-Modified-Since` (second precision, as HTTP dates
//! are): either matching gives 304. Built documents are cached per
//! environment and reused while the revision stands.
//!
//! Pages (SPEC §8.1): a document with more identity overrides than
//! `--document-page-size` is served in pages. Page one carries the first
//! overrides and `Link: </api/v1/environment-document/?page_id=identity_override:<env id>:<cursor>>;
//! rel="next"`; each page repeats the environment with the next overrides; the
//! last has no `Link`. The cursor is the hex-encoded identifier of the last
//! override on the previous page (overrides are in identifier order), so it
//! stays meaningful across revisions: a page is cut from whatever revision is
//! current, and no identity is served twice. Conditional requests apply to page
//! one only; later pages are always served in full and carry no `ETag`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use flagedge_engine::KeyKind;
use flagedge_engine::timestamp::Timestamp;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::doc::{Doc, Security};
use super::routes::Routes;
use crate::document::{self, BuiltDocument};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::keys::USABLE_SERVER_KEY;
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    let next = "`</api/v1/environment-document/?page_id=identity_override:<environment id>:<cursor>>; rel=\"next\"` while more identity overrides follow (absent on the last page).";
    let page = json!({
        "description": "The document, or one page of it: the whole environment with a slice of its identity overrides",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnvironmentDocument"}}},
        "headers": {"Link": {"description": next, "schema": {"type": "string"}}},
    });
    let doc = Doc::new("The environment document (server-side key)")
        .security(Security::EnvironmentKey)
        .header("If-None-Match", false, "An ETag of page one")
        .header("If-Modified-Since", false, "An HTTP date")
        .query::<DocumentQuery>()
        .answers::<EnvironmentDocument>(200, "The document")
        .respond(200, page)
        .empty(304, "Not modified (page one only)")
        .fails(400, "Malformed page_id or query")
        .fails(403, "Not a valid server-side key")
        .fails(404, "A page_id of another environment");
    routes.get(PATH, doc, environment_document)
}

/// Flagsmith's environment document, built as bytes (documents are cached
/// and served as they are, never through a Rust struct): described here by
/// its top-level fields only.
struct EnvironmentDocument;

impl utoipa::PartialSchema for EnvironmentDocument {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let object = || ObjectBuilder::new().schema_type(Type::Object);
        let objects = || ArrayBuilder::new().items(object());
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("Flagsmith's environment document (api_key, project, feature_states, identity_overrides, …) plus revision and updated_at."))
            .property("api_key", ObjectBuilder::new().schema_type(Type::String))
            .property("revision", ObjectBuilder::new().schema_type(Type::Integer))
            .property("updated_at", ObjectBuilder::new().schema_type(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime))))
            .property("project", object())
            .property("feature_states", objects())
            .property("identity_overrides", objects())
            .into()
    }
}

impl utoipa::ToSchema for EnvironmentDocument {}

/// Flagsmith's header carrying `updated_at` as epoch seconds.
pub const UPDATED_AT_HEADER: &str = "x-flagsmith-document-updated-at";

/// The path pages link to.
pub const PATH: &str = "/api/v1/environment-document/";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DocumentQuery {
    /// A later page of a document with many identity overrides: the value
    /// from the previous page's `Link` header.
    #[param(pattern = "^identity_override:-?[0-9]+:([0-9a-f]{2})+$")]
    page_id: Option<String>,
}

/// A page cursor: `identity_override:<environment id>:<hex of the last identifier served>`.
#[derive(Debug, PartialEq, Eq)]
pub struct PageId {
    /// The environment the page belongs to.
    pub environment: i64,
    /// Serve the overrides whose identifiers sort after this one.
    pub after: String,
}

const PAGE_ID_PREFIX: &str = "identity_override:";

impl PageId {
    /// Reads a `page_id`; `None` when it is not one this server wrote.
    pub fn parse(text: &str) -> Option<PageId> {
        let (environment, cursor) = text.strip_prefix(PAGE_ID_PREFIX)?.split_once(':')?;
        let environment = environment.parse().ok()?;
        if cursor.is_empty() || cursor.len() % 2 != 0 {
            return None;
        }
        let bytes = (0..cursor.len())
            .step_by(2)
            .map(|i| {
                cursor
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()?;
        Some(PageId {
            environment,
            after: String::from_utf8(bytes).ok()?,
        })
    }

    /// The `page_id` text.
    pub fn format(environment: i64, after: &str) -> String {
        let mut text = format!("{PAGE_ID_PREFIX}{environment}:");
        for byte in after.bytes() {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }
}

async fn environment_document(
    State(state): State<AppState>,
    query: Result<Query<DocumentQuery>, ApiError>,
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
    let found: Option<(i64, i64, DateTime<Utc>)> = sqlx::query_as(&format!(
        "SELECT e.id, e.revision, e.updated_at FROM server_keys k \
         JOIN environments e ON e.id = k.environment_id \
         WHERE k.key = $1 AND {USABLE_SERVER_KEY}"
    ))
    .bind(key)
    .fetch_optional(&state.db)
    .await?;
    let Some((id, revision, updated_at)) = found else {
        return Err(ApiError::Forbidden("Invalid or missing Environment Key"));
    };
    // Only now, so that a caller without a key learns nothing from its query.
    let Query(query) = query?;
    let page_size = state.document_page_size;
    let Some(page_id) = query.page_id else {
        return serve(&state, id, revision, updated_at, &headers, Some(page_size)).await;
    };
    let page = PageId::parse(&page_id).ok_or_else(|| {
        ApiError::field(
            "page_id",
            "Not a page id of this server (identity_override:<environment id>:<cursor>).",
        )
    })?;
    if page.environment != id {
        return Err(ApiError::NotFound);
    }
    let revision = u64::try_from(revision).unwrap_or(0);
    let built = cached_or_built(&state, id, revision).await?;
    let slice = built.page(Some(&page.after), page_size);
    let next = slice.next.map(|after| PageId::format(id, after));
    let mut response = json_response(slice.body);
    headers_of_page(&mut response, &built, false, next.as_deref());
    Ok(response)
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

fn validators(response: &mut Response, revision: u64, updated_at: Timestamp, etag: bool) {
    let headers = response.headers_mut();
    let pairs = [
        (header::LAST_MODIFIED.as_str(), updated_at.to_http_date()),
        (
            UPDATED_AT_HEADER,
            format!("{:.6}", updated_at.epoch_seconds_f64()),
        ),
        (header::CACHE_CONTROL.as_str(), "no-cache".to_string()),
    ];
    if etag && let Ok(value) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        headers.insert(header::ETAG, value);
    }
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

fn json_response(body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Validators (with an `ETag` on page one only) and the `Link` to the next page.
fn headers_of_page(
    response: &mut Response,
    built: &BuiltDocument,
    first: bool,
    next: Option<&str>,
) {
    validators(response, built.revision, built.updated_at, first);
    if let Some(page_id) = next
        && let Ok(link) =
            HeaderValue::from_str(&format!("<{PATH}?page_id={page_id}>; rel=\"next\""))
    {
        response.headers_mut().insert(header::LINK, link);
    }
}

/// Serves environment `id` (at `revision`, changed at `updated_at` as just
/// read), answering conditional requests: the whole document, as edges and
/// flagedge-sync read it.
pub async fn serve_document(
    state: &AppState,
    id: i64,
    revision: i64,
    updated_at: DateTime<Utc>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    serve(state, id, revision, updated_at, headers, None).await
}

/// Serves the document, or its first page when `page_size` is given (and not
/// 0) and the document has more identity overrides than that.
async fn serve(
    state: &AppState,
    id: i64,
    revision: i64,
    updated_at: DateTime<Utc>,
    headers: &HeaderMap,
    page_size: Option<usize>,
) -> ApiResult<Response> {
    let revision = u64::try_from(revision).unwrap_or(0);
    let updated_at = document::timestamp(updated_at);
    if not_modified(headers, revision, updated_at) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        validators(&mut response, revision, updated_at, true);
        return Ok(response);
    }
    let built = cached_or_built(state, id, revision).await?;
    let paged = page_size.filter(|&size| size > 0 && built.override_count() > size);
    let Some(size) = paged else {
        // The whole document, byte for byte as built.
        let mut response = json_response(built.body.clone());
        headers_of_page(&mut response, &built, true, None);
        return Ok(response);
    };
    let page = built.page(None, size);
    let next = page.next.map(|after| PageId::format(id, after));
    let mut response = json_response(page.body);
    headers_of_page(&mut response, &built, true, next.as_deref());
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

#[cfg(test)]
mod tests {
    use super::PageId;

    #[test]
    fn page_ids_round_trip_and_refuse_what_they_did_not_write() {
        for identifier in ["a", "user:42", "ünïcödé", "with space/and?query&x=1"] {
            let text = PageId::format(17, identifier);
            assert!(text.starts_with("identity_override:17:"), "{text}");
            assert!(text.bytes().all(|b| b.is_ascii_graphic()), "{text}");
            assert_eq!(
                PageId::parse(&text),
                Some(PageId {
                    environment: 17,
                    after: identifier.to_string()
                })
            );
        }
        for bad in [
            "",
            "identity_override:",
            "identity_override:17",
            "identity_override:17:",
            "identity_override:x:61",
            "identity_override:17:6",
            "identity_override:17:zz",
            "identity_override:17:ff",
            "segment:17:61",
            "identity_override:17:é1",
        ] {
            assert_eq!(PageId::parse(bad), None, "{bad:?}");
        }
    }
}
