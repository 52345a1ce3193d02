//! Per-environment request counters, counted lock-free on the request path.
//! A leaf: environments own them, handlers add to them, analytics drains them.

use std::sync::atomic::{AtomicU64, Ordering};

use flagedge_engine::KeyKind;

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
    pub const ALL: [Resource; 4] = [
        Resource::Flags,
        Resource::Identities,
        Resource::Traits,
        Resource::EnvironmentDocument,
    ];

    pub fn name(self) -> &'static str {
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

/// What one drain took from an environment's counters.
#[derive(Debug, Default)]
pub struct Drained {
    /// Whole environment-flags responses, by key kind.
    pub flags_responses: [u64; 2],
    /// Identity responses that showed every visible flag, by key kind.
    pub identity_responses: [u64; 2],
    /// API calls, by [`Resource`] index.
    pub api_calls: [u64; 4],
    /// Evaluations per feature index.
    pub per_feature: Vec<u64>,
}

impl Counters {
    /// Takes every count, leaving zeros.
    pub fn drain(&self) -> Drained {
        let take = |counter: &AtomicU64| counter.swap(0, Ordering::Relaxed);
        let take_all = |pick: &dyn Fn(&HotCounters) -> &AtomicU64| {
            self.hot.iter().map(|h| take(pick(h))).sum::<u64>()
        };
        Drained {
            flags_responses: [0, 1].map(|k| take_all(&|h| &h.flags_responses[k])),
            identity_responses: [0, 1].map(|k| take_all(&|h| &h.identity_responses[k])),
            api_calls: [0, 1, 2, 3].map(|r| take_all(&|h| &h.api_calls[r])),
            per_feature: self.per_feature.iter().map(take).collect(),
        }
    }
}
