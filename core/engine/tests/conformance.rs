//! Every engine-test-data case must give exactly Flagsmith's result:
//! flags (value, enabled, reason, variant, metadata) and matched segments in order.

use std::path::PathBuf;

use flagedge_engine::{CompiledEnvironment, Identity, TestCase};

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/engine-test-data/test_cases")
}

#[test]
fn every_engine_test_data_case_matches_the_reference() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("test cases are vendored")
        .map(|entry| entry.expect("readable dir entry").path())
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 100,
        "expected the vendored cases, found {}",
        paths.len()
    );

    let mut failures = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("readable case");
        let case = TestCase::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let environment = CompiledEnvironment::from_context(&case.context).expect("compiles");
        let identity = case
            .context
            .identity
            .as_ref()
            .map(|i| (i.identifier.as_str(), i.key.as_deref(), i.traits.0.clone()));
        let identity = identity.as_ref().map(|(identifier, key, traits)| Identity {
            identifier,
            key: *key,
            traits,
        });
        let actual = environment
            .evaluate(identity.as_ref())
            .to_result_json(&environment);
        if actual != case.result {
            failures.push(format!(
                "{}\n  expected: {}\n  actual:   {}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                case.result,
                actual
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}
