//! Prometheus metrics through the `metrics` crate.
//!
//! Request counters and latency histograms are registered once per route and
//! status and kept as handles, so recording a request is two atomic operations
//! rather than a registry lookup.

use std::sync::OnceLock;
use std::time::Duration;

use http::StatusCode;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::api::Route;

/// The statuses given their own label; others are counted as `other`.
const STATUSES: [u16; 16] = [
    200, 204, 304, 400, 401, 403, 404, 405, 408, 413, 415, 429, 500, 501, 503, 0,
];

/// Installs the Prometheus recorder once per process and returns its handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "flagedge_http_request_duration_seconds".into(),
                    ),
                    &[
                        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25,
                        1.0,
                    ],
                )
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "flagedge_http_requests_total",
        "HTTP requests by route and status"
    );
    metrics::describe_histogram!(
        "flagedge_http_request_duration_seconds",
        "Time to answer a request, by route"
    );
    metrics::describe_counter!(
        "flagedge_document_swaps_total",
        "Documents swapped into the snapshot"
    );
    metrics::describe_counter!(
        "flagedge_documents_rejected_total",
        "Documents not served, by reason"
    );
    metrics::describe_counter!(
        "flagedge_source_errors_total",
        "Errors fetching or loading documents, by source"
    );
    metrics::describe_gauge!("flagedge_environments_loaded", "Environments being served");
    metrics::describe_gauge!(
        "flagedge_document_age_seconds",
        "Seconds since the source last confirmed a document"
    );
    metrics::describe_gauge!(
        "flagedge_document_revision",
        "Revision of the served document"
    );
    metrics::describe_counter!(
        "flagedge_identity_cache_hits_total",
        "Identity responses served from the cache"
    );
    metrics::describe_counter!(
        "flagedge_identity_cache_misses_total",
        "Identity responses evaluated"
    );
    metrics::describe_counter!(
        "flagedge_evaluations_queued_total",
        "Flag evaluations counted into analytics batches"
    );
    metrics::describe_counter!(
        "flagedge_evaluations_shipped_total",
        "Flag evaluations delivered to the analytics sink"
    );
    metrics::describe_counter!(
        "flagedge_evaluations_dropped_total",
        "Flag evaluations dropped (buffer full or shutdown)"
    );
}

/// Per-route, per-status handles.
pub struct RequestMetrics {
    requests: Vec<Counter>,
    latency: Vec<Histogram>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics::new()
    }
}

impl RequestMetrics {
    /// Registers every handle.
    pub fn new() -> RequestMetrics {
        let mut requests = Vec::with_capacity(Route::ALL.len() * STATUSES.len());
        let mut latency = Vec::with_capacity(Route::ALL.len());
        for route in Route::ALL {
            for status in STATUSES {
                let status = if status == 0 {
                    "other".to_string()
                } else {
                    status.to_string()
                };
                requests.push(metrics::counter!("flagedge_http_requests_total", "route" => route.name(), "status" => status));
            }
            latency.push(metrics::histogram!("flagedge_http_request_duration_seconds", "route" => route.name()));
        }
        RequestMetrics { requests, latency }
    }

    /// Records one answered request.
    pub fn record(&self, route: Route, status: StatusCode, elapsed: Duration) {
        let route_index = route as usize;
        let status_index = STATUSES
            .iter()
            .position(|s| *s == status.as_u16())
            .unwrap_or(STATUSES.len() - 1);
        self.requests[route_index * STATUSES.len() + status_index].increment(1);
        self.latency[route_index].record(elapsed.as_secs_f64());
    }
}
