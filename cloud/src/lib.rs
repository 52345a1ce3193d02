//! # flagedge-cloud
//!
//! How flagedge's published data lives in S3 and DynamoDB, shared by the writer
//! (flagedge-sync) and the readers (flagedge-edge's `s3` and `dynamodb` sources
//! and its DynamoDB identity store), so both sides agree by construction.
//!
//! - [`aws`] — SDK clients, lean: rustls with ring, no legacy HTTP stack, an
//!   endpoint override (with path-style S3) for local stand-ins such as moto;
//! - [`manifest`] — the small index of environments → revisions and server-side
//!   keys that readers poll instead of listing documents;
//! - [`s3`] — documents as `<prefix>/environments/<client key>.json` plus
//!   `<prefix>/manifest.json`, written compare-and-swap so that no writer ever
//!   puts an older revision over a newer one;
//! - [`dynamo`] — documents as items in Flagsmith's shape (gzip-compressed past
//!   the item limit as Flagsmith does, or in S3 behind a pointer when even that is
//!   too big), a manifest item, and identities keyed by `<client key>_<identifier>`;
//! - [`attribute`] — JSON ⇄ DynamoDB attribute values;
//! - [`counts`] — the count batch edges send flagedge-sync;
//! - [`changes`] — the change feed's answer (core's and sync's feeds, which edges follow).
//!
//! Depends on nothing else of flagedge; both binaries depend on it.

pub mod attribute;
pub mod aws;
pub mod changes;
pub mod counts;
pub mod dynamo;
pub mod manifest;
pub mod s3;
#[cfg(feature = "testing")]
pub mod testing;

/// A failed call to S3 or DynamoDB, or data that does not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The service answered with an error (or could not be reached).
    #[error("{service}: {message}")]
    Service {
        /// `s3` or `dynamodb`.
        service: &'static str,
        /// What it said.
        message: String,
    },
    /// Stored data is not what flagedge writes.
    #[error("malformed {what}: {message}")]
    Format {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Too many concurrent writers: a compare-and-swap kept failing.
    #[error("gave up after repeated write conflicts on {0}")]
    Contention(String),
    /// The object or item does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}

impl CloudError {
    pub(crate) fn s3(error: impl std::fmt::Display) -> CloudError {
        CloudError::Service {
            service: "s3",
            message: error.to_string(),
        }
    }

    pub(crate) fn dynamodb(error: impl std::fmt::Display) -> CloudError {
        CloudError::Service {
            service: "dynamodb",
            message: error.to_string(),
        }
    }
}

/// What happened to a revision offered to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored.
    Stored,
    /// The store already has this revision or a newer one; nothing was changed.
    Stale,
}
