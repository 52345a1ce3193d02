//! Evaluation counts: counted lock-free per request, shipped in batches.
//!
//! Each served environment carries [`Counters`]. A request adds to one or two
//! relaxed atomics: a whole environment-flags response is one increment (the set
//! of flags it serves is fixed per revision), an identity response is one
//! increment unless disabled flags are hidden (then one per shown flag), and an
//! SDK's own analytics post adds its counts per feature. A background task swaps
//! the counters to zero every interval, expands them into per-feature counts and
//! hands the batch to a sink. Batches that cannot be delivered wait in a bounded
//! queue (the oldest are dropped and counted when it is full) and are flushed on
//! shutdown. Every batch carries an id, so a receiver can discard a retried one it
//! already stored.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use flagedge_engine::{KeyKind, Timestamp};
use serde::Serialize;

use crate::config::{AnalyticsSinkKind, Config};
use crate::environment::ServedEnvironment;
use crate::http_client::HttpClient;
use crate::shutdown::Shutdown;
use crate::snapshot::Store;

/// The SDK API resources whose calls are counted (Flagsmith's API-usage series).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// `GET /flags/`
    Flags = 0,
    /// `GET|POST /identities/`
    Identities = 1,
    /// `POST /traits/`, `PUT /traits/bulk/`
    Traits = 2,
    /// `GET /environment-document/`
    EnvironmentDocument = 3,
}

impl Resource {
    const ALL: [Resource; 4] = [
        Resource::Flags,
        Resource::Identities,
        Resource::Traits,
        Resource::EnvironmentDocument,
    ];

    fn name(self) -> &'static str {
        match self {
            Resource::Flags => "flags",
            Resource::Identities => "identities",
            Resource::Traits => "traits",
            Resource::EnvironmentDocument => "environment-document",
        }
    }
}

/// The per-request counters of one environment, on one cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct HotCounters {
    flags_responses: [AtomicU64; 2],
    identity_responses: [AtomicU64; 2],
    api_calls: [AtomicU64; 4],
}

/// How many copies of the per-request counters each environment keeps: threads
/// add to different copies, so cores do not fight over one cache line.
const SHARDS: usize = 4;

