//! Counting evaluations: batches from edges are added into an open generation of
//! counters (a `DashMap` per series, keyed by environment, feature or resource,
//! and minute), and generations are cut and written to the store on an interval
//! or when they grow large.
//!
//! Nothing is dropped silently. A generation that cannot be written stays queued
//! and is retried with backoff; while too many counters are queued, ingest
//! refuses new batches (the edges keep them and retry) and a metric says so.
//! Every batch carries an id; one already counted — in memory, or recorded in the
//! store by an earlier process — is acknowledged but not counted again, so edges
//! may retry freely. Shutdown writes everything still queued.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::journal::Journal;
use crate::store::{EdgeState, SeriesKey, Store, Totals};

pub use flagedge_cloud::counts::{Batch, EnvironmentCounts};

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Counted.
    Counted,
    /// Already counted before (a retry).
    Duplicate,
}

/// Why a batch was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Too many counters are waiting for the store: try later.
    #[error("too many counts are waiting to be written; retry later")]
    Busy,
    /// Shutting down: the final write has begun; the edge retries elsewhere or later.
    #[error("shutting down; retry later")]
    Closing,
    /// The batch is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The store could not say whether the batch was seen.
    #[error("the analytics store is unavailable: {0}")]
    Unavailable(String),
}

/// Counters accumulated between two cuts.
#[derive(Default)]
pub struct Generation {
    /// Flag evaluations.
    pub evaluations: DashMap<SeriesKey, u64>,
    /// SDK API calls.
    pub api_calls: DashMap<SeriesKey, u64>,
    /// The batches counted in it (recorded with the counts, for deduplication).
    pub batches: Mutex<Vec<(String, String)>>,
    /// Each edge's latest report in it.
    pub reports: DashMap<String, EdgeState>,
    /// Its journal file's number (with `--journal-dir`).
    journal: Option<u64>,
}

impl Generation {
    fn keys(&self) -> usize {
        self.evaluations.len() + self.api_calls.len()
    }

    /// The generation's contents, for the store.
    pub fn totals(&self) -> Totals {
        Totals {
            evaluations: self
                .evaluations
                .iter()
                .map(|e| (e.key().clone(), *e.value()))
                .collect(),
            api_calls: self
                .api_calls
                .iter()
                .map(|e| (e.key().clone(), *e.value()))
                .collect(),
            batches: self
                .batches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            reports: self.reports.iter().map(|e| e.value().clone()).collect(),
        }
    }
}

/// The minute (since the epoch) a batch's counts fall in.
fn minute_of(created_at: Option<&str>) -> i64 {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            / 60
    };
    let Some(text) = created_at else { return now() };
    let parse = || -> Option<i64> {
        let (date, time) = text.split_once('T')?;
        let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        let mut t = time.split(':');
        let (h, min) = (
            t.next()?.parse::<i64>().ok()?,
            t.next()?.parse::<i64>().ok()?,
        );
        let y_adj = if m <= 2 { y - 1 } else { y };
        let era = y_adj.div_euclid(400);
        let yoe = y_adj - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
        Some((days * 1440) + h * 60 + min)
    };
    parse().unwrap_or_else(now)
}

/// The aggregator.
pub struct Aggregator {
    /// The open generation; `None` once closed for shutdown. Ingest adds under
    /// the read lock and cutting swaps under the write lock, so a batch is
    /// either wholly in a cut generation or refused — never in limbo.
    current: RwLock<Option<Arc<Generation>>>,
    queued: Mutex<VecDeque<Arc<Generation>>>,
    seen: DashMap<String, Instant>,
    pending_keys: AtomicUsize,
    max_pending_keys: usize,
    flush_max_keys: usize,
    /// Wakes the flusher early.
    pub wake: tokio::sync::Notify,
    store: Arc<dyn Store>,
    journal: Option<Journal>,
}

impl Aggregator {
    /// An aggregator writing to `store`.
    pub fn new(
        store: Arc<dyn Store>,
        max_pending_keys: usize,
        flush_max_keys: usize,
    ) -> Aggregator {
        Aggregator {
            current: RwLock::new(Some(Arc::new(Generation::default()))),
            journal: None,
            queued: Mutex::new(VecDeque::new()),
            seen: DashMap::new(),
            pending_keys: AtomicUsize::new(0),
            max_pending_keys,
            flush_max_keys,
            wake: tokio::sync::Notify::new(),
            store,
        }
    }

