//! `/health` (alive: the process answers) and `/ready` (the databases answer
//! and every migration is applied; InfluxDB answers when analytics are kept there), for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use super::routes::Routes;
use crate::db;
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add("/health", &["GET"], get(health))
        .add("/ready", &["GET"], get(ready))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let core = db::migrations_applied(&state.db, &db::core_migrator()).await;
    let analytics = db::migrations_applied(&state.analytics, &db::analytics_migrator()).await;
    if let Some(store) = &state.influx
        && !store.influx.ping().await
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "reason": "analytics store unreachable"})),
        );
    }
    match (core, analytics) {
        (Ok(true), Ok(true)) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        (Ok(_), Ok(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "reason": "migrations not applied"})),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "reason": "database unreachable"})),
        ),
    }
}
