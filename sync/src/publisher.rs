//! Publishing documents: follow core's change feed (long-poll), and reconcile
//! everything periodically so that a missed notification heals itself.
//!
//! For each environment whose revision is newer than what this process last
//! published, fetch the document from core and hand it to every sink. Sinks
//! write conditionally (never an older revision over a newer one), so a replay,
//! a restart or a second sync in another region is harmless.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flagedge_cloud::changes::Changed;
use flagedge_cloud::dynamo::DocumentTable;
use flagedge_cloud::manifest::{Entry, Manifest};
use flagedge_cloud::s3::{ManifestPoll, S3Store};
use flagedge_cloud::{CloudError, Written};
use serde_json::Value;
use tokio::sync::watch;

use crate::core_client::CoreClient;
use crate::stream::{ChangeLog, Streams};

/// A place documents are published to.
#[derive(Clone)]
pub enum Sink {
    /// S3 objects plus a manifest.
    S3(S3Store),
    /// DynamoDB items plus a manifest item.
    DynamoDb(DocumentTable),
}

impl Sink {
    /// `s3` or `dynamodb`: also the name of its change stream.
    pub fn name(&self) -> &'static str {
        match self {
            Sink::S3(_) => "s3",
            Sink::DynamoDb(_) => "dynamodb",
        }
    }

    /// Writes the document, announces it on `log` (it is readable now), then
    /// records it in the manifest.
    async fn publish(
        &self,
        client_key: &str,
        entry: Entry,
        bytes: Bytes,
        document: &serde_json::Map<String, Value>,
        log: Option<&ChangeLog>,
    ) -> Result<(), CloudError> {
        let written = match self {
            Sink::S3(store) => {
                store
                    .put_document(client_key, entry.revision, bytes)
                    .await?
            }
            Sink::DynamoDb(table) => table.put_document(document).await?,
        };
        if let (Written::Stored, Some(log)) = (written, log) {
            log.published(client_key, entry.revision);
        }
        match self {
            Sink::S3(store) => {
                store
                    .update_manifest(|m| m.record(client_key, entry.clone()))
                    .await
            }
            Sink::DynamoDb(table) => table.record(client_key, &entry).await.map(|_| ()),
        }
    }

    /// The manifest the store holds now (`None`: it has none; a bucket that does
    /// not exist has none either).
    async fn manifest(&self) -> Result<Option<Manifest>, CloudError> {
        match self {
            Sink::S3(store) => match store.poll_manifest(None).await? {
                ManifestPoll::Changed(manifest, _) => Ok(Some(manifest)),
                ManifestPoll::Missing | ManifestPoll::Unchanged => Ok(None),
            },
            Sink::DynamoDb(table) => table.get_manifest().await.map(Some),
        }
    }

    async fn set_server_keys(&self, keys: &BTreeMap<String, String>) -> Result<(), CloudError> {
        match self {
            Sink::S3(store) => {
                store
                    .update_manifest(|m| m.set_server_keys(keys.clone()))
                    .await
            }
            Sink::DynamoDb(table) => table.set_server_keys(keys).await,
        }
    }
}

/// The publisher's state.
pub struct Publisher {
    core: CoreClient,
    sinks: Vec<Sink>,
    published: HashMap<String, u64>,
    server_keys: Option<BTreeMap<String, String>>,
    changes_timeout: u64,
    reconcile_interval: Duration,
    streams: Arc<Streams>,
    resources: Option<Resources>,
}

/// What `--create-resources` creates: made at start, and again when a store
/// turns out to have lost them (a bucket or table deleted and recreated, an
/// emulator restarted).
#[derive(Clone)]
pub struct Resources {
    /// The AWS configuration to create them with.
    pub sdk: flagedge_cloud::aws::SdkConfig,
    /// The bucket, when publishing to S3.
    pub bucket: Option<String>,
    /// The document table, when publishing to DynamoDB.
    pub table: Option<String>,
    /// The identity table, when there is one.
    pub identity_table: Option<String>,
}

impl Resources {
    /// Creates whichever of them does not exist.
    pub async fn create(&self) -> Result<(), CloudError> {
        if let Some(bucket) = &self.bucket {
            // An existing bucket answers an error that changes nothing.
            let _ = flagedge_cloud::aws::s3(&self.sdk)
                .create_bucket()
                .bucket(bucket)
                .send()
                .await;
        }
        if let Some(table) = &self.table {
            flagedge_cloud::dynamo::create_tables(
                &flagedge_cloud::aws::dynamodb(&self.sdk),
                table,
                self.identity_table.as_deref(),
            )
            .await?;
        }
        Ok(())
    }
}

