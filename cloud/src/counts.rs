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

/// An edge's own state, carried by its batches so operators can see the fleet.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, Default)]
pub struct EdgeReport {
    /// The region or label the edge was given (`--edge-region`).
    #[serde(default)]
    pub region: String,
    /// The edge's version.
    #[serde(default)]
    pub version: String,
    /// What it serves, per environment.
    #[serde(default)]
    pub environments: Vec<ServedDocument>,
}

/// One environment as an edge serves it.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct ServedDocument {
    /// The environment's client-side key.
    pub environment_key: String,
    /// The document's revision (flagedge-core's), when it has one.
    #[serde(default)]
    pub revision: Option<u64>,
    /// The document's `updated_at` (ISO 8601), when it has one.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Seconds since the edge's source last confirmed the document current.
    #[serde(default)]
    pub confirmed_secs_ago: u64,
    /// The environment's ids and names as its document gives them (the
    /// analytics store tags counts with them, as Flagsmith does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<EnvironmentNames>,
}

/// An environment's ids and names (Flagsmith's; 0 and empty when unknown).
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, Default)]
pub struct EnvironmentNames {
    /// The environment's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The project's id.
    pub project_id: i64,
    /// The project's name.
    pub project: String,
    /// The organisation's id.
    pub organisation_id: i64,
    /// The organisation's name.
    pub organisation: String,
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
    /// The edge's state when the batch was cut (absent from older edges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<EdgeReport>,
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
