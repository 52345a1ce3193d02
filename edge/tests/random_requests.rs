//! The fuzz target's property in every test run: random requests (method,
//! path, key, query, headers, body, built by `flagedge_edge::fuzzing` from
//! random bytes) against the demo environments never panic the edge and never
//! get a 5xx. The fuzz target (`edge/fuzz`) searches the same space guided by
//! coverage, for as long as it is given.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_get_a_server_error() {
    let config = flagedge_edge::config::Config::resolve(flagedge_edge::config::Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        identity_store: Some(flagedge_edge::config::IdentityStoreKind::Memory),
        ..Default::default()
    })
    .unwrap();
    let edge = flagedge_edge::start(config, None).await.unwrap();
    let mut rng = StdRng::seed_from_u64(20261202);
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..100_000 {
        let length = rng.gen_range(0..160);
        let data: Vec<u8> = (0..length).map(|_| rng.r#gen()).collect();
        let request = flagedge_edge::fuzzing::request(&data);
        let status = flagedge_edge::fuzzing::answer(edge.app, request).await;
        *answered.entry(status.as_u16()).or_default() += 1;
    }
    eprintln!("statuses: {answered:?}");
    // The input reaches past authentication and the routes, not just 404s and 403s.
    for status in [200, 400, 403, 404, 405] {
        assert!(
            answered.contains_key(&status),
            "no {status} in {answered:?}"
        );
    }
    edge.shutdown();
}
