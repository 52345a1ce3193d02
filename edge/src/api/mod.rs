//! The HTTP API: Flagsmith's SDK endpoints, health, metrics.
//!
//! A handler reads like: authenticate → look up → evaluate or copy → respond.
//! This module holds what every handler shares: routing (every path with and
//! without its trailing slash), key authentication, JSON errors in Flagsmith's
//! `{"detail": ...}` shape, body limits, CORS, compression negotiation and the
//! per-request metrics. One file per endpoint family sits beside it.

mod analytics;
pub mod body;
mod documents;
mod error;
mod flags;
mod health;
mod identities;
mod ofrep;
mod sse;
mod traits;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use flagedge_engine::KeyKind;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

pub use body::ResponseBody;
pub use error::ApiError;

use crate::config::Reloadable;
use crate::environment::{Body, ServedEnvironment};
use crate::identity_cache::IdentityCache;
use crate::identity_store::IdentityStore;
use crate::metrics::RequestMetrics;
use crate::snapshot::Store;

/// The response type every handler returns.
pub type HttpResponse = Response<ResponseBody>;

/// Limits applied per request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body.
    pub max_body_bytes: usize,
    /// Largest head.
    pub max_header_bytes: usize,
    /// Time to receive a request body.
    pub request_timeout: std::time::Duration,
    /// A connection that starts no request for this long is closed.
    pub idle_timeout: std::time::Duration,
}

/// Everything a request may need.
pub struct App {
    /// The documents.
    pub store: Arc<Store>,
    /// Settings that change at runtime.
    pub settings: ArcSwap<Reloadable>,
    /// Cached identity responses.
    pub identity_cache: Option<IdentityCache>,
    /// Stored identities (traits), when configured.
    pub identity_store: Option<Arc<dyn IdentityStore>>,
    /// Where SDK-reported evaluation counts are kept for forwarding to Flagsmith.
    pub reported: Option<Arc<crate::analytics::reported::Reported>>,
    /// Limits.
    pub limits: Limits,
    /// Request metrics.
    pub metrics: RequestMetrics,
    /// Renders `/metrics`.
    pub prometheus: metrics_exporter_prometheus::PrometheusHandle,
    /// Whether the initial load from the source has finished.
    pub initial_load_done: std::sync::atomic::AtomicBool,
    /// Realtime update streams.
    pub realtime: Arc<crate::realtime::Realtime>,
}

