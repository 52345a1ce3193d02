//! A decided flag — which state, which multivariate option, and why — and how
//! the reference engine describes it.
//!
//! Evaluation produces these; rendering reads them. The descriptions live here,
//! below both, because evaluation needs them too: a condition may read another
//! flag's `reason` or `variant`, and a general JSONPath query sees the flags
//! resolved so far exactly as the reference's result shows them.

use serde_json::{Map, Value};

use crate::compile::{CompiledRules, CompiledState};

/// How one flag was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagOutcome {
    /// The feature state in use (environment default or override).
    pub(crate) state: u32,
    /// The multivariate choice.
    pub(crate) variant: VariantPick,
    /// Why.
    pub(crate) reason: Reason,
}

/// A multivariate choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VariantPick {
    /// Not multivariate, or no identity to hash.
    NotApplicable,
    /// The identity fell outside every option's allocation: the state's own value.
    Control,
    /// One of the state's options (index into its sorted variants).
    Option(u16),
}

impl VariantPick {
    /// The chosen option's index, if an option was chosen.
    pub(crate) fn option(self) -> Option<u16> {
        match self {
            VariantPick::Option(i) => Some(i),
            _ => None,
        }
    }
}

/// Why a flag has its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The environment default; no segment overrides the feature.
    Static,
    /// The environment default; segments override the feature but none matched.
    Default,
    /// A matched segment's override (segment index).
    TargetingMatch(u32),
    /// A multivariate option was chosen.
    Split,
    /// The flag is part of a dependency cycle.
    CircularDependency,
}

impl FlagOutcome {
    /// The feature state in use.
    pub(crate) fn state<'r>(&self, rules: &'r CompiledRules) -> &'r CompiledState {
        &rules.states[self.state as usize]
    }

    /// The value, after the multivariate choice.
    pub(crate) fn value(&self, rules: &CompiledRules) -> Value {
        self.state(rules).value_for(rules, self.variant.option())
    }

    /// Appends the flag's SDK API object (from pieces serialised at compile time).
    pub(crate) fn write_json(&self, rules: &CompiledRules, out: &mut Vec<u8>) {
        self.state(rules)
            .write_json(rules, self.variant.option(), out)
    }

    /// The reason text, as the reference writes it.
    pub(crate) fn reason_text(&self, rules: &CompiledRules) -> String {
        match self.reason {
            Reason::Static => "STATIC".to_string(),
            Reason::Default => "DEFAULT".to_string(),
            Reason::TargetingMatch(segment) => {
                format!(
                    "TARGETING_MATCH; segment={}",
                    rules.segments[segment as usize].name(rules)
                )
            }
            Reason::Split => {
                let state = self.state(rules);
                let weight = self
                    .variant
                    .option()
                    .map(|i| state.variants(rules)[i as usize].weight_text(rules))
                    .unwrap_or("0");
                format!("SPLIT; weight={weight}")
            }
            Reason::CircularDependency => "ERROR; code=CIRCULAR_DEPENDENCY".to_string(),
        }
    }

    /// The `variant` of a result: null, "control", or the chosen option's key.
    pub(crate) fn variant_text<'r>(&self, rules: &'r CompiledRules) -> Option<&'r str> {
        match self.variant {
            VariantPick::NotApplicable => None,
            VariantPick::Control => Some("control"),
            VariantPick::Option(i) => self.state(rules).variants(rules)[i as usize].key(rules),
        }
    }

    /// The flag as the reference's result holds it:
    /// `{enabled, name, reason, value, variant, metadata?}`.
    pub(crate) fn result_json(&self, rules: &CompiledRules) -> Value {
        let state = self.state(rules);
        let mut flag = Map::new();
        flag.insert("enabled".into(), Value::Bool(state.enabled));
        flag.insert("name".into(), Value::String(state.name(rules).to_string()));
        flag.insert("reason".into(), Value::String(self.reason_text(rules)));
        flag.insert("value".into(), self.value(rules));
        flag.insert(
            "variant".into(),
            self.variant_text(rules)
                .map_or(Value::Null, |v| Value::String(v.to_string())),
        );
        if let Some(metadata) = state.metadata(rules) {
            flag.insert(
                "metadata".into(),
                serde_json::from_str(metadata).unwrap_or(Value::Null),
            );
        }
        Value::Object(flag)
    }
}
