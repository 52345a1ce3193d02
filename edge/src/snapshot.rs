//! The snapshot: every key the edge answers, mapped to its environment, held in
//! one `ArcSwap` so requests never lock.
//!
//! Readers `load()` the current snapshot and look a key up. Writers (sources,
//! config reloads) go through [`Store`], which serialises them behind a mutex
//! that requests never touch, builds a complete new snapshot and swaps it in.
//! Swap rules: a document that fails to parse or compile, or is older than the
//! one served, never replaces it; an identical one only confirms freshness.
//!
//! Keys are looked up by a keyed 64-bit hash, then compared in constant time, so
//! response timing says nothing about how much of a guessed key was right.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use flagedge_engine::KeyKind;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

use crate::config::{KeyPair, redact};
use crate::environment::ServedEnvironment;

struct KeyEntry {
    key: Box<str>,
    kind: KeyKind,
    environment: Arc<ServedEnvironment>,
}

/// An immutable view of every servable key.
pub struct Snapshot {
    hasher: std::collections::hash_map::RandomState,
    buckets: HashMap<u64, Vec<KeyEntry>>,
    /// Environments by client-side key.
    pub environments: HashMap<Box<str>, Arc<ServedEnvironment>>,
}

impl Snapshot {
    fn build(
        environments: &HashMap<Box<str>, Arc<ServedEnvironment>>,
        pairs: &[KeyPair],
    ) -> Snapshot {
        let hasher = std::collections::hash_map::RandomState::new();
        let mut buckets: HashMap<u64, Vec<KeyEntry>> =
            HashMap::with_capacity(environments.len() + pairs.len());
        let mut add = |key: &str, kind, environment: &Arc<ServedEnvironment>| {
            buckets
                .entry(hasher.hash_one(key.as_bytes()))
                .or_default()
                .push(KeyEntry {
                    key: key.into(),
                    kind,
                    environment: Arc::clone(environment),
                });
        };
        for (client_key, environment) in environments {
            add(client_key, KeyKind::Client, environment);
        }
        for pair in pairs {
            if let Some(environment) = environments.get(pair.client_side_key.as_str()) {
                add(&pair.server_side_key, KeyKind::Server, environment);
            }
        }
        Snapshot {
            hasher,
            buckets,
            environments: environments.clone(),
        }
    }

    /// The environment a presented key opens, and the key's kind.
    pub fn lookup(&self, presented: &str) -> Option<(&Arc<ServedEnvironment>, KeyKind)> {
        let bucket = self
            .buckets
            .get(&self.hasher.hash_one(presented.as_bytes()))?;
        bucket
            .iter()
            .find(|entry| {
                entry.key.len() == presented.len()
                    && bool::from(entry.key.as_bytes().ct_eq(presented.as_bytes()))
            })
            .map(|entry| (&entry.environment, entry.kind))
    }
}

/// A document swapped in: what realtime streams announce.
#[derive(Clone, Debug)]
pub struct Swap {
    /// The environment's client-side key.
    pub client_key: Arc<str>,
    /// The new document's `updated_at`, as epoch seconds.
    pub updated_at: f64,
}

/// What happened to a document offered to the store.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// It is now served.
    Swapped,
    /// It equals the one served (freshness confirmed).
    Unchanged,
    /// It is older than the one served.
    Older,
}

struct Writer {
    environments: HashMap<Box<str>, Arc<ServedEnvironment>>,
    pairs: Vec<KeyPair>,
    /// Client keys that must be loaded before the edge is ready.
    expected: HashSet<String>,
    /// Replaced environments whose counters analytics has not drained yet.
    retired: Vec<Arc<ServedEnvironment>>,
}

