//! One environment as the edge serves it: the compiled document plus every
//! response body that does not depend on the request, prepared once per revision.
//!
//! The environment flags (per key kind) and the document are kept as bytes,
//! gzipped and hashed into ETags here, so a poller's `GET /flags/` is a key
//! lookup, an ETag comparison and a reference-counted copy.

use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flagedge_engine::{CompiledEnvironment, EnvironmentDocument, KeyKind, Timestamp};
use http::HeaderValue;
use sha2::{Digest, Sha256};

use crate::counters::Counters;

/// Bodies below this size are not worth compressing.
pub const GZIP_MIN_BYTES: usize = 1000;

/// Plain copies of gzip-first bodies, made for clients that do not accept gzip,
/// kept within a process-wide budget: a thousand environments read in plain
/// would otherwise hold a thousand copies (40 MiB at 200 features each).
#[derive(Debug)]
pub struct PlainCopies {
    budget: AtomicUsize,
    kept: AtomicUsize,
}

/// The edge's plain copies: unbounded until the edge sets `--plain-copies-bytes`.
pub static PLAIN_COPIES: PlainCopies = PlainCopies::new(usize::MAX);

impl PlainCopies {
    /// No copy kept yet, `budget` bytes allowed.
    pub const fn new(budget: usize) -> PlainCopies {
        PlainCopies {
            budget: AtomicUsize::new(budget),
            kept: AtomicUsize::new(0),
        }
    }

    /// Sets the budget (at start).
    pub fn set_budget(&self, bytes: usize) {
        self.budget.store(bytes, Ordering::Relaxed);
    }

    /// Bytes of plain copies kept now.
    pub fn kept(&self) -> usize {
        self.kept.load(Ordering::Relaxed)
    }

