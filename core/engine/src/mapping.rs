//! Documents to contexts (SPEC §3.1), as Flagsmith's SDKs and edge-proxy map them.
//!
//! Feature states become feature contexts keyed by name; segments keep their
//! order and use their id as key; identity overrides become synthetic segments,
//! one per distinct set of overrides, matching `$.identity.identifier IN [...]`
//! with the strongest possible priority. The compiler recognises that shape and
//! indexes it, so thousands of overridden identities cost one hash lookup.

use serde_json::{Value, json};

use crate::context::RuleType;
use crate::context::{
    EnvironmentContext, EvaluationContext, FeatureContext, FeatureVariant, OrderedMap,
    SegmentCondition, SegmentContext, SegmentRule,
};
use crate::document::{EnvironmentDocument, FeatureState, Rule};

/// The name Flagsmith gives segments made from identity overrides.
pub const IDENTITY_OVERRIDES_SEGMENT: &str = "identity_overrides";

/// Maps a document to the context the reference SDKs would evaluate (no identity).
pub fn document_to_context(document: &EnvironmentDocument) -> EvaluationContext {
    let mut features = OrderedMap::default();
    for state in &document.feature_states {
        features.insert(state.feature.name.clone(), feature_context(state));
    }
    let mut segments = OrderedMap::default();
    for segment in &document.project.segments {
        let key = segment.id.to_string();
        segments.insert(
            key.clone(),
            SegmentContext {
                key,
                name: segment.name.clone(),
                rules: segment.rules.iter().map(rule_context).collect(),
                overrides: segment.feature_states.iter().map(feature_context).collect(),
                metadata: Some(json!({"id": segment.id, "source": "api"})),
            },
        );
    }
    for (index, segment) in identity_override_segments(document).into_iter().enumerate() {
        // The reference uses Python's (randomised) hash of the override set as the
        // key; any key that cannot collide with a segment id behaves the same.
        let key = format!("{IDENTITY_OVERRIDES_SEGMENT}:{index}");
        segments.insert(key.clone(), SegmentContext { key, ..segment });
    }
    EvaluationContext {
        environment: EnvironmentContext {
            key: document.api_key.clone(),
            name: document.name.clone(),
        },
        identity: None,
        segments,
        features,
    }
}

fn feature_context(state: &FeatureState) -> FeatureContext {
    FeatureContext {
        // Validated when the document was parsed.
        key: state.hash_key().unwrap_or_default(),
        name: state.feature.name.clone(),
        enabled: state.enabled,
        value: state.feature_state_value.clone(),
        variants: state
            .multivariate_feature_state_values
            .iter()
            .map(|mv| FeatureVariant {
                key: mv.multivariate_feature_option.key.clone(),
                value: mv.multivariate_feature_option.value.clone(),
                weight: mv.percentage_allocation.clone(),
                priority: mv
                    .sort_key()
                    .unwrap_or(crate::context::VariantPriority(0, 0)),
            })
            .collect(),
        // A null priority is the weakest, as an absent one is.
        priority: state.feature_segment.as_ref().and_then(|fs| fs.priority),
        metadata: Some(json!({"id": state.feature.id})),
    }
}

fn rule_context(rule: &Rule) -> SegmentRule {
    SegmentRule {
        rule_type: rule.rule_type,
        conditions: rule
            .conditions
            .iter()
            .map(|c| SegmentCondition {
                property: c.property_.clone().unwrap_or_default(),
                operator: c.operator.clone(),
                value: c.value.clone(),
            })
            .collect(),
        rules: rule.rules.iter().map(rule_context).collect(),
    }
}

/// Groups identities whose override sets are equal (by Python's `==`, under which
/// `1`, `1.0` and `true` are one value) into one segment each, in first-seen order.
fn identity_override_segments(document: &EnvironmentDocument) -> Vec<SegmentContext> {
    let mut groups: Vec<(Vec<OverrideKey>, Vec<&FeatureState>, Vec<Value>)> = Vec::new();
    for identity in &document.identity_overrides {
        if identity.identity_features.is_empty() {
            continue;
        }
        let mut states: Vec<&FeatureState> = identity.identity_features.iter().collect();
        states.sort_by(|a, b| a.feature.name.cmp(&b.feature.name));
        let key: Vec<OverrideKey> = states.iter().map(|s| OverrideKey::of(s)).collect();
        let identifier = Value::String(identity.identifier.clone());
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, identifiers)) => identifiers.push(identifier),
            None => groups.push((key, states, vec![identifier])),
        }
    }
    groups
        .into_iter()
        .map(|(_, states, identifiers)| SegmentContext {
            key: String::new(),
            name: IDENTITY_OVERRIDES_SEGMENT.to_string(),
            rules: vec![SegmentRule {
                rule_type: RuleType::All,
                conditions: vec![SegmentCondition {
                    property: "$.identity.identifier".to_string(),
                    operator: "IN".to_string(),
                    value: Value::Array(identifiers),
                }],
                rules: Vec::new(),
            }],
            overrides: states
                .into_iter()
                .map(|s| FeatureContext {
                    // Identity overrides never carry variants, so the key is never hashed.
                    key: String::new(),
                    name: s.feature.name.clone(),
                    enabled: s.enabled,
                    value: s.feature_state_value.clone(),
                    variants: Vec::new(),
                    priority: Some(f64::NEG_INFINITY),
                    metadata: Some(json!({"id": s.feature.id})),
                })
                .collect(),
            metadata: Some(json!({"source": IDENTITY_OVERRIDES_SEGMENT})),
        })
        .collect()
}

/// One override as the reference groups them: `(feature id, name, enabled, value)`.
#[derive(PartialEq)]
struct OverrideKey {
    feature_id: i64,
    name: String,
    enabled: bool,
    value: PyEqValue,
}

impl OverrideKey {
    fn of(state: &FeatureState) -> OverrideKey {
        OverrideKey {
            feature_id: state.feature.id,
            name: state.feature.name.clone(),
            enabled: state.enabled,
            value: PyEqValue::of(&state.feature_state_value),
        }
    }
}

/// A JSON value under Python's equality: booleans and integral floats equal ints.
#[derive(PartialEq)]
enum PyEqValue {
    Null,
    Int(i128),
    Float(u64),
    Text(String),
}

impl PyEqValue {
    fn of(value: &Value) -> PyEqValue {
        match value {
            Value::Null => PyEqValue::Null,
            Value::Bool(b) => PyEqValue::Int(i128::from(*b)),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => PyEqValue::Int(i128::from(i)),
                (_, Some(u), _) => PyEqValue::Int(i128::from(u)),
                (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1.0e30 => {
                    PyEqValue::Int(f as i128)
                }
                (_, _, f) => PyEqValue::Float(f.unwrap_or(f64::NAN).to_bits()),
            },
            Value::String(s) => PyEqValue::Text(s.clone()),
            other => PyEqValue::Text(other.to_string()),
        }
    }
}
