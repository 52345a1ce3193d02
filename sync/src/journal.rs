//! The journal of accepted batches (`--journal-dir`): each batch is appended to
//! the open generation's file before the edge is answered, and the file is
//! deleted once its generation is in the store. Counts an edge was told are
//! stored therefore survive `kill -9` of sync between two flushes, and a store
//! outage of any length: a restart reads the files left over and counts their
//! batches again (batch ids are recorded with the counts, so a generation that
//! reached the store before the crash is not counted twice).
//!
//! One `write` per batch, into the page cache (no fsync): this survives the
//! process, not the machine, as the edges' own spool does.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flagedge_cloud::counts::Batch;

const PREFIX: &str = "generation-";
const SUFFIX: &str = ".jsonl";

/// The open file and the number of its generation.
struct Open {
    number: u64,
    file: File,
}

/// A directory of generation files.
pub struct Journal {
    dir: PathBuf,
    open: Mutex<Open>,
}

fn number_of(path: &Path) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_prefix(PREFIX)?
        .strip_suffix(SUFFIX)?
        .parse()
        .ok()
}

impl Journal {
    /// Opens `dir` (creating it) and a fresh generation file; returns the files a
    /// previous process left, oldest first, for [`Journal::read`].
    pub fn open(dir: &Path) -> std::io::Result<(Journal, Vec<PathBuf>)> {
        std::fs::create_dir_all(dir)?;
        let mut left: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                Some((number_of(&path)?, path))
            })
            .collect();
        left.sort();
        let number = left.last().map_or(0, |(n, _)| n + 1);
        let journal = Journal {
            dir: dir.to_path_buf(),
            open: Mutex::new(Open {
                number,
                file: Self::create(dir, number)?,
            }),
        };
        Ok((journal, left.into_iter().map(|(_, path)| path).collect()))
    }

    fn path(dir: &Path, number: u64) -> PathBuf {
        dir.join(format!("{PREFIX}{number}{SUFFIX}"))
    }

    fn create(dir: &Path, number: u64) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(Self::path(dir, number))
    }

    /// Appends a batch to the open generation; returns that generation's number.
    pub fn append(&self, batch: &Batch) -> std::io::Result<u64> {
        let mut line = serde_json::to_vec(batch)?;
        line.push(b'\n');
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.file.write_all(&line)?;
        Ok(open.number)
    }

    /// The open generation's number.
    pub fn current(&self) -> u64 {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).number
    }

    /// Starts the next generation's file; returns the number of the one closed.
    pub fn rotate(&self) -> std::io::Result<u64> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let file = Self::create(&self.dir, open.number + 1)?;
        let closed = open.number;
        *open = Open {
            number: closed + 1,
            file,
        };
        Ok(closed)
    }

    /// Deletes a generation's file (its counts are stored, or it had none).
    pub fn remove(&self, number: u64) {
        if let Err(error) = std::fs::remove_file(Self::path(&self.dir, number))
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, number, "cannot delete a journal file");
        }
    }

    /// The batches in a file a previous process left; a torn last line (the
    /// process died mid-write, before answering) is skipped.
    pub fn read(path: &Path) -> std::io::Result<Vec<Batch>> {
        let bytes = std::fs::read(path)?;
        Ok(bytes
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: &str) -> Batch {
        serde_json::from_value(serde_json::json!({"batch_id": id, "environments": []})).unwrap()
    }

    #[test]
    fn files_left_behind_are_found_in_order_and_read_back() {
        let dir = std::env::temp_dir().join(format!("flagedge-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let (journal, left) = Journal::open(&dir).unwrap();
            assert!(left.is_empty());
            assert_eq!(journal.append(&batch("a")).unwrap(), 0);
            assert_eq!(journal.rotate().unwrap(), 0);
            assert_eq!(journal.append(&batch("b")).unwrap(), 1);
            journal.append(&batch("c")).unwrap();
            journal.rotate().unwrap();
            journal.remove(2); // an empty generation
        }
        // A torn line at the end of the last file.
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.join("generation-1.jsonl"))
            .unwrap();
        file.write_all(b"{\"batch_id\":\"d\",\"envir").unwrap();
        let (journal, left) = Journal::open(&dir).unwrap();
        assert_eq!(journal.current(), 2);
        let ids: Vec<Vec<String>> = left
            .iter()
            .map(|p| {
                Journal::read(p)
                    .unwrap()
                    .into_iter()
                    .map(|b| b.batch_id)
                    .collect()
            })
            .collect();
        assert_eq!(
            ids,
            vec![vec!["a".to_string()], vec!["b".into(), "c".into()]]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
