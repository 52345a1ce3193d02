//! Cached identity responses, keyed by (environment revision, key kind,
//! identifier, traits) and bounded by a memory budget.
//!
//! The key is a 128-bit keyed hash of those inputs, so the cache holds no copy
//! of them. The revision enters the key as the engine's selection digest when it
//! has one: what picks each identity's flags, values aside. A change of values
//! (a value edited; a flag toggled while disabled flags are shown) keeps that
//! digest, so an entry survives it:
//! its picks are written with the new revision's values, and the entry is
//! carried over to that revision on its first hit, with no evaluation. Any other
//! change (or a document whose conditions could read values) gives new keys;
//! old entries are never hit again and age out.
//!
//! An entry holds the response's flags as 8-byte [`ShownFlag`]s, not as JSON: a
//! 200-feature response is ~20 KB of JSON but 1.6 KB of picks, and writing the
//! JSON again from the revision's serialised flag objects is two copies a flag.
//! The gzip form, which every SDK asks for, is made on first demand and kept;
//! an entry is stored again when it gains one, so the budget weighs what is held.
//!
//! Only a stateless edge caches: without an identity store the response depends
//! on nothing but the document, the key kind and the request, so `POST` bodies are
//! keyed byte for byte and a hit needs no JSON parsing at all.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use flagedge_engine::{CompiledRules, KeyKind, ShownFlag};

use crate::environment::{Effort, GZIP_MIN_BYTES, ServedEnvironment, gzip};

/// A cache key.
pub type CacheKey = u128;

/// What an entry costs beyond its own bytes: the cache's node and key, and the
/// allocator's headers and rounding. Measured: 1,000 environments of 200
/// features under `scripts/bench.sh rss` load grew RSS by 2,349 bytes an entry
/// over 39,275 entries weighed at 1,644 bytes each.
const ENTRY_OVERHEAD: usize = 700;

/// An identity response, kept compact: `{"identifier":…,"flags":` + the flags +
/// `,"traits":[…]}`.
pub struct CachedResponse {
    /// The JSON around the flags: everything before them, then everything after.
    frame: Box<[u8]>,
    /// Where the flags go in `frame`.
    split: u32,
    flags: Box<[ShownFlag]>,
    /// The whole JSON's length, to allocate it exactly (a buffer regrown by
    /// doubling, then cut to length, leaves holes in the heap).
    len: u32,
    gzip: OnceLock<Option<Bytes>>,
    /// The document the length and gzip were written from.
    revision: [u8; 32],
}

impl CachedResponse {
    /// A response of `flags` (evaluated with `environment`) between `before`
    /// and `after`, and its JSON.
    pub fn new(
        environment: &ServedEnvironment,
        before: &[u8],
        flags: Box<[ShownFlag]>,
        after: &[u8],
    ) -> (CachedResponse, Bytes) {
        let mut frame = Vec::with_capacity(before.len() + after.len());
        frame.extend_from_slice(before);
        frame.extend_from_slice(after);
        let response = CachedResponse::written(
            environment,
            frame.into_boxed_slice(),
            u32::try_from(before.len()).unwrap_or(u32::MAX),
            flags,
        );
        let json = response.json(&environment.compiled);
        (response, json)
    }

    fn written(
        environment: &ServedEnvironment,
        frame: Box<[u8]>,
        split: u32,
        flags: Box<[ShownFlag]>,
    ) -> CachedResponse {
        let len = frame.len() + environment.compiled.shown_flags_json_len(&flags);
        CachedResponse {
            frame,
            split,
            flags,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            gzip: OnceLock::new(),
            revision: environment.digest,
        }
    }

    /// The same picks for another revision of the same selection digest.
    fn carried_to(&self, environment: &ServedEnvironment) -> CachedResponse {
        CachedResponse::written(
            environment,
            self.frame.clone(),
            self.split,
            self.flags.clone(),
        )
    }

    fn write(&self, rules: &CompiledRules, out: &mut Vec<u8>) {
        let (before, after) = self.frame.split_at(self.split as usize);
        out.extend_from_slice(before);
        rules.write_shown_flags_json(&self.flags, out);
        out.extend_from_slice(after);
    }

    /// The JSON, written from `rules` (those of the revision it was evaluated with).
    pub fn json(&self, rules: &CompiledRules) -> Bytes {
        let mut out = Vec::with_capacity(self.len as usize);
        self.write(rules, &mut out);
        Bytes::from(out)
    }

    /// The JSON gzipped, if worth it; `json` gives the JSON when it is needed.
    /// Also whether this call made it (the entry then holds more).
    pub fn gzipped(&self, json: impl FnOnce() -> Bytes) -> (Option<Bytes>, bool) {
        let mut made = false;
        let gzip = self
            .gzip
            // Made on a request's path: the fastest level.
            .get_or_init(|| {
                (self.len as usize >= GZIP_MIN_BYTES).then(|| {
                    made = true;
                    gzip(&json(), Effort::Fastest)
                })
            })
            .clone();
        (gzip, made)
    }

    /// The features shown, by index in `rules`.
    pub fn features<'a>(&'a self, rules: &'a CompiledRules) -> impl Iterator<Item = usize> + 'a {
        self.flags.iter().filter_map(|flag| flag.feature(rules))
    }

    /// Bytes held: the entry, its frame and flags, and its gzip once made.
    fn weight(&self) -> usize {
        std::mem::size_of::<CachedResponse>()
            + self.frame.len()
            + std::mem::size_of_val(&*self.flags)
            + self
                .gzip
                .get()
                .and_then(Option::as_ref)
                .map_or(0, Bytes::len)
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
                    u32::try_from(response.weight() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
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
        let revision = match environment.compiled.selection_digest() {
            Some(selection) => (1, selection),
            None => (0, &environment.digest),
        };
        for hasher in [&mut first, &mut second] {
            hasher.write_u8(revision.0);
            hasher.write(revision.1);
            hasher.write_u8(key as u8);
            hasher.write_u8(request as u8);
            hasher.write(bytes);
        }
        (u128::from(first.finish()) << 64) | u128::from(second.finish())
    }

    /// A cached response, for `environment`'s revision: an entry written for an
    /// earlier revision of the same selection digest is carried over first.
    pub fn get(
        &self,
        key: &CacheKey,
        environment: &ServedEnvironment,
    ) -> Option<Arc<CachedResponse>> {
        let mut found = self.entries.get(key);
        crate::metrics::identity_cache_lookup(found.is_some());
        if let Some(entry) = &found
            && entry.revision != environment.digest
        {
            let carried = Arc::new(entry.carried_to(environment));
            self.entries.insert(*key, Arc::clone(&carried));
            crate::metrics::identity_cache_carried();
            found = Some(carried);
        }
        found
    }

    /// Stores a response (again, to weigh it anew).
    pub fn insert(&self, key: CacheKey, response: Arc<CachedResponse>) {
        self.entries.insert(key, response);
    }

    /// Bytes held, as weighed against the budget, and entries (both approximate:
    /// the cache applies writes in batches).
    pub fn usage(&self) -> (u64, u64) {
        (self.entries.weighted_size(), self.entries.entry_count())
    }
}
