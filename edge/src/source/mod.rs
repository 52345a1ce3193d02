//! Where documents come from. Every source delivers document bytes (and, where
//! it knows them, server-side key pairs) to one [`Loader`], which validates,
//! compiles (on low-priority threads of its own, [`compiling`]), offers them to the snapshot under its swap
//! rules, and persists what was swapped in.
//!
//! - `demo` — the example environments built into the binary;
//! - `file` — a directory of documents, checked for changes;
//! - `http` — a Flagsmith-compatible `/environment-document/` endpoint, polled
//!   (`pages` merges paged documents, `proxy_config` reads Flagsmith's proxy keys);
//! - `published` — what flagedge-sync published to S3 or DynamoDB;
//! - `push` — change feeds (core's, sync's) that make the `http` and published
//!   sources fetch a change at once; polling stays as the safety net.

pub mod compiling;
pub mod demo;
pub mod file;
pub mod http;
pub mod pages;
pub mod proxy_config;
pub mod published;
pub mod push;

use std::sync::Arc;

use bytes::Bytes;

use crate::config::KeyPair;
use crate::environment::LoadError;
use crate::persist::Persistence;
use crate::snapshot::{Offer, Store};

/// Validates, compiles and offers documents; persists what is swapped in.
#[derive(Clone)]
pub struct Loader {
    /// The snapshot.
    pub store: Arc<Store>,
    persistence: Option<Persistence>,
    /// Key pairs from the configuration and from the source, combined.
    pairs: Arc<std::sync::Mutex<(Vec<KeyPair>, Vec<KeyPair>)>>,
}

/// From the change (the document's `updated_at`, set by whoever wrote it) to
/// this swap: per environment (the latest) and over all (a histogram).
fn record_propagation_lag(
    client_key: &str,
    updated_at: Option<flagedge_engine::Timestamp>,
    source: &'static str,
) {
    let Some(updated_at) = updated_at else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // A clock behind the writer's would make it negative: say 0, not nonsense.
    let lag = (now - updated_at.epoch_seconds_f64()).max(0.0);
    metrics::histogram!("flagedge_propagation_lag_seconds", "source" => source).record(lag);
    metrics::gauge!("flagedge_environment_propagation_lag_seconds", "environment" => client_key.to_string())
        .set(lag);
}

/// `server-keys.json` in a documents directory (edge-proxy's field name).
#[derive(serde::Deserialize)]
pub struct ServerKeysFile {
    /// The pairs.
    pub environment_key_pairs: Vec<KeyPair>,
}

impl Loader {
    /// A loader writing to `store` and, if given, persisting.
    pub fn new(store: Arc<Store>, persistence: Option<Persistence>) -> Loader {
        Loader {
            store,
            persistence,
            pairs: Default::default(),
        }
    }

    /// Loads and offers a document; `source` names the origin in logs and metrics.
    pub async fn offer(&self, bytes: Bytes, source: &'static str) -> Result<Offer, LoadError> {
        let kept = bytes.clone();
        let environment = match compiling::compile(bytes).await {
            Ok(environment) => environment,
            Err(error) => {
                metrics::counter!("flagedge_source_errors_total", "source" => source, "kind" => "invalid").increment(1);
                metrics::counter!("flagedge_documents_rejected_total", "reason" => "invalid")
                    .increment(1);
                return Err(error);
            }
        };
        let client_key = environment.client_key().to_string();
        let updated_at = environment.version.updated_at;
        let offer = self.store.offer(environment);
        // The demo's documents are built in: their age is no propagation.
        if offer == Offer::Swapped && source != "demo" {
            record_propagation_lag(&client_key, updated_at, source);
        }
        if offer == Offer::Swapped
            && let Some(persistence) = self.persistence.clone()
        {
            let saved =
                tokio::task::spawn_blocking(move || persistence.save_document(&client_key, &kept))
                    .await;
            if let Ok(Err(error)) = saved {
                tracing::warn!(%error, "could not persist a document");
            }
        }
        Ok(offer)
    }

    /// Stops serving every environment whose client-side key is not in `keep`
    /// (and forgets its persisted document).
    pub fn retain_environments(&self, keep: &std::collections::HashSet<String>) {
        for client_key in self.store.retain(keep) {
            tracing::info!(environment = %crate::config::redact(&client_key), "environment no longer configured: not served");
            if let Some(persistence) = &self.persistence
                && let Err(error) = persistence.remove_document(&client_key)
            {
                tracing::warn!(%error, "could not remove a persisted document");
            }
        }
    }

    /// The environments the source's key pairs open (with a proxy key: the ones
    /// its configuration grants).
    pub fn source_client_keys(&self) -> std::collections::HashSet<String> {
        let both = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
        both.1.iter().map(|p| p.client_side_key.clone()).collect()
    }

    /// Replaces the key pairs that come from the configuration.
    pub fn set_config_key_pairs(&self, pairs: Vec<KeyPair>) {
        let combined = {
            let mut both = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
            both.0 = pairs;
            [both.0.clone(), both.1.clone()].concat()
        };
        self.apply_key_pairs(combined);
    }

    /// Replaces the key pairs that come from the source (a keys file, a table).
    pub fn set_source_key_pairs(&self, pairs: Vec<KeyPair>) {
        let combined = {
            let mut both = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
            both.1 = pairs;
            [both.0.clone(), both.1.clone()].concat()
        };
        self.apply_key_pairs(combined);
    }

    fn apply_key_pairs(&self, pairs: Vec<KeyPair>) {
        if let Some(persistence) = &self.persistence
            && let Err(error) = persistence.save_key_pairs(&pairs)
        {
            tracing::warn!(%error, "could not persist the server-side keys");
        }
        self.store.set_key_pairs(pairs);
    }
}
