//! The HTTP API: one module per resource family, wired here.
//!
//! What the resource modules share lives in leaves below them, never here:
//! [`routes`] (the route table the OpenAPI document is generated from),
//! [`page`] (pagination), [`lookup`] (one object or 404, row locks),
//! [`list`] (the count-and-page query of list endpoints), [`delete`] (delete
//! and bump), [`format`] (timestamps, ids), [`item`] (GET and DELETE of one
//! object) and [`update`] (PUT and PATCH).

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::error::ApiError;
use crate::state::AppState;

#[macro_use]
pub mod routes;

pub mod delete;
pub mod doc;
pub mod format;
pub mod item;
pub mod list;
pub mod lookup;
pub mod page;
pub mod update;

pub mod admin_keys;
pub mod analytics;
pub mod audit_log;
pub mod edge;
pub mod environments;
pub mod feature_segments;
pub mod feature_states;
pub mod features;
pub mod fleet;
pub mod health;
pub mod identities;
pub mod mv_options;
pub mod openapi;
pub mod organisations;
pub mod projects;
pub mod proxy;
pub mod proxy_keys;
pub mod sdk;
pub mod sdk_analytics;
pub mod segments;
pub mod server_keys;

pub use routes::{Route, Routes};

fn all_routes() -> Routes {
    let routes = Routes::new();
    let routes = health::routes(routes);
    let routes = sdk::routes(routes);
    let routes = sdk_analytics::routes(routes);
    let routes = edge::routes(routes);
    let routes = analytics::routes(routes);
    let routes = proxy::routes(routes);
    let routes = organisations::routes(routes);
    let routes = admin_keys::routes(routes);
    let routes = proxy_keys::routes(routes);
    let routes = projects::routes(routes);
    let routes = environments::routes(routes);
    let routes = server_keys::routes(routes);
    let routes = features::routes(routes);
    let routes = mv_options::routes(routes);
    let routes = segments::routes(routes);
    let routes = feature_segments::routes(routes);
    let routes = feature_states::routes(routes);
    let routes = identities::routes(routes);
    let routes = audit_log::routes(routes);
    let routes = fleet::routes(routes);
    // Last: the document describes every route added before it (and itself).
    openapi::routes(routes)
}

/// Every route, sorted.
pub fn route_list() -> Vec<Route> {
    let (_, list) = all_routes().into_parts();
    let mut list: Vec<Route> = list.into_iter().map(|(route, _)| route).collect();
    list.sort();
    list
}

/// The application.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let (router, _) = all_routes().into_parts();
    router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}
