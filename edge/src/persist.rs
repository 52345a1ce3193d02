//! The last good documents on local disk, so an edge restarted while its
//! upstream is down serves at once.
//!
//! Every swapped-in document is written atomically (temporary file, then
//! rename) as `documents/<client key>.json`, and the server-side key pairs as
//! `server-keys.json`. At start they are loaded before any source runs.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::config::KeyPair;

/// A persistence directory.
#[derive(Clone, Debug)]
pub struct Persistence {
    dir: PathBuf,
}

/// What a file name may hold as it is; everything else is percent-encoded.
const FILE_NAME_SAFE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// Keys are public-ish but may hold any character: keep filenames safe.
fn file_name(client_key: &str) -> String {
    format!(
        "{}.json",
        percent_encoding::utf8_percent_encode(client_key, FILE_NAME_SAFE)
    )
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

impl Persistence {
    /// Uses (and creates) `dir`.
    pub fn new(dir: PathBuf) -> std::io::Result<Persistence> {
        std::fs::create_dir_all(dir.join("documents"))?;
        Ok(Persistence { dir })
    }

    /// Saves a document.
    pub fn save_document(&self, client_key: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_atomically(
            &self.dir.join("documents").join(file_name(client_key)),
            bytes,
        )
    }

    /// Forgets a document (its environment is no longer served).
    pub fn remove_document(&self, client_key: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.dir.join("documents").join(file_name(client_key))) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// The directory analytics spools undelivered batches in.
    pub fn analytics_dir(&self) -> PathBuf {
        self.dir.join("analytics")
    }

    /// Saves the key pairs.
    pub fn save_key_pairs(&self, pairs: &[KeyPair]) -> std::io::Result<()> {
        let json: Vec<serde_json::Value> = pairs
            .iter()
            .map(|p| serde_json::json!({"server_side_key": p.server_side_key, "client_side_key": p.client_side_key}))
            .collect();
        write_atomically(
            &self.dir.join("server-keys.json"),
            serde_json::to_string(&json).unwrap_or_default().as_bytes(),
        )
    }

    /// Everything saved: document bytes and key pairs.
    pub fn load(&self) -> (Vec<Bytes>, Vec<KeyPair>) {
        let mut documents = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("documents")) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json") {
                    match std::fs::read(&path) {
                        Ok(bytes) => documents.push(Bytes::from(bytes)),
                        Err(error) => {
                            tracing::warn!(%error, path = %path.display(), "cannot read a persisted document")
                        }
                    }
                }
            }
        }
        let pairs = std::fs::read(self.dir.join("server-keys.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        (documents, pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("flagedge-persist-{}", std::process::id()));
        let persistence = Persistence::new(dir.clone()).unwrap();
        persistence
            .save_document("key/with:odd", b"{\"api_key\":\"x\"}")
            .unwrap();
        persistence
            .save_key_pairs(&[KeyPair {
                server_side_key: "ser.a".into(),
                client_side_key: "b".into(),
            }])
            .unwrap();
        let (documents, pairs) = persistence.load();
        assert_eq!(documents, vec![Bytes::from_static(b"{\"api_key\":\"x\"}")]);
        assert_eq!(pairs.len(), 1);
        assert!(dir.join("documents/key%2Fwith%3Aodd.json").exists());
        std::fs::remove_dir_all(dir).ok();
    }
}
