//! A directory of documents: every `*.json` file is an environment document,
//! except `server-keys.json`, which holds server-side key pairs in edge-proxy's
//! shape (`{"environment_key_pairs": [...]}`). Files are checked for changes
//! (size and modification time) every interval; a changed file is reloaded, and
//! one that does not parse is reported and skipped, leaving the served document
//! in place. Deleting a file does not unload its environment: an edge never stops
//! serving flags because a file went missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::{Loader, ServerKeysFile};
use crate::shutdown::Shutdown;

/// The name of the key pairs file.
pub const SERVER_KEYS_FILE: &str = "server-keys.json";

/// Watches a directory.
pub struct FileSource {
    dir: PathBuf,
    seen: HashMap<PathBuf, (SystemTime, u64)>,
}

impl FileSource {
    /// A source for `dir`.
    pub fn new(dir: PathBuf) -> FileSource {
        FileSource {
            dir,
            seen: HashMap::new(),
        }
    }

    /// Loads every new or changed file; returns how many failed.
    pub async fn scan(&mut self, loader: &Loader) -> usize {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(%error, dir = %self.dir.display(), "cannot read the documents directory");
                metrics::counter!("flagedge_source_errors_total", "source" => "file", "kind" => "io").increment(1);
                return 1;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        let mut failures = 0;
        for path in paths {
            let Ok(metadata) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = (
                metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                metadata.len(),
            );
            if self.seen.get(&path) == Some(&stamp) {
                continue;
            }
            match load_file(&path, loader).await {
                Ok(()) => {
                    self.seen.insert(path, stamp);
                }
                Err(error) => {
                    failures += 1;
                    // Remember the stamp: report a bad file once, not every interval.
                    self.seen.insert(path.clone(), stamp);
                    tracing::error!(file = %path.display(), %error, "document not loaded");
                    metrics::counter!("flagedge_source_errors_total", "source" => "file", "kind" => "invalid").increment(1);
                }
            }
        }
        failures
    }

    /// Re-scans every interval until shutdown.
    pub async fn run(mut self, loader: Loader, interval: Duration, shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait() => return,
            }
            self.scan(&loader).await;
        }
    }
}

async fn load_file(path: &Path, loader: &Loader) -> anyhow::Result<()> {
    let bytes = tokio::fs::read(path).await?;
    if path.file_name().is_some_and(|n| n == SERVER_KEYS_FILE) {
        let keys: ServerKeysFile = serde_json::from_slice(&bytes)?;
        loader.set_source_key_pairs(keys.environment_key_pairs);
        tracing::info!(file = %path.display(), "server-side keys loaded");
        return Ok(());
    }
    loader.offer(Bytes::from(bytes), "file").await?;
    Ok(())
}
