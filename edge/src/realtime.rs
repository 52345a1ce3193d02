//! Realtime updates: server-sent events telling SDKs an environment changed.
//!
//! Flagsmith SDKs in local-evaluation mode open
//! `GET /sse/environments/<client key>/stream` and refetch the document when an
//! `environment_updated` event carries an `updated_at` newer than theirs.
//!
//! Shape: one hub task follows the snapshot's swaps and keeps, per environment
//! with listeners, a `watch` of its latest `updated_at` (a watch coalesces, so a
//! burst of swaps is one wake-up). Each stream has a small task that turns watch
//! changes and heartbeats into event bytes for a bounded channel, which the
//! response body drains. A client that stops reading fills only its own channel:
//! further events for it are dropped (and counted) instead of blocking the swap
//! or anyone else — and since every event carries the latest `updated_at`, the
//! next one delivered still brings the client up to date.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, watch};

use crate::shutdown::Shutdown;
use crate::snapshot::{Store, Swap};

/// Settings.
#[derive(Clone, Copy, Debug)]
pub struct RealtimeConfig {
    /// Between heartbeats (comment lines keeping idle streams alive through proxies).
    pub heartbeat: Duration,
    /// Most open streams per environment.
    pub max_streams_per_environment: usize,
    /// Events buffered per stream before further ones are dropped.
    pub buffer: usize,
}

struct Listeners {
    updated_at: watch::Sender<f64>,
    open: Arc<AtomicUsize>,
}

/// The hub.
pub struct Realtime {
    environments: Mutex<HashMap<Arc<str>, Listeners>>,
    config: RealtimeConfig,
    shutdown: Shutdown,
}

/// Why a stream was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The environment has as many streams as allowed.
    TooMany,
}

/// One event in the SSE wire format.
pub fn event(updated_at: f64) -> Bytes {
    Bytes::from(format!(
        "event: environment_updated\ndata: {{\"updated_at\": {}}}\n\n",
        flagedge_engine::python::float_repr(updated_at)
    ))
}

const HEARTBEAT: &[u8] = b": heartbeat\n\n";

impl Realtime {
    /// A hub; call [`Realtime::run`] to follow swaps.
    pub fn new(config: RealtimeConfig, shutdown: Shutdown) -> Arc<Realtime> {
        Arc::new(Realtime {
            environments: Mutex::new(HashMap::new()),
            config,
            shutdown,
        })
    }

    fn environments(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Listeners>> {
        self.environments.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows the store's swaps until shutdown.
    pub async fn run(self: Arc<Self>, store: Arc<Store>, mut swaps: broadcast::Receiver<Swap>) {
        loop {
            let received = tokio::select! {
                received = swaps.recv() => received,
                _ = self.shutdown.wait() => return,
            };
            match received {
                Ok(swap) => {
                    if let Some(listeners) = self.environments().get(&swap.client_key) {
                        listeners.updated_at.send_replace(swap.updated_at);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Missed swaps: announce every listened-to environment's current state.
                    let snapshot = store.load();
                    for (key, listeners) in self.environments().iter() {
                        if let Some(environment) = snapshot.environments.get(&**key) {
                            let updated_at = environment
                                .compiled
                                .meta()
                                .updated_at
                                .map_or(0.0, |t| t.epoch_seconds_f64());
                            listeners.updated_at.send_replace(updated_at);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Opens a stream for an environment currently at `updated_at`. The first
    /// event announces that state; later ones follow swaps. `activity` is told
    /// whenever bytes go out, so the connection watchdog knows the stream is alive.
    pub fn subscribe(
        &self,
        client_key: &str,
        updated_at: f64,
        activity: Option<Arc<AtomicU64>>,
    ) -> Result<mpsc::Receiver<Bytes>, Refused> {
        let (updates, open) = {
            let mut environments = self.environments();
            let listeners = environments
                .entry(Arc::from(client_key))
                .or_insert_with(|| Listeners {
                    updated_at: watch::channel(updated_at).0,
                    open: Arc::new(AtomicUsize::new(0)),
                });
            if listeners.open.load(Ordering::Relaxed) >= self.config.max_streams_per_environment {
                metrics::counter!("flagedge_sse_streams_refused_total").increment(1);
                return Err(Refused::TooMany);
            }
            listeners.open.fetch_add(1, Ordering::Relaxed);
            (
                listeners.updated_at.subscribe(),
                Arc::clone(&listeners.open),
            )
        };
        let (sender, receiver) = mpsc::channel(self.config.buffer.max(1));
        let heartbeat = self.config.heartbeat;
        let shutdown = self.shutdown.clone();
        tokio::spawn(stream(
            updates, sender, open, heartbeat, shutdown, updated_at, activity,
        ));
        Ok(receiver)
    }
}

async fn stream(
    mut updates: watch::Receiver<f64>,
    sender: mpsc::Sender<Bytes>,
    open: Arc<AtomicUsize>,
    heartbeat: Duration,
    shutdown: Shutdown,
    initial: f64,
    activity: Option<Arc<AtomicU64>>,
) {
    metrics::gauge!("flagedge_sse_streams").increment(1.0);
    let touch = || {
        if let Some(activity) = &activity {
            activity.store(crate::clock::now_ms(), Ordering::Relaxed);
        }
    };
    let deliver = |bytes: Bytes| match sender.try_send(bytes) {
        Ok(()) => {
            metrics::counter!("flagedge_sse_events_sent_total").increment(1);
            true
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics::counter!("flagedge_sse_events_dropped_total").increment(1);
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    };
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut open_stream = deliver(event(initial));
    while open_stream {
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    break;
                }
                let updated_at = *updates.borrow_and_update();
                open_stream = deliver(event(updated_at));
                touch();
            }
            _ = ticker.tick() => {
                open_stream = deliver(Bytes::from_static(HEARTBEAT));
                touch();
            }
            _ = sender.closed() => break,
            _ = shutdown.wait() => break,
        }
    }
    open.fetch_sub(1, Ordering::Relaxed);
    metrics::gauge!("flagedge_sse_streams").decrement(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_flagsmith_shaped() {
        assert_eq!(
            &event(1763299711.244331)[..],
            b"event: environment_updated\ndata: {\"updated_at\": 1763299711.244331}\n\n"
        );
    }

    #[tokio::test]
    async fn slow_readers_lose_events_not_the_stream() {
        let (_trigger, shutdown) = crate::shutdown::channel();
        let config = RealtimeConfig {
            heartbeat: Duration::from_secs(60),
            max_streams_per_environment: 2,
            buffer: 1,
        };
        let hub = Realtime::new(config, shutdown);
        let mut slow = hub.subscribe("k", 1.0, None).unwrap();
        let _second = hub.subscribe("k", 1.0, None).unwrap();
        assert_eq!(hub.subscribe("k", 1.0, None).unwrap_err(), Refused::TooMany);
        // Three swaps while nobody reads: the buffer (1) holds the first event.
        for t in [2.0, 3.0, 4.0] {
            hub.environments()
                .get("k")
                .unwrap()
                .updated_at
                .send_replace(t);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(&slow.recv().await.unwrap()[..], &event(1.0)[..]);
        // Reading again: the latest state arrives on the next change.
        hub.environments()
            .get("k")
            .unwrap()
            .updated_at
            .send_replace(5.0);
        assert_eq!(&slow.recv().await.unwrap()[..], &event(5.0)[..]);
    }
}
