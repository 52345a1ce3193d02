//! `GET /sse/environments/<client key>/stream`: realtime updates for an
//! environment, in the format Flagsmith's realtime service uses. Like that
//! service, it needs no key header: the path names the (client-side) key.

use http::{HeaderValue, Response, StatusCode, header};

use super::app::App;
use super::body::ResponseBody;
use super::call::Call;
use super::error::ApiError;
use super::respond::HttpResponse;
use crate::realtime::Refused;

/// Opens the stream.
pub fn stream(app: &App, call: &Call) -> Result<HttpResponse, ApiError> {
    let key = crate::route::sse_client_key(call.uri.path()).unwrap_or_default();
    let updated_at = {
        let snapshot = app.store.load();
        let environment = snapshot
            .environments
            .get(key)
            .ok_or_else(|| ApiError::not_found("No environment with this client-side key."))?;
        environment
            .compiled
            .meta()
            .updated_at
            .map_or(0.0, |t| t.epoch_seconds_f64())
    };
    let events = app
        .realtime
        .subscribe(key, updated_at, call.activity.clone())
        .map_err(|Refused::TooMany| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many realtime streams for this environment.",
            )
        })?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
        // Proxies such as nginx must not buffer the stream.
        .header("x-accel-buffering", HeaderValue::from_static("no"))
        .body(ResponseBody::Events(events))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use crate::route::sse_client_key as client_key;

    #[test]
    fn paths() {
        assert_eq!(client_key("/sse/environments/abc/stream"), Some("abc"));
        assert_eq!(client_key("/sse/environments/abc/stream/"), Some("abc"));
        assert_eq!(client_key("/sse/environments//stream"), None);
        assert_eq!(client_key("/sse/environments/a/b/stream"), None);
        assert_eq!(client_key("/sse/other"), None);
    }
}
