//! `generate`: synthetic environment documents for the edge's and the engine's
//! benchmarks, from the engine's seeded generator (`flagedge_engine::synthetic`).
//!
//! Each environment `i` gets the client key `<prefix><i>` and the server-side key
//! `ser.<prefix><i>`; the directory receives one `<key>.json` per environment and
//! a `server-keys.json` in edge-proxy's shape, ready for
//! `flagedge-edge --documents-dir`. The generator picks segment operators at
//! random; so that the documents exercise every operator, each environment is
//! drawn from the first of up to 64 derived seeds whose segments use all of them
//! (when there are enough segments for that to be likely), else the best one
//! seen. Everything is deterministic for a seed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flagedge_engine::EnvironmentDocument;
use flagedge_engine::document::Rule;
use flagedge_engine::synthetic::{self, Shape};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::json;

/// Every segment operator Flagsmith documents carry (the engine's list).
pub use flagedge_engine::OPERATORS;

/// What to write.
#[derive(Clone, Debug)]
pub struct Generate {
    /// The directory.
    pub out: PathBuf,
    /// How many environments.
    pub environments: usize,
    /// The shape of each.
    pub shape: Shape,
    /// The seed.
    pub seed: u64,
    /// Client keys are `<prefix><i>`.
    pub key_prefix: String,
    /// Flagsmith's benchmark shape ([`flagsmith_benchmark`]) instead of `shape`.
    pub flagsmith_benchmark: bool,
}

/// What was written.
#[derive(Debug)]
pub struct Written {
    /// Documents written.
    pub documents: usize,
    /// Their total size.
    pub bytes: u64,
    /// Environments whose segments use every operator.
    pub every_operator: usize,
    /// The client keys.
    pub keys: Vec<String>,
}

/// The operators a document's segments use.
pub fn operators_used(document: &EnvironmentDocument) -> BTreeSet<String> {
    fn walk(rule: &Rule, out: &mut BTreeSet<String>) {
        for condition in &rule.conditions {
            out.insert(condition.operator.clone());
        }
        for nested in &rule.rules {
            walk(nested, out);
        }
    }
    let mut out = BTreeSet::new();
    for segment in &document.project.segments {
        for rule in &segment.rules {
            walk(rule, &mut out);
        }
    }
    out
}

/// One environment's document.
pub fn document(shape: &Shape, seed: u64, index: usize, key: &str) -> EnvironmentDocument {
    // Below this many segments covering all 14 operators is unlikely; do not try.
    let tries = if shape.segments >= 8 { 64 } else { 1 };
    let mut best: Option<(usize, EnvironmentDocument)> = None;
    for attempt in 0..tries {
        let derived = seed
            .wrapping_mul(1_000_003)
            .wrapping_add(index as u64)
            .wrapping_add(attempt * 0x9E37_79B9);
        let mut rng = SmallRng::seed_from_u64(derived);
        let document = synthetic::document(&mut rng, shape);
        let covered = operators_used(&document).len();
        if best.as_ref().is_none_or(|(c, _)| covered > *c) {
            best = Some((covered, document));
        }
        if covered >= OPERATORS.len() {
            break;
        }
    }
    let (_, mut document) = best.expect("at least one attempt");
    document.api_key = key.to_string();
    document
}