fn shard_index() -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static INDEX: usize = (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// Counters of one environment revision.
#[derive(Debug)]
pub struct Counters {
    hot: [HotCounters; SHARDS],
    per_feature: Box<[AtomicU64]>,
}

impl Counters {
    /// Zeroed counters for `features` features.
    pub fn new(features: usize) -> Counters {
        Counters {
            hot: Default::default(),
            per_feature: (0..features).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn hot(&self) -> &HotCounters {
        &self.hot[shard_index()]
    }

    /// An SDK API call.
    pub fn api_call(&self, resource: Resource) {
        self.hot().api_calls[resource as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A whole environment-flags response served to a key of this kind; it is
    /// also counted as a `flags` API call when drained.
    pub fn environment_flags(&self, kind: KeyKind) {
        self.hot().flags_responses[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// An identity response that showed every flag this kind of key may see.
    pub fn identity_flags(&self, kind: KeyKind) {
        self.hot().identity_responses[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// `count` evaluations of one feature.
    pub fn feature(&self, index: usize, count: u64) {
        if let Some(counter) = self.per_feature.get(index) {
            counter.fetch_add(count, Ordering::Relaxed);
        }
    }
}

/// One environment's counts in a batch.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct EnvironmentCounts {
    /// The environment's client-side key.
    pub environment_key: String,
    /// Flag evaluations by feature name.
    pub evaluations: BTreeMap<String, u64>,
    /// SDK API calls by resource.
    pub api_calls: BTreeMap<String, u64>,
}

/// What an edge ships every interval.
#[derive(Debug, Serialize, Clone)]
pub struct Batch {
    /// Unique per batch; a receiver ignores a batch id it has stored.
    pub batch_id: String,
    /// The edge that counted.
    pub edge_id: String,
    /// When the batch was cut (ISO 8601, UTC).
    pub created_at: String,
    /// Counts per environment.
    pub environments: Vec<EnvironmentCounts>,
}

impl Batch {
    fn evaluation_total(&self) -> u64 {
        self.environments
            .iter()
            .flat_map(|e| e.evaluations.values())
            .sum()
    }
}

/// Drains one environment's counters.
fn drain(environment: &ServedEnvironment, into: &mut BTreeMap<String, EnvironmentCounts>) {
    let counters = &environment.counters;
    let compiled = &environment.compiled;
    let take = |counter: &AtomicU64| counter.swap(0, Ordering::Relaxed);
    let take_all = |pick: &dyn Fn(&HotCounters) -> &AtomicU64| {
        counters.hot.iter().map(|h| take(pick(h))).sum::<u64>()
    };
    let flags_responses = [0, 1].map(|k| take_all(&|h| &h.flags_responses[k]));
    let identity_responses = [0, 1].map(|k| take_all(&|h| &h.identity_responses[k]));
    let mut evaluations = BTreeMap::new();
    for (index, counter) in counters.per_feature.iter().enumerate() {
        let mut count = take(counter);
        for kind in [KeyKind::Client, KeyKind::Server] {
            if compiled.environment_flag_visible(index, kind) {
                count += flags_responses[kind as usize];
            }
            if compiled.feature_visible_to(index, kind) {
                count += identity_responses[kind as usize];
            }
        }
        if count > 0 {
            evaluations.insert(compiled.feature_name(index).to_string(), count);
        }
    }
    let flags_calls = flags_responses.iter().sum::<u64>();
    let api_calls: BTreeMap<String, u64> = Resource::ALL
        .iter()
        .map(|r| {
            let extra = if *r == Resource::Flags {
                flags_calls
            } else {
                0
            };
            (
                r.name().to_string(),
                take_all(&|h| &h.api_calls[*r as usize]) + extra,
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    if evaluations.is_empty() && api_calls.is_empty() {
        return;
    }
    let entry = into
        .entry(environment.client_key().to_string())
        .or_insert_with(|| EnvironmentCounts {
            environment_key: environment.client_key().to_string(),
            evaluations: BTreeMap::new(),
            api_calls: BTreeMap::new(),
        });
    for (name, count) in evaluations {
        *entry.evaluations.entry(name).or_default() += count;
    }
    for (name, count) in api_calls {
        *entry.api_calls.entry(name).or_default() += count;
    }
}

/// Cuts a batch from every environment served now or replaced since the last cut.
pub fn cut_batch(store: &Store, edge_id: &str) -> Option<Batch> {
    let mut counts = BTreeMap::new();
    for environment in store.take_retired() {
        drain(&environment, &mut counts);
    }
    for environment in store.load().environments.values() {
        drain(environment, &mut counts);
    }
    if counts.is_empty() {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    Some(Batch {
        batch_id: uuid::Uuid::new_v4().to_string(),
        edge_id: edge_id.to_string(),
        created_at: Timestamp(now).to_iso8601(),
        environments: counts.into_values().collect(),
    })
}

/// Where batches go.
pub enum Sink {
    /// Nowhere (counts are still drained so memory stays flat).
    None,
    /// The log.
    Log,
    /// An HTTP endpoint (flagedge-sync's ingest).
    Http {
        /// The client.
        client: Box<HttpClient>,
        /// The URL.
        url: http::Uri,
        /// Bearer token.
        token: Option<String>,
    },
}

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Transport failure.
    #[error("sending: {0}")]
    Transport(String),
    /// The receiver answered with an error status.
    #[error("receiver answered {0}")]
    Status(http::StatusCode),
}

impl Sink {
    /// Builds the configured sink.
    pub fn from_config(config: &Config, client: HttpClient) -> anyhow::Result<Sink> {
        Ok(match config.analytics_sink {
            AnalyticsSinkKind::None => Sink::None,
            AnalyticsSinkKind::Log => Sink::Log,
            AnalyticsSinkKind::Http => Sink::Http {
                client: Box::new(client),
                url: config
                    .analytics_url
                    .as_deref()
                    .unwrap_or_default()
                    .parse()?,
                token: config.analytics_token.clone(),
            },
        })
    }

    async fn send(&self, batch: &Batch) -> Result<(), SinkError> {
        match self {
            Sink::None => Ok(()),
            Sink::Log => {
                tracing::info!(batch = %serde_json::to_string(batch).unwrap_or_default(), "analytics batch");
                Ok(())
            }
            Sink::Http { client, url, token } => {
                let body = Bytes::from(serde_json::to_vec(batch).unwrap_or_default());
                let mut request = http::Request::post(url.clone())
                    .header(http::header::CONTENT_TYPE, "application/json");
                if let Some(token) = token {
                    request =
                        request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
                }
                let request = request
                    .body(http_body_util::Full::new(body))
                    .map_err(|e| SinkError::Transport(e.to_string()))?;
                let response =
                    tokio::time::timeout(Duration::from_secs(10), client.request(request))
                        .await
                        .map_err(|_| SinkError::Transport("timed out".into()))?
                        .map_err(|e| SinkError::Transport(e.to_string()))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(SinkError::Status(response.status()))
                }
            }
        }
    }
}

/// Cuts and ships batches until shutdown, then flushes what is left.
pub async fn run(store: Arc<Store>, sink: Sink, config: Config, shutdown: Shutdown) {
    let mut pending: VecDeque<Batch> = VecDeque::new();
    let mut ticker = tokio::time::interval(config.analytics_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            _ = shutdown.wait() => true,
        };
        if let Some(batch) = cut_batch(&store, &config.edge_id) {
            metrics::counter!("flagedge_evaluations_queued_total")
                .increment(batch.evaluation_total());
            pending.push_back(batch);
            while pending.len() > config.analytics_max_pending {
                if let Some(dropped) = pending.pop_front() {
                    tracing::warn!(batch_id = %dropped.batch_id, evaluations = dropped.evaluation_total(), "analytics buffer full: dropped the oldest batch");
                    metrics::counter!("flagedge_evaluations_dropped_total")
                        .increment(dropped.evaluation_total());
                }
            }
        }
        deliver(&sink, &mut pending).await;
        metrics::gauge!("flagedge_analytics_pending_batches").set(pending.len() as f64);
        if stopping {
            break;
        }
    }
    // Shutdown: a few more attempts for what could not be delivered.
    for attempt in 0..3 {
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
        deliver(&sink, &mut pending).await;
    }
    for batch in &pending {
        tracing::error!(batch_id = %batch.batch_id, evaluations = batch.evaluation_total(), "analytics batch not delivered before shutdown");
        metrics::counter!("flagedge_evaluations_dropped_total").increment(batch.evaluation_total());
    }
}

async fn deliver(sink: &Sink, pending: &mut VecDeque<Batch>) {
    while let Some(batch) = pending.front() {
        match sink.send(batch).await {
            Ok(()) => {
                metrics::counter!("flagedge_evaluations_shipped_total")
                    .increment(batch.evaluation_total());
                pending.pop_front();
            }
            Err(error) => {
                tracing::warn!(%error, pending = pending.len(), "analytics delivery failed; will retry");
                metrics::counter!("flagedge_analytics_delivery_failures_total").increment(1);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_expand_per_feature() {
        let json =
            br#"{"api_key":"k","project":{"server_key_only_feature_ids":[2]},"feature_states":[
            {"feature":{"id":1,"name":"a"},"enabled":true,"django_id":1},
            {"feature":{"id":2,"name":"secret"},"enabled":true,"django_id":2}]}"#;
        let store = Store::new();
        store.offer(ServedEnvironment::load(Bytes::from_static(json)).unwrap());
        {
            let snapshot = store.load();
            let environment = &snapshot.environments["k"];
            environment.counters.environment_flags(KeyKind::Client);
            environment.counters.environment_flags(KeyKind::Server);
            environment.counters.identity_flags(KeyKind::Client);
            environment.counters.feature(1, 5);
        }
        let batch = cut_batch(&store, "edge-1").unwrap();
        let counts = &batch.environments[0];
        assert_eq!(counts.evaluations["a"], 3);
        assert_eq!(
            counts.evaluations["secret"], 6,
            "server key response + 5 reported, never client"
        );
        assert_eq!(
            counts.api_calls["flags"], 2,
            "each environment-flags response is a flags call"
        );
        assert!(cut_batch(&store, "edge-1").is_none(), "drained to zero");
    }
}
