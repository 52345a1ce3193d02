//! A prepared environment: compiled rules plus its environment flags, evaluated
//! and serialised once.
//!
//! This is the last step of compile → evaluate → render. The rules are compiled
//! first ([`CompiledRules`]), the environment flags (no identity) are evaluated
//! against them, both key kinds' `GET /flags/` bodies are rendered, and only then
//! is the [`CompiledEnvironment`] assembled, complete: nothing is ever built
//! half-empty and filled in later. A server then serves environment flags by
//! copying bytes and evaluates identities against the same rules.

use std::ops::Deref;
use std::sync::Arc;

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
    /// Their `GET /flags/` bodies by key kind, shared so a server can serve the
    /// bytes without a copy of its own.
    environment_flags_json: [Arc<[u8]>; 2],
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
        let client: Arc<[u8]> = environment_flags.flags_json(&rules, KeyKind::Client).into();
        let server = environment_flags.flags_json(&rules, KeyKind::Server);
        // Without server-key-only features both keys see the same bytes: keep them once.
        let server = if *server == *client {
            Arc::clone(&client)
        } else {
            server.into()
        };
        CompiledEnvironment {
            rules,
            environment_flags,
            environment_flags_json: [client, server],
        }
    }

    /// The environment flags response (`GET /api/v1/flags/`): a JSON array,
    /// serialised when the document was compiled.
    pub fn environment_flags_json(&self, key: KeyKind) -> &[u8] {
        &self.environment_flags_json[key as usize]
    }

    /// The same bytes, shared: a server keeps a reference instead of a copy.
    pub fn environment_flags_json_shared(&self, key: KeyKind) -> Arc<[u8]> {
        Arc::clone(&self.environment_flags_json[key as usize])
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