/// The endpoints, by normalised path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1/flags/`
    Flags,
    /// `/api/v1/identities/`
    Identities,
    /// `/api/v1/environment-document/`
    EnvironmentDocument,
    /// `/api/v1/analytics/flags/`
    AnalyticsV1,
    /// `/api/v2/analytics/flags/`
    AnalyticsV2,
    /// `/api/v1/traits/`
    Traits,
    /// `/api/v1/traits/bulk/`
    TraitsBulk,
    /// `/health`
    Health,
    /// `/ready`
    Ready,
    /// `/proxy/health` (edge-proxy)
    ProxyHealth,
    /// `/proxy/health/liveness` (edge-proxy)
    ProxyLiveness,
    /// `/proxy/health/readiness` (edge-proxy)
    ProxyReadiness,
    /// `/metrics`
    Metrics,
    /// `/sse/environments/<client key>/stream`
    Sse,
    /// `/ofrep/v1/evaluate/flags`
    OfrepBulk,
    /// `/ofrep/v1/evaluate/flags/<flag key>`
    OfrepFlag,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Every route, for metrics tables.
    pub const ALL: [Route; 17] = [
        Route::Flags,
        Route::Identities,
        Route::EnvironmentDocument,
        Route::AnalyticsV1,
        Route::AnalyticsV2,
        Route::Traits,
        Route::TraitsBulk,
        Route::Health,
        Route::Ready,
        Route::ProxyHealth,
        Route::ProxyLiveness,
        Route::ProxyReadiness,
        Route::Metrics,
        Route::Sse,
        Route::OfrepBulk,
        Route::OfrepFlag,
        Route::NotFound,
    ];

    /// Routes a path; a trailing slash is optional everywhere.
    pub fn of(path: &str) -> Route {
        let path = path.strip_suffix('/').unwrap_or(path);
        match path {
            "/api/v1/flags" => Route::Flags,
            "/api/v1/identities" => Route::Identities,
            "/api/v1/environment-document" => Route::EnvironmentDocument,
            "/api/v1/analytics/flags" => Route::AnalyticsV1,
            "/api/v2/analytics/flags" => Route::AnalyticsV2,
            "/api/v1/traits" => Route::Traits,
            "/api/v1/traits/bulk" => Route::TraitsBulk,
            "/health" => Route::Health,
            "/ready" => Route::Ready,
            "/proxy/health" => Route::ProxyHealth,
            "/proxy/health/liveness" => Route::ProxyLiveness,
            "/proxy/health/readiness" => Route::ProxyReadiness,
            "/metrics" => Route::Metrics,
            "/ofrep/v1/evaluate/flags" => Route::OfrepBulk,
            _ if sse::client_key(path).is_some() => Route::Sse,
            _ if ofrep::flag_key(path).is_some() => Route::OfrepFlag,
            _ => Route::NotFound,
        }
    }

    /// The metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Route::Flags => "flags",
            Route::Identities => "identities",
            Route::EnvironmentDocument => "environment-document",
            Route::AnalyticsV1 => "analytics-v1",
            Route::AnalyticsV2 => "analytics-v2",
            Route::Traits => "traits",
            Route::TraitsBulk => "traits-bulk",
            Route::Health => "health",
            Route::Ready => "ready",
            Route::ProxyHealth => "proxy-health",
            Route::ProxyLiveness => "proxy-liveness",
            Route::ProxyReadiness => "proxy-readiness",
            Route::Metrics => "metrics",
            Route::Sse => "sse",
            Route::OfrepBulk => "ofrep-bulk",
            Route::OfrepFlag => "ofrep-flag",
            Route::NotFound => "not-found",
        }
    }

    fn methods(self) -> &'static [Method] {
        const GET: &[Method] = &[Method::GET, Method::HEAD];
        const POST: &[Method] = &[Method::POST];
        const GET_POST: &[Method] = &[Method::GET, Method::HEAD, Method::POST];
        const PUT: &[Method] = &[Method::PUT];
        match self {
            Route::Identities => GET_POST,
            Route::AnalyticsV1
            | Route::AnalyticsV2
            | Route::Traits
            | Route::OfrepBulk
            | Route::OfrepFlag => POST,
            Route::TraitsBulk => PUT,
            _ => GET,
        }
    }
}

