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

/// One flag of a rendered response, kept in 8 bytes: its state and multivariate
/// option, enough to write its JSON again from the same [`CompiledRules`].
///
/// A cache can hold these instead of the bytes (a flag object is about 100 bytes)
/// and write the response when it is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShownFlag {
    state: u32,
    /// The option's index, or [`ShownFlag::NO_OPTION`].
    option: u16,
}

impl ShownFlag {
    const NO_OPTION: u16 = u16::MAX;

    fn option(self) -> Option<u16> {
        (self.option != ShownFlag::NO_OPTION).then_some(self.option)
    }

    /// The index of the flag's feature in the rules it was evaluated with.
    pub fn feature(self, rules: &CompiledRules) -> Option<usize> {
        rules.states[self.state as usize]
            .feature()
            .map(|feature| feature as usize)
    }
}

impl CompiledRules {
    /// Appends `flags`, taken from an evaluation of these very rules, as the JSON
    /// array [`Evaluation::write_flags_json`] writes.
    pub fn write_shown_flags_json(&self, flags: &[ShownFlag], out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, flag) in flags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.states[flag.state as usize].write_json(self, flag.option(), out);
        }
        out.push(b']');
    }

    /// The length of what [`CompiledRules::write_shown_flags_json`] appends.
    pub fn shown_flags_json_len(&self, flags: &[ShownFlag]) -> usize {
        let objects: usize = flags
            .iter()
            .map(|flag| self.states[flag.state as usize].json_len(self, flag.option()))
            .sum();
        // Brackets, and commas between objects.
        objects + 2 + flags.len().saturating_sub(1)
    }
}

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

    /// The flags this key is shown, each in 8 bytes, for
    /// [`CompiledRules::write_shown_flags_json`] to write later.
    pub fn shown_flags(&self, env: &CompiledRules, key: KeyKind) -> Box<[ShownFlag]> {
        self.flags()
            .iter()
            .enumerate()
            .filter(|(feature, outcome)| env.visible(*feature, outcome.state, key))
            .map(|(_, outcome)| ShownFlag {
                state: outcome.state,
                option: outcome.variant.option().unwrap_or(ShownFlag::NO_OPTION),
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use crate::synthetic::{self, Shape};
    use crate::{CompiledEnvironment, Identity, KeyKind};

    #[test]
    fn shown_flags_write_what_the_evaluation_writes() {
        let mut rng = SmallRng::seed_from_u64(18);
        let mut hiding = 0;
        for round in 0..40 {
            let shape = Shape {
                features: 30,
                multivariate_share: 0.5,
                ..Shape::default()
            };
            let mut document = synthetic::document(&mut rng, &shape);
            // Half the rounds hide disabled flags, so the shown set is a strict subset.
            document.hide_disabled_flags = Some(round % 2 == 0);
            let environment = CompiledEnvironment::from_document(&document).unwrap();
            for _ in 0..10 {
                let (identifier, traits) = synthetic::identity(&mut rng, 5);
                let identity = Identity {
                    identifier: &identifier,
                    key: None,
                    traits: &traits,
                };
                let evaluation = environment.evaluate(Some(&identity));
                for key in [KeyKind::Client, KeyKind::Server] {
                    let mut expected = Vec::new();
                    evaluation.write_flags_json(&environment, key, &mut expected);
                    let shown = evaluation.shown_flags(&environment, key);
                    let mut written = Vec::new();
                    environment.write_shown_flags_json(&shown, &mut written);
                    assert_eq!(environment.shown_flags_json_len(&shown), written.len());
                    assert_eq!(
                        String::from_utf8(written).unwrap(),
                        String::from_utf8(expected).unwrap()
                    );
                    let features: Vec<usize> = shown
                        .iter()
                        .filter_map(|f| f.feature(&environment))
                        .collect();
                    let visible: Vec<usize> =
                        evaluation.visible_features(&environment, key).collect();
                    assert_eq!(features, visible);
                    hiding += usize::from(shown.len() < 30);
                }
            }
        }
        assert!(hiding > 0, "no round hid a flag: the filter went untested");
    }
}
