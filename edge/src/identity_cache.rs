//! Cached identity responses, keyed by (environment revision, key kind,
//! identifier, traits) and bounded by a memory budget.
//!
//! The key is a 128-bit keyed hash of those inputs, so the cache holds no copy
//! of them; a new document revision has a new digest, so its entries are simply
//! never hit again and age out. The gzip form of a body is made on first demand.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use flagedge_engine::KeyKind;
use serde_json::Value;

use crate::environment::{GZIP_MIN_BYTES, ServedEnvironment, gzip};

/// A cache key.
pub type CacheKey = u128;

/// A response body ready to send again.
pub struct CachedResponse {
    /// The JSON.
    pub body: Bytes,
    gzip: OnceLock<Option<Bytes>>,
    /// Features shown, when the environment hides disabled flags (for counting).
    pub shown: Option<Box<[u32]>>,
}

impl CachedResponse {
    /// A body and, where counting needs it, the features it shows.
    pub fn new(body: Bytes, shown: Option<Box<[u32]>>) -> CachedResponse {
        CachedResponse {
            body,
            gzip: OnceLock::new(),
            shown,
        }
    }

    /// The body gzipped, if worth it.
    pub fn gzipped(&self) -> Option<Bytes> {
        self.gzip
            .get_or_init(|| (self.body.len() >= GZIP_MIN_BYTES).then(|| gzip(&self.body)))
            .clone()
    }
}

/// The cache.
pub struct IdentityCache {
    entries: moka::sync::Cache<CacheKey, Arc<CachedResponse>>,
    seeds: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
}

struct TwoHashers(
    std::collections::hash_map::DefaultHasher,
    std::collections::hash_map::DefaultHasher,
);

impl std::io::Write for TwoHashers {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        self.1.write(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl IdentityCache {
    /// A cache using at most about `budget_bytes` for bodies.
    pub fn new(budget_bytes: u64) -> IdentityCache {
        IdentityCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(budget_bytes)
                .weigher(|_, response: &Arc<CachedResponse>| {
                    // Body, its likely gzip copy, and bookkeeping.
                    u32::try_from(response.body.len() * 3 / 2 + 96).unwrap_or(u32::MAX)
                })
                .time_to_idle(Duration::from_secs(600))
                .build(),
            seeds: Default::default(),
        }
    }

    /// The key of a response.
    pub fn key(
        &self,
        environment: &ServedEnvironment,
        kind: KeyKind,
        identifier: &str,
        traits: &[(String, Value)],
    ) -> CacheKey {
        use std::io::Write as _;
        let mut hashers = TwoHashers(self.seeds.0.build_hasher(), self.seeds.1.build_hasher());
        let _ = hashers.write_all(&environment.digest);
        let _ = hashers.write_all(&[kind as u8]);
        let _ = hashers.write_all(&(identifier.len() as u64).to_le_bytes());
        let _ = hashers.write_all(identifier.as_bytes());
        for (key, value) in traits {
            let _ = hashers.write_all(&(key.len() as u64).to_le_bytes());
            let _ = hashers.write_all(key.as_bytes());
            let _ = serde_json::to_writer(&mut hashers, value);
            let _ = hashers.write_all(&[0xff]);
        }
        (u128::from(hashers.0.finish()) << 64) | u128::from(hashers.1.finish())
    }

    /// A cached response.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedResponse>> {
        let found = self.entries.get(key);
        match found {
            Some(_) => metrics::counter!("flagedge_identity_cache_hits_total").increment(1),
            None => metrics::counter!("flagedge_identity_cache_misses_total").increment(1),
        }
        found
    }

    /// Stores a response.
    pub fn insert(&self, key: CacheKey, response: Arc<CachedResponse>) {
        self.entries.insert(key, response);
    }
}