/// The request as handlers see it.
pub struct Call {
    /// Method.
    pub method: Method,
    /// Headers.
    pub headers: HeaderMap,
    /// The request target.
    pub uri: http::Uri,
    body: Option<Incoming>,
    limits: Limits,
    /// The connection's activity clock, for long-lived responses (SSE).
    pub activity: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl Call {
    /// A query parameter, percent-decoded (the first occurrence).
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.uri.query()?, name)
    }

    /// Reads the whole body within the size limit.
    pub async fn body(&mut self) -> Result<Bytes, ApiError> {
        let Some(body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let declared = self
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limits.max_body_bytes as u64) {
            return Err(ApiError::too_large(self.limits.max_body_bytes));
        }
        let mut read = std::pin::pin!(Limited::new(body, self.limits.max_body_bytes).collect());
        // Small bodies usually arrive with the head: try once before arming a timer.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(read.as_mut().poll(cx))).await;
        let collected = match first {
            std::task::Poll::Ready(collected) => collected,
            std::task::Poll::Pending => tokio::time::timeout(self.limits.request_timeout, read)
                .await
                .map_err(|_| ApiError::timeout())?,
        };
        match collected {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                Err(ApiError::too_large(self.limits.max_body_bytes))
            }
            Err(error) => Err(ApiError::bad_request(format!(
                "could not read the request body: {error}"
            ))),
        }
    }

    /// Reads a JSON body's bytes: refuses other content types and empty bodies.
    pub async fn json_body(&mut self) -> Result<Bytes, ApiError> {
        if let Some(content_type) = self.headers.get(header::CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim();
            let json = essence.eq_ignore_ascii_case("application/json")
                || essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case("+json");
            if !json {
                return Err(ApiError::unsupported_media_type(essence));
            }
        }
        let body = self.body().await?;
        if body.is_empty() {
            return Err(ApiError::bad_request(
                "the request body is empty; expected JSON",
            ));
        }
        Ok(body)
    }

    /// Reads and parses a JSON body; malformed JSON is a 400.
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let body = self.json_body().await?;
        parse_json(&body)
    }

    /// The environment key header, if present.
    pub fn environment_key(&self) -> Option<&str> {
        self.headers
            .get("x-environment-key")
            .and_then(|v| v.to_str().ok())
    }

    /// Whether the client accepts gzip.
    pub fn accepts_gzip(&self) -> bool {
        self.headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or_default().trim();
                let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
            })
    }

    /// Whether `If-None-Match` names this ETag (or `*`).
    pub fn etag_matches(&self, etag: &HeaderValue) -> bool {
        self.headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag.as_bytes() == etag.as_bytes())
    }
}

