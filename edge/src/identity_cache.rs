//! Cached identity responses, keyed by (environment revision, key kind,
//! identifier, traits) and bounded by a memory budget.
//!
//! The key is a 128-bit keyed hash of those inputs, so the cache holds no copy
//! of them; a new document revision has a new digest, so its entries are simply
//! never hit again and age out. The gzip form of a body is made on first demand.
//!
//! Only a stateless edge caches: without an identity store the response depends
//! on nothing but the document, the key kind and the request, so `POST` bodies are
//! keyed byte for byte and a hit needs no JSON parsing at all.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use flagedge_engine::KeyKind;

use crate::environment::{Effort, GZIP_MIN_BYTES, ServedEnvironment, gzip};

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
            // Made on a request's path: the fastest level.
            .get_or_init(|| {
                (self.body.len() >= GZIP_MIN_BYTES).then(|| gzip(&self.body, Effort::Fastest))
            })
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

/// What the cached bytes are.
#[derive(Clone, Copy, Debug)]
pub enum RequestKind {
    /// A `POST /identities/` body, byte for byte.
    IdentifyBody = 1,
    /// A `GET /identities/` identifier.
    Identifier = 2,
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

    /// The key of a response: the document revision (its digest), the key kind,
    /// and the request's own bytes (a body, or an identifier), tagged by `kind`.
    pub fn key(
        &self,
        environment: &ServedEnvironment,
        key: KeyKind,
        request: RequestKind,
        bytes: &[u8],
    ) -> CacheKey {
        let mut first = self.seeds.0.build_hasher();
        let mut second = self.seeds.1.build_hasher();
        for hasher in [&mut first, &mut second] {
            hasher.write(&environment.digest);
            hasher.write_u8(key as u8);
            hasher.write_u8(request as u8);
            hasher.write(bytes);
        }
        (u128::from(first.finish()) << 64) | u128::from(second.finish())
    }

    /// A cached response.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedResponse>> {
        let found = self.entries.get(key);
        crate::metrics::identity_cache_lookup(found.is_some());
        found
    }

    /// Stores a response.
    pub fn insert(&self, key: CacheKey, response: Arc<CachedResponse>) {
        self.entries.insert(key, response);
    }
}