/// The project of Flagsmith's own edge-proxy load test (50 features, 15 segments
/// of 15 conditions each, every feature overridden in every segment: 750 segment
/// overrides; a /flags/ body of about 5.5 KB). Each segment is one ANY rule of 15
/// conditions over the traits the load-test identities carry, so an identity
/// that matches none of them evaluates all 225; every fifth segment has one
/// condition a `plan=pro` identity meets.
pub fn flagsmith_benchmark(key: &str) -> EnvironmentDocument {
    const FEATURES: usize = 50;
    const SEGMENTS: usize = 15;
    const CONDITIONS: usize = 15;
    let feature = |i: usize| json!({"id": i + 1, "name": format!("benchmark_feature_{i:02}"), "type": "STANDARD"});
    let condition = |s: usize, c: usize| {
        let (property, operator, value) = match c % 6 {
            0 => ("plan", "EQUAL", format!("enterprise-{s}-{c}")),
            1 => ("age", "GREATER_THAN", format!("{}", 100 + s + c)),
            2 => ("score", "LESS_THAN", format!("-{}", s + c)),
            3 => ("country", "CONTAINS", format!("zz{s}{c}")),
            4 => ("country", "IN", format!("xa{s}{c},xb{s}{c},xc{s}{c}")),
            _ => ("plan", "REGEX", format!("^team-{s}-{c}$")),
        };
        if s.is_multiple_of(5) && c == CONDITIONS - 1 {
            return json!({"property_": "plan", "operator": "EQUAL", "value": "pro"});
        }
        json!({"property_": property, "operator": operator, "value": value})
    };
    let segments: Vec<_> = (0..SEGMENTS)
        .map(|s| {
            json!({
                "id": 1000 + s,
                "name": format!("benchmark_segment_{s:02}"),
                "rules": [{"type": "ALL", "conditions": [], "rules": [
                    {"type": "ANY", "rules": [],
                     "conditions": (0..CONDITIONS).map(|c| condition(s, c)).collect::<Vec<_>>()}
                ]}],
                "feature_states": (0..FEATURES).map(|f| json!({
                    "django_id": 100_000 + s * FEATURES + f,
                    "feature": feature(f),
                    "enabled": (s + f).is_multiple_of(2),
                    "feature_state_value": format!("segment-{s}-value-{f}"),
                    "feature_segment": {"priority": s},
                    "multivariate_feature_state_values": [],
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let document = json!({
        "api_key": key,
        "id": 1,
        "name": "flagsmith-benchmark",
        "project": {"id": 1, "name": "flagsmith-benchmark", "hide_disabled_flags": false,
                    "organisation": {"id": 1, "name": "benchmark", "feature_analytics": false,
                                     "stop_serving_flags": false, "persist_trait_data": true},
                    "segments": segments},
        "feature_states": (0..FEATURES).map(|f| json!({
            "django_id": 1 + f,
            "feature": feature(f),
            "enabled": f % 3 != 0,
            "feature_state_value": format!("value-{f}"),
            "multivariate_feature_state_values": [],
        })).collect::<Vec<_>>(),
        "identity_overrides": [],
    });
    serde_json::from_value(document)
        .expect("the benchmark document is a valid environment document")
}

/// Writes the documents and `server-keys.json`.
pub fn generate(options: &Generate) -> anyhow::Result<Written> {
    std::fs::create_dir_all(&options.out)?;
    let mut written = Written {
        documents: 0,
        bytes: 0,
        every_operator: 0,
        keys: Vec::with_capacity(options.environments),
    };
    let mut pairs = Vec::with_capacity(options.environments);
    for i in 0..options.environments {
        let key = format!("{}{i}", options.key_prefix);
        let document = if options.flagsmith_benchmark {
            flagsmith_benchmark(&key)
        } else {
            document(&options.shape, options.seed, i, &key)
        };
        if operators_used(&document).len() >= OPERATORS.len() {
            written.every_operator += 1;
        }
        let bytes = serde_json::to_vec(&document)?;
        write(&options.out.join(format!("{key}.json")), &bytes)?;
        written.bytes += bytes.len() as u64;
        written.documents += 1;
        pairs.push(json!({"server_side_key": format!("ser.{key}"), "client_side_key": key}));
        written.keys.push(key);
    }
    let keys = serde_json::to_vec_pretty(&json!({ "environment_key_pairs": pairs }))?;
    write(&options.out.join("server-keys.json"), &keys)?;
    Ok(written)
}

/// Writes through a temporary name and renames, so a watching edge never reads half a file.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            features: 50,
            segments: 15,
            identity_overrides: 20,
            flag_dependencies: false,
            multivariate_share: 0.2,
        }
    }

    #[test]
    fn documents_use_every_operator_and_load() {
        let document = document(&shape(), 1, 0, "k-0");
        assert_eq!(document.api_key, "k-0");
        assert_eq!(document.feature_states.len(), 50);
        assert_eq!(document.project.segments.len(), 15);
        assert_eq!(operators_used(&document).len(), OPERATORS.len());
        let bytes = serde_json::to_vec(&document).unwrap();
        let parsed = EnvironmentDocument::parse(&bytes).unwrap();
        flagedge_engine::CompiledEnvironment::from_document(&parsed).unwrap();
    }

    #[test]
    fn flagsmith_benchmark_shape_loads_with_750_segment_overrides() {
        let document = flagsmith_benchmark("bench");
        let overrides: usize = document
            .project
            .segments
            .iter()
            .map(|s| s.feature_states.len())
            .sum();
        assert_eq!(
            (
                document.feature_states.len(),
                document.project.segments.len(),
                overrides
            ),
            (50, 15, 750)
        );
        let compiled = flagedge_engine::CompiledEnvironment::from_document(&document).unwrap();
        assert_eq!(compiled.feature_count(), 50);
    }

    #[test]
    fn writes_documents_and_server_keys() {
        let dir = std::env::temp_dir().join(format!("flagedge-generate-{}", std::process::id()));
        let written = generate(&Generate {
            flagsmith_benchmark: false,
            out: dir.clone(),
            environments: 3,
            shape: shape(),
            seed: 9,
            key_prefix: "env-".into(),
        })
        .unwrap();
        assert_eq!(written.documents, 3);
        assert_eq!(written.keys, ["env-0", "env-1", "env-2"]);
        let keys: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("server-keys.json")).unwrap()).unwrap();
        assert_eq!(
            keys["environment_key_pairs"][2]["server_side_key"],
            "ser.env-2"
        );
        let again = document(&shape(), 9, 1, "env-1");
        let on_disk = std::fs::read(dir.join("env-1.json")).unwrap();
        assert_eq!(
            serde_json::to_vec(&again).unwrap(),
            on_disk,
            "deterministic"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
