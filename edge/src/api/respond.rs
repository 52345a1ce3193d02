//! Building responses: the one response type, JSON bodies, and the headers
//! every evaluation response carries. A leaf below handlers, errors and
//! content negotiation.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use super::body::ResponseBody;
use crate::environment::ServedEnvironment;

/// The response type every handler returns.
pub type HttpResponse = Response<ResponseBody>;

/// A JSON response.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(ResponseBody::from(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

/// Flagsmith's header with the document's `updated_at` in epoch seconds.
pub static UPDATED_AT: header::HeaderName =
    header::HeaderName::from_static("x-flagsmith-document-updated-at");
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub const GZIP: HeaderValue = HeaderValue::from_static("gzip");
pub const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

/// `Age` values, prepared once (static bytes: cloning them costs nothing).
pub fn age_header(seconds: u64) -> HeaderValue {
    static AGES: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    let ages = AGES.get_or_init(|| {
        (0..=3600u64)
            .map(|n| HeaderValue::from_static(Box::leak(n.to_string().into_boxed_str())))
            .collect()
    });
    ages.get(seconds as usize)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(seconds))
}

/// A copy of a shared header value. Cloning would bump a reference count that
/// every core shares; a small copy stays in the requesting core's cache.
pub fn private_copy(value: &HeaderValue) -> HeaderValue {
    HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone())
}

/// Adds the headers every evaluation response carries: when the document
/// changed, and how long since its source confirmed it.
pub fn freshness_headers(headers: &mut HeaderMap, environment: &ServedEnvironment) {
    headers.insert(
        UPDATED_AT.clone(),
        private_copy(&environment.updated_at_header),
    );
    headers.insert(header::AGE, age_header(environment.age_seconds()));
}
