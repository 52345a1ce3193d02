//! Flags in the shape Flagsmith's SDK API returns them (SPEC §1.1–1.3).
//!
//! Every flag object a request could return is serialised at compile time; a
//! response is those byte strings joined. Filtering follows Flagsmith: disabled
//! flags are hidden when the environment (or its project) says so, and features
//! marked server-key-only never reach client-side keys.

use std::io::Write as _;

use serde_json::Value;

use crate::KeyKind;
use crate::compile::CompiledEnvironment;
use crate::evaluate::{Evaluation, FlagOutcome, option_index};

/// `{"feature":{"id":..,"name":..,"type":..},"enabled":..,"feature_state_value":..}`
pub(crate) fn flag_json(
    feature_id: Option<&Value>,
    name: &str,
    feature_type: &str,
    enabled: bool,
    value: &Value,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + name.len());
    out.extend_from_slice(b"{\"feature\":{\"id\":");
    match feature_id {
        Some(id) => write_json(&mut out, id),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"name\":");
    write_json(&mut out, &name);
    out.extend_from_slice(b",\"type\":");
    write_json(&mut out, &feature_type);
    out.extend_from_slice(if enabled {
        b"},\"enabled\":true"
    } else {
        b"},\"enabled\":false"
    });
    out.extend_from_slice(b",\"feature_state_value\":");
    write_json(&mut out, value);
    out.push(b'}');
    out
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serialising JSON values and strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

impl CompiledEnvironment {
    /// Whether a decided flag is shown to this kind of key.
    pub(crate) fn visible(&self, feature: usize, outcome: &FlagOutcome, key: KeyKind) -> bool {
        let hidden_server_only = key == KeyKind::Client && self.features[feature].server_key_only;
        let hidden_disabled =
            self.meta.hide_disabled_flags && !self.states[outcome.state as usize].enabled;
        !hidden_server_only && !hidden_disabled
    }

    /// The environment flags response (`GET /api/v1/flags/`): a JSON array,
    /// serialised when the document was compiled.
    pub fn environment_flags_json(&self, key: KeyKind) -> &[u8] {
        &self.environment_flags_json[key as usize]
    }

    /// The same bytes, shared: a server keeps a reference instead of a copy.
    pub fn environment_flags_json_shared(&self, key: KeyKind) -> std::sync::Arc<[u8]> {
        std::sync::Arc::clone(&self.environment_flags_json[key as usize])
    }

    /// One environment flag (`GET /api/v1/flags/?feature=`), if visible to the key.
    pub fn environment_flag_json(&self, name: &str, key: KeyKind) -> Option<&[u8]> {
        let feature = *self.feature_index.get(name)? as usize;
        let outcome = &self.environment_flags[feature];
        self.visible(feature, outcome, key)
            .then(|| self.states[outcome.state as usize].json_for(option_index(outcome.variant)))
    }
}

impl Evaluation {
    /// Appends the flags as a JSON array of Flagsmith flag objects.
    pub fn write_flags_json(&self, env: &CompiledEnvironment, key: KeyKind, out: &mut Vec<u8>) {
        write_flags(env, &self.flags, key, out);
    }

    /// One flag's JSON object, if the feature exists and is visible to the key.
    pub fn flag_json<'e>(
        &self,
        env: &'e CompiledEnvironment,
        name: &str,
        key: KeyKind,
    ) -> Option<&'e [u8]> {
        let feature = *env.feature_index.get(name)? as usize;
        let outcome = &self.flags[feature];
        env.visible(feature, outcome, key)
            .then(|| env.states[outcome.state as usize].json_for(option_index(outcome.variant)))
    }

    /// Indices of the flags this key is shown, for counting evaluations.
    pub fn visible_features<'e>(
        &'e self,
        env: &'e CompiledEnvironment,
        key: KeyKind,
    ) -> impl Iterator<Item = usize> + 'e {
        self.flags
            .iter()
            .enumerate()
            .filter(move |(i, o)| env.visible(*i, o, key))
            .map(|(i, _)| i)
    }
}

impl CompiledEnvironment {
    /// A feature's index by name.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.feature_index.get(name).map(|&i| i as usize)
    }

    /// A feature's name by index.
    pub fn feature_name(&self, index: usize) -> &str {
        &self.features[index].name
    }

    /// Whether the environment flags response shows this feature to this key.
    pub fn environment_flag_visible(&self, index: usize, key: KeyKind) -> bool {
        self.visible(index, &self.environment_flags[index], key)
    }

    /// Whether a key of this kind may see the feature at all (server-key-only filter).
    pub fn feature_visible_to(&self, index: usize, key: KeyKind) -> bool {
        !(key == KeyKind::Client && self.features[index].server_key_only)
    }
}

fn write_flags(env: &CompiledEnvironment, flags: &[FlagOutcome], key: KeyKind, out: &mut Vec<u8>) {
    out.push(b'[');
    let mut first = true;
    for (feature, outcome) in flags.iter().enumerate() {
        if !env.visible(feature, outcome, key) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        let _ = out
            .write_all(env.states[outcome.state as usize].json_for(option_index(outcome.variant)));
    }
    out.push(b']');
}

/// The environment flags as one JSON array (used at compile time).
pub(crate) fn flags_json(
    env: &CompiledEnvironment,
    flags: &[FlagOutcome],
    key: KeyKind,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(flags.len() * 96 + 2);
    write_flags(env, flags, key, &mut out);
    out
}
