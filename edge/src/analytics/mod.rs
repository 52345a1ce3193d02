//! Evaluation counts: counted lock-free per request, shipped in batches.
//!
//! - here: the per-environment counters and the batch cut from them;
//! - [`reported`]: what SDKs reported themselves (for Flagsmith), journaled;
//! - [`outbox`]: a queue per sink, spooled to disk; [`sinks`]: the receivers.
//!
//! Each served environment carries [`Counters`]. A request adds to one or two
//! relaxed atomics: a whole environment-flags response is one increment (the set
//! of flags it serves is fixed per revision), an identity response is one
//! increment unless disabled flags are hidden (then one per shown flag), and an
//! SDK's own analytics post adds its counts per feature. A background task swaps
//! the counters to zero every interval, expands them into per-feature counts and
//! hands the batch to each configured sink. Batches that cannot be delivered wait
//! in a bounded queue (spooled in `--persist-dir`; the oldest are dropped and
//! counted when it is full) and are flushed on shutdown. Every batch carries an
//! id, so a receiver can discard a retried one it already stored.

pub mod outbox;
pub mod reported;
pub mod sinks;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flagedge_engine::{KeyKind, Timestamp};

use crate::config::{AnalyticsSinkKind, Config};
use crate::counters::Resource;
use crate::environment::ServedEnvironment;
use crate::http_client::HttpClient;
use crate::shutdown::Shutdown;
use crate::snapshot::Store;
use crate::source::Loader;
pub use flagedge_cloud::counts::{
    Batch, EdgeReport, EnvironmentCounts, EnvironmentNames, ServedDocument,
};
use outbox::{Outbox, SpoolDir};
use reported::{Reported, ReportedBatch};
use sinks::{BatchSink, FlagsmithSink, UsageBatch, UsageRow, UsageSink};

