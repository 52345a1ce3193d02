//! Content negotiation: a body in the encoding the client accepts (gzip when
//! it does and it is worth it), and conditional requests against prepared bodies.

use bytes::Bytes;
use http::header;
use http::{Response, StatusCode};

use super::body::ResponseBody;
use super::call::Call;
use super::respond::{
    ACCEPT_ENCODING, GZIP, HttpResponse, JSON, freshness_headers, json, private_copy,
};
use crate::environment::{Body, ServedEnvironment};

/// A JSON response in the encoding the client accepts (gzip when worth it);
/// each form is made only if it is the one sent.
pub fn json_maybe_gzip(
    call: &Call,
    plain: impl FnOnce() -> Bytes,
    gzipped: impl FnOnce() -> Option<Bytes>,
) -> HttpResponse {
    match call.accepts_gzip().then(gzipped).flatten() {
        Some(gzip) => {
            let mut response = json(StatusCode::OK, gzip);
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, GZIP);
            response.headers_mut().insert(header::VARY, ACCEPT_ENCODING);
            response
        }
        None => json(StatusCode::OK, plain()),
    }
}

/// A prepared body in the encoding the client accepts, with its validators.
pub fn prepared(call: &Call, environment: &ServedEnvironment, body: &Body) -> HttpResponse {
    let not_modified = call.etag_matches(&body.etag);
    let gzip = body
        .gzip
        .as_ref()
        .filter(|_| !not_modified && call.accepts_gzip());
    let mut response = match (not_modified, gzip) {
        (true, _) => Response::new(ResponseBody::empty()),
        (false, Some(gzip)) => Response::new(ResponseBody::from(gzip.clone())),
        (false, None) => Response::new(ResponseBody::from(body.plain())),
    };
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let headers = response.headers_mut();
    if !not_modified {
        headers.insert(header::CONTENT_TYPE, JSON);
    }
    headers.insert(header::ETAG, private_copy(&body.etag));
    freshness_headers(headers, environment);
    if body.gzip.is_some() {
        headers.insert(header::VARY, ACCEPT_ENCODING);
    }
    if gzip.is_some() {
        headers.insert(header::CONTENT_ENCODING, GZIP);
    }
    response
}
