//! Engine benchmarks: what one document revision costs to load, and what one
//! request costs to answer.
//!
//! ```text
//! cargo bench -p flagedge-engine --bench engine
//! ```

use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use flagedge_engine::synthetic::{self, Shape};
use flagedge_engine::{CompiledEnvironment, EnvironmentDocument, Identity, KeyKind};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::json;

const SAMPLE: &[u8] = include_bytes!("../tests/data/sample-environment-document.json");

fn synthetic_document(features: usize, segments: usize, identity_overrides: usize) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(7);
    let shape = Shape {
        features,
        segments,
        identity_overrides,
        flag_dependencies: false,
        multivariate_share: 0.2,
    };
    serde_json::to_vec(&synthetic::document(&mut rng, &shape)).expect("serialises")
}

fn five_traits() -> Vec<(String, serde_json::Value)> {
    vec![
        ("age".to_string(), json!(34)),
        ("plan".to_string(), json!("pro")),
        ("country".to_string(), json!("gb")),
        ("score".to_string(), json!("3.14")),
        ("beta".to_string(), json!(true)),
    ]
}

fn load(c: &mut Criterion) {
    let large = synthetic_document(200, 50, 1000);
    let mut group = c.benchmark_group("load");
    group.bench_function(
        "parse+compile sample document (5 features, 4 segments)",
        |b| {
            b.iter(|| {
                let document = EnvironmentDocument::parse(black_box(SAMPLE)).expect("parses");
                CompiledEnvironment::from_document(&document).expect("compiles")
            })
        },
    );
    group.bench_function(
        "parse+compile synthetic (200 features, 50 segments, 1000 identity overrides)",
        |b| {
            b.iter(|| {
                let document = EnvironmentDocument::parse(black_box(&large)).expect("parses");
                CompiledEnvironment::from_document(&document).expect("compiles")
            })
        },
    );
    group.finish();
}

fn serve(c: &mut Criterion) {
    let sample =
        CompiledEnvironment::from_document(&EnvironmentDocument::parse(SAMPLE).expect("parses"))
            .expect("compiles");
    let medium_bytes = synthetic_document(50, 15, 100);
    let medium = CompiledEnvironment::from_document(
        &EnvironmentDocument::parse(&medium_bytes).expect("parses"),
    )
    .expect("compiles");
    let traits = five_traits();
    let mut group = c.benchmark_group("serve");
    group.bench_function(
        "environment flags (sample): copy the precomputed body",
        |b| b.iter(|| black_box(sample.environment_flags_json(KeyKind::Client)).to_vec()),
    );
    let mut counter = 0u64;
    for (name, environment) in [
        ("sample", &sample),
        ("synthetic 50 features / 15 segments", &medium),
    ] {
        group.bench_function(
            format!("identity flags, 5 traits ({name}): evaluate + serialise"),
            |b| {
                b.iter_batched(
                    || {
                        counter += 1;
                        format!("user-{counter}")
                    },
                    |identifier| {
                        let identity = Identity {
                            identifier: &identifier,
                            key: None,
                            traits: &traits,
                        };
                        let evaluation = environment.evaluate(Some(&identity));
                        let mut body = Vec::with_capacity(4096);
                        evaluation.write_flags_json(environment, KeyKind::Client, &mut body);
                        body
                    },
                    BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, load, serve);
criterion_main!(benches);