/// Drains one environment's counters, expanding whole responses into the
/// features they served.
fn drain(environment: &ServedEnvironment, into: &mut BTreeMap<String, EnvironmentCounts>) {
    let compiled = &environment.compiled;
    let drained = environment.counters.drain();
    let mut evaluations = BTreeMap::new();
    for (index, mut count) in drained.per_feature.iter().copied().enumerate() {
        for kind in [KeyKind::Client, KeyKind::Server] {
            if compiled.environment_flag_visible(index, kind) {
                count += drained.flags_responses[kind as usize];
            }
            if compiled.feature_visible_to(index, kind) {
                count += drained.identity_responses[kind as usize];
            }
        }
        if count > 0 {
            evaluations.insert(compiled.feature_name(index).to_string(), count);
        }
    }
    let flags_calls = drained.flags_responses.iter().sum::<u64>();
    let api_calls: BTreeMap<String, u64> = Resource::ALL
        .iter()
        .map(|r| {
            let extra = if *r == Resource::Flags {
                flags_calls
            } else {
                0
            };
            (r.name().to_string(), drained.api_calls[*r as usize] + extra)
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

fn now_iso8601() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    Timestamp(now).to_iso8601()
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
    Some(Batch {
        batch_id: uuid::Uuid::new_v4().to_string(),
        edge_id: edge_id.to_string(),
        created_at: Some(now_iso8601()),
        environments: counts.into_values().collect(),
        edge: None,
    })
}

/// What this edge serves now: per environment the revision, `updated_at` and
/// how long since its source confirmed it (sync keeps the latest per edge).
pub fn edge_report(store: &Store, region: &str) -> EdgeReport {
    let snapshot = store.load();
    let mut environments: Vec<ServedDocument> = snapshot
        .environments
        .values()
        .map(|e| {
            let meta = e.compiled.meta();
            ServedDocument {
                environment_key: e.client_key().to_string(),
                revision: e.version.revision,
                updated_at: e.version.updated_at.map(|t| t.to_iso8601()),
                confirmed_secs_ago: e.age_seconds(),
                names: Some(EnvironmentNames {
                    id: meta.id,
                    name: meta.name.clone(),
                    project_id: meta.project.0,
                    project: meta.project.1.clone(),
                    organisation_id: meta.organisation.0,
                    organisation: meta.organisation.1.clone(),
                }),
            }
        })
        .collect();
    // The snapshot maps every key (client and server) to its environment.
    environments.sort_by(|a, b| a.environment_key.cmp(&b.environment_key));
    environments.dedup_by(|a, b| a.environment_key == b.environment_key);
    EdgeReport {
        region: region.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        environments,
    }
}

impl outbox::Spoolable for Batch {
    fn evaluations(&self) -> u64 {
        Batch::evaluation_total(self)
    }
}

impl outbox::Spoolable for ReportedBatch {
    fn evaluations(&self) -> u64 {
        ReportedBatch::evaluations(self)
    }

    fn from_journal(bytes: &[u8]) -> Option<Self> {
        Some(ReportedBatch::from_journal(bytes))
    }
}

impl outbox::Spoolable for UsageBatch {
    fn evaluations(&self) -> u64 {
        self.rows.iter().map(|r| r.count).sum()
    }
}

/// Flagsmith's usage rows for a batch's API calls (trait writes are identity
/// requests in Flagsmith's resources), in chunks its endpoint accepts, for the
/// environments `granted` by the proxy configuration.
pub fn usage_batches(batch: &Batch, granted: &HashSet<String>) -> Vec<UsageBatch> {
    let mut rows = Vec::new();
    for environment in batch
        .environments
        .iter()
        .filter(|e| granted.contains(&e.environment_key))
    {
        let mut by_resource: BTreeMap<&str, u64> = BTreeMap::new();
        for (resource, count) in &environment.api_calls {
            let resource = match resource.as_str() {
                "traits" => "identities",
                other => other,
            };
            *by_resource.entry(resource).or_default() += count;
        }
        rows.extend(by_resource.into_iter().map(|(resource, count)| UsageRow {
            client_side_key: environment.environment_key.clone(),
            resource: resource.to_string(),
            count,
        }));
    }
    rows.chunks(sinks::MAX_USAGE_ROWS)
        .map(|chunk| UsageBatch {
            rows: chunk.to_vec(),
        })
        .collect()
}

/// The sinks a configuration asks for, each with its queue.
pub struct Sinks {
    batches: Option<(BatchSink, Outbox<Batch>)>,
    flagsmith: Option<(FlagsmithSink, Outbox<ReportedBatch>, Arc<Reported>)>,
    usage: Option<(UsageSink, Outbox<UsageBatch>)>,
}

impl Sinks {
    /// Opens the configured sinks and their spools; returns, for the SDK
    /// analytics endpoints, where reported counts go when they are forwarded.
    pub fn open(
        config: &Config,
        client: HttpClient,
        spool_root: Option<PathBuf>,
    ) -> anyhow::Result<(Sinks, Option<Arc<Reported>>)> {
        let spool = |sink: &str| {
            spool_root.as_ref().map(|root| SpoolDir {
                dir: root.join("spool").join(sink),
                max_bytes: config.analytics_spool_bytes,
            })
        };
        let max_pending = config.analytics_max_pending;
        let sinks = &config.analytics_sinks;
        let batches = if sinks.contains(&AnalyticsSinkKind::Http) {
            let url = config
                .analytics_url
                .as_deref()
                .unwrap_or_default()
                .parse()?;
            Some((
                BatchSink::Http {
                    client: Box::new(client.clone()),
                    url,
                    token: config.analytics_token.clone(),
                },
                Outbox::open("sync", max_pending, spool("sync")),
            ))
        } else if sinks.contains(&AnalyticsSinkKind::Log) {
            Some((BatchSink::Log, Outbox::open("log", max_pending, None)))
        } else {
            None
        };
        let api_url = config.api_url.as_deref().unwrap_or_default();
        let flagsmith = if sinks.contains(&AnalyticsSinkKind::Flagsmith) {
            let mut outbox = Outbox::open("flagsmith", max_pending, spool("flagsmith"));
            let reported = match &spool_root {
                Some(root) => {
                    let recovered_id = uuid::Uuid::new_v4().to_string();
                    let recovered_to = outbox
                        .journal_path(&recovered_id)
                        .unwrap_or_else(|| root.join("recovered.journal"));
                    let (reported, recovered) =
                        Reported::journaled(root.join("reported.journal"), &recovered_to)?;
                    if let Some(batch) = recovered {
                        tracing::info!(
                            evaluations = batch.evaluations(),
                            "SDK-reported counts recovered from the journal"
                        );
                        outbox.push(recovered_id, batch, Some(recovered_to));
                    }
                    reported
                }
                None => Reported::in_memory(),
            };
            Some((
                FlagsmithSink {
                    client: client.clone(),
                    url: format!("{api_url}analytics/flags/").parse()?,
                },
                outbox,
                Arc::new(reported),
            ))
        } else {
            None
        };
        let usage = match &config.proxy_key {
            Some(proxy_key) if config.source == crate::config::SourceKind::Http => Some((
                UsageSink {
                    client,
                    url: format!("{api_url}proxy/usage/").parse()?,
                    proxy_key: http::HeaderValue::from_str(proxy_key)?,
                },
                Outbox::open("usage", max_pending, spool("usage")),
            )),
            _ => None,
        };
        let reported = flagsmith.as_ref().map(|(_, _, r)| Arc::clone(r));
        Ok((
            Sinks {
                batches,
                flagsmith,
                usage,
            },
            reported,
        ))
    }

    /// Cuts this interval's counts and queues them for every sink. Sync's
    /// batch also carries this edge's report; with no counts and nothing
    /// queued, a batch of the report alone says the edge is alive.
    fn cut(&mut self, loader: &Loader, config: &Config) {
        let edge_id = config.edge_id.as_str();
        let batch = cut_batch(&loader.store, edge_id);
        if let (Some(batch), Some((_, outbox))) = (&batch, &mut self.usage) {
            for usage in usage_batches(batch, &loader.source_client_keys()) {
                outbox.push(uuid::Uuid::new_v4().to_string(), usage, None);
            }
        }
        if let Some((_, outbox)) = &mut self.batches {
            let batch = match batch {
                Some(batch) => Some(batch),
                None if outbox.is_empty() => Some(Batch {
                    batch_id: uuid::Uuid::new_v4().to_string(),
                    edge_id: edge_id.to_string(),
                    created_at: Some(now_iso8601()),
                    environments: Vec::new(),
                    edge: None,
                }),
                None => None,
            };
            if let Some(mut batch) = batch {
                batch.edge = Some(edge_report(&loader.store, &config.edge_region));
                outbox.push(batch.batch_id.clone(), batch, None);
            }
        }
        if let Some((_, outbox, reported)) = &mut self.flagsmith {
            let id = uuid::Uuid::new_v4().to_string();
            let journal = outbox.journal_path(&id);
            let taken = match &journal {
                Some(path) => reported.take(path),
                None => reported.take(Path::new("")),
            };
            if let Some((batch, spooled)) = taken {
                outbox.push(id, batch, journal.filter(|_| spooled));
            }
        }
    }

    /// Sends what is queued, every sink at once.
    async fn deliver(&mut self) {
        let batches = async {
            if let Some((sink, outbox)) = &mut self.batches {
                outbox.deliver(sink).await;
            }
        };
        let flagsmith = async {
            if let Some((sink, outbox, _)) = &mut self.flagsmith {
                outbox.deliver(sink).await;
            }
        };
        let usage = async {
            if let Some((sink, outbox)) = &mut self.usage {
                outbox.deliver(sink).await;
            }
        };
        tokio::join!(batches, flagsmith, usage);
    }

    fn pending(&self) -> usize {
        self.batches.as_ref().map_or(0, |(_, o)| o.len())
            + self.flagsmith.as_ref().map_or(0, |(_, o, _)| o.len())
            + self.usage.as_ref().map_or(0, |(_, o)| o.len())
    }

    fn close(self) {
        if let Some((_, outbox)) = self.batches {
            outbox.close();
        }
        if let Some((_, outbox, _)) = self.flagsmith {
            outbox.close();
        }
        if let Some((_, outbox)) = self.usage {
            outbox.close();
        }
    }
}

/// Cuts and ships batches until shutdown, then flushes what is left (what
/// still cannot be delivered stays in the spool, when there is one).
pub async fn run(loader: Loader, mut sinks: Sinks, config: Config, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(config.analytics_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // What a previous process left in the spool goes first.
    sinks.deliver().await;
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            _ = shutdown.wait() => true,
        };
        sinks.cut(&loader, &config);
        sinks.deliver().await;
        if stopping {
            break;
        }
    }
    // Shutdown: a few more attempts for what could not be delivered.
    for attempt in 0..3 {
        if sinks.pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
        sinks.deliver().await;
    }
    sinks.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

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
