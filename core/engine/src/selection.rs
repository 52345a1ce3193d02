//! What decides which flags an identity is shown — apart from what they say.
//!
//! An evaluation picks, per feature, a state and a multivariate option
//! ([`crate::ShownFlag`]); which one depends on the segments, the overrides and
//! their priorities, the variants' weights and order, keys hashed for splits and
//! the environment's settings, but not on any state's value (nor on `enabled`,
//! unless disabled flags are hidden). Two revisions with the same selection
//! digest pick the same state indices for every identity, so picks taken from one
//! can be written with the other's values: a cache of identity responses kept as
//! picks survives a change of values.
//!
//! That holds only while no condition reads beyond traits, the identity and the
//! environment's own fields (`$.environment.name`, which the digest covers): a
//! `$.flags.…` dependency or a JSONPath into the features could read a value.
//! Such documents have no selection digest.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::context::{
    EnvironmentContext, EvaluationContext, FeatureContext, SegmentRule, VariantPriority,
};

/// The environment's settings that decide what an identity is shown.
#[derive(Serialize)]
pub(crate) struct Settings<'a> {
    pub api_key: &'a str,
    pub hide_disabled_flags: bool,
    pub allow_client_traits: bool,
    pub hide_sensitive_data: bool,
    /// Per feature, in context order.
    pub server_key_only: &'a [bool],
}

/// The digest of what selects flags, or `None` when a condition may read values.
pub(crate) fn digest(context: &EvaluationContext, settings: Settings<'_>) -> Option<[u8; 32]> {
    let reads_no_values = context
        .segments
        .iter()
        .all(|(_, segment)| segment.rules.iter().all(reads_no_values));
    if !reads_no_values {
        return None;
    }
    let hidden = settings.hide_disabled_flags;
    let selection = Selection {
        environment: &context.environment,
        settings,
        features: context
            .features
            .iter()
            .map(|(_, f)| FeatureShape::of(f, hidden))
            .collect(),
        segments: context
            .segments
            .iter()
            .map(|(_, segment)| SegmentShape {
                key: &segment.key,
                name: &segment.name,
                rules: &segment.rules,
                overrides: segment
                    .overrides
                    .iter()
                    .map(|f| FeatureShape::of(f, hidden))
                    .collect(),
                metadata: segment.metadata.as_ref(),
            })
            .collect(),
    };
    // Written straight into the hash; serialising borrowed shapes cannot fail.
    let mut hasher = Sha256::new();
    serde_json::to_writer(&mut hasher, &selection).ok()?;
    Some(hasher.finalize().into())
}

/// Whether a rule reads only traits, the identity and the environment's fields
/// (never another flag or the context's features, whose values may change).
/// Only properties starting with `$.` are paths (`property::compile`).
fn reads_no_values(rule: &SegmentRule) -> bool {
    rule.conditions.iter().all(|c| {
        !c.property.starts_with("$.")
            || c.property.starts_with("$.identity.")
            || c.property.starts_with("$.environment.")
    }) && rule.rules.iter().all(reads_no_values)
}

#[derive(Serialize)]
struct Selection<'a> {
    environment: &'a EnvironmentContext,
    settings: Settings<'a>,
    features: Vec<FeatureShape<'a>>,
    segments: Vec<SegmentShape<'a>>,
}

#[derive(Serialize)]
struct SegmentShape<'a> {
    key: &'a str,
    name: &'a str,
    rules: &'a [SegmentRule],
    overrides: Vec<FeatureShape<'a>>,
    metadata: Option<&'a Value>,
}

/// A feature state without its value (and without `enabled` while disabled
/// flags are shown).
#[derive(Serialize)]
struct FeatureShape<'a> {
    key: &'a str,
    name: &'a str,
    enabled: Option<bool>,
    priority: Option<f64>,
    variants: Vec<(Option<&'a str>, &'a serde_json::Number, VariantPriority)>,
}

