//! What every handler shares: the database pools, the change signal, the
//! document cache and the settings that shape responses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::sync::watch;

use crate::changes::SharedAnswers;
use crate::document::BuiltDocument;

/// Shared state (cheap to clone).
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Core's database.
    pub db: PgPool,
    /// The analytics database (the same pool as `db` unless configured apart).
    pub analytics: PgPool,
    /// The sync token's SHA-256, when one is configured.
    pub sync_token_hash: Option<Vec<u8>>,
    /// The latest revision announced by NOTIFY (or seen by polling).
    pub changes: watch::Receiver<u64>,
    /// Change-feed answers shared by followers asking the same question.
    pub feed_answers: SharedAnswers,
    /// Flips to true when the server is shutting down (ends long-polls).
    pub shutdown: watch::Receiver<bool>,
    /// Built documents by environment id, reused while the revision stands.
    pub documents: Mutex<HashMap<i64, Arc<BuiltDocument>>>,
    /// Identity overrides per page of the SDK document endpoint (0: no pages).
    pub document_page_size: usize,
    /// InfluxDB, when counts and the fleet's reports are kept there rather
    /// than in the analytics tables.
    pub influx: Option<InfluxStore>,
}

/// InfluxDB as the analytics store.
#[derive(Clone, Debug)]
pub struct InfluxStore {
    /// The client.
    pub influx: flagedge_influx::Influx,
    /// The `host` tag of `api_call` points core writes.
    pub host_tag: String,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
