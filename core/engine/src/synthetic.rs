//! Synthetic environment documents and identities, from a seed.
//!
//! One generator serves three purposes: the differential test against
//! Flagsmith's Python engine (every operator, nested rules, every trait type,
//! uneven multivariate weights, equal and null priorities, identity overrides,
//! flag dependencies with chains and cycles), the benchmarks, and the load-test
//! harness's `generate` command. Values come from small shared pools so that
//! conditions match often enough to exercise overrides, not just defaults.
//! Everything is deterministic for a given seed and configuration.

use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::condition::OPERATORS;
use crate::context::RuleType;
use crate::document::{
    Condition, EnvironmentDocument, Feature, FeatureSegment, FeatureState, IdentityOverride,
    MultivariateOption, MultivariateValue, Organisation, Project, Rule, Segment,
};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Number of features.
    pub features: usize,
    /// Number of segments.
    pub segments: usize,
    /// Number of identities with overrides in the document.
    pub identity_overrides: usize,
    /// Whether conditions may read other flags (`$.flags.…`).
    pub flag_dependencies: bool,
    /// Fraction of features that are multivariate.
    pub multivariate_share: f64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            features: 12,
            segments: 8,
            identity_overrides: 6,
            flag_dependencies: true,
            multivariate_share: 0.3,
        }
    }
}

/// Trait keys conditions read and identities carry. Includes a unicode key and a
/// trait literally named like a JSONPath, which the reference reads first.
pub const TRAIT_KEYS: &[&str] = &[
    "age",
    "plan",
    "country",
    "score",
    "beta",
    "version",
    "email",
    "ratio",
    "count",
    "ключ",
    "$.identity.identifier",
];

const STRINGS: &[&str] = &[
    "pro",
    "free",
    "gb",
    "us",
    "alpha",
    "Pro",
    "ñandú",
    "日本",
    "a,b",
    "user@example.com",
    "",
    "True",
    "false",
];
const NUMERIC_STRINGS: &[&str] = &["42", "3.14", "007", "-1", "0", "1.0", "100", "2.50", "-0.5"];
const VERSIONS: &[&str] = &[
    "1.2.3",
    "1.10.0",
    "1.10.0-beta",
    "2.0.0-rc.1",
    "0.9.9+build.7",
    "1.2",
    "1.2.3-alpha.10",
];
const REGEXES: &[&str] = &[
    "^p",
    "[a-z]+",
    r"\d+",
    r"1\.",
    ".*o",
    "(?i)PRO",
    "a|b",
    "^$",
    "T",
    r"\w+@\w+",
    "[0-9]{2}",
    "ñ",
    r"-?\d+(\.\d+)?$",
];
const ENVIRONMENT_NAMES: &[&str] = &["Production", "Staging"];
/// Identifiers identities are drawn from, so identity overrides match some of them.
const IDENTIFIERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "007", "42", "user-1", "user_2", "ünï",
];

fn operand(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..10) {
        0..=3 => STRINGS.choose(rng).copied().unwrap_or_default().to_string(),
        4..=6 => NUMERIC_STRINGS
            .choose(rng)
            .copied()
            .unwrap_or_default()
            .to_string(),
        7 => rng.gen_range(-5..120).to_string(),
        8 => ["true", "false", "True", "False", "1", "0"]
            .choose(rng)
            .copied()
            .unwrap_or_default()
            .to_string(),
        _ => VERSIONS
            .choose(rng)
            .copied()
            .unwrap_or_default()
            .to_string(),
    }
}

/// A trait value of any type the SDKs send.
pub fn trait_value(rng: &mut SmallRng) -> Value {
    match rng.gen_range(0..12) {
        0..=1 => json!(rng.gen_range(-5..120)),
        2 => json!(f64::from(rng.gen_range(-20..240)) / 2.0),
        3 => json!(rng.gen_bool(0.5)),
        4..=5 => json!(NUMERIC_STRINGS.choose(rng).copied().unwrap_or_default()),
        6..=8 => json!(STRINGS.choose(rng).copied().unwrap_or_default()),
        9 => json!(VERSIONS.choose(rng).copied().unwrap_or_default()),
        10 => Value::Null,
        _ => json!(IDENTIFIERS.choose(rng).copied().unwrap_or_default()),
    }
}

fn feature_name(index: usize) -> String {
    // Some names are not valid JSONPath shorthand: `$.flags.<name>` then reads a trait.
    if index % 7 == 6 {
        format!("feature-{index}")
    } else {
        format!("feature_{index}")
    }
}

