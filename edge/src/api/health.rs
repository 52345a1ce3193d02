//! Liveness, readiness and metrics — ours, and Flagsmith edge-proxy's, so its
//! users switch without touching their probes.

use std::time::SystemTime;

use super::body::ResponseBody;
use bytes::Bytes;
use flagedge_engine::Timestamp;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use super::app::App;
use super::respond::{HttpResponse, json};

/// `/health`: the process is up.
pub fn health() -> HttpResponse {
    json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
}

struct Readiness {
    missing: Vec<String>,
    stale: Vec<String>,
    loading: bool,
    /// The oldest confirmation among the served documents.
    oldest_confirmation: Option<SystemTime>,
}

fn readiness(app: &App) -> Readiness {
    let loading = !app
        .initial_load_done
        .load(std::sync::atomic::Ordering::Acquire);
    let missing = app.store.missing();
    let max_age = app.settings.load().max_document_age;
    let snapshot = app.store.load();
    let now = SystemTime::now();
    let mut stale = Vec::new();
    let mut oldest_confirmation: Option<SystemTime> = None;
    for (key, environment) in &snapshot.environments {
        let confirmed = environment.confirmed_at();
        oldest_confirmation = Some(oldest_confirmation.map_or(confirmed, |o| o.min(confirmed)));
        if let Some(max_age) = max_age
            && now.duration_since(confirmed).unwrap_or_default() > max_age
        {
            stale.push(key.to_string());
        }
    }
    stale.sort();
    Readiness {
        missing,
        stale,
        loading,
        oldest_confirmation,
    }
}

/// `/ready`: every configured environment loaded and none stale.
pub fn ready(app: &App) -> HttpResponse {
    let r = readiness(app);
    let ready = !r.loading && r.missing.is_empty() && r.stale.is_empty();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "loading": r.loading,
        "missing_environments": r.missing,
        "stale_environments": r.stale,
        "environments": app.store.load().environments.len(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, Bytes::from(body.to_string()))
}

/// `/proxy/health` and `/proxy/health/readiness`, with edge-proxy's bodies.
pub fn proxy_readiness(app: &App) -> HttpResponse {
    let r = readiness(app);
    let last = r.oldest_confirmation.map(|t| {
        let micros = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        Timestamp(micros).to_iso8601()
    });
    let (status, body) = if r.loading || !r.missing.is_empty() || last.is_none() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "error", "reason": "environment document(s) not updated.", "last_successful_update": null}),
        )
    } else if !r.stale.is_empty() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "error", "reason": "environment document(s) stale.", "last_successful_update": last}),
        )
    } else {
        (
            StatusCode::OK,
            json!({"status": "ok", "reason": null, "last_successful_update": last}),
        )
    };
    json(status, Bytes::from(body.to_string()))
}

/// `/proxy/health/liveness`: always 200, empty.
pub fn proxy_liveness() -> HttpResponse {
    Response::builder()
        .status(StatusCode::OK)
        .body(ResponseBody::empty())
        .unwrap_or_default()
}

/// `/metrics`: Prometheus text.
pub fn metrics(app: &App) -> HttpResponse {
    let snapshot = app.store.load();
    for (key, environment) in &snapshot.environments {
        let labels = [("environment", key.to_string())];
        metrics::gauge!("flagedge_document_age_seconds", &labels)
            .set(environment.age_seconds() as f64);
        let meta = environment.compiled.meta();
        metrics::gauge!("flagedge_document_revision", &labels)
            .set(meta.revision.unwrap_or(0) as f64);
        metrics::gauge!("flagedge_document_updated_at_seconds", &labels)
            .set(meta.updated_at.map_or(0.0, |t| t.epoch_seconds_f64()));
    }
    metrics::gauge!("flagedge_plain_copies_bytes")
        .set(crate::environment::PLAIN_COPIES.kept() as f64);
    if let Some(cache) = &app.identity_cache {
        let (bytes, entries) = cache.usage();
        metrics::gauge!("flagedge_identity_cache_bytes").set(bytes as f64);
        metrics::gauge!("flagedge_identity_cache_entries").set(entries as f64);
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )
        .body(ResponseBody::from(Bytes::from(
            app.prometheus.render() + &app.metrics.render(),
        )))
        .unwrap_or_default()
}
