//! The evaluation counts SDKs report themselves (`POST /api/v1|v2/analytics/flags/`),
//! kept apart from the edge's own counts so they can be forwarded to Flagsmith,
//! which counts nothing else as a flag evaluation.
//!
//! With a spool directory, every report is appended to a journal before the SDK
//! is answered: one `write` of one JSON line, in the page cache, which outlives
//! a killed process. Cutting a batch renames the journal into the spool under
//! the same lock that takes the counts, so a report is either in the batch and
//! its spool file, or in the next one — never both, never neither.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Counts per environment (client-side key), then per feature name.
pub type CountsByEnvironment = BTreeMap<String, BTreeMap<String, u64>>;

/// A batch of SDK-reported counts on its way to Flagsmith.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReportedBatch {
    /// Counts still to deliver.
    pub environments: CountsByEnvironment,
}

impl ReportedBatch {
    /// Every count in the batch.
    pub fn evaluations(&self) -> u64 {
        self.environments.values().flat_map(|c| c.values()).sum()
    }

    /// Rebuilds a batch from a journal: one JSON line per report; a torn last
    /// line (a crash mid-write) is skipped.
    pub fn from_journal(bytes: &[u8]) -> ReportedBatch {
        let mut batch = ReportedBatch::default();
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(entry) = serde_json::from_slice::<JournalLine>(line) {
                let counts = batch.environments.entry(entry.k).or_default();
                for (feature, count) in entry.c {
                    *counts.entry(feature).or_default() += count;
                }
            }
        }
        batch.environments.retain(|_, counts| !counts.is_empty());
        batch
    }
}

#[derive(Serialize, Deserialize)]
struct JournalLine {
    /// Environment key.
    k: String,
    /// Counts by feature.
    c: BTreeMap<String, u64>,
}

struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    fn open(path: PathBuf) -> std::io::Result<Journal> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Journal { file, path })
    }
}

struct State {
    counts: CountsByEnvironment,
    journal: Option<Journal>,
}

/// SDK-reported counts since the last cut.
pub struct Reported {
    state: Mutex<State>,
}

impl Reported {
    /// Counts in memory only (no spool directory).
    pub fn in_memory() -> Reported {
        Reported {
            state: Mutex::new(State {
                counts: BTreeMap::new(),
                journal: None,
            }),
        }
    }

    /// Counts journaled at `path`. A journal left by a previous process is
    /// returned as a batch (already moved to `recovered_to`) for the caller to spool.
    pub fn journaled(
        path: PathBuf,
        recovered_to: &Path,
    ) -> std::io::Result<(Reported, Option<ReportedBatch>)> {
        let recovered = match std::fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => {
                let batch = ReportedBatch::from_journal(&bytes);
                std::fs::rename(&path, recovered_to)?;
                Some(batch).filter(|b| !b.environments.is_empty())
            }
            _ => None,
        };
        let journal = Journal::open(path)?;
        Ok((
            Reported {
                state: Mutex::new(State {
                    counts: BTreeMap::new(),
                    journal: Some(journal),
                }),
            },
            recovered,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is complete before the guard drops; a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds one SDK report for an environment.
    pub fn record(&self, environment_key: &str, counts: BTreeMap<String, u64>) {
        if counts.is_empty() {
            return;
        }
        let mut state = self.lock();
        if let Some(journal) = state.journal.as_mut() {
            let mut line = serde_json::to_vec(&JournalLine {
                k: environment_key.to_string(),
                c: counts.clone(),
            })
            .unwrap_or_default();
            line.push(b'\n');
            if let Err(error) = journal.file.write_all(&line) {
                tracing::warn!(%error, "analytics journal not written; this report is kept in memory only");
            }
        }
        let into = state.counts.entry(environment_key.to_string()).or_default();
        for (feature, count) in counts {
            *into.entry(feature).or_default() += count;
        }
    }

    /// Takes the counts since the last cut. With a journal, the journal becomes
    /// the file `spool_as` (the batch's spool file) and a new one is started.
    pub fn take(&self, spool_as: &Path) -> Option<(ReportedBatch, bool)> {
        let mut state = self.lock();
        if state.counts.is_empty() {
            return None;
        }
        let environments = std::mem::take(&mut state.counts);
        let mut spooled = false;
        if let Some(journal) = state.journal.take() {
            let path = journal.path.clone();
            drop(journal);
            match std::fs::rename(&path, spool_as) {
                Ok(()) => spooled = true,
                Err(error) => tracing::warn!(%error, "analytics journal not moved to the spool"),
            }
            match Journal::open(path) {
                Ok(journal) => state.journal = Some(journal),
                Err(error) => {
                    tracing::error!(%error, "analytics journal not reopened: reports are kept in memory only")
                }
            }
        }
        Some((ReportedBatch { environments }, spooled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_journal_survives_the_process_and_moves_with_its_batch() {
        let dir = std::env::temp_dir().join(format!("flagedge-reported-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let journal = dir.join("reported.journal");
        let (reported, recovered) = Reported::journaled(journal.clone(), &dir.join("r1")).unwrap();
        assert!(recovered.is_none());
        reported.record("env", counts(&[("a", 2), ("b", 1)]));
        reported.record("env", counts(&[("a", 3)]));
        drop(reported); // as a killed process would: nothing flushed beyond the writes
        std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap()
            .write_all(b"{\"k\":\"env\",\"c\":{\"a\"")
            .unwrap();
        let (reported, recovered) = Reported::journaled(journal.clone(), &dir.join("r1")).unwrap();
        let recovered = recovered.unwrap();
        assert_eq!(recovered.environments["env"], counts(&[("a", 5), ("b", 1)]));
        assert_eq!(recovered.evaluations(), 6);
        assert!(dir.join("r1").exists());

        reported.record("other", counts(&[("x", 1)]));
        let (batch, spooled) = reported.take(&dir.join("r2")).unwrap();
        assert!(spooled);
        assert_eq!(batch.environments["other"], counts(&[("x", 1)]));
        let on_disk = ReportedBatch::from_journal(&std::fs::read(dir.join("r2")).unwrap());
        assert_eq!(on_disk, batch);
        assert!(reported.take(&dir.join("r3")).is_none());
        assert_eq!(std::fs::read(&journal).unwrap(), b"");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