    /// Takes room for a copy of `bytes`, if the budget has it.
    fn reserve(&self, bytes: usize) -> bool {
        let budget = self.budget.load(Ordering::Relaxed);
        self.kept
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |kept| {
                (kept + bytes <= budget).then_some(kept + bytes)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.kept.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// What a body does with its plain JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plain {
    /// Held from the start.
    Held,
    /// Made from the gzip on the first plain read and kept while the budget of
    /// [`PLAIN_COPIES`] allows (hot bodies).
    KeptWithinBudget,
    /// Made again for each plain reader (rarely read bodies).
    MadeEachRead,
}

/// A response body in every form a client may ask for.
#[derive(Debug)]
pub struct Body {
    /// The JSON: from the start, or once made from the gzip (see [`Body::plain`]).
    plain: OnceLock<Bytes>,
    /// Whether the JSON is held, kept once made from the gzip, or made per read.
    keep: Plain,
    /// The JSON gzipped, when that is worth it.
    pub gzip: Option<Bytes>,
    /// A strong ETag of the JSON.
    pub etag: HeaderValue,
}

impl Body {
    /// Prepares a body: gzip (when large enough) and ETag.
    pub fn new(plain: Bytes) -> Body {
        Body::prepare(plain, Effort::Smallest, Plain::Held)
    }

    /// Like [`Body::new`], keeping only the gzip when there is one: for large,
    /// rarely read bodies (documents are polled once a minute per SDK, and SDKs
    /// accept gzip), the rare plain reader pays a decompression instead of every
    /// environment paying for the plain copy in memory. Compressed at the
    /// fastest level: a document is compressed on every change (at level 6 that
    /// was ~2 ms of a swap's CPU for a 100 KB document; level 1 takes a tenth of
    /// it for a gzip a third larger) and read rarely.
    pub fn gzip_only(plain: Bytes) -> Body {
        Body::prepare(plain, Effort::Fastest, Plain::MadeEachRead)
    }

    /// Like [`Body::new`], keeping the gzip until a client asks for the plain
    /// JSON, which is then kept within the budget of [`PLAIN_COPIES`]: for hot
    /// bodies (`/flags/`) of environments most of whose clients accept gzip (the
    /// SDKs do). An edge holding a thousand environments holds the plain copies
    /// of only those read in plain, and of those no more than the budget.
    pub fn gzip_first(plain: Bytes) -> Body {
        Body::prepare(plain, Effort::Smallest, Plain::KeptWithinBudget)
    }

    fn prepare(plain: Bytes, effort: Effort, keep: Plain) -> Body {
        let compressed = (plain.len() >= GZIP_MIN_BYTES).then(|| gzip(&plain, effort));
        // Without a gzip to decompress from, the JSON is held whatever was asked.
        let keep = if compressed.is_some() {
            keep
        } else {
            Plain::Held
        };
        Body {
            etag: content_etag(&plain),
            plain: match keep {
                Plain::Held => OnceLock::from(plain),
                _ => OnceLock::new(),
            },
            keep,
            gzip: compressed,
        }
    }

    /// The JSON, decompressed when only the gzip is kept.
    pub fn plain(&self) -> Bytes {
        if let Some(plain) = self.plain.get() {
            return plain.clone();
        }
        let Some(gzip) = &self.gzip else {
            return Bytes::new();
        };
        let plain = gunzip(gzip);
        if self.keep == Plain::KeptWithinBudget
            && PLAIN_COPIES.reserve(plain.len())
            && self.plain.set(plain.clone()).is_err()
        {
            // Another reader kept its copy first.
            PLAIN_COPIES.release(plain.len());
        }
        plain
    }

    /// The same JSON, gzip and ETag: one body serving two names (before any
    /// plain read: each name keeps its own copy, counted on its own).
    fn shared(&self) -> Body {
        Body {
            plain: match self.keep {
                Plain::Held => self.plain.clone(),
                _ => OnceLock::new(),
            },
            keep: self.keep,
            gzip: self.gzip.clone(),
            etag: self.etag.clone(),
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let (Plain::KeptWithinBudget, Some(plain)) = (self.keep, self.plain.get()) {
            PLAIN_COPIES.release(plain.len());
        }
    }
}

fn gunzip(data: &[u8]) -> Bytes {
    use std::io::Read as _;
    // A gzip member ends with its input's length (mod 2^32): room for exactly
    // that, instead of a guess regrown while inflating (each regrowth a copy,
    // and a hole in the heap for the allocator to fill).
    let length = data
        .len()
        .checked_sub(4)
        .and_then(|trailer| data.get(trailer..))
        .and_then(|trailer| <[u8; 4]>::try_from(trailer).ok())
        .map_or(0, |trailer| u32::from_le_bytes(trailer) as usize);
    let mut out = Vec::with_capacity(length);
    // The bytes were compressed by this process: they decompress.
    let _ = flate2::read::GzDecoder::new(data).read_to_end(&mut out);
    exact(out)
}

/// How hard [`gzip`] works.
#[derive(Debug, Clone, Copy)]
pub enum Effort {
    /// zlib's default level: for bodies held for a revision and sent many
    /// times, where each byte saved is saved on every send.
    Smallest,
    /// Level 1, about ten times faster: for bodies compressed on a request's
    /// path or on every document change, and sent rarely.
    Fastest,
}

/// Compresses with gzip.
pub fn gzip(data: &[u8], effort: Effort) -> Bytes {
    let level = match effort {
        Effort::Smallest => 6,
        Effort::Fastest => 1,
    };
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::new(level),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    exact(encoder.finish().unwrap_or_default())
}

/// Bytes holding exactly their length: `Bytes::from(Vec)` keeps the vector's
/// spare capacity for as long as the bytes live, and a body built into a
/// generously sized buffer would otherwise hold two or three times its size
/// for a whole revision (measured: RSS after loading 1,000 environments of
/// 200 features went from 220 to 197 MiB when bodies were cut to length).
pub fn exact(buffer: Vec<u8>) -> Bytes {
    Bytes::from(buffer.into_boxed_slice())
}

/// A strong ETag naming a body by its content (a SHA-256 prefix): equal bodies
/// revalidate across revisions and edges without coordination.
pub fn content_etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let etag = format!("\"{}\"", hex::encode(&digest[..12]));
    // Hex digits in quotes are always a valid header value.
    HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// What orders two documents of one environment: flagedge's revision when both
/// carry one and they differ, else `updated_at` (so a document claiming the
/// served revision with an older `updated_at` is older, not a tie).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentVersion {
    /// flagedge's revision counter.
    pub revision: Option<u64>,
    /// The document's `updated_at`.
    pub updated_at: Option<Timestamp>,
}

impl DocumentVersion {
    /// Whether `self` is strictly older than `other` (unknown orders are not older).
    pub fn is_older_than(&self, other: &DocumentVersion) -> bool {
        match (self.revision, other.revision) {
            (Some(a), Some(b)) if a != b => a < b,
            _ => match (self.updated_at, other.updated_at) {
                (Some(a), Some(b)) => a < b,
                _ => false,
            },
        }
    }
}

/// A compiled environment with its prepared responses.
#[derive(Debug)]
pub struct ServedEnvironment {
    /// The engine's view.
    pub compiled: CompiledEnvironment,
    /// The document, as received.
    pub document: Body,
    /// `GET /flags/` bodies, by key kind.
    pub flags: [Body; 2],
    /// `X-Flagsmith-Document-Updated-At` (epoch seconds).
    pub updated_at_header: HeaderValue,
    /// `Last-Modified`, when the document has `updated_at`.
    pub last_modified: Option<HeaderValue>,
    /// The document's order.
    pub version: DocumentVersion,
    /// SHA-256 of the document bytes: identical documents are not swapped.
    pub digest: [u8; 32],
    /// Evaluation and API-call counters (drained into analytics batches).
    pub counters: Counters,
    /// When a source last confirmed this document current (ms since the epoch).
    confirmed_at_ms: AtomicU64,
}

/// Why a document could not be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// It does not parse.
    #[error("invalid document: {0}")]
    Parse(#[from] flagedge_engine::ParseError),
    /// It does not compile.
    #[error("document does not compile: {0}")]
    Compile(#[from] flagedge_engine::CompileError),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl ServedEnvironment {
    /// Parses, compiles and prepares a document (CPU work: call off the async workers).
    pub fn load(bytes: Bytes) -> Result<ServedEnvironment, LoadError> {
        let document = EnvironmentDocument::parse(&bytes)?;
        let compiled = CompiledEnvironment::from_document(&document)?;
        let updated_at = compiled.meta().updated_at;
        let updated_at_header = updated_at
            .map(|t| {
                HeaderValue::from_str(&flagedge_engine::python::float_repr(t.epoch_seconds_f64()))
            })
            .and_then(Result::ok)
            .unwrap_or(HeaderValue::from_static("0"));
        // Rendered for the edge's own bodies, gzip first (the engine keeps no copy).
        let client = compiled.render_environment_flags_json(KeyKind::Client);
        let server = compiled.render_environment_flags_json(KeyKind::Server);
        let server = if server == client {
            None
        } else {
            Some(Body::gzip_first(Bytes::from(server)))
        };
        let client = Body::gzip_first(Bytes::from(client));
        // The same bytes for both keys (no server-key-only feature): one body.
        let server = server.unwrap_or_else(|| client.shared());
        let flags = [client, server];
        let feature_count = compiled.feature_count();
        Ok(ServedEnvironment {
            version: DocumentVersion {
                revision: compiled.meta().revision,
                updated_at,
            },
            last_modified: updated_at.and_then(|t| HeaderValue::from_str(&t.to_http_date()).ok()),
            updated_at_header,
            flags,
            digest: Sha256::digest(&bytes).into(),
            document: Body::gzip_only(bytes),
            counters: Counters::new(feature_count),
            confirmed_at_ms: AtomicU64::new(now_ms()),
            compiled,
        })
    }

    /// The client-side key.
    pub fn client_key(&self) -> &str {
        &self.compiled.meta().api_key
    }

    /// Records that the source confirmed this document is current.
    pub fn confirm(&self) {
        self.confirmed_at_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// When the source last confirmed the document.
    pub fn confirmed_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.confirmed_at_ms.load(Ordering::Relaxed))
    }

    /// Seconds since the source last confirmed the document (the `Age` header).
    pub fn age_seconds(&self) -> u64 {
        now_ms().saturating_sub(self.confirmed_at_ms.load(Ordering::Relaxed)) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_revision_then_time() {
        let t = |s| Some(Timestamp::from_unix_seconds(s));
        let v = |revision, updated_at| DocumentVersion {
            revision,
            updated_at,
        };
        assert!(v(Some(1), t(9)).is_older_than(&v(Some(2), t(1))));
        assert!(!v(Some(2), t(1)).is_older_than(&v(Some(1), t(9))));
        assert!(v(None, t(1)).is_older_than(&v(Some(2), t(2))));
        assert!(!v(None, None).is_older_than(&v(None, t(2))));
        // The same revision: updated_at decides (found by the chaos harness).
        assert!(v(Some(3), t(1)).is_older_than(&v(Some(3), t(2))));
        assert!(!v(Some(3), t(2)).is_older_than(&v(Some(3), t(2))));
    }

    #[test]
    fn bodies_get_gzip_only_when_worth_it() {
        assert!(Body::new(Bytes::from_static(b"[]")).gzip.is_none());
        let large = Bytes::from(vec![b'a'; 5000]);
        let body = Body::new(large);
        assert!(body.gzip.as_ref().is_some_and(|g| g.len() < 200));
        assert!(body.etag.to_str().unwrap().starts_with('"'));
    }

    #[test]
    fn gzip_only_bodies_decompress_for_plain_readers() {
        let large = Bytes::from(vec![b'{'; 5000]);
        let body = Body::gzip_only(large.clone());
        assert!(body.plain.get().is_none());
        assert_eq!(body.plain(), large);
        // Rarely read: not kept after the read.
        assert!(body.plain.get().is_none());
        assert_eq!(body.etag, Body::new(large.clone()).etag);
        let small = Body::gzip_only(Bytes::from_static(b"{}"));
        assert_eq!(small.plain(), Bytes::from_static(b"{}"));
        // Hot: no plain copy until one is asked for, then kept.
        let hot = Body::gzip_first(large.clone());
        assert!(hot.plain.get().is_none());
        assert_eq!(hot.plain(), large);
        assert!(hot.plain.get().is_some());
    }

    #[test]
    fn plain_copies_stay_within_their_budget() {
        // The only test in this process that touches the global budget (nextest
        // runs each test in a process of its own).
        PLAIN_COPIES.set_budget(12_000);
        let large = Bytes::from(vec![b'{'; 5000]);
        let bodies: Vec<Body> = (0..3).map(|_| Body::gzip_first(large.clone())).collect();
        for body in &bodies {
            assert_eq!(body.plain(), large);
        }
        // Two copies fit; the third body decompresses for each plain reader.
        assert_eq!(PLAIN_COPIES.kept(), 10_000);
        assert_eq!(bodies.iter().filter(|b| b.plain.get().is_some()).count(), 2);
        assert_eq!(bodies[2].plain(), large);
        // A body dropped (its revision replaced) gives its room back.
        drop(bodies);
        assert_eq!(PLAIN_COPIES.kept(), 0);
        let body = Body::gzip_first(large.clone());
        let _ = body.plain();
        assert_eq!(PLAIN_COPIES.kept(), 5000);
    }

    #[test]
    fn environments_hold_flags_bodies_gzipped_until_read_in_plain() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let document = flagedge_engine::synthetic::document(&mut rng, &Default::default());
        let served =
            ServedEnvironment::load(Bytes::from(serde_json::to_vec(&document).unwrap())).unwrap();
        for body in &served.flags {
            assert!(body.gzip.is_some() && body.plain.get().is_none());
        }
        let plain = served.flags[0].plain();
        assert!(plain.starts_with(b"[{"));
    }
}
