//! Differential test against Flagsmith's reference engine, run from PyPI.
//!
//! A seeded generator makes random documents (every operator, nested rules,
//! trait types, multivariate features with uneven weights, equal and null
//! priorities, identity overrides, flag dependencies with chains and cycles)
//! and identities. The same JSON goes to `flagsmith-flag-engine` 11.1.1 (through
//! `flagsmith` 6.3.0's document mapper) and to this engine; every result must be
//! identical. The seed is printed, and on a mismatch the failing document is
//! written next to the build output so it can be replayed:
//!
//! ```text
//! FLAGEDGE_DIFF_SEED=<seed> cargo test -p flagedge-engine --test differential
//! ```
//!
//! The Python side runs in the virtualenv `scripts/python-venv.sh` makes;
//! `FLAGEDGE_REFERENCE_PYTHON` points at its interpreter.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::Command;

use flagedge_engine::synthetic::{self, Shape};
use flagedge_engine::{CompiledEnvironment, EnvironmentDocument, Identity};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const DOCUMENTS: usize = 400;
const IDENTITIES_PER_DOCUMENT: usize = 50;

fn reference_python() -> PathBuf {
    if let Ok(python) = std::env::var("FLAGEDGE_REFERENCE_PYTHON") {
        return PathBuf::from(python);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-venv.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run scripts/python-venv.sh");
    assert!(
        output.status.success(),
        "could not create the reference virtualenv: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

fn seed() -> u64 {
    match std::env::var("FLAGEDGE_DIFF_SEED") {
        Ok(seed) => seed.parse().expect("FLAGEDGE_DIFF_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

struct Case {
    document: String,
    identities: Vec<(String, Vec<(String, Value)>)>,
}

fn generate(seed: u64) -> Vec<Case> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..DOCUMENTS)
        .map(|_| {
            let shape = Shape {
                features: rng.gen_range(1..=14),
                segments: rng.gen_range(0..=10),
                identity_overrides: rng.gen_range(0..=8),
                flag_dependencies: rng.gen_bool(0.5),
                multivariate_share: 0.35,
            };
            let document = synthetic::document(&mut rng, &shape);
            let identities = (0..IDENTITIES_PER_DOCUMENT)
                .map(|_| synthetic::identity(&mut rng, 7))
                .collect();
            Case {
                document: serde_json::to_string(&document).expect("serialises"),
                identities,
            }
        })
        .collect()
}

#[test]
fn results_equal_the_python_reference_engine() {
    let seed = seed();
    println!("differential seed: {seed} (replay with FLAGEDGE_DIFF_SEED={seed})");
    let cases = generate(seed);

    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let input_path = out_dir.join(format!("differential-{seed}.jsonl"));
    {
        let mut input =
            std::io::BufWriter::new(std::fs::File::create(&input_path).expect("create input"));
        for case in &cases {
            let identities: Vec<Value> = case
                .identities
                .iter()
                .map(|(identifier, traits)| {
                    let traits: serde_json::Map<String, Value> = traits.iter().cloned().collect();
                    json!({"identifier": identifier, "traits": traits})
                })
                .collect();
            writeln!(
                input,
                "{{\"document\":{},\"identities\":{}}}",
                case.document,
                Value::Array(identities)
            )
            .expect("write input");
        }
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/evaluate.py");
    let output = Command::new(reference_python())
        .arg(&script)
        .arg(&input_path)
        .output()
        .expect("run the reference engine");
    assert!(
        output.status.success(),
        "reference engine failed (seed {seed}): {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (index, (case, line)) in cases.iter().zip(output.stdout.lines()).enumerate() {
        let expected: Vec<Value> =
            serde_json::from_str(&line.expect("utf-8 output")).expect("reference JSON");
        let document = EnvironmentDocument::parse(case.document.as_bytes())
            .expect("generated documents parse");
        let environment = CompiledEnvironment::from_document(&document).expect("compiles");
        let identities = std::iter::once(None).chain(case.identities.iter().map(Some));
        for (identity, expected) in identities.zip(&expected) {
            let actual = match identity {
                Some((identifier, traits)) => {
                    let identity = Identity {
                        identifier,
                        key: None,
                        traits,
                    };
                    environment
                        .evaluate(Some(&identity))
                        .to_result_json(&environment)
                }
                None => environment.evaluate(None).to_result_json(&environment),
            };
            compared += 1;
            if &actual != expected && mismatches.len() < 5 {
                mismatches.push(json!({
                    "document_index": index,
                    "identity": identity.map(|(i, t)| json!({"identifier": i, "traits": t.iter().cloned().collect::<serde_json::Map<_, _>>()})),
                    "expected": expected,
                    "actual": actual,
                    "document": serde_json::from_str::<Value>(&case.document).unwrap_or_default(),
                }));
            }
        }
    }
    assert_eq!(
        compared,
        cases.len() * (IDENTITIES_PER_DOCUMENT + 1),
        "the reference returned fewer results than cases (seed {seed})"
    );
    if !mismatches.is_empty() {
        let path = out_dir.join(format!("differential-failure-{seed}.json"));
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&mismatches).unwrap_or_default(),
        )
        .ok();
        panic!(
            "results differ from the reference engine (seed {seed}); first mismatches written to {}",
            path.display()
        );
    }
    println!("differential: {compared} evaluations identical to flagsmith-flag-engine 11.1.1");
}