impl Publisher {
    /// A publisher.
    pub fn new(
        core: CoreClient,
        sinks: Vec<Sink>,
        changes_timeout: u64,
        reconcile_interval: Duration,
        streams: Arc<Streams>,
        resources: Option<Resources>,
    ) -> Publisher {
        Publisher {
            core,
            sinks,
            published: HashMap::new(),
            server_keys: None,
            changes_timeout,
            reconcile_interval,
            streams,
            resources,
        }
    }

    /// Forgets what a store no longer holds, so this reconcile writes it again:
    /// what this process remembers publishing is only a shortcut, the stores are
    /// the truth. A store that cannot be read is (re)created first when allowed.
    async fn check_stores(&mut self) -> anyhow::Result<()> {
        for sink in self.sinks.clone() {
            let manifest = match (sink.manifest().await, &self.resources) {
                (Ok(Some(manifest)), _) => manifest,
                (Ok(None), None) => Manifest::default(),
                (Err(error), None) => return Err(anyhow::anyhow!("{} sink: {error}", sink.name())),
                (read, Some(resources)) => {
                    // No manifest, or none readable: the bucket or table may be gone.
                    if let Err(error) = read {
                        tracing::warn!(%error, sink = sink.name(), "cannot read the manifest; creating the store's resources");
                    }
                    resources.create().await?;
                    sink.manifest()
                        .await
                        .map_err(|e| anyhow::anyhow!("{} sink: {e}", sink.name()))?
                        .unwrap_or_default()
                }
            };
            let before = self.published.len();
            self.published.retain(|key, revision| {
                manifest
                    .environments
                    .get(key)
                    .is_some_and(|entry| entry.revision >= *revision)
            });
            if self.published.len() < before {
                tracing::warn!(
                    sink = sink.name(),
                    missing = before - self.published.len(),
                    "the store lost published documents; publishing them again"
                );
                metrics::counter!("flagedge_sync_store_losses_total").increment(1);
            }
            if self.server_keys.as_ref() != Some(&manifest.server_keys) {
                self.server_keys = None;
            }
        }
        Ok(())
    }

    /// Publishes one environment at (at least) `revision`. Returns whether it wrote.
    async fn publish(&mut self, environment: &Changed) -> anyhow::Result<bool> {
        if self
            .published
            .get(&environment.environment_key)
            .is_some_and(|&r| r >= environment.revision)
        {
            return Ok(false);
        }
        let bytes = self.core.document(&environment.environment_key).await?;
        let document: serde_json::Map<String, Value> = serde_json::from_slice(&bytes)?;
        let revision = document
            .get("revision")
            .and_then(Value::as_u64)
            .unwrap_or(environment.revision);
        let updated_at = document
            .get("updated_at")
            .and_then(Value::as_str)
            .map(str::to_string);
        // Every sink at once: each store's edges hear of it as soon as their store has it.
        let document = Arc::new(document);
        let writes: Vec<_> = self
            .sinks
            .iter()
            .map(|sink| {
                let (sink, streams, document, bytes) = (
                    sink.clone(),
                    Arc::clone(&self.streams),
                    Arc::clone(&document),
                    bytes.clone(),
                );
                let key = environment.environment_key.clone();
                let entry = Entry {
                    revision,
                    updated_at: updated_at.clone(),
                };
                tokio::spawn(async move {
                    let log = streams.get(sink.name());
                    sink.publish(&key, entry, bytes, &document, log)
                        .await
                        .map_err(|e| anyhow::anyhow!("{} sink: {e}", sink.name()))
                })
            })
            .collect();
        for write in writes {
            write.await??;
        }
        self.published
            .insert(environment.environment_key.clone(), revision);
        metrics::counter!("flagedge_sync_documents_published_total").increment(1);
        if let Some(updated) = updated_at.as_deref().and_then(parse_epoch) {
            let lag = now_epoch() - updated;
            if lag >= 0.0 {
                metrics::histogram!("flagedge_sync_publish_lag_seconds").record(lag);
            }
        }
        tracing::info!(environment = %environment.environment_key, revision, "published");
        Ok(true)
    }