/// The writable side of the snapshot.
pub struct Store {
    current: ArcSwap<Snapshot>,
    writer: Mutex<Writer>,
    swaps: broadcast::Sender<Swap>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store {
            current: ArcSwap::from_pointee(Snapshot::build(&HashMap::new(), &[])),
            writer: Mutex::new(Writer {
                environments: HashMap::new(),
                pairs: Vec::new(),
                expected: HashSet::new(),
                retired: Vec::new(),
            }),
            swaps: broadcast::channel(1024).0,
        }
    }

    /// The current snapshot (cheap; never blocks).
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot, owned (for holding across `.await`).
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Subscribes to swaps.
    pub fn subscribe(&self) -> broadcast::Receiver<Swap> {
        self.swaps.subscribe()
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // A panic while holding the lock leaves consistent data (every write is a
        // whole-value replacement), so a poisoned lock is still usable.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offers a loaded environment; applies the swap rules.
    pub fn offer(&self, environment: ServedEnvironment) -> Offer {
        let mut writer = self.writer();
        let key: Box<str> = environment.client_key().into();
        if let Some(current) = writer.environments.get(&key) {
            if current.digest == environment.digest {
                current.confirm();
                return Offer::Unchanged;
            }
            if environment.version.is_older_than(&current.version) {
                tracing::warn!(environment = %redact(&key), "ignored a document older than the one served");
                metrics::counter!("flagedge_documents_rejected_total", "reason" => "older")
                    .increment(1);
                return Offer::Older;
            }
        }
        let updated_at = environment
            .compiled
            .meta()
            .updated_at
            .map_or(0.0, |t| t.epoch_seconds_f64());
        let revision = environment.compiled.meta().revision;
        let environment = Arc::new(environment);
        if let Some(previous) = writer.environments.insert(key.clone(), environment) {
            writer.retired.push(previous);
        }
        self.publish(&writer);
        tracing::info!(environment = %redact(&key), ?revision, updated_at, "document swapped in");
        metrics::counter!("flagedge_document_swaps_total").increment(1);
        let _ = self.swaps.send(Swap {
            client_key: Arc::from(&*key),
            updated_at,
        });
        Offer::Swapped
    }

    /// Marks a served document as confirmed current by its source.
    pub fn confirm(&self, client_key: &str) {
        if let Some(environment) = self.writer().environments.get(client_key) {
            environment.confirm();
        }
    }

    /// Replaces the server-side key pairs (config reload, key rotation).
    pub fn set_key_pairs(&self, pairs: Vec<KeyPair>) {
        let mut writer = self.writer();
        if writer.pairs != pairs {
            writer.pairs = pairs;
            self.publish(&writer);
        }
    }

    /// Stops serving the environments whose client keys are not in `keep`;
    /// returns the keys removed. Their counters are drained with the retired.
    pub fn retain(&self, keep: &HashSet<String>) -> Vec<String> {
        let mut writer = self.writer();
        let removed: Vec<Box<str>> = writer
            .environments
            .keys()
            .filter(|key| !keep.contains(&***key))
            .cloned()
            .collect();
        writer.expected.retain(|key| keep.contains(key));
        if removed.is_empty() {
            return Vec::new();
        }
        for key in &removed {
            if let Some(environment) = writer.environments.remove(key) {
                writer.retired.push(environment);
            }
        }
        self.publish(&writer);
        removed.into_iter().map(String::from).collect()
    }

    /// Adds client keys that readiness waits for.
    pub fn expect(&self, client_keys: impl IntoIterator<Item = String>) {
        self.writer().expected.extend(client_keys);
    }

    /// Readiness: the expected environments not loaded yet.
    pub fn missing(&self) -> Vec<String> {
        let writer = self.writer();
        writer
            .expected
            .iter()
            .filter(|k| !writer.environments.contains_key(k.as_str()))
            .cloned()
            .collect()
    }

    /// Takes the environments replaced since the last call (for a final counter drain).
    pub fn take_retired(&self) -> Vec<Arc<ServedEnvironment>> {
        std::mem::take(&mut self.writer().retired)
    }

    fn publish(&self, writer: &Writer) {
        self.current.store(Arc::new(Snapshot::build(
            &writer.environments,
            &writer.pairs,
        )));
        metrics::gauge!("flagedge_environments_loaded").set(writer.environments.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn environment(key: &str, updated_at: &str, value: &str) -> ServedEnvironment {
        let json = format!(
            r#"{{"api_key":"{key}","name":"n","updated_at":"{updated_at}","project":{{}},
               "feature_states":[{{"feature":{{"id":1,"name":"f"}},"enabled":true,"feature_state_value":"{value}","django_id":1}}]}}"#
        );
        ServedEnvironment::load(Bytes::from(json)).unwrap()
    }

    #[test]
    fn swap_rules() {
        let store = Store::new();
        for (updated_at, name, offered) in [
            ("2026-01-02T00:00:00Z", "a", Offer::Swapped),
            ("2026-01-02T00:00:00Z", "a", Offer::Unchanged),
            ("2026-01-01T00:00:00Z", "old", Offer::Older),
            ("2026-01-03T00:00:00Z", "b", Offer::Swapped),
        ] {
            let answer = store.offer(environment("k", updated_at, name));
            assert_eq!(answer, offered, "{updated_at} {name}");
        }
        let snapshot = store.load();
        let (served, kind) = snapshot.lookup("k").unwrap();
        assert_eq!(kind, KeyKind::Client);
        assert!(String::from_utf8_lossy(&served.flags[0].plain()).contains("\"b\""));
        assert_eq!(store.take_retired().len(), 1);
    }

    #[test]
    fn server_keys_resolve_to_their_environment() {
        let store = Store::new();
        store.offer(environment("client", "2026-01-01T00:00:00Z", "a"));
        assert!(store.load().lookup("ser.secret").is_none());
        store.set_key_pairs(vec![KeyPair {
            server_side_key: "ser.secret".into(),
            client_side_key: "client".into(),
        }]);
        let snapshot = store.load();
        assert_eq!(
            snapshot.lookup("ser.secret").map(|(_, k)| k),
            Some(KeyKind::Server)
        );
        assert!(snapshot.lookup("ser.secreT").is_none());
        assert!(snapshot.lookup("clien").is_none());
    }
}
