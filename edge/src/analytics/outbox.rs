//! Batches on their way to one sink: a queue in memory, mirrored in a spool
//! directory when the edge has a `--persist-dir`, so what was cut but not yet
//! delivered is sent after a restart or a crash.
//!
//! Each batch is one file named `<cut time, µs>-<batch id>.json` (or `.journal`
//! for SDK reports, see [`super::reported`]), written before the batch is sent
//! and removed once the sink has it. A sink that takes part of a batch gets the
//! rest rewritten. The queue is bounded by count and, when spooled, by bytes;
//! past either bound the oldest batches are dropped, logged and counted in
//! `flagedge_analytics_dropped_batches_total` and
//! `flagedge_evaluations_dropped_total`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a sink did with a batch.
#[derive(Debug)]
pub enum Delivery {
    /// All of it arrived.
    Done,
    /// Part arrived (the batch now holds the rest); try the rest later.
    Partial,
    /// Nothing arrived; try again later.
    Retry(String),
    /// The receiver refused it for good (a 4xx): drop it.
    Refused(String),
}

/// A destination for batches of `T`.
pub trait Sink<T> {
    /// Delivers `batch`, removing from it what arrived when only part did.
    fn send(&self, id: &str, batch: &mut T) -> impl Future<Output = Delivery> + Send;
}

/// A batch an outbox can count and spool.
pub trait Spoolable: Serialize + DeserializeOwned + Send {
    /// Evaluations it carries (for metrics and logs).
    fn evaluations(&self) -> u64;
    /// Rebuilds a batch from a `.journal` file, for kinds that have one.
    fn from_journal(_bytes: &[u8]) -> Option<Self> {
        None
    }
}

struct Entry<T> {
    id: String,
    batch: T,
    file: Option<PathBuf>,
    bytes: u64,
}

/// Where an outbox keeps its files, and how much it may keep.
#[derive(Clone, Debug)]
pub struct SpoolDir {
    /// The directory (one per sink).
    pub dir: PathBuf,
    /// Most bytes of files.
    pub max_bytes: u64,
}

/// The queue of one sink.
pub struct Outbox<T> {
    sink: &'static str,
    queue: VecDeque<Entry<T>>,
    max_pending: usize,
    spool: Option<SpoolDir>,
    bytes: u64,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// A new batch's spool file name: cut time first, so names sort in cut order.
pub fn file_stem(id: &str) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{micros:020}-{id}")
}

impl<T: Spoolable> Outbox<T> {
    /// An outbox for `sink`, holding what a previous process left in the spool.
    pub fn open(sink: &'static str, max_pending: usize, spool: Option<SpoolDir>) -> Outbox<T> {
        let mut outbox = Outbox {
            sink,
            queue: VecDeque::new(),
            max_pending,
            spool,
            bytes: 0,
        };
        if let Some(spool) = outbox.spool.clone() {
            if let Err(error) = std::fs::create_dir_all(&spool.dir) {
                tracing::error!(%error, sink, dir = %spool.dir.display(), "analytics spool unusable: batches are kept in memory only");
                outbox.spool = None;
                return outbox;
            }
            outbox.recover(&spool.dir);
        }
        outbox
    }

