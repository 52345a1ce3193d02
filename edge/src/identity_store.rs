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