fn condition(rng: &mut SmallRng, shape: &Shape) -> Condition {
    let operator = *OPERATORS.choose(rng).unwrap_or(&"EQUAL");
    let property = match rng.gen_range(0..20) {
        0 => "$.identity.identifier".to_string(),
        1 => "$.identity.key".to_string(),
        2 => "$.environment.name".to_string(),
        3 => "$.identity.traits.plan".to_string(),
        4..=5 if shape.flag_dependencies && shape.features > 0 => {
            let target = feature_name(rng.gen_range(0..shape.features));
            let field = ["enabled", "value", "enabled", "reason", "variant"]
                .choose(rng)
                .copied()
                .unwrap_or("enabled");
            if rng.gen_bool(0.2) {
                format!("$.flags['{target}'].{field}")
            } else {
                format!("$.flags.{target}.{field}")
            }
        }
        _ => TRAIT_KEYS.choose(rng).copied().unwrap_or("age").to_string(),
    };
    let (property, value) = match operator {
        "IS_SET" | "IS_NOT_SET" => (property, Value::Null),
        "PERCENTAGE_SPLIT" => {
            let threshold = ["0", "10", "50", "99.9", "100", "33.3"]
                .choose(rng)
                .copied()
                .unwrap_or("50");
            let property = if rng.gen_bool(0.6) {
                String::new()
            } else {
                property
            };
            (property, json!(threshold))
        }
        "REGEX" => (property, json!(REGEXES.choose(rng).copied().unwrap_or("a"))),
        "MODULO" => (
            property,
            json!(
                ["2|0", "3|1", "2.5|0.5", "0.5|0", "-3|2", "2|x", "4"]
                    .choose(rng)
                    .copied()
                    .unwrap_or("2|0")
            ),
        ),
        "IN" => {
            let members: Vec<String> = (0..rng.gen_range(1..5)).map(|_| operand(rng)).collect();
            let text = match rng.gen_range(0..4) {
                0 => serde_json::to_string(&members).unwrap_or_default(),
                1 => format!("[{}", members.join(",")),
                _ => members.join(","),
            };
            (property, json!(text))
        }
        _ => {
            let mut text = operand(rng);
            if rng.gen_bool(0.15) {
                text = format!(
                    "{}:semver",
                    VERSIONS.choose(rng).copied().unwrap_or("1.0.0")
                );
            }
            (property, json!(text))
        }
    };
    Condition {
        operator: operator.to_string(),
        value,
        property_: if property.is_empty() && rng.gen_bool(0.5) {
            None
        } else {
            Some(property)
        },
    }
}

