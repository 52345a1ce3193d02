//! Requests made from arbitrary bytes, for the fuzz target (`edge/fuzz`) and
//! the random-request test: every route and method, the demo environments'
//! keys or none or garbage, arbitrary queries, headers and bodies — and the one
//! property they check: the edge answers every one of them without panicking
//! and without a 5xx (a bad request is the caller's mistake, never a server error).
//!
//! The bytes are read as a little program: a method, a path, a key, a query,
//! some headers, then the body. Compiled only with the `fuzzing` feature.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;

use crate::api::{App, RequestBody};

/// The demo environments' keys: requests that get past authentication.
const KEYS: [&str; 4] = [
    "demo-shop-client-key",
    "ser.demo-shop-server-key",
    "n9fbf9h3v4fFgH3U3ngWhb",
    "ser.demo-sample-server-key",
];

/// Every path the edge answers, with `{}` where a key or flag name goes.
const PATHS: [&str; 18] = [
    "/api/v1/flags/",
    "/api/v1/identities/",
    "/api/v1/environment-document/",
    "/api/v1/analytics/flags/",
    "/api/v2/analytics/flags/",
    "/api/v1/traits/",
    "/api/v1/traits/bulk/",
    "/health",
    "/ready",
    "/proxy/health",
    "/proxy/health/liveness",
    "/proxy/health/readiness",
    "/metrics",
    "/api/v1/openapi.json",
    "/ofrep/v1/evaluate/flags",
    "/ofrep/v1/evaluate/flags/{}",
    "/sse/environments/{}/stream",
    "/{}",
];

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW",
];

/// Reads the input front to back; past its end every read is empty.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    /// A length byte, then that many bytes.
    fn chunk(&mut self) -> &'a [u8] {
        let length = usize::from(self.byte()).min(self.0.len());
        let (chunk, rest) = self.0.split_at(length);
        self.0 = rest;
        chunk
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.byte()) % from.len()]
    }
}

/// The request `data` describes.
pub fn request(data: &[u8]) -> Request<RequestBody> {
    let mut input = Reader(data);
    let method = Method::from_bytes(input.pick(&METHODS).as_bytes()).unwrap_or(Method::GET);
    let template = input.pick(&PATHS);
    let filler = match input.byte() % 3 {
        0 => input.pick(&KEYS).to_string(),
        1 => "max_cart_items".to_string(),
        _ => String::from_utf8_lossy(input.chunk()).into_owned(),
    };
    let filler: String =
        percent_encoding::utf8_percent_encode(&filler, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let path = template.replace("{}", &filler);
    let query = String::from_utf8_lossy(input.chunk()).into_owned();
    let target = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    let mut builder = Request::builder().method(method).uri(
        target
            .parse::<http::Uri>()
            .unwrap_or_else(|_| path.parse().unwrap_or_else(|_| http::Uri::from_static("/"))),
    );
    match input.byte() % 4 {
        0 => {}
        1 => builder = builder.header("x-environment-key", input.pick(&KEYS)),
        2 => {
            if let Ok(value) = HeaderValue::from_bytes(input.chunk()) {
                builder = builder.header("x-environment-key", value);
            }
        }
        _ => builder = builder.header("authorization", input.pick(&KEYS)),
    }
    for _ in 0..input.byte() % 6 {
        let name = input.pick(&[
            "content-type",
            "content-encoding",
            "accept",
            "accept-encoding",
            "if-none-match",
            "if-modified-since",
            "origin",
            "access-control-request-method",
            "access-control-request-headers",
            "content-length",
            "x-forwarded-for",
        ]);
        if let Ok(value) = HeaderValue::from_bytes(input.chunk()) {
            builder = builder.header(HeaderName::from_static(name), value);
        }
    }
    let body = Bytes::copy_from_slice(input.0);
    builder
        .body(RequestBody::Buffered(body))
        .unwrap_or_else(|_| Request::new(RequestBody::Buffered(Bytes::new())))
}

/// Answers `request` and reads the whole answer (a realtime stream: its first
/// event only); panics on a 5xx. Returns the status.
pub async fn answer(app: &'static App, request: Request<RequestBody>) -> StatusCode {
    let streaming = request.uri().path().starts_with("/sse/");
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let response = crate::api::handle(app, request, peer, None).await;
    let status = response.status();
    assert!(
        !status.is_server_error(),
        "a 5xx for a request: {status} {:?}",
        response.headers()
    );
    let mut body = response.into_body();
    if streaming {
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), body.frame()).await;
    } else {
        let _ = body.collect().await;
    }
    status
}
