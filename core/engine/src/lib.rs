//! # flagedge-engine
//!
//! Flagsmith environment documents and flag evaluation, exact to Flagsmith's
//! reference engine (`flagsmith-flag-engine` 11.1.1). Pure: no I/O, no async,
//! no HTTP — every other flagedge crate builds on it, and it can be fuzzed,
//! benchmarked and embedded anywhere.
//!
//! The flow is parse → compile → evaluate → render, and a
//! [`CompiledEnvironment`] is compiled rules plus their environment flags,
//! evaluated and rendered once:
//!
//! ```
//! use flagedge_engine::{CompiledEnvironment, EnvironmentDocument, Identity, KeyKind};
//!
//! let json = br#"{"api_key": "env-key", "name": "Production", "project": {},
//!   "feature_states": [{"feature": {"id": 1, "name": "banner"}, "enabled": true,
//!     "feature_state_value": "hello", "django_id": 10}]}"#;
//! let document = EnvironmentDocument::parse(json).unwrap();
//! let environment = CompiledEnvironment::from_document(&document).unwrap();
//!
//! // Environment flags were evaluated and serialised at compile time.
//! assert!(environment.environment_flags_json(KeyKind::Client).starts_with(b"[{\"feature\""));
//!
//! // Identities are evaluated per request.
//! let traits = vec![("plan".to_string(), serde_json::json!("pro"))];
//! let identity = Identity { identifier: "user-1", key: None, traits: &traits };
//! let evaluation = environment.evaluate(Some(&identity));
//! let mut body = Vec::new();
//! evaluation.write_flags_json(&environment, KeyKind::Client, &mut body);
//! ```
//!
//! Modules, one idea each, each depending only on those listed before it:
//! - `python`, `value`, `semver`, `regex`, `hashing`, [`timestamp`] — the
//!   Python semantics Flagsmith relies on; `error` — parse errors by JSON path;
//! - [`context`] — the evaluation-context model (engine-test-data's input);
//! - [`document`] — the environment document model and its parser;
//! - [`mapping`] — documents to contexts, as Flagsmith's SDKs map them;
//! - `condition`, `property` — operators (and [`OPERATORS`], the one list of
//!   their names) and the properties conditions read;
//! - [`compile`] — per-revision precomputation into [`CompiledRules`], with the
//!   name lookups and the visibility filter;
//! - `outcome` — one decided flag and how the reference describes it;
//! - [`evaluate`] — the evaluation algorithm, flag dependencies included: rules
//!   in, an [`Evaluation`] out;
//! - `response`, `result` — evaluations rendered as the SDK API's JSON, as the
//!   engine's result, and as [`FlagDetail`]s for OFREP;
//! - `selection` — the digest of what picks each identity's flags, values
//!   aside, so picks ([`ShownFlag`]) outlive a change of values;
//! - [`explain`] — an evaluation traced, for people;
//! - [`environment`] — the [`CompiledEnvironment`]: rules, then their
//!   environment flags evaluated and rendered, assembled complete;
//! - [`synthetic`] — seeded documents and identities (tests, benchmarks, load).

pub mod compile;
mod condition;
pub mod context;
pub mod document;
pub mod environment;
mod error;
pub mod evaluate;
pub mod explain;
mod hashing;
mod index_lists;
pub mod mapping;
mod outcome;
mod property;
pub mod python;
mod regex;
mod response;
mod result;
mod selection;
mod semver;
pub mod synthetic;
pub mod timestamp;
mod value;

pub use compile::{CompileError, CompiledRules, EnvironmentMeta};
pub use condition::OPERATORS;
pub use context::{EvaluationContext, TestCase};
pub use document::EnvironmentDocument;
pub use environment::CompiledEnvironment;
pub use error::ParseError;
pub use evaluate::{Evaluation, Identity, trait_assignment};
pub use hashing::percentage as hash_percentage;
pub use response::ShownFlag;
pub use result::{FlagDetail, ReasonCode};
pub use timestamp::Timestamp;

/// Whether a REGEX condition's pattern can be evaluated (Python's dialect, within
/// the engine's size bound). A pattern that cannot never matches, so an admin
/// API should refuse it when it is written.
pub fn is_valid_regex(pattern: &str) -> bool {
    regex::PythonRegex::compile(pattern).is_some()
}

/// The two kinds of environment key (SPEC §1.0). Server-side keys start with
/// `ser.`; they may read the document and see server-key-only features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A client-side key, safe to ship in browsers and apps.
    Client = 0,
    /// A server-side key (`ser.` prefix).
    Server = 1,
}

impl KeyKind {
    /// The prefix of every server-side key.
    pub const SERVER_PREFIX: &'static str = "ser.";

    /// The kind of a key, by its prefix.
    pub fn of(key: &str) -> KeyKind {
        if key.starts_with(Self::SERVER_PREFIX) {
            KeyKind::Server
        } else {
            KeyKind::Client
        }
    }
}
