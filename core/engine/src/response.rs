//! Flags in the shape Flagsmith's SDK API returns them (SPEC §1.1–1.3).
//!
//! Every flag object a request could return was serialised at compile time; a
//! response is those byte strings joined. Filtering follows Flagsmith: disabled
//! flags are hidden when the environment (or its project) says so, and features
//! marked server-key-only never reach client-side keys (the rule itself is
//! `CompiledRules::visible`).
//!
//! Every function here takes the [`CompiledRules`] the evaluation was made
//! from; a [`crate::CompiledEnvironment`] passes for them, so callers write
//! `evaluation.write_flags_json(&environment, key, &mut body)`.

use crate::KeyKind;
use crate::compile::CompiledRules;
use crate::evaluate::Evaluation;

impl Evaluation {
    /// Appends the flags as a JSON array of Flagsmith flag objects.
    pub fn write_flags_json(&self, env: &CompiledRules, key: KeyKind, out: &mut Vec<u8>) {
        out.push(b'[');
        let mut first = true;
        for (feature, outcome) in self.flags().iter().enumerate() {
            if !env.visible(feature, outcome.state, key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            outcome.write_json(env, out);
        }
        out.push(b']');
    }

    /// The flags as one JSON array, in a buffer of its own.
    pub(crate) fn flags_json(&self, env: &CompiledRules, key: KeyKind) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.flags().len() * 96 + 2);
        self.write_flags_json(env, key, &mut out);
        out
    }

    /// One flag's JSON object, if the feature exists and is visible to the key.
    pub fn flag_json(&self, env: &CompiledRules, name: &str, key: KeyKind) -> Option<Vec<u8>> {
        let feature = env.feature_index(name)?;
        let outcome = &self.flags()[feature];
        env.visible(feature, outcome.state, key).then(|| {
            let mut out = Vec::with_capacity(128);
            outcome.write_json(env, &mut out);
            out
        })
    }

    /// Whether the flag at `feature` (an index) is shown to this kind of key.
    pub(crate) fn is_visible(&self, env: &CompiledRules, feature: usize, key: KeyKind) -> bool {
        env.visible(feature, self.flags()[feature].state, key)
    }

    /// Indices of the flags this key is shown, for counting evaluations.
    pub fn visible_features<'e>(
        &'e self,
        env: &'e CompiledRules,
        key: KeyKind,
    ) -> impl Iterator<Item = usize> + 'e {
        self.flags()
            .iter()
            .enumerate()
            .filter(move |(i, o)| env.visible(*i, o.state, key))
            .map(|(i, _)| i)
    }
}
