//! What every request may need (the snapshot, settings, caches, stores,
//! metrics), and key authentication.

use std::sync::Arc;

use arc_swap::ArcSwap;
use flagedge_engine::KeyKind;

use super::call::{Call, Limits};
use super::error::ApiError;
use crate::config::Reloadable;
use crate::environment::ServedEnvironment;
use crate::identity_cache::IdentityCache;
use crate::identity_store::IdentityStore;
use crate::metrics::RequestMetrics;
use crate::snapshot::Store;

/// Everything a request may need.
pub struct App {
    /// The documents.
    pub store: Arc<Store>,
    /// Settings that change at runtime.
    pub settings: ArcSwap<Reloadable>,
    /// Cached identity responses.
    pub identity_cache: Option<IdentityCache>,
    /// Stored identities (traits), when configured.
    pub identity_store: Option<Arc<dyn IdentityStore>>,
    /// Where SDK-reported evaluation counts are kept for forwarding to Flagsmith.
    pub reported: Option<Arc<crate::analytics::reported::Reported>>,
    /// Rate limits per environment.
    pub rate_limiter: crate::rate_limit::Limiter,
    /// Limits.
    pub limits: Limits,
    /// Request metrics.
    pub metrics: RequestMetrics,
    /// Renders `/metrics`.
    pub prometheus: metrics_exporter_prometheus::PrometheusHandle,
    /// Whether the initial load from the source has finished.
    pub initial_load_done: std::sync::atomic::AtomicBool,
    /// Realtime update streams.
    pub realtime: Arc<crate::realtime::Realtime>,
}

/// An authenticated environment: the snapshot entry and the key's kind.
pub struct Authenticated {
    /// The environment.
    pub environment: Arc<ServedEnvironment>,
    /// Client or server key.
    pub kind: KeyKind,
}

impl App {
    /// Resolves `X-Environment-Key`; unknown and missing keys are 403, as in Flagsmith.
    pub fn authenticate(&self, call: &Call) -> Result<Authenticated, ApiError> {
        self.with_key(call, |environment, kind| {
            Ok(Authenticated {
                environment: Arc::clone(environment),
                kind,
            })
        })
    }

    /// Runs `f` with the environment a key opens, without taking a reference
    /// count (the snapshot guard is held for the call).
    pub fn with_key<R>(
        &self,
        call: &Call,
        f: impl FnOnce(&Arc<ServedEnvironment>, KeyKind) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let key = call.environment_key().ok_or_else(ApiError::missing_key)?;
        let snapshot = self.store.load();
        let (environment, kind) = snapshot.lookup(key).ok_or_else(ApiError::unknown_key)?;
        if environment.compiled.meta().stop_serving_flags {
            return Err(ApiError::forbidden(
                "Organisation is disabled from serving flags.",
            ));
        }
        self.rate_limiter
            .admit(environment.client_key())
            .map_err(ApiError::throttled)?;
        f(environment, kind)
    }
}
