//! The manifest: which environments are published at which revision, and which
//! server-side key opens which environment. Readers poll it (cheaply: an ETag or
//! one small item) and fetch only the documents whose revision moved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One environment's published state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The published document's revision.
    pub revision: u64,
    /// Its `updated_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// The index of what is published.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Environments by client-side key.
    #[serde(default)]
    pub environments: BTreeMap<String, Entry>,
    /// Server-side key → client-side key.
    #[serde(default)]
    pub server_keys: BTreeMap<String, String>,
}

impl Manifest {
    /// Records a published revision unless a newer one is recorded; returns whether it changed.
    pub fn record(&mut self, client_key: &str, entry: Entry) -> bool {
        match self.environments.get(client_key) {
            Some(current) if current.revision >= entry.revision => false,
            _ => {
                self.environments.insert(client_key.to_string(), entry);
                true
            }
        }
    }

    /// Replaces the server-side keys; returns whether they changed.
    pub fn set_server_keys(&mut self, keys: BTreeMap<String, String>) -> bool {
        if self.server_keys == keys {
            return false;
        }
        self.server_keys = keys;
        true
    }

    /// Environments whose revision here is newer than in `seen` (or absent there).
    pub fn changed_since<'a>(
        &'a self,
        seen: &'a Manifest,
    ) -> impl Iterator<Item = (&'a str, &'a Entry)> + 'a {
        self.environments
            .iter()
            .filter(|(key, entry)| {
                seen.environments
                    .get(*key)
                    .is_none_or(|old| old.revision < entry.revision)
            })
            .map(|(key, entry)| (key.as_str(), entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_only_move_forward() {
        let mut manifest = Manifest::default();
        assert!(manifest.record(
            "a",
            Entry {
                revision: 5,
                updated_at: None
            }
        ));
        assert!(!manifest.record(
            "a",
            Entry {
                revision: 4,
                updated_at: None
            }
        ));
        assert!(!manifest.record(
            "a",
            Entry {
                revision: 5,
                updated_at: None
            }
        ));
        assert!(manifest.record(
            "a",
            Entry {
                revision: 6,
                updated_at: None
            }
        ));
        let old = Manifest::default();
        assert_eq!(manifest.changed_since(&old).count(), 1);
        assert_eq!(manifest.changed_since(&manifest).count(), 0);
    }
}