impl<'a> FeatureShape<'a> {
    fn of(feature: &'a FeatureContext, hidden_when_disabled: bool) -> FeatureShape<'a> {
        FeatureShape {
            key: &feature.key,
            name: &feature.name,
            enabled: hidden_when_disabled.then_some(feature.enabled),
            priority: feature.priority,
            variants: feature
                .variants
                .iter()
                .map(|v| (v.key.as_deref(), &v.weight, v.priority))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use crate::document::{EnvironmentDocument, FeatureState};
    use crate::synthetic::{self, Shape};
    use crate::{CompiledEnvironment, Identity, KeyKind};

    /// The document's feature states: defaults and segment overrides, and
    /// identity overrides too if asked.
    fn states(document: &mut EnvironmentDocument, identities: bool) -> Vec<&mut FeatureState> {
        let mut states: Vec<&mut FeatureState> = document.feature_states.iter_mut().collect();
        for segment in &mut document.project.segments {
            states.extend(segment.feature_states.iter_mut());
        }
        if identities {
            for identity in &mut document.identity_overrides {
                states.extend(identity.identity_features.iter_mut());
            }
        }
        states
    }

    /// New values, and `enabled` flipped at random.
    fn change_values(rng: &mut SmallRng, document: &mut EnvironmentDocument, identities: bool) {
        for state in states(document, identities) {
            state.feature_state_value = synthetic::trait_value(rng);
            state.enabled ^= rng.gen_bool(0.3);
            for variant in &mut state.multivariate_feature_state_values {
                variant.multivariate_feature_option.value = synthetic::trait_value(rng);
            }
        }
    }

    fn compiled(document: &EnvironmentDocument) -> CompiledEnvironment {
        CompiledEnvironment::from_document(document).unwrap()
    }

    #[test]
    fn picks_survive_a_change_of_values() {
        let mut rng = SmallRng::seed_from_u64(26);
        let mut survived = 0;
        // Some synthetic documents read JSONPaths (no digest): enough rounds for
        // dozens that do not.
        for round in 0..120 {
            let shape = Shape {
                flag_dependencies: false,
                multivariate_share: 0.5,
                ..Shape::default()
            };
            let before = synthetic::document(&mut rng, &shape);
            let mut after = before.clone();
            // Identities with the same overrides share a segment (as in the
            // reference's mapping), so changing theirs may regroup them: a new
            // digest then, and no picks carried over.
            let identities = round % 3 == 0;
            change_values(&mut rng, &mut after, identities);
            let (old, new) = (compiled(&before), compiled(&after));
            let Some(digest) = old.selection_digest() else {
                continue;
            };
            if identities && new.selection_digest() != Some(digest) {
                continue;
            }
            assert_eq!(new.selection_digest(), Some(digest));
            survived += 1;
            for _ in 0..20 {
                let (identifier, traits) = synthetic::identity(&mut rng, 5);
                let identity = Identity {
                    identifier: &identifier,
                    key: None,
                    traits: &traits,
                };
                for key in [KeyKind::Client, KeyKind::Server] {
                    let picks = old.evaluate(Some(&identity)).shown_flags(&old, key);
                    let mut rewritten = Vec::new();
                    new.write_shown_flags_json(&picks, &mut rewritten);
                    let mut evaluated = Vec::new();
                    new.evaluate(Some(&identity))
                        .write_flags_json(&new, key, &mut evaluated);
                    assert_eq!(
                        String::from_utf8(rewritten).unwrap(),
                        String::from_utf8(evaluated).unwrap()
                    );
                }
            }
        }
        assert!(
            survived >= 30,
            "only {survived} documents kept their digest"
        );
    }

    #[test]
    fn what_selects_flags_changes_the_digest() {
        let mut rng = SmallRng::seed_from_u64(27);
        let shape = Shape {
            flag_dependencies: false,
            ..Shape::default()
        };
        let mut checked = 0;
        for _ in 0..100 {
            let before = synthetic::document(&mut rng, &shape);
            let Some(digest) = compiled(&before).selection_digest().copied() else {
                continue;
            };
            // A condition's operand.
            let mut after = before.clone();
            let Some(condition) = after
                .project
                .segments
                .iter_mut()
                .flat_map(|s| s.rules.iter_mut())
                .flat_map(|r| r.rules.iter_mut())
                .flat_map(|r| r.conditions.iter_mut())
                .next()
            else {
                continue;
            };
            condition.value = serde_json::json!("a value no identity has");
            assert_ne!(compiled(&after).selection_digest(), Some(&digest));
            // `enabled`, once disabled flags are hidden.
            let mut hiding = before.clone();
            hiding.hide_disabled_flags = Some(true);
            let hidden = compiled(&hiding).selection_digest().copied();
            assert_ne!(hidden, Some(digest));
            hiding.feature_states[0].enabled ^= true;
            assert_ne!(compiled(&hiding).selection_digest().copied(), hidden);
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} documents checked");
    }

    #[test]
    fn documents_whose_conditions_read_flags_have_no_digest() {
        let mut rng = SmallRng::seed_from_u64(28);
        let reading = (0..40)
            .map(|_| compiled(&synthetic::document(&mut rng, &Shape::default())))
            .filter(|environment| environment.has_flag_dependencies())
            .inspect(|environment| assert_eq!(environment.selection_digest(), None))
            .count();
        assert!(reading > 0, "no document read a flag");
    }
}
