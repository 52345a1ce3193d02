//! Where counts are written: PostgreSQL (the tables flagedge-core reads),
//! InfluxDB, or nowhere. One trait; the aggregator does not care which.

pub mod influx;
pub mod postgres;

use std::future::Future;
use std::pin::Pin;

/// A counter's identity: (environment, feature or resource, minute since the epoch).
pub type SeriesKey = (String, String, i64);

/// A boxed future, so the trait can be used as `dyn Store`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A generation's counts, ready to write.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    /// Evaluations per (environment, feature, minute).
    pub evaluations: Vec<(SeriesKey, u64)>,
    /// API calls per (environment, resource, minute).
    pub api_calls: Vec<(SeriesKey, u64)>,
    /// (batch id, edge id) of the batches counted.
    pub batches: Vec<(String, String)>,
    /// The latest report of each edge that sent one (for the console's fleet view).
    pub reports: Vec<EdgeState>,
}

/// An edge's latest report.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeState {
    /// The edge.
    pub edge_id: String,
    /// When its batch was cut (ISO 8601), if it said.
    pub reported_at: Option<String>,
    /// What it reported.
    pub report: flagedge_cloud::counts::EdgeReport,
}

/// A failed write or read.
#[derive(Debug, thiserror::Error)]
#[error("analytics store: {0}")]
pub struct StoreError(pub String);

/// An analytics store.
pub trait Store: Send + Sync {
    /// Whether a batch id was recorded by an earlier write.
    fn batch_recorded<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Writes counts (adding to what is stored) and records their batch ids, atomically where the store can.
    fn write<'a>(&'a self, totals: &'a Totals) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Discards counts (for trials without a store).
pub struct Discard;

impl Store for Discard {
    fn batch_recorded<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(false) })
    }
    fn write<'a>(&'a self, _: &'a Totals) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}
