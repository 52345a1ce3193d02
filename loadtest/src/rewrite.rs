//! Rewriting a document while a run goes on: the "p99 while documents swap"
//! measurement.
//!
//! A thread rewrites one document file in an edge's `--documents-dir` at a fixed
//! rate, each time with a later `updated_at` (so the edge takes it as newer and
//! swaps it in: parse, compile, publish). The file is written under a temporary
//! name and renamed, as a deployment tool would, so the edge never reads half of
//! it. The edge notices within its `--file-poll-ms`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use flagedge_engine::Timestamp;
use serde_json::Value;

/// A running rewriter.
pub struct Rewriter {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<u64>>,
}

impl Rewriter {
    /// Starts rewriting `path` `per_second` times a second.
    pub fn start(path: PathBuf, per_second: f64) -> anyhow::Result<Rewriter> {
        anyhow::ensure!(
            per_second.is_finite() && per_second > 0.0,
            "the rewrite rate must be > 0"
        );
        let mut document: Value = serde_json::from_slice(&std::fs::read(&path)?)
            .map_err(|e| anyhow::anyhow!("{} is not a JSON document: {e}", path.display()))?;
        anyhow::ensure!(document.is_object(), "{} is not a document", path.display());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let interval = Duration::from_secs_f64(1.0 / per_second);
        let thread = std::thread::Builder::new()
            .name("rewriter".into())
            .spawn(move || {
                let start = Instant::now();
                let mut last = 0i64;
                let mut count = 0u64;
                while !stopping.load(Ordering::Relaxed) {
                    let now = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros() as i64);
                    last = now.max(last + 1);
                    document["updated_at"] = Value::from(Timestamp(last).to_iso8601());
                    crate::generate::write(&path, &serde_json::to_vec(&document)?)?;
                    count += 1;
                    let next = interval * count as u32;
                    if let Some(wait) = next.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                Ok(count)
            })?;
        Ok(Rewriter { stop, thread })
    }

    /// Stops and says how many times the file was rewritten.
    pub fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the rewriter panicked"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_with_later_timestamps() {
        let dir = std::env::temp_dir().join(format!("flagedge-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("doc.json");
        std::fs::write(
            &path,
            br#"{"api_key": "k", "updated_at": "2020-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let rewriter = Rewriter::start(path.clone(), 200.0).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let count = rewriter.stop().unwrap();
        assert!(count >= 2, "{count}");
        let document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let updated = Timestamp::parse_iso8601(document["updated_at"].as_str().unwrap()).unwrap();
        assert!(updated > Timestamp::parse_iso8601("2025-01-01T00:00:00Z").unwrap());
        assert_eq!(document["api_key"], "k");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