    /// Full reconcile: every environment, and the server-side keys.
    pub async fn reconcile(&mut self) -> anyhow::Result<u64> {
        let listing = self.core.environments().await?;
        self.check_stores().await?;
        let keys: BTreeMap<String, String> = listing
            .environments
            .iter()
            .flat_map(|e| {
                e.server_keys
                    .iter()
                    .map(move |k| (k.clone(), e.environment_key.clone()))
            })
            .collect();
        let mut failed = 0;
        for environment in &listing.environments {
            if let Err(error) = self.publish(environment).await {
                tracing::error!(environment = %environment.environment_key, %error, "publishing failed; retrying with a reconcile");
                metrics::counter!("flagedge_sync_publish_errors_total").increment(1);
                failed += 1;
            }
        }
        if self.server_keys.as_ref() != Some(&keys) {
            for sink in &self.sinks {
                sink.set_server_keys(&keys)
                    .await
                    .map_err(|e| anyhow::anyhow!("{} sink: {e}", sink.name()))?;
            }
            for sink in &self.sinks {
                if let Some(log) = self.streams.get(sink.name()) {
                    log.keys_changed();
                }
            }
            self.server_keys = Some(keys);
        }
        // A failed environment is retried by the next reconcile, after a backoff.
        anyhow::ensure!(
            failed == 0,
            "{failed} environment(s) could not be published"
        );
        Ok(listing.revision)
    }

    /// Follows the change feed until `stop` turns true, reconciling every interval.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut cursor = 0;
        let mut last_reconcile: Option<Instant> = None;
        let mut failures = 0u32;
        while !*stop.borrow() {
            let due = last_reconcile.is_none_or(|at| at.elapsed() >= self.reconcile_interval);
            let step = if due {
                let result = self.reconcile().await;
                if result.is_ok() {
                    last_reconcile = Some(Instant::now());
                }
                result.map(|revision| cursor = cursor.max(revision))
            } else {
                // The long-poll gives way to the next reconcile when it is due.
                let until_reconcile = last_reconcile.map_or(Duration::ZERO, |at| {
                    self.reconcile_interval.saturating_sub(at.elapsed())
                });
                let changes = tokio::select! {
                    changes = self.core.changes(cursor, self.changes_timeout) => changes,
                    _ = tokio::time::sleep(until_reconcile) => continue,
                    _ = stop.changed() => break,
                };
                match changes {
                    Ok(listing) => {
                        let mut failed = false;
                        for environment in &listing.environments {
                            if let Err(error) = self.publish(environment).await {
                                tracing::error!(environment = %environment.environment_key, %error, "publishing failed");
                                metrics::counter!("flagedge_sync_publish_errors_total")
                                    .increment(1);
                                failed = true;
                            }
                        }
                        // Server keys may have changed with these revisions.
                        if !listing.environments.is_empty() {
                            last_reconcile = None;
                        }
                        if failed {
                            // Back off, then a full reconcile: the store may need recreating.
                            Err(anyhow::anyhow!("publishing failed"))
                        } else {
                            cursor = cursor.max(listing.revision);
                            Ok(())
                        }
                    }
                    Err(error) => Err(error.into()),
                }
            };
            match step {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    // At most 1 s: a change made while core or a store was away
                    // should be published within about a second of its return.
                    let backoff =
                        Duration::from_millis(200 << failures.min(8)).min(Duration::from_secs(1));
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "sync step failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break,
                    }
                }
            }
        }
    }
}

fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds since the epoch of an ISO 8601 UTC date-time (the form core writes).
fn parse_epoch(text: &str) -> Option<f64> {
    let (date, rest) = text.split_once('T')?;
    let mut parts = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, d) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    let time = rest.trim_end_matches('Z').split(['+']).next()?;
    let mut hms = time.split(':');
    let (h, min) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let s: f64 = hms.next().unwrap_or("0").parse().ok()?;
    let y_adj = if m <= 2 { y - 1 } else { y };
    let era = y_adj.div_euclid(400);
    let yoe = y_adj - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + s)
}

#[cfg(test)]
mod tests {
    use super::parse_epoch;

    #[test]
    fn epochs() {
        assert_eq!(parse_epoch("1970-01-01T00:00:00+00:00"), Some(0.0));
        assert_eq!(
            parse_epoch("2025-11-16T13:28:31.5+00:00"),
            Some(1_763_299_711.5)
        );
    }
}
