//! `GET /api/v1/environment-document/`: the document, for local-evaluation SDKs
//! and other edges. Server-side keys only; conditional on `If-None-Match` and
//! `If-Modified-Since`.

use flagedge_engine::{KeyKind, Timestamp};
use http::{StatusCode, header};

use super::app::App;
use super::call::Call;
use super::error::ApiError;
use super::negotiate::prepared;
use super::respond::HttpResponse;
use crate::counters::Resource;

/// The document as the source delivered it.
pub fn environment_document(app: &App, call: &Call) -> Result<HttpResponse, ApiError> {
    app.with_key(call, |environment, kind| {
        if kind != KeyKind::Server {
            return Err(ApiError::forbidden(
                "The environment document needs a server-side key (ser.…); this is a client-side key.",
            ));
        }
        environment.counters.api_call(Resource::EnvironmentDocument);
        let not_modified_since = call
            .headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(Timestamp::parse_http_date)
            .zip(environment.version.updated_at)
            // HTTP dates have whole seconds: compare at that precision.
            .is_some_and(|(since, updated)| updated.unix_seconds() <= since.unix_seconds());
        let mut response = prepared(call, environment, &environment.document);
        if let Some(last_modified) = &environment.last_modified {
            response.headers_mut().insert(header::LAST_MODIFIED, last_modified.clone());
        }
        if not_modified_since && !call.headers.contains_key(header::IF_NONE_MATCH) {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            *response.body_mut() = Default::default();
            response.headers_mut().remove(header::CONTENT_ENCODING);
            response.headers_mut().remove(header::CONTENT_TYPE);
        }
        Ok(response)
    })
}
