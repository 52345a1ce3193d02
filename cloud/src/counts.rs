//! The count batch an edge sends flagedge-sync every interval
//! (`POST /api/v1/analytics/batch`): defined once, used by both sides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One environment's counts in a batch.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct EnvironmentCounts {
    /// The environment's client-side key.
    pub environment_key: String,
    /// Flag evaluations by feature name.
    #[serde(default)]
    pub evaluations: BTreeMap<String, u64>,
    /// SDK API calls by resource (`flags`, `identities`, `traits`, `environment-document`).
    #[serde(default)]
    pub api_calls: BTreeMap<String, u64>,
}

/// What an edge ships every interval.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Batch {
    /// Unique per batch; a receiver ignores a batch id it has stored.
    pub batch_id: String,
    /// The edge that counted.
    #[serde(default)]
    pub edge_id: String,
    /// When the batch was cut (ISO 8601, UTC); decides the minute its counts fall in.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Counts per environment.
    pub environments: Vec<EnvironmentCounts>,
}

impl Batch {
    /// Every evaluation in the batch.
    pub fn evaluation_total(&self) -> u64 {
        self.environments
            .iter()
            .flat_map(|e| e.evaluations.values())
            .sum()
    }
}
