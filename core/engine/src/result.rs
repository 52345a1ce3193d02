//! Evaluation results in Flagsmith's `EvaluationResult` shape
//! (`sdk/evaluation-result.json`): what the conformance cases compare; and
//! decided flags in detail, for protocols that shape results their own way
//! (OFREP). Each flag's own description is `outcome`'s, shared with evaluation.

use serde_json::{Map, Value};

use crate::KeyKind;
use crate::compile::CompiledRules;
use crate::evaluate::Evaluation;
use crate::outcome::{Reason, VariantPick};

impl Evaluation {
    /// The result as Flagsmith's engine returns it: `{"flags": {...}, "segments": [...]}`.
    pub fn to_result_json(&self, env: &CompiledRules) -> Value {
        let mut flags = Map::new();
        for (feature, outcome) in env.features.iter().zip(self.flags()) {
            flags.insert(feature.name.to_string(), outcome.result_json(env));
        }
        let segments = self
            .matched_segments()
            .iter()
            .map(|&s| {
                let segment = &env.segments[s as usize];
                let mut entry = Map::new();
                entry.insert("name".into(), Value::String(segment.name(env).to_string()));
                if let Some(metadata) = segment.metadata(env) {
                    entry.insert(
                        "metadata".into(),
                        serde_json::from_str(metadata).unwrap_or(Value::Null),
                    );
                }
                Value::Object(entry)
            })
            .collect();
        let mut result = Map::new();
        result.insert("flags".into(), Value::Object(flags));
        result.insert("segments".into(), Value::Array(segments));
        Value::Object(result)
    }

    /// Names of the matched segments, in order.
    pub fn segment_names<'e>(&self, env: &'e CompiledRules) -> Vec<&'e str> {
        self.matched_segments()
            .iter()
            .map(|&s| env.segments[s as usize].name(env))
            .collect()
    }
}

/// Why a flag has its value, without the details the reason text carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasonCode {
    /// The environment default; no segment overrides the feature.
    Static,
    /// The environment default; segments override the feature but none matched.
    Default,
    /// A segment's or identity's override.
    TargetingMatch,
    /// A multivariate option.
    Split,
    /// The flag could not be decided (a dependency cycle).
    Error,
}

/// One decided flag, for protocols that shape results their own way (OFREP).
#[derive(Clone, Debug, PartialEq)]
pub struct FlagDetail<'e> {
    /// The feature name.
    pub name: &'e str,
    /// On or off.
    pub enabled: bool,
    /// The value (JSON).
    pub value: Value,
    /// The reason, coded.
    pub reason: ReasonCode,
    /// The reason as Flagsmith's engine writes it (`TARGETING_MATCH; segment=beta`).
    pub reason_text: String,
    /// The chosen multivariate option's key, if the option has one.
    pub variant: Option<&'e str>,
}

impl Evaluation {
    fn detail_of<'e>(&self, env: &'e CompiledRules, index: usize) -> FlagDetail<'e> {
        let outcome = &self.flags()[index];
        let state = outcome.state(env);
        FlagDetail {
            name: &env.features[index].name,
            enabled: state.enabled,
            value: outcome.value(env),
            reason: match outcome.reason {
                Reason::Static => ReasonCode::Static,
                Reason::Default => ReasonCode::Default,
                Reason::TargetingMatch(_) => ReasonCode::TargetingMatch,
                Reason::Split => ReasonCode::Split,
                Reason::CircularDependency => ReasonCode::Error,
            },
            reason_text: outcome.reason_text(env),
            variant: match outcome.variant {
                VariantPick::Option(i) => state.variants(env)[i as usize].key(env),
                _ => None,
            },
        }
    }

    /// The flags a key of this kind is shown, in detail.
    pub fn details<'e>(
        &'e self,
        env: &'e CompiledRules,
        key: KeyKind,
    ) -> impl Iterator<Item = FlagDetail<'e>> + 'e {
        (0..self.flags().len())
            .filter(move |&index| env.visible(index, self.flags()[index].state, key))
            .map(move |index| self.detail_of(env, index))
    }

    /// One flag in detail, if it exists and the key may see it.
    pub fn detail<'e>(
        &self,
        env: &'e CompiledRules,
        name: &str,
        key: KeyKind,
    ) -> Option<FlagDetail<'e>> {
        let index = env.feature_index(name)?;
        env.visible(index, self.flags()[index].state, key)
            .then(|| self.detail_of(env, index))
    }
}
