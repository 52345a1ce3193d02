//! Live heap of compiled environments, counted by a wrapping allocator:
//! `cargo run --release -p flagedge-engine --example heap [features segments identity_overrides environments]`
//! (defaults 200 15 100 200: the shape of `scripts/bench.sh rss`). Prints bytes and
//! allocations per environment, which RSS follows (glibc adds ~16 bytes per
//! allocation).

use std::alloc::System;

use flagedge_engine::synthetic::{self, Shape};
use flagedge_engine::{CompiledEnvironment, EnvironmentDocument};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("numbers: features segments identity_overrides")
        })
        .collect();
    let shape = Shape {
        features: args.first().copied().unwrap_or(200),
        segments: args.get(1).copied().unwrap_or(15),
        identity_overrides: args.get(2).copied().unwrap_or(100),
        flag_dependencies: false,
        multivariate_share: 0.2,
    };
    let environments = args.get(3).copied().unwrap_or(200);
    let texts: Vec<Vec<u8>> = (0..environments)
        .map(|i| {
            let mut rng = SmallRng::seed_from_u64(i as u64);
            serde_json::to_vec(&synthetic::document(&mut rng, &shape)).expect("serialises")
        })
        .collect();
    let document_bytes: usize = texts.iter().map(Vec::len).sum();
    let region = Region::new(ALLOCATOR);
    let compiled: Vec<CompiledEnvironment> = texts
        .iter()
        .map(|text| {
            let document = EnvironmentDocument::parse(text).expect("parses");
            CompiledEnvironment::from_document(&document).expect("compiles")
        })
        .collect();
    let change = region.change();
    // Reallocations are counted in both already (bytes_reallocated repeats them).
    let bytes = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    let blocks = change.allocations as isize - change.deallocations as isize;
    let n = environments as isize;
    println!(
        "{environments} environments of {} features, {} segments, {} identity overrides ({:.1} KB of JSON each):",
        shape.features,
        shape.segments,
        shape.identity_overrides,
        document_bytes as f64 / environments as f64 / 1024.0
    );
    println!(
        "  live heap per compiled environment: {:.1} KB in {} allocations (+ ~{:.1} KB of allocator overhead)",
        bytes as f64 / n as f64 / 1024.0,
        blocks / n,
        (blocks / n * 16) as f64 / 1024.0,
    );
    let bodies: usize = compiled
        .iter()
        .map(|c| {
            let client = c.render_environment_flags_json(flagedge_engine::KeyKind::Client);
            let server = c.render_environment_flags_json(flagedge_engine::KeyKind::Server);
            client.len() + if client == server { 0 } else { server.len() }
        })
        .sum();
    println!(
        "  not counted: the /flags/ bodies, {:.1} KB plain (rendered on first use; the edge keeps them gzipped)",
        bodies as f64 / n as f64 / 1024.0
    );
    drop(compiled);
    let region = Region::new(ALLOCATOR);
    let parsed: Vec<EnvironmentDocument> = texts
        .iter()
        .map(|text| EnvironmentDocument::parse(text).expect("parses"))
        .collect();
    let change = region.change();
    // Reallocations are counted in both already (bytes_reallocated repeats them).
    let bytes = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    println!(
        "  (for scale: a parsed document holds {:.1} KB)",
        bytes as f64 / n as f64 / 1024.0
    );
    drop(parsed);
}
