//! Stored identities: traits kept between requests, keyed by
//! `<client key>_<identifier>` as Flagsmith keys them (SPEC §6).
//!
//! One trait, so that requests do not care where identities live. `memory` keeps
//! them in this process (bounded, lost on restart; for a single edge).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

/// Trait values in insertion order.
pub type Traits = Vec<(String, Value)>;

/// A boxed future, so the trait can be used as `dyn IdentityStore`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[error("identity store: {0}")]
pub struct StoreError(pub String);

/// Where identities' traits are kept.
pub trait IdentityStore: Send + Sync {
    /// The stored traits of an identity, if it exists.
    fn get<'a>(
        &'a self,
        environment_key: &'a str,
        identifier: &'a str,
    ) -> BoxFuture<'a, Result<Option<Traits>, StoreError>>;
    /// Stores an identity's traits (replacing what was stored).
    fn put<'a>(
        &'a self,
        environment_key: &'a str,
        identifier: &'a str,
        traits: Traits,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The composite key Flagsmith uses for identities.
pub fn composite_key(environment_key: &str, identifier: &str) -> String {
    format!("{environment_key}_{identifier}")
}

/// Identities in this process, least recently used evicted past `capacity`.
pub struct MemoryStore {
    identities: moka::sync::Cache<String, Arc<Traits>>,
}

impl MemoryStore {
    /// A store holding at most `capacity` identities.
    pub fn new(capacity: u64) -> MemoryStore {
        MemoryStore {
            identities: moka::sync::Cache::new(capacity),
        }
    }
}

impl IdentityStore for MemoryStore {
    fn get<'a>(
        &'a self,
        environment_key: &'a str,
        identifier: &'a str,
    ) -> BoxFuture<'a, Result<Option<Traits>, StoreError>> {
        let found = self
            .identities
            .get(&composite_key(environment_key, identifier))
            .map(|t| (*t).clone());
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(
        &'a self,
        environment_key: &'a str,
        identifier: &'a str,
        traits: Traits,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.identities
            .insert(composite_key(environment_key, identifier), Arc::new(traits));
        Box::pin(async { Ok(()) })
    }
}

/// Identities in DynamoDB, shared by every edge (as Flagsmith's SaaS edge keeps
/// them). Reads go through a moka cache; a write updates the cache at once and is
/// queued for a background task that writes in `BatchWriteItem` batches, so a
/// request never waits for DynamoDB to store traits. When the queue is full the
/// write is counted as dropped (the cache still has it) rather than blocking.
pub struct DynamoStore {
    table: flagedge_cloud::dynamo::IdentityTable,
    cache: moka::sync::Cache<String, Arc<flagedge_cloud::dynamo::IdentityRecord>>,
    writes: flume::Sender<flagedge_cloud::dynamo::IdentityRecord>,
}

/// The background writer's queue bound.
const WRITE_QUEUE: usize = 10_000;

impl DynamoStore {
    /// A store on `table`, caching up to `capacity` identities; returns the
    /// writer task's body, to be spawned.
    pub fn new(
        table: flagedge_cloud::dynamo::IdentityTable,
        capacity: u64,
        shutdown: crate::shutdown::Shutdown,
    ) -> (
        DynamoStore,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let (writes, queue) = flume::bounded(WRITE_QUEUE);
        let writer = write_batches(table.clone(), queue, shutdown);
        let store = DynamoStore {
            table,
            cache: moka::sync::Cache::new(capacity),
            writes,
        };
        (store, writer)
    }
}

async fn write_batches(
    table: flagedge_cloud::dynamo::IdentityTable,
    queue: flume::Receiver<flagedge_cloud::dynamo::IdentityRecord>,
    shutdown: crate::shutdown::Shutdown,
) {
    let mut stopping = false;
    loop {
        let first = tokio::select! {
            record = queue.recv_async() => match record {
                Ok(record) => record,
                Err(_) => return,
            },
            _ = shutdown.wait(), if !stopping => {
                stopping = true;
                match queue.try_recv() {
                    Ok(record) => record,
                    Err(_) => return,
                }
            }
        };
        // Gather what else is waiting (up to a few batches) and give late
        // arrivals a moment, so writes go out 25 at a time.
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(20);
        while batch.len() < 100 {
            match tokio::time::timeout_at(deadline, queue.recv_async()).await {
                Ok(Ok(record)) => batch.push(record),
                _ => break,
            }
        }
        // Later writes of one identity replace earlier ones.
        let mut latest: std::collections::HashMap<String, flagedge_cloud::dynamo::IdentityRecord> =
            std::collections::HashMap::new();
        for record in batch {
            latest.insert(record.composite_key(), record);
        }
        let records: Vec<_> = latest.into_values().collect();
        if let Err(error) = table.put_batch(&records).await {
            tracing::error!(%error, identities = records.len(), "identity writes failed");
            metrics::counter!("flagedge_identity_writes_failed_total")
                .increment(records.len() as u64);
        } else {
            metrics::counter!("flagedge_identity_writes_total").increment(records.len() as u64);
        }
        if stopping && queue.is_empty() {
            return;
        }
    }
}

impl IdentityStore for DynamoStore {
    fn get<'a>(
        &'a self,
        environment_key: &'a str,
        identifier: &'a str,
    ) -> BoxFuture<'a, Result<Option<Traits>, StoreError>> {
        Box::pin(async move {
            let key = composite_key(environment_key, identifier);
            if let Some(record) = self.cache.get(&key) {
                return Ok(Some(record.traits.clone()));
            }
            let record = self
                .table
                .get(environment_key, identifier)
                .await
                .map_err(|e| StoreError(e.to_string()))?;
            Ok(record.map(|record| {
                let traits = record.traits.clone();
                self.cache.insert(key, Arc::new(record));
                traits
            }))
        })
    }

    fn put<'a>(
        &'a self,
        environment_key: &'a str,
        identifier: &'a str,
        traits: Traits,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = composite_key(environment_key, identifier);
            // Keep what others stored with the identity (its overrides).
            let extra = self
                .cache
                .get(&key)
                .map(|r| r.extra.clone())
                .unwrap_or_default();
            let record = flagedge_cloud::dynamo::IdentityRecord {
                environment_key: environment_key.to_string(),
                identifier: identifier.to_string(),
                traits,
                extra,
            };
            self.cache.insert(key, Arc::new(record.clone()));
            if self.writes.try_send(record).is_err() {
                tracing::warn!("identity write queue full: this write stays in the cache only");
                metrics::counter!("flagedge_identity_writes_dropped_total").increment(1);
            }
            Ok(())
        })
    }
}
