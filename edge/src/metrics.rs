//! Prometheus metrics.
//!
//! Request counts and latencies are recorded on every request, so they are kept
//! in per-thread shards: each thread writes only its own cache lines (a plain
//! load and store, no locked instruction, no line bouncing between cores), and
//! `/metrics` sums the shards. Everything else goes through the `metrics` crate
//! and its Prometheus exporter, whose output the request metrics are appended to.

use std::cell::OnceCell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::StatusCode;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::route::Route;

/// The statuses given their own label; others are counted as `other`.
const STATUSES: [u16; 17] = [
    200, 204, 304, 400, 401, 403, 404, 405, 408, 413, 415, 429, 500, 501, 503, 101, 0,
];
/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 11] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];
const ROUTES: usize = Route::ALL.len();

/// One thread's counters.
struct Shard {
    requests: [AtomicU64; ROUTES * STATUSES.len()],
    /// Per route: one count per bucket, then +Inf.
    buckets: [AtomicU64; ROUTES * (BUCKETS.len() + 1)],
    nanos: [AtomicU64; ROUTES],
    /// Identity cache hits, misses, and entries carried to a new revision.
    cache: [AtomicU64; 3],
}

impl Shard {
    fn new() -> Shard {
        Shard {
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            nanos: std::array::from_fn(|_| AtomicU64::new(0)),
            cache: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Counts an identity cache lookup.
pub fn identity_cache_lookup(hit: bool) {
    with_shard(|shard| bump(&shard.cache[usize::from(!hit)], 1));
}

/// Counts an identity cache entry carried over to a new document revision.
pub fn identity_cache_carried() {
    with_shard(|shard| bump(&shard.cache[2], 1));
}

/// Adds to a counter only this thread writes: no read-modify-write needed.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

static SHARDS: Mutex<Vec<Arc<Shard>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: OnceCell<Arc<Shard>> = const { OnceCell::new() };
}

fn with_shard(f: impl FnOnce(&Shard)) {
    LOCAL.with(|cell| {
        let shard = cell.get_or_init(|| {
            let shard = Arc::new(Shard::new());
            SHARDS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Arc::clone(&shard));
            shard
        });
        f(shard)
    });
}

/// Installs the Prometheus recorder once per process and returns its handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
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
        "flagedge_plain_copies_bytes",
        "Bytes of plain copies of gzipped /flags/ bodies kept (bounded by --plain-copies-bytes)"
    );
    metrics::describe_gauge!(
        "flagedge_identity_cache_bytes",
        "Bytes of cached identity responses, as weighed against --identity-cache-bytes"
    );
    metrics::describe_gauge!(
        "flagedge_identity_cache_entries",
        "Identity responses cached"
    );
    metrics::describe_gauge!(
        "flagedge_document_age_seconds",
        "Seconds since the source last confirmed a document"
    );
    metrics::describe_gauge!(
        "flagedge_document_revision",
        "Revision of the served document"
    );
    metrics::describe_counter!(
        "flagedge_evaluations_queued_total",
        "Counts queued for a sink (evaluations; requests for the usage sink), by sink"
    );
    metrics::describe_counter!(
        "flagedge_evaluations_shipped_total",
        "Counts delivered, by sink"
    );
    metrics::describe_counter!(
        "flagedge_evaluations_dropped_total",
        "Counts dropped (queue or spool full, refused by the receiver, lost at shutdown), by sink"
    );
    metrics::describe_counter!(
        "flagedge_analytics_dropped_batches_total",
        "Analytics batches dropped, by sink and reason (full, refused)"
    );
    metrics::describe_gauge!(
        "flagedge_analytics_pending_batches",
        "Analytics batches waiting for delivery, by sink"
    );
    metrics::describe_gauge!(
        "flagedge_analytics_spool_bytes",
        "Bytes of undelivered analytics batches in the spool, by sink"
    );
    metrics::describe_counter!(
        "flagedge_source_slow_fetches_total",
        "Document fetches that took longer than the poll interval"
    );
    metrics::describe_counter!(
        "flagedge_source_pages_total",
        "Pages read of paged environment documents"
    );
}

/// Records requests into the calling thread's shard.
#[derive(Default)]
pub struct RequestMetrics;

impl RequestMetrics {
    /// The recorder.
    pub fn new() -> RequestMetrics {
        RequestMetrics
    }

    /// Records one answered request.
    pub fn record(&self, route: Route, status: StatusCode, elapsed: Duration) {
        let route = route as usize;
        let status = STATUSES
            .iter()
            .position(|s| *s == status.as_u16())
            .unwrap_or(STATUSES.len() - 1);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        with_shard(|shard| {
            bump(&shard.requests[route * STATUSES.len() + status], 1);
            bump(&shard.buckets[route * (BUCKETS.len() + 1) + bucket], 1);
            bump(&shard.nanos[route], elapsed.as_nanos() as u64);
        });
    }

    /// The request metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let shards = SHARDS.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let sum = |pick: &dyn Fn(&Shard) -> &AtomicU64| {
            shards
                .iter()
                .map(|s| pick(s).load(Ordering::Relaxed))
                .sum::<u64>()
        };
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP flagedge_http_requests_total HTTP requests by route and status\n");
        out.push_str("# TYPE flagedge_http_requests_total counter\n");
        for (r, route) in Route::ALL.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let count = sum(&|shard| &shard.requests[r * STATUSES.len() + s]);
                if count > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "flagedge_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                        route.name()
                    );
                }
            }
        }
        for (i, (name, help)) in [
            (
                "flagedge_identity_cache_hits_total",
                "Identity responses served from the cache",
            ),
            (
                "flagedge_identity_cache_misses_total",
                "Identity responses evaluated",
            ),
            (
                "flagedge_identity_cache_carried_total",
                "Cached identity responses carried over to a new revision (values changed, not rules)",
            ),
        ]
        .iter()
        .enumerate()
        {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                sum(&|shard| &shard.cache[i])
            );
        }
        out.push_str(
            "# HELP flagedge_http_request_duration_seconds Time to answer a request, by route\n",
        );
        out.push_str("# TYPE flagedge_http_request_duration_seconds histogram\n");
        for (r, route) in Route::ALL.iter().enumerate() {
            let counts: Vec<u64> = (0..=BUCKETS.len())
                .map(|b| sum(&|shard| &shard.buckets[r * (BUCKETS.len() + 1) + b]))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "flagedge_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{bound}\"}} {cumulative}",
                    route.name()
                );
            }
            let name = route.name();
            let _ = writeln!(
                out,
                "flagedge_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {total}"
            );
            let seconds = sum(&|shard| &shard.nanos[r]) as f64 / 1e9;
            let _ = writeln!(
                out,
                "flagedge_http_request_duration_seconds_sum{{route=\"{name}\"}} {seconds}"
            );
            let _ = writeln!(
                out,
                "flagedge_http_request_duration_seconds_count{{route=\"{name}\"}} {total}"
            );
        }
        out
    }
}
