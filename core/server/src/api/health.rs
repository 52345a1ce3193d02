//! `/health` (alive: the process answers) and `/ready` (the databases answer
//! and every migration is applied; InfluxDB answers when analytics are kept there), for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::doc::{Doc, Security};
use super::routes::Routes;
use crate::db;
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    let health_doc = Doc::new("Alive: the process answers")
        .security(Security::Open)
        .answers::<Status>(200, "OK");
    let ready_doc = Doc::new("Ready: the databases answer and every migration is applied")
        .security(Security::Open)
        .answers::<Status>(200, "Ready")
        .answers::<Status>(503, "Not ready");
    routes
        .get("/health", health_doc, health)
        .get("/ready", ready_doc, ready)
}

/// `{"status": "ok"}`, or `"error"` with the reason.
#[derive(Serialize, ToSchema)]
struct Status {
    /// ok or error.
    status: &'static str,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

fn status(reason: Option<&'static str>) -> Json<Status> {
    Json(Status {
        status: if reason.is_some() { "error" } else { "ok" },
        reason,
    })
}

async fn health() -> Json<Status> {
    status(None)
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Status>) {
    let core = db::migrations_applied(&state.db, &db::core_migrator()).await;
    let analytics = db::migrations_applied(&state.analytics, &db::analytics_migrator()).await;
    if let Some(store) = &state.influx
        && !store.influx.ping().await
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            status(Some("analytics store unreachable")),
        );
    }
    match (core, analytics) {
        (Ok(true), Ok(true)) => (StatusCode::OK, status(None)),
        (Ok(_), Ok(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            status(Some("migrations not applied")),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            status(Some("database unreachable")),
        ),
    }
}
