//! The HTTP API: Flagsmith's SDK endpoints, health, metrics.
//!
//! A handler reads like: authenticate → look up → evaluate or copy → respond.
//! What handlers share sits in files named for its job, below them all:
//! `app` (state, key authentication), `call` (the request: body limits, query,
//! JSON), `respond` (response type, JSON, freshness headers), `negotiate`
//! (gzip, conditional requests), `error` (`{"detail"}` errors), `cors`, `body`.
//! One file per endpoint family sits beside them; this file only dispatches.

mod analytics;
pub mod app;
pub mod body;
pub mod call;
mod cors;
mod documents;
mod error;
mod flags;
mod health;
mod identities;
mod negotiate;
mod ofrep;
pub mod respond;
mod sse;
mod traits;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header;
use http::{Method, Request};

pub use app::App;
pub use body::ResponseBody;
pub use call::{Limits, RequestBody};
pub use error::ApiError;
pub use respond::HttpResponse;

use crate::route::Route;
use call::Call;

/// The SDK API's OpenAPI document, served at `/api/v1/openapi.json` (a test
/// checks it names every route the edge answers).
pub const OPENAPI: &[u8] = include_bytes!("openapi.json");

/// Answers one request.
pub async fn handle(
    app: &'static App,
    request: Request<RequestBody>,
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
        cors::preflight(app, &call, route)
    } else {
        dispatch(app, route, &mut call)
            .await
            .unwrap_or_else(ApiError::into_response)
    };
    if call.method == Method::HEAD {
        *response.body_mut() = ResponseBody::empty();
    }
    if let Some(origin) = origin {
        cors::cors(app, &origin, response.headers_mut());
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
        Route::OpenApi => Ok(respond::json(
            http::StatusCode::OK,
            bytes::Bytes::from_static(OPENAPI),
        )),
        Route::Sse => sse::stream(app, call),
        Route::OfrepBulk => Ok(ofrep::evaluate(app, call, None).await),
        Route::OfrepFlag => {
            let key = crate::route::ofrep_flag_key(call.uri.path()).unwrap_or_default();
            Ok(ofrep::evaluate(app, call, Some(key)).await)
        }
        Route::NotFound => Err(ApiError::not_found("Not found.")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The document and the router cannot drift: every route but the
    /// long-lived stream is described, with exactly the methods it answers.
    #[test]
    fn the_openapi_document_describes_every_route() {
        let document: serde_json::Value = serde_json::from_slice(OPENAPI).unwrap();
        let mut described = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            let route = Route::of(&path.replace("{key}", "some-flag"));
            assert_ne!(route, Route::NotFound, "{path} is not a route");
            let documented: BTreeSet<String> = item
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            let answered: BTreeSet<String> = route
                .methods()
                .iter()
                .filter(|m| **m != Method::HEAD)
                .map(|m| m.to_string())
                .collect();
            assert_eq!(documented, answered, "{path}");
            described.insert(route.name());
        }
        for route in Route::ALL {
            if !matches!(route, Route::NotFound | Route::Sse) {
                assert!(
                    described.contains(route.name()),
                    "{route:?} is not described"
                );
            }
        }
    }
}
