//! Concurrent partial updates: two PATCHes of one object that change different
//! fields must both survive. Every update reads the current row inside its
//! write transaction (`SELECT … FOR UPDATE`), so neither writes back a stale
//! copy of the field the other changed.

mod support;

use serde_json::{Value, json};
use support::Core;

/// Pairs fired per resource; a lost update shows within a few without the lock.
const ROUNDS: usize = 25;

/// Fires `ROUNDS` pairs of concurrent PATCHes at `path`, the first setting
/// `first(i)`, the second `second(i)`, and checks that both are present after.
async fn both_survive(
    core: &Core,
    path: &str,
    first: impl Fn(usize) -> (&'static str, Value),
    second: impl Fn(usize) -> (&'static str, Value),
) {
    let mut lost = Vec::new();
    for i in 0..ROUNDS {
        let (a_field, a_value) = first(i);
        let (b_field, b_value) = second(i);
        let (a, b) = tokio::join!(
            core.patch(path, json!({ a_field: a_value.clone() })),
            core.patch(path, json!({ b_field: b_value.clone() })),
        );
        assert_eq!(a.status, 200, "PATCH {path} {a_field}: {}", a.json);
        assert_eq!(b.status, 200, "PATCH {path} {b_field}: {}", b.json);
        let after = core.get(path).await;
        assert_eq!(after.status, 200, "GET {path}: {}", after.json);
        if after.json[a_field] != a_value || after.json[b_field] != b_value {
            lost.push(format!(
                "round {i}: {a_field}={} (want {a_value}), {b_field}={} (want {b_value})",
                after.json[a_field], after.json[b_field]
            ));
        }
    }
    assert!(
        lost.is_empty(),
        "lost updates on {path}:\n{}",
        lost.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_different_fields_both_survive() {
    let core = Core::start().await;
    let (project, client_key) = core.project_with_environment().await;

    let feature = core
        .create(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": "banner"}),
        )
        .await;
    both_survive(
        &core,
        &format!("/api/v1/projects/{project}/features/{}/", feature["id"]),
        |i| ("description", json!(format!("round {i}"))),
        |i| ("default_enabled", json!(i % 2 == 0)),
    )
    .await;

    both_survive(
        &core,
        &format!("/api/v1/environments/{client_key}/"),
        |i| ("name", json!(format!("Production {i}"))),
        |i| ("description", json!(format!("round {i}"))),
    )
    .await;

    both_survive(
        &core,
        &format!("/api/v1/projects/{project}/"),
        |i| ("name", json!(format!("Shop {i}"))),
        |i| ("hide_disabled_flags", json!(i % 2 == 0)),
    )
    .await;

    both_survive(
        &core,
        &format!("/api/v1/organisations/{}/", core.organisation),
        |i| ("name", json!(format!("Acme {i}"))),
        |i| ("persist_trait_data", json!(i % 2 == 1)),
    )
    .await;

    let states = core
        .get(&format!(
            "/api/v1/environments/{client_key}/featurestates/?feature={}",
            feature["id"]
        ))
        .await;
    let state = states.json["results"][0]["id"].clone();
    both_survive(
        &core,
        &format!("/api/v1/environments/{client_key}/featurestates/{state}/"),
        |i| ("enabled", json!(i % 2 == 0)),
        |i| ("feature_state_value", json!(format!("value {i}"))),
    )
    .await;

    let segment = core
        .create(
            &format!("/api/v1/projects/{project}/segments/"),
            json!({"name": "beta", "rules": [{"type": "ALL", "rules": [], "conditions": []}]}),
        )
        .await;
    both_survive(
        &core,
        &format!("/api/v1/projects/{project}/segments/{}/", segment["id"]),
        |i| ("name", json!(format!("beta {i}"))),
        |i| ("description", json!(format!("round {i}"))),
    )
    .await;

    let server_key = core.create_server_key(&client_key, "sdk").await;
    both_survive(
        &core,
        &format!(
            "/api/v1/environments/{client_key}/api-keys/{}/",
            server_key["id"]
        ),
        |i| ("name", json!(format!("sdk {i}"))),
        |i| {
            (
                "expires_at",
                json!(format!("2099-01-01T00:00:{:02}.000000+00:00", i % 60)),
            )
        },
    )
    .await;

    let admin_key = core.create_admin_key("ci").await;
    both_survive(
        &core,
        &format!(
            "/api/v1/organisations/{}/master-api-keys/{}/",
            core.organisation,
            admin_key["prefix"].as_str().unwrap()
        ),
        |i| ("name", json!(format!("ci {i}"))),
        |i| {
            (
                "expiry_date",
                json!(format!("2099-01-01T00:00:{:02}.000000+00:00", i % 60)),
            )
        },
    )
    .await;
}