    /// Journals every accepted batch in `journal` before answering.
    pub fn with_journal(mut self, journal: Journal) -> Aggregator {
        let first = Generation {
            journal: Some(journal.current()),
            ..Generation::default()
        };
        self.current = RwLock::new(Some(Arc::new(first)));
        self.journal = Some(journal);
        self
    }

    /// Counts again the batches in journal files a previous process left, then
    /// deletes them (each batch is journaled anew as it is counted). Waits while
    /// the store cannot say which batches it already has.
    pub async fn recover(&self, files: Vec<std::path::PathBuf>) {
        for path in files {
            let batches = match Journal::read(&path) {
                Ok(batches) => batches,
                Err(error) => {
                    tracing::error!(%error, path = %path.display(), "cannot read a journal file; leaving it");
                    continue;
                }
            };
            let count = batches.len();
            for batch in batches {
                loop {
                    match self.ingest(batch.clone()).await {
                        Ok(_) | Err(Refused::Invalid(_)) => break,
                        Err(Refused::Closing) => return,
                        Err(Refused::Busy | Refused::Unavailable(_)) => {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
            tracing::info!(path = %path.display(), batches = count, "journal recovered");
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(%error, path = %path.display(), "cannot delete a recovered journal file");
            }
        }
    }

    /// Counters waiting to be written (open and queued generations).
    pub fn pending_keys(&self) -> usize {
        self.pending_keys.load(Ordering::Relaxed)
    }

    /// Adds a batch.
    pub async fn ingest(&self, batch: Batch) -> Result<Accepted, Refused> {
        if batch.batch_id.is_empty() || batch.batch_id.len() > 100 {
            return Err(Refused::Invalid(
                "batch_id must be 1 to 100 characters".into(),
            ));
        }
        if self.seen.contains_key(&batch.batch_id) {
            return Ok(Accepted::Duplicate);
        }
        if self
            .store
            .batch_recorded(&batch.batch_id)
            .await
            .map_err(|e| Refused::Unavailable(e.to_string()))?
        {
            return Ok(Accepted::Duplicate);
        }
        if self.pending_keys() >= self.max_pending_keys {
            metrics::counter!("flagedge_sync_batches_refused_total", "reason" => "busy")
                .increment(1);
            return Err(Refused::Busy);
        }
        let minute = minute_of(batch.created_at.as_deref());
        let mut evaluations: u64 = 0;
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            let Some(generation) = current.as_ref() else {
                return Err(Refused::Closing);
            };
            if self
                .seen
                .insert(batch.batch_id.clone(), Instant::now())
                .is_some()
            {
                return Ok(Accepted::Duplicate);
            }
            // On disk before the edge hears "counted"; under the read lock, so
            // into the file of the generation the counts go to.
            if let Some(journal) = &self.journal
                && let Err(error) = journal.append(&batch)
            {
                self.seen.remove(&batch.batch_id);
                metrics::counter!("flagedge_sync_batches_refused_total", "reason" => "journal")
                    .increment(1);
                return Err(Refused::Unavailable(format!(
                    "cannot journal the batch: {error}"
                )));
            }
            let before = generation.keys();
            for environment in &batch.environments {
                for (feature, count) in &environment.evaluations {
                    let key = (environment.environment_key.clone(), feature.clone(), minute);
                    // Counts come from clients: a sum saturates, never wraps.
                    let mut sum = generation.evaluations.entry(key).or_default();
                    *sum = sum.saturating_add(*count);
                    evaluations = evaluations.saturating_add(*count);
                }
                for (resource, count) in &environment.api_calls {
                    let key = (
                        environment.environment_key.clone(),
                        resource.clone(),
                        minute,
                    );
                    let mut sum = generation.api_calls.entry(key).or_default();
                    *sum = sum.saturating_add(*count);
                }
            }
            generation
                .batches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((batch.batch_id.clone(), batch.edge_id.clone()));
            if let Some(report) = &batch.edge {
                let state = EdgeState {
                    edge_id: batch.edge_id.clone(),
                    reported_at: batch.created_at.clone(),
                    report: report.clone(),
                };
                // A retried older batch does not replace a newer report.
                generation
                    .reports
                    .entry(batch.edge_id.clone())
                    .and_modify(|held| {
                        if held.reported_at <= state.reported_at {
                            *held = state.clone();
                        }
                    })
                    .or_insert_with(|| state.clone());
            }
            let added = generation.keys().saturating_sub(before);
            self.pending_keys.fetch_add(added, Ordering::Relaxed);
            if generation.keys() >= self.flush_max_keys {
                self.wake.notify_one();
            }
        }
        metrics::counter!("flagedge_sync_evaluations_received_total").increment(evaluations);
        metrics::counter!("flagedge_sync_batches_received_total").increment(1);
        Ok(Accepted::Counted)
    }

    /// Closes the open generation and queues it for writing; with `last`, no
    /// new generation opens and later batches are refused.
    pub fn cut(&self, last: bool) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        // A new generation gets a new journal file; if one cannot be made, the
        // open generation stays open (and keeps its file) until the next cut.
        let journal = match &self.journal {
            Some(journal) if !last => match journal.rotate() {
                Ok(_) => Some(journal.current()),
                Err(error) => {
                    tracing::warn!(%error, "cannot start a journal file; the generation stays open");
                    return;
                }
            },
            _ => None,
        };
        let fresh = (!last).then(|| {
            Arc::new(Generation {
                journal,
                ..Generation::default()
            })
        });
        let Some(old) = std::mem::replace(&mut *current, fresh) else {
            return;
        };
        let has_batches = !old
            .batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty();
        if old.keys() > 0 || has_batches {
            self.queued
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back(old);
        } else if let (Some(journal), Some(number)) = (&self.journal, old.journal) {
            journal.remove(number);
        }
    }

    /// Writes queued generations in order; stops at the first failure.
    pub async fn write_queued(&self) -> Result<(), crate::store::StoreError> {
        loop {
            let Some(generation) = self
                .queued
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .front()
                .cloned()
            else {
                return Ok(());
            };
            let totals = generation.totals();
            let evaluations: u64 = totals.evaluations.iter().map(|(_, n)| n).sum();
            self.store.write(&totals).await?;
            self.queued
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            self.pending_keys
                .fetch_sub(generation.keys(), Ordering::Relaxed);
            if let (Some(journal), Some(number)) = (&self.journal, generation.journal) {
                journal.remove(number);
            }
            metrics::counter!("flagedge_sync_evaluations_written_total").increment(evaluations);
        }
    }

    /// Forgets batch ids older than `age` (the store remembers them durably).
    fn prune_seen(&self, age: Duration) {
        self.seen.retain(|_, at| at.elapsed() < age);
    }

    /// Cuts and writes every interval (or early when woken) until `stop`; then
    /// writes everything left, retrying until `deadline`.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
        grace: Duration,
    ) {
        let mut failures = 0u32;
        loop {
            let wait = if failures == 0 {
                interval
            } else {
                Duration::from_millis(100 << failures.min(8)).min(Duration::from_secs(30))
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => break,
            }
            self.cut(false);
            match self.write_queued().await {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, pending_keys = self.pending_keys(), "writing counts failed; will retry");
                    metrics::counter!("flagedge_sync_store_failures_total").increment(1);
                }
            }
            metrics::gauge!("flagedge_sync_pending_keys").set(self.pending_keys() as f64);
            self.prune_seen(Duration::from_secs(3600));
        }
        let deadline = Instant::now() + grace;
        self.cut(true);
        while let Err(error) = self.write_queued().await {
            if Instant::now() >= deadline {
                tracing::error!(%error, pending_keys = self.pending_keys(), "shutdown: counts could not be written");
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::info!("shutdown: all counts written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes() {
        assert_eq!(minute_of(Some("1970-01-01T00:02:59.999999+00:00")), 2);
        assert_eq!(
            minute_of(Some("2026-11-22T10:00:00.000000+00:00")),
            29_922_360
        );
    }
}
