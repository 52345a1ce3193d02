//! The change feed's answer, one shape for every feed an edge or sync follows:
//! flagedge-core's `GET /api/v1/edge/changes` (a revision cursor that survives
//! restarts) and flagedge-sync's `GET /api/v1/changes` (what it has *published*,
//! under a cursor of its own, named by an `epoch` so that a cursor from an
//! earlier process is recognised).
//!
//! A follower asks `?since=<revision>[&epoch=<epoch>]&timeout=<seconds>`; the
//! answer lists the environments changed after `since` (waiting up to the timeout
//! for one), and `reset` says the cursor was not understood (too old, or from
//! another epoch): the follower then checks everything once.

use serde::{Deserialize, Serialize};

/// One environment that changed, at its new revision.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Changed {
    /// Its client-side key.
    pub environment_key: String,
    /// Its revision now.
    pub revision: u64,
    /// Active server-side keys (only in core's full list, `/api/v1/edge/environments`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_keys: Vec<String>,
}

/// An answer of a change feed (and core's full list, which has the same shape).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Changes))]
pub struct Listing {
    /// The cursor to ask from next.
    pub revision: u64,
    /// Environments changed after the cursor asked from (or all, in the full list).
    pub environments: Vec<Changed>,
    /// The cursor asked from was not understood: check everything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// Names the process whose cursor this is (sync's feed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_answer_reads_and_syncs_answer_round_trips() {
        let core: Listing = serde_json::from_str(
            r#"{"revision": 7, "environments": [{"environment_key": "k", "revision": 7}]}"#,
        )
        .unwrap();
        assert_eq!(core.environments[0].environment_key, "k");
        assert!(!core.reset && core.epoch.is_none());
        let sync = Listing {
            revision: 3,
            environments: vec![],
            reset: true,
            epoch: Some("e1".into()),
        };
        let text = serde_json::to_string(&sync).unwrap();
        assert_eq!(
            text,
            r#"{"revision":3,"environments":[],"reset":true,"epoch":"e1"}"#
        );
        assert_eq!(serde_json::from_str::<Listing>(&text).unwrap(), sync);
    }
}