fn rule(rng: &mut SmallRng, shape: &Shape, depth: u32) -> Rule {
    let rule_type = *[RuleType::All, RuleType::Any, RuleType::None, RuleType::Any]
        .choose(rng)
        .unwrap_or(&RuleType::All);
    Rule {
        rule_type,
        conditions: (0..rng.gen_range(0..=3))
            .map(|_| condition(rng, shape))
            .collect(),
        rules: if depth < 2 && rng.gen_bool(0.35) {
            (0..rng.gen_range(1..=2))
                .map(|_| rule(rng, shape, depth + 1))
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn feature_value(rng: &mut SmallRng) -> Value {
    match rng.gen_range(0..6) {
        0 => json!(rng.gen_range(0..1000)),
        1 => json!(rng.gen_bool(0.5)),
        2 => Value::Null,
        3 => json!(NUMERIC_STRINGS.choose(rng).copied().unwrap_or_default()),
        _ => json!(STRINGS.choose(rng).copied().unwrap_or_default()),
    }
}

struct Ids(i64);
impl Ids {
    fn next(&mut self) -> i64 {
        self.0 += 1;
        self.0
    }
}

fn uuid(rng: &mut SmallRng) -> String {
    let n: u128 = rng.r#gen();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn feature_state(
    rng: &mut SmallRng,
    ids: &mut Ids,
    feature: &Feature,
    multivariate: bool,
) -> FeatureState {
    let django_id = match rng.gen_range(0..10) {
        0 => None,
        1 => Some(0),
        _ => Some(ids.next()),
    };
    let variants = if multivariate {
        let count = rng.gen_range(1..=4);
        let mut remaining = 100.0;
        (0..count)
            .map(|_| {
                let weight: f64 = match rng.gen_range(0..5) {
                    0 => 0.0,
                    1 => (remaining / 3.0_f64 * 10.0).floor() / 10.0,
                    2 => 33.3_f64.min(remaining),
                    3 => f64::from(rng.gen_range(0..=remaining as i32)),
                    _ => 10.0_f64.min(remaining),
                };
                remaining -= weight;
                let weight_number = if weight.fract() == 0.0 && rng.gen_bool(0.5) {
                    serde_json::Number::from(weight as i64)
                } else {
                    serde_json::Number::from_f64(weight).unwrap_or_else(|| 0.into())
                };
                MultivariateValue {
                    id: if rng.gen_bool(0.8) {
                        Some(ids.next())
                    } else {
                        None
                    },
                    mv_fs_value_uuid: Some(uuid(rng)),
                    percentage_allocation: weight_number,
                    multivariate_feature_option: MultivariateOption {
                        id: Some(ids.next()),
                        value: feature_value(rng),
                        key: rng.gen_bool(0.5).then(|| format!("variant_{}", ids.next())),
                    },
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    FeatureState {
        feature: feature.clone(),
        enabled: rng.gen_bool(0.6),
        feature_state_value: feature_value(rng),
        django_id,
        featurestate_uuid: Some(uuid(rng)),
        feature_segment: None,
        multivariate_feature_state_values: variants,
    }
}

/// Generates a document of the given shape.
pub fn document(rng: &mut SmallRng, shape: &Shape) -> EnvironmentDocument {
    let mut ids = Ids(rng.gen_range(1..1_000) * 1_000);
    let features: Vec<(Feature, bool)> = (0..shape.features)
        .map(|i| {
            let multivariate = rng.gen_bool(shape.multivariate_share);
            let feature = Feature {
                id: ids.next(),
                name: feature_name(i),
                feature_type: Some(
                    if multivariate {
                        "MULTIVARIATE"
                    } else {
                        "STANDARD"
                    }
                    .to_string(),
                ),
            };
            (feature, multivariate)
        })
        .collect();
    let pick_feature = |rng: &mut SmallRng| features.choose(rng).cloned();
    let segments = (0..shape.segments)
        .map(|_| {
            let id = ids.next();
            let rules = match rng.gen_range(0..10) {
                0 => Vec::new(),
                1 => vec![rule(rng, shape, 0), rule(rng, shape, 0)],
                // Flagsmith's usual shape: an ALL root holding ANY groups.
                _ => vec![Rule {
                    rule_type: RuleType::All,
                    conditions: Vec::new(),
                    rules: (0..rng.gen_range(1..=3))
                        .map(|_| rule(rng, shape, 1))
                        .collect(),
                }],
            };
            let override_count = rng.gen_range(0..=3);
            let mut overrides = Vec::with_capacity(override_count);
            for _ in 0..override_count {
                let Some((feature, multivariate)) = pick_feature(rng) else {
                    break;
                };
                let multivariate = multivariate && rng.gen_bool(0.5);
                let mut state = feature_state(rng, &mut ids, &feature, multivariate);
                state.feature_segment = Some(FeatureSegment {
                    priority: match rng.gen_range(0..6) {
                        0 => None,
                        n => Some(f64::from(n % 3)),
                    },
                });
                overrides.push(state);
            }
            Segment {
                id,
                name: format!("segment_{id}"),
                rules,
                feature_states: overrides,
            }
        })
        .collect();
    let identity_overrides = (0..shape.identity_overrides)
        .filter_map(|i| {
            let (feature, _) = pick_feature(rng)?;
            let identifier = if i < IDENTIFIERS.len() && rng.gen_bool(0.7) {
                IDENTIFIERS[i].to_string()
            } else {
                format!("override-user-{i}")
            };
            let mut state = feature_state(rng, &mut ids, &feature, false);
            // Values equal under Python's `==` share a group: 1, 1.0 and true.
            if rng.gen_bool(0.3) {
                state.feature_state_value = [json!(1), json!(true), json!("shared")]
                    .choose(rng)
                    .cloned()
                    .unwrap_or_default();
                state.enabled = true;
            }
            Some(IdentityOverride {
                identifier,
                identity_features: vec![state],
            })
        })
        .collect();
    EnvironmentDocument {
        id: ids.next(),
        api_key: format!("env{}", rng.gen_range(1000..9999)),
        name: ENVIRONMENT_NAMES
            .choose(rng)
            .copied()
            .unwrap_or("Production")
            .to_string(),
        updated_at: Some("2026-11-01T12:00:00.000000+00:00".to_string()),
        revision: None,
        allow_client_traits: true,
        hide_sensitive_data: false,
        hide_disabled_flags: None,
        use_identity_composite_key_for_hashing: true,
        use_identity_overrides_in_local_eval: shape.identity_overrides > 0,
        project: Project {
            id: ids.next(),
            name: "Synthetic".to_string(),
            organisation: Some(Organisation {
                id: 1,
                name: "Synthetic".to_string(),
                feature_analytics: false,
                stop_serving_flags: false,
                persist_trait_data: true,
            }),
            hide_disabled_flags: false,
            enable_realtime_updates: false,
            server_key_only_feature_ids: features
                .iter()
                .filter(|_| rng.gen_bool(0.1))
                .map(|(f, _)| f.id)
                .collect(),
            segments,
        },
        feature_states: features
            .iter()
            .map(|(f, mv)| feature_state(rng, &mut ids, f, *mv))
            .collect(),
        identity_overrides,
    }
}

/// Generates an identity: an identifier from the shared pool (or a fresh one)
/// and up to `max_traits` traits of every type.
pub fn identity(rng: &mut SmallRng, max_traits: usize) -> (String, Vec<(String, Value)>) {
    let identifier = if rng.gen_bool(0.6) {
        IDENTIFIERS
            .choose(rng)
            .copied()
            .unwrap_or("alice")
            .to_string()
    } else {
        format!("user-{}", rng.gen_range(0..100_000))
    };
    let count = rng.gen_range(0..=max_traits);
    let mut keys: Vec<&str> = TRAIT_KEYS.to_vec();
    keys.shuffle(rng);
    let traits = keys
        .into_iter()
        .take(count)
        .map(|k| (k.to_string(), trait_value(rng)))
        .collect();
    (identifier, traits)
}
