//! The edge, pointed at core with its `http` source (polling
//! `/api/v1/environment-document/` with a server-side key), serves what the
//! admin API set — and then a change made through the admin API.

mod support;

use std::time::{Duration, Instant};

use flagedge_edge::config::{Config, Options};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::Core;

async fn banner(edge: &Core, client_key: &str) -> Option<Value> {
    let r = edge
        .request(
            Method::GET,
            "/api/v1/flags/",
            &[("x-environment-key", client_key)],
            None,
        )
        .await;
    if r.status != StatusCode::OK {
        return None;
    }
    r.json
        .as_array()?
        .iter()
        .find(|f| f["feature"]["name"] == "banner")
        .map(|f| f["feature_state_value"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_serves_changes_made_through_the_admin_api() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    core.create(
        &format!("/api/v1/projects/{project}/features/"),
        json!({"name": "banner", "initial_value": "first", "default_enabled": true}),
    )
    .await;
    let server = core.server_key(&key).await;
    let config = Config::resolve(Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        api_url: Some(format!("{}/api/v1/", core.base)),
        environment_key_pairs: Some(vec![format!("{server}={key}").parse().unwrap()]),
        poll_interval_secs: Some(0.2),
        poll_timeout_secs: Some(2.0),
        poll_backoff_max_secs: Some(0.5),
        shutdown_grace_secs: Some(1.0),
        ..Options::default()
    })
    .expect("edge config");
    let edge = flagedge_edge::start(config, None)
        .await
        .expect("edge starts");
    let client = Core::attach(format!("http://{}", edge.address));

    let until = |want: Value| {
        let client = &client;
        let key = key.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if banner(client, &key).await.as_ref() == Some(&want) {
                    return;
                }
                assert!(Instant::now() < deadline, "edge never served {want}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    until(json!("first")).await;
    let state = core
        .get(&format!("/api/v1/environments/{key}/featurestates/"))
        .await
        .json["results"][0]["id"]
        .clone();
    core.patch(
        &format!("/api/v1/environments/{key}/featurestates/{state}/"),
        json!({"feature_state_value": "second"}),
    )
    .await;
    until(json!("second")).await;
    edge.shutdown();
    tokio::time::timeout(Duration::from_secs(10), edge.wait())
        .await
        .unwrap();
}
