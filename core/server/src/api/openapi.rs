//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every route,
//! gathered from the route table (so it cannot miss one), each operation as
//! its module described it ([`super::doc::Doc`]) and each schema derived from
//! the Rust type the handler reads or writes.

use std::sync::Arc;

use axum::Json;
use serde_json::{Map, Value, json};

use super::doc::{Doc, Security};
use super::routes::{Route, Routes};

/// Where the document is served.
const PATH: &str = "/api/v1/openapi.json";

fn describe_itself() -> Doc {
    Doc::new("This document")
        .security(Security::Open)
        .respond(200, json!({"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}))
}

/// Adds `GET /api/v1/openapi.json`, describing every route in `routes` and
/// itself; `api/mod.rs` adds it last, so that is every route.
pub(super) fn routes(routes: Routes) -> Routes {
    let mut list = routes.list().to_vec();
    list.push((
        Route {
            method: "GET",
            path: PATH,
        },
        describe_itself(),
    ));
    let document = Arc::new(document(list));
    routes.get(PATH, describe_itself(), move || {
        let document = Arc::clone(&document);
        async move { Json(Value::clone(&document)) }
    })
}

/// The OpenAPI document of `routes`.
pub fn document(mut routes: Vec<(Route, Doc)>) -> Value {
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for (route, doc) in routes {
        let (operation, named) = doc.into_operation(route.method, route.path);
        schemas.extend(named);
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation;
    }
    schemas.sort_keys();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "flagedge-core",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The flagedge source of truth: an admin API shaped like Flagsmith's, environment documents, the change feed and analytics.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "AdminApiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`Api-Key <key>`"},
                "SyncToken": {"type": "http", "scheme": "bearer"},
                "EnvironmentKey": {"type": "apiKey", "in": "header", "name": "X-Environment-Key"},
                "ProxyKey": {"type": "apiKey", "in": "header", "name": "X-Proxy-Key",
                    "description": "`pk.<prefix>.<secret>` (`POST /api/v1/proxy-keys/`)"},
            },
        },
    })
}
