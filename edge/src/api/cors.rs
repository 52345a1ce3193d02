//! CORS for browser SDKs: allowed origins get the headers, and preflights are
//! answered here.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use super::app::App;
use super::body::ResponseBody;
use super::call::Call;
use super::respond::HttpResponse;
use crate::route::Route;

/// Headers browser SDKs send, allowed in CORS preflights.
const ALLOWED_HEADERS: &str = "X-Environment-Key, Content-Type, Authorization, X-API-Key, If-None-Match, \
    If-Modified-Since, Flagsmith-Application-Name, Flagsmith-Application-Version, Flagsmith-SDK-User-Agent, \
    Cache-Control";

fn origin_allowed(app: &App, origin: &HeaderValue) -> bool {
    let settings = app.settings.load();
    settings
        .allow_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed.as_bytes() == origin.as_bytes())
}

pub fn cors(app: &App, origin: &HeaderValue, headers: &mut HeaderMap) {
    if origin_allowed(app, origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag, Age, Last-Modified, X-Flagsmith-Document-Updated-At"),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// A preflight is always 204 (for an unknown path too: the request that
/// follows gets the 404). Built from typed header values, so no input can make
/// it fail to build.
pub fn preflight(app: &App, call: &Call, route: Route) -> HttpResponse {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Some(origin) = call
        .headers
        .get(header::ORIGIN)
        .filter(|o| origin_allowed(app, o))
    {
        let methods: Vec<&str> = route
            .methods()
            .iter()
            .map(Method::as_str)
            .chain(["OPTIONS"])
            .collect();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if let Ok(methods) = HeaderValue::from_str(&methods.join(", ")) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            call.headers
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or(HeaderValue::from_static(ALLOWED_HEADERS)),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}
