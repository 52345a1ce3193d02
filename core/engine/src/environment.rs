//! A prepared environment: compiled rules plus its environment flags, evaluated
//! once.
//!
//! This is the last step of compile → evaluate → render. The rules are compiled
//! first ([`CompiledRules`]), the environment flags (no identity) are evaluated
//! against them, and only then is the [`CompiledEnvironment`] assembled,
//! complete: nothing is ever built half-empty and filled in later. Their
//! `GET /flags/` bodies are rendered on first use and kept, or rendered for a
//! server that keeps its own form of them (the edge keeps them gzipped, so the
//! plain copy would be memory spent on every environment for nothing).

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use crate::KeyKind;
use crate::compile::{CompileError, CompiledRules};
use crate::context::EvaluationContext;
use crate::document::EnvironmentDocument;
use crate::evaluate::Evaluation;

/// An environment ready to serve: immutable, shareable across threads.
///
/// It is its [`CompiledRules`] (it dereferences to them, so `evaluate`,
/// `explain`, `meta` and the name lookups are called on it directly, and it
/// passes wherever rules are expected) plus the environment flags.
#[derive(Debug)]
pub struct CompiledEnvironment {
    rules: CompiledRules,
    /// The environment flags (no identity), decided once.
    environment_flags: Evaluation,
    /// Their `GET /flags/` bodies by key kind, rendered on first use.
    environment_flags_json: [OnceLock<Arc<[u8]>>; 2],
}

impl CompiledEnvironment {
    /// Compiles a document: maps it to a context (SPEC §3.1), compiles that and
    /// evaluates the environment flags.
    pub fn from_document(
        document: &EnvironmentDocument,
    ) -> Result<CompiledEnvironment, CompileError> {
        CompiledRules::from_document(document).map(CompiledEnvironment::prepare)
    }

    /// Compiles a context (its identity, if any, is ignored: pass identities to
    /// `evaluate`) and evaluates the environment flags.
    pub fn from_context(context: &EvaluationContext) -> Result<CompiledEnvironment, CompileError> {
        CompiledRules::from_context(context).map(CompiledEnvironment::prepare)
    }

    fn prepare(rules: CompiledRules) -> CompiledEnvironment {
        let environment_flags = rules.evaluate(None);
        CompiledEnvironment {
            rules,
            environment_flags,
            environment_flags_json: Default::default(),
        }
    }

    /// The environment flags response (`GET /api/v1/flags/`): a JSON array,
    /// rendered on first use and kept.
    pub fn environment_flags_json(&self, key: KeyKind) -> &[u8] {
        self.environment_flags_json_kept(key)
    }

    /// The same bytes, shared: a server keeps a reference instead of a copy.
    pub fn environment_flags_json_shared(&self, key: KeyKind) -> Arc<[u8]> {
        Arc::clone(self.environment_flags_json_kept(key))
    }

    fn environment_flags_json_kept(&self, key: KeyKind) -> &Arc<[u8]> {
        self.environment_flags_json[key as usize]
            .get_or_init(|| self.render_environment_flags_json(key).into())
    }

    /// The environment flags response rendered afresh and not kept here: for a
    /// server that keeps the bytes in its own form.
    pub fn render_environment_flags_json(&self, key: KeyKind) -> Vec<u8> {
        self.environment_flags.flags_json(&self.rules, key)
    }

    /// One environment flag (`GET /api/v1/flags/?feature=`), if visible to the key.
    pub fn environment_flag_json(&self, name: &str, key: KeyKind) -> Option<Vec<u8>> {
        self.environment_flags.flag_json(&self.rules, name, key)
    }

    /// Whether the environment flags response shows this feature to this key.
    pub fn environment_flag_visible(&self, index: usize, key: KeyKind) -> bool {
        self.environment_flags.is_visible(&self.rules, index, key)
    }
}

impl Deref for CompiledEnvironment {
    type Target = CompiledRules;

    fn deref(&self) -> &CompiledRules {
        &self.rules
    }
}
