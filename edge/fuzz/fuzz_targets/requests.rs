//! The edge's request handling under arbitrary input: method, path, key, query,
//! headers and body for every route, against the demo environments (fixed). A
//! panic or a 5xx is a finding (`flagedge_edge::fuzzing` says how input becomes
//! a request).
//!
//!     cargo +nightly fuzz run requests -- -max_total_time=600

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

struct Target {
    runtime: tokio::runtime::Runtime,
    edge: flagedge_edge::Edge,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let config = flagedge_edge::config::Config::resolve(flagedge_edge::config::Options {
            bind: Some("127.0.0.1:0".parse().expect("address")),
            identity_store: Some(flagedge_edge::config::IdentityStoreKind::Memory),
            ..Default::default()
        })
        .expect("config");
        let edge = runtime
            .block_on(flagedge_edge::start(config, None))
            .expect("the edge starts");
        Target { runtime, edge }
    })
}

fuzz_target!(|data: &[u8]| {
    let target = target();
    let request = flagedge_edge::fuzzing::request(data);
    target
        .runtime
        .block_on(flagedge_edge::fuzzing::answer(target.edge.app, request));
});