/// Parses JSON into `T`; syntax errors and shape errors are both 400s, worded apart.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = T::deserialize(&mut deserializer).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request(format!("malformed JSON: {e}"))
        } else {
            ApiError::bad_request(format!("invalid request: {e}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// The first value of a query parameter, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// Form decoding (`+` is a space), as query strings are encoded.
fn percent_decode(text: &str) -> String {
    percent_decode_path(&text.replace('+', " "))
}

/// Percent-decoding alone, as path segments are encoded (`+` is a plus).
pub fn percent_decode_path(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// An authenticated environment: the snapshot entry and the key's kind.
pub struct Authenticated {
    /// The environment.
    pub environment: Arc<ServedEnvironment>,
    /// Client or server key.
    pub kind: KeyKind,
}

impl App {
    /// Resolves `X-Environment-Key`; unknown and missing keys are 403, as in Flagsmith.
    pub fn authenticate(&self, call: &Call) -> Result<Authenticated, ApiError> {
        self.with_key(call, |environment, kind| {
            Ok(Authenticated {
                environment: Arc::clone(environment),
                kind,
            })
        })
    }

    /// Runs `f` with the environment a key opens, without taking a reference
    /// count (the snapshot guard is held for the call).
    pub fn with_key<R>(
        &self,
        call: &Call,
        f: impl FnOnce(&Arc<ServedEnvironment>, KeyKind) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let key = call.environment_key().ok_or_else(ApiError::missing_key)?;
        let snapshot = self.store.load();
        let (environment, kind) = snapshot.lookup(key).ok_or_else(ApiError::unknown_key)?;
        if environment.compiled.meta().stop_serving_flags {
            return Err(ApiError::forbidden(
                "Organisation is disabled from serving flags.",
            ));
        }
        f(environment, kind)
    }
}

/// A JSON response.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(ResponseBody::from(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

/// A JSON response in the encoding the client accepts (gzip when worth it).
pub fn json_maybe_gzip(
    call: &Call,
    body: Bytes,
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
        None => json(StatusCode::OK, body),
    }
}

/// Flagsmith's header with the document's `updated_at` in epoch seconds.
pub static UPDATED_AT: header::HeaderName =
    header::HeaderName::from_static("x-flagsmith-document-updated-at");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");
const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

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
fn private_copy(value: &HeaderValue) -> HeaderValue {
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

/// Answers one request.
pub async fn handle(
    app: &'static App,
    request: Request<Incoming>,
    _peer: SocketAddr,
    activity: Option<Arc<std::sync::atomic::AtomicU64>>,
) -> HttpResponse {
    let started = Instant::now();
    let route = Route::of(request.uri().path());
    let (parts, body) = request.into_parts();
    let origin = parts.headers.get(header::ORIGIN).cloned();
    let mut call = Call {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body: Some(body),
        limits: app.limits,
        activity,
    };
    // Handlers wait only on the request body (bounded in `Call::body`) and on the
    // identity store; the request head is bounded by the server's header-read
    // timeout. No per-request timer is needed on the hot GET paths.
    let mut response = if call.method == Method::OPTIONS {
        preflight(app, &call, route)
    } else {
        dispatch(app, route, &mut call)
            .await
            .unwrap_or_else(ApiError::into_response)
    };
    if call.method == Method::HEAD {
        *response.body_mut() = ResponseBody::empty();
    }
    if let Some(origin) = origin {
        cors(app, &origin, response.headers_mut());
    }
    app.metrics
        .record(route, response.status(), started.elapsed());
    response
}

async fn dispatch(app: &App, route: Route, call: &mut Call) -> Result<HttpResponse, ApiError> {
    if route == Route::NotFound {
        return Err(ApiError::not_found("Not found."));
    }
    if !route.methods().contains(&call.method) {
        return Err(ApiError::method_not_allowed(&call.method, route.methods()));
    }
    match route {
        Route::Flags => flags::environment_flags(app, call),
        Route::Identities if call.method == Method::POST => identities::identify(app, call).await,
        Route::Identities => identities::identity_flags(app, call).await,
        Route::EnvironmentDocument => documents::environment_document(app, call),
        Route::AnalyticsV1 => analytics::flags_v1(app, call).await,
        Route::AnalyticsV2 => analytics::flags_v2(app, call).await,
        Route::Traits => traits::set_trait(app, call).await,
        Route::TraitsBulk => traits::bulk(app, call).await,
        Route::Health => Ok(health::health()),
        Route::Ready => Ok(health::ready(app)),
        Route::ProxyHealth | Route::ProxyReadiness => Ok(health::proxy_readiness(app)),
        Route::ProxyLiveness => Ok(health::proxy_liveness()),
        Route::Metrics => Ok(health::metrics(app)),
        Route::Sse => sse::stream(app, call),
        Route::OfrepBulk => Ok(ofrep::evaluate(app, call, None).await),
        Route::OfrepFlag => {
            let key = ofrep::flag_key(call.uri.path()).unwrap_or_default();
            Ok(ofrep::evaluate(app, call, Some(key)).await)
        }
        Route::NotFound => Err(ApiError::not_found("Not found.")),
    }
}

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

fn cors(app: &App, origin: &HeaderValue, headers: &mut HeaderMap) {
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
fn preflight(app: &App, call: &Call, route: Route) -> HttpResponse {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_slash() {
        assert_eq!(Route::of("/api/v1/flags/"), Route::Flags);
        assert_eq!(Route::of("/api/v1/flags"), Route::Flags);
        assert_eq!(
            Route::of("/api/v1/environment-document"),
            Route::EnvironmentDocument
        );
        assert_eq!(Route::of("/api/v1/flags//"), Route::NotFound);
        assert_eq!(Route::of("/api/v1/flagsx/"), Route::NotFound);
    }

    #[test]
    fn query_parameters_decode() {
        assert_eq!(
            query_param("identifier=a%20b&x=1", "identifier").as_deref(),
            Some("a b")
        );
        assert_eq!(
            query_param("identifier=a+b", "identifier").as_deref(),
            Some("a b")
        );
        assert_eq!(
            query_param("feature=%E6%97%A5", "feature").as_deref(),
            Some("日")
        );
        assert_eq!(query_param("transient", "transient").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "b"), None);
        assert_eq!(query_param("a=%zz%", "a").as_deref(), Some("%zz%"));
    }
}
