//! Evaluation results in Flagsmith's `EvaluationResult` shape
//! (`sdk/evaluation-result.json`): what the conformance cases compare.

use serde_json::{Map, Value};

use crate::compile::{CompiledEnvironment, CompiledState};
use crate::evaluate::{Evaluation, FlagOutcome, Reason, VariantPick, option_index};

/// The reason text of a decided flag, as the reference writes it.
pub(crate) fn reason_text(env: &CompiledEnvironment, outcome: &FlagOutcome) -> String {
    match outcome.reason {
        Reason::Static => "STATIC".to_string(),
        Reason::Default => "DEFAULT".to_string(),
        Reason::TargetingMatch(segment) => {
            format!(
                "TARGETING_MATCH; segment={}",
                env.segments[segment as usize].name
            )
        }
        Reason::Split => {
            let state = &env.states[outcome.state as usize];
            let weight = option_index(outcome.variant)
                .map(|i| &*state.variants[i as usize].weight_text)
                .unwrap_or("0");
            format!("SPLIT; weight={weight}")
        }
        Reason::CircularDependency => "ERROR; code=CIRCULAR_DEPENDENCY".to_string(),
    }
}

/// The `variant` of a result: null, "control", or the chosen option's key.
pub(crate) fn variant_text(state: &CompiledState, pick: VariantPick) -> Option<&str> {
    match pick {
        VariantPick::NotApplicable => None,
        VariantPick::Control => Some("control"),
        VariantPick::Option(i) => state.variants[i as usize].key.as_deref(),
    }
}

/// Python truthiness of JSON: metadata is reported only when truthy.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// One flag as `{enabled, name, reason, value, variant, metadata?}`.
pub(crate) fn flag_result_json(env: &CompiledEnvironment, outcome: &FlagOutcome) -> Value {
    let state = &env.states[outcome.state as usize];
    let mut flag = Map::new();
    flag.insert("enabled".into(), Value::Bool(state.enabled));
    flag.insert("name".into(), Value::String(state.name.to_string()));
    flag.insert("reason".into(), Value::String(reason_text(env, outcome)));
    flag.insert(
        "value".into(),
        state.value_for(option_index(outcome.variant)).clone(),
    );
    flag.insert(
        "variant".into(),
        variant_text(state, outcome.variant).map_or(Value::Null, |v| Value::String(v.to_string())),
    );
    if let Some(metadata) = &state.metadata {
        flag.insert(
            "metadata".into(),
            serde_json::from_str(metadata).unwrap_or(Value::Null),
        );
    }
    Value::Object(flag)
}

impl Evaluation {
    /// The result as Flagsmith's engine returns it: `{"flags": {...}, "segments": [...]}`.
    pub fn to_result_json(&self, env: &CompiledEnvironment) -> Value {
        let mut flags = Map::new();
        for (feature, outcome) in env.features.iter().zip(&self.flags) {
            flags.insert(feature.name.to_string(), flag_result_json(env, outcome));
        }
        let segments = self
            .segments
            .iter()
            .map(|&s| {
                let segment = &env.segments[s as usize];
                let mut entry = Map::new();
                entry.insert("name".into(), Value::String(segment.name.to_string()));
                if let Some(metadata) = &segment.metadata {
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
    pub fn segment_names<'e>(&self, env: &'e CompiledEnvironment) -> Vec<&'e str> {
        self.segments
            .iter()
            .map(|&s| &*env.segments[s as usize].name)
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
    pub value: &'e Value,
    /// The reason, coded.
    pub reason: ReasonCode,
    /// The reason as Flagsmith's engine writes it (`TARGETING_MATCH; segment=beta`).
    pub reason_text: String,
    /// The chosen multivariate option's key, if the option has one.
    pub variant: Option<&'e str>,
}

impl Evaluation {
    fn detail_of<'e>(&self, env: &'e CompiledEnvironment, index: usize) -> FlagDetail<'e> {
        let outcome = &self.flags[index];
        let state = &env.states[outcome.state as usize];
        FlagDetail {
            name: &env.features[index].name,
            enabled: state.enabled,
            value: state.value_for(option_index(outcome.variant)),
            reason: match outcome.reason {
                Reason::Static => ReasonCode::Static,
                Reason::Default => ReasonCode::Default,
                Reason::TargetingMatch(_) => ReasonCode::TargetingMatch,
                Reason::Split => ReasonCode::Split,
                Reason::CircularDependency => ReasonCode::Error,
            },
            reason_text: reason_text(env, outcome),
            variant: match outcome.variant {
                VariantPick::Option(i) => state.variants[i as usize].key.as_deref(),
                _ => None,
            },
        }
    }

    /// The flags a key of this kind is shown, in detail.
    pub fn details<'e>(
        &'e self,
        env: &'e CompiledEnvironment,
        key: crate::KeyKind,
    ) -> impl Iterator<Item = FlagDetail<'e>> + 'e {
        self.visible_features(env, key)
            .map(move |index| self.detail_of(env, index))
    }

    /// One flag in detail, if it exists and the key may see it.
    pub fn detail<'e>(
        &self,
        env: &'e CompiledEnvironment,
        name: &str,
        key: crate::KeyKind,
    ) -> Option<FlagDetail<'e>> {
        let index = env.feature_index(name)?;
        env.visible(index, &self.flags[index], key)
            .then(|| self.detail_of(env, index))
    }
}