    fn recover(&mut self, dir: &Path) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        for path in files {
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(String::from) else {
                continue;
            };
            // A journal whose rest was rewritten as JSON is superseded by it.
            if extension == "journal" && path.with_extension("json").exists() {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(_) => continue,
            };
            let batch = match extension {
                "json" => serde_json::from_slice::<T>(&bytes).ok(),
                "journal" => T::from_journal(&bytes),
                _ => {
                    // A temporary file from an interrupted write.
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
            };
            let Some(batch) = batch else {
                tracing::error!(file = %path.display(), sink = self.sink, "unreadable analytics spool file removed");
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let id = stem
                .split_once('-')
                .map_or(stem.as_str(), |(_, id)| id)
                .to_string();
            tracing::info!(sink = self.sink, batch_id = %id, evaluations = batch.evaluations(), "analytics batch recovered from the spool");
            self.bytes += bytes.len() as u64;
            self.queue.push_back(Entry {
                id,
                batch,
                file: Some(path),
                bytes: bytes.len() as u64,
            });
        }
        self.enforce_bounds();
        self.report();
    }

    /// The spool path a new batch with this id would get, for writers that put
    /// it there themselves (the SDK-report journal).
    pub fn journal_path(&self, id: &str) -> Option<PathBuf> {
        self.spool
            .as_ref()
            .map(|s| s.dir.join(format!("{}.journal", file_stem(id))))
    }

    /// Queues a batch, writing it to the spool unless `spooled_at` says it is there.
    pub fn push(&mut self, id: String, batch: T, spooled_at: Option<PathBuf>) {
        metrics::counter!("flagedge_evaluations_queued_total", "sink" => self.sink)
            .increment(batch.evaluations());
        let (file, bytes) = match (&self.spool, spooled_at) {
            (Some(_), Some(path)) => {
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                (Some(path), bytes)
            }
            (Some(spool), None) => {
                let path = spool.dir.join(format!("{}.json", file_stem(&id)));
                let json = serde_json::to_vec(&batch).unwrap_or_default();
                match write_atomically(&path, &json) {
                    Ok(()) => (Some(path), json.len() as u64),
                    Err(error) => {
                        tracing::warn!(%error, sink = self.sink, "analytics batch not spooled; kept in memory only");
                        (None, 0)
                    }
                }
            }
            (None, _) => (None, 0),
        };
        self.bytes += bytes;
        self.queue.push_back(Entry {
            id,
            batch,
            file,
            bytes,
        });
        self.enforce_bounds();
        self.report();
    }

    fn over_bounds(&self) -> bool {
        self.queue.len() > self.max_pending
            || self
                .spool
                .as_ref()
                .is_some_and(|s| self.bytes > s.max_bytes && self.queue.len() > 1)
    }

    fn enforce_bounds(&mut self) {
        while self.over_bounds() {
            let Some(dropped) = self.queue.pop_front() else {
                break;
            };
            tracing::warn!(sink = self.sink, batch_id = %dropped.id, evaluations = dropped.batch.evaluations(), "analytics queue full: dropped the oldest batch");
            self.forget(&dropped);
            metrics::counter!("flagedge_analytics_dropped_batches_total", "sink" => self.sink, "reason" => "full").increment(1);
            metrics::counter!("flagedge_evaluations_dropped_total", "sink" => self.sink)
                .increment(dropped.batch.evaluations());
        }
    }

    fn forget(&mut self, entry: &Entry<T>) {
        self.bytes = self.bytes.saturating_sub(entry.bytes);
        if let Some(file) = &entry.file {
            let _ = std::fs::remove_file(file);
        }
    }

    fn report(&self) {
        metrics::gauge!("flagedge_analytics_pending_batches", "sink" => self.sink)
            .set(self.queue.len() as f64);
        metrics::gauge!("flagedge_analytics_spool_bytes", "sink" => self.sink)
            .set(self.bytes as f64);
    }

    /// Batches not yet delivered.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether everything was delivered.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends queued batches in order until one fails.
    pub async fn deliver(&mut self, sink: &impl Sink<T>) {
        while let Some(entry) = self.queue.front_mut() {
            let before = entry.batch.evaluations();
            let outcome = sink.send(&entry.id, &mut entry.batch).await;
            let arrived = before.saturating_sub(entry.batch.evaluations());
            match outcome {
                Delivery::Done => {
                    metrics::counter!("flagedge_evaluations_shipped_total", "sink" => self.sink)
                        .increment(before);
                    if let Some(entry) = self.queue.pop_front() {
                        self.forget(&entry);
                    }
                }
                Delivery::Refused(reason) => {
                    tracing::error!(sink = self.sink, batch_id = %entry.id, evaluations = before, %reason, "analytics batch refused by the receiver: dropped");
                    metrics::counter!("flagedge_analytics_dropped_batches_total", "sink" => self.sink, "reason" => "refused").increment(1);
                    metrics::counter!("flagedge_evaluations_dropped_total", "sink" => self.sink)
                        .increment(before);
                    if let Some(entry) = self.queue.pop_front() {
                        self.forget(&entry);
                    }
                }
                Delivery::Partial => {
                    metrics::counter!("flagedge_evaluations_shipped_total", "sink" => self.sink)
                        .increment(arrived);
                    self.rewrite_front();
                    break;
                }
                Delivery::Retry(reason) => {
                    tracing::warn!(sink = self.sink, %reason, pending = self.queue.len(), "analytics delivery failed; will retry");
                    metrics::counter!("flagedge_analytics_delivery_failures_total", "sink" => self.sink).increment(1);
                    break;
                }
            }
        }
        self.report();
    }

    /// After a partial delivery: the spool file holds only what is left.
    fn rewrite_front(&mut self) {
        let Some(entry) = self.queue.front_mut() else {
            return;
        };
        let Some(old) = entry.file.clone() else {
            return;
        };
        let json = serde_json::to_vec(&entry.batch).unwrap_or_default();
        let new = old.with_extension("json");
        match write_atomically(&new, &json) {
            Ok(()) => {
                if new != old {
                    let _ = std::fs::remove_file(&old);
                }
                self.bytes = self.bytes.saturating_sub(entry.bytes) + json.len() as u64;
                entry.bytes = json.len() as u64;
                entry.file = Some(new);
            }
            Err(error) => {
                tracing::warn!(%error, sink = self.sink, "analytics spool file not rewritten after a partial delivery")
            }
        }
    }

    /// At shutdown: what could not be delivered stays in the spool (or is lost,
    /// without one); says which.
    pub fn close(self) {
        for entry in &self.queue {
            if entry.file.is_some() {
                tracing::warn!(sink = self.sink, batch_id = %entry.id, evaluations = entry.batch.evaluations(), "analytics batch not delivered before shutdown: kept in the spool for the next start");
            } else {
                tracing::error!(sink = self.sink, batch_id = %entry.id, evaluations = entry.batch.evaluations(), "analytics batch not delivered before shutdown: lost");
                metrics::counter!("flagedge_evaluations_dropped_total", "sink" => self.sink)
                    .increment(entry.batch.evaluations());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Numbers(Vec<u64>);

    impl Spoolable for Numbers {
        fn evaluations(&self) -> u64 {
            self.0.iter().sum()
        }
    }

    /// Takes the first number of each batch per call, failing when told to.
    struct OneAtATime {
        fail: Mutex<bool>,
        got: Mutex<Vec<(String, u64)>>,
    }

    impl Sink<Numbers> for OneAtATime {
        async fn send(&self, id: &str, batch: &mut Numbers) -> Delivery {
            if *self.fail.lock().unwrap() {
                return Delivery::Retry("down".into());
            }
            let first = batch.0.remove(0);
            self.got.lock().unwrap().push((id.to_string(), first));
            if batch.0.is_empty() {
                Delivery::Done
            } else {
                Delivery::Partial
            }
        }
    }

    fn spool(name: &str, max_bytes: u64) -> SpoolDir {
        let dir =
            std::env::temp_dir().join(format!("flagedge-outbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        SpoolDir { dir, max_bytes }
    }

    #[tokio::test]
    async fn what_is_not_delivered_outlives_the_process() {
        let spool = spool("restart", 1 << 20);
        let sink = OneAtATime {
            fail: Mutex::new(true),
            got: Mutex::default(),
        };
        let mut outbox: Outbox<Numbers> = Outbox::open("test", 10, Some(spool.clone()));
        outbox.push("a".into(), Numbers(vec![1, 2]), None);
        outbox.push("b".into(), Numbers(vec![3]), None);
        outbox.deliver(&sink).await;
        assert_eq!(outbox.len(), 2);
        *sink.fail.lock().unwrap() = false;
        outbox.deliver(&sink).await; // a: 1 arrives, 2 is left and rewritten
        drop(outbox); // a crash: nothing more happens

        let mut reopened: Outbox<Numbers> = Outbox::open("test", 10, Some(spool.clone()));
        assert_eq!(reopened.len(), 2);
        reopened.deliver(&sink).await;
        reopened.deliver(&sink).await;
        assert!(reopened.is_empty());
        let got = sink.got.lock().unwrap().clone();
        assert_eq!(
            got,
            [("a".into(), 1), ("a".into(), 2), ("b".into(), 3)],
            "every number once, in order, batch ids kept"
        );
        assert_eq!(std::fs::read_dir(&spool.dir).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&spool.dir);
    }

    #[tokio::test]
    async fn the_spool_is_bounded_and_drops_the_oldest() {
        let spool = spool("bounded", 30);
        let mut outbox: Outbox<Numbers> = Outbox::open("test", 100, Some(spool.clone()));
        for n in 0..10u64 {
            outbox.push(format!("{n}"), Numbers(vec![n, n, n]), None);
        }
        assert!(outbox.bytes <= 30, "{} bytes kept", outbox.bytes);
        assert!(outbox.len() < 10 && !outbox.is_empty());
        assert_eq!(outbox.queue.back().unwrap().id, "9", "the newest is kept");
        let files = std::fs::read_dir(&spool.dir).unwrap().count();
        assert_eq!(files, outbox.len());
        let mut counted: Outbox<Numbers> = Outbox::open("test", 2, None);
        for n in 0..5u64 {
            counted.push(format!("{n}"), Numbers(vec![n]), None);
        }
        assert_eq!(counted.len(), 2);
        let _ = std::fs::remove_dir_all(&spool.dir);
    }
}
