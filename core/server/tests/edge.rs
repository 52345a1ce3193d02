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
        .get_with("/api/v1/flags/", "x-environment-key", client_key)
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

/// An edge reading `core` with `options` (address, API URL and a short grace
/// filled in), started; and a client for it.
async fn edge_reading(core: &Core, options: Options) -> (flagedge_edge::Edge, Core) {
    let config = Config::resolve(Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        api_url: Some(format!("{}/api/v1/", core.base)),
        shutdown_grace_secs: Some(1.0),
        ..options
    })
    .expect("edge config");
    let edge = flagedge_edge::start(config, None)
        .await
        .expect("edge starts");
    let client = Core::attach(format!("http://{}", edge.address));
    (edge, client)
}

/// An edge reading `core` (keys as `keys` gives them), polling and counting
/// every 0.2 s, once it is ready; and a client for it.
async fn ready_edge(core: &Core, keys: Options) -> (flagedge_edge::Edge, Core) {
    let (edge, _) = edge_reading(
        core,
        Options {
            poll_interval_secs: Some(0.2),
            poll_timeout_secs: Some(2.0),
            poll_backoff_max_secs: Some(0.5),
            analytics_interval_secs: Some(0.2),
            ..keys
        },
    )
    .await;
    let client = Core::attach_ready(edge.address).await;
    (edge, client)
}

/// Options that serve the environment of client key `key` with server-side key `server`.
fn keyed(server: &str, key: &str) -> Options {
    Options {
        environment_key_pairs: Some(vec![format!("{server}={key}").parse().unwrap()]),
        ..Options::default()
    }
}

/// An environment with a `banner` feature ("first"): its client and server-side keys.
async fn banner_environment(core: &Core) -> (String, String) {
    let (project, key) = core.project_with_environment().await;
    core.create(
        &format!("/api/v1/projects/{project}/features/"),
        json!({"name": "banner", "initial_value": "first", "default_enabled": true}),
    )
    .await;
    let server = core.server_key(&key).await;
    (key, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_serves_changes_made_through_the_admin_api() {
    let core = Core::start().await;
    let (key, server) = banner_environment(&core).await;
    let (edge, client) = edge_reading(
        &core,
        Options {
            poll_interval_secs: Some(0.2),
            poll_timeout_secs: Some(2.0),
            poll_backoff_max_secs: Some(0.5),
            ..keyed(&server, &key)
        },
    )
    .await;

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
    stop(edge).await;
}

/// The proxy-key protocol end to end against core: the edge learns its
/// environment and key from `/proxy/config/`, reads a paged document (more
/// identity overrides than core's page size) whole, and its usage reports land
/// in core's analytics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_with_a_proxy_key_reads_paged_documents_and_reports_usage() {
    let core = Core::start_paged(2).await;
    let (project, key) = core.project_with_environment().await;
    let feature = core
        .create(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": "banner", "initial_value": "default", "default_enabled": true}),
        )
        .await;
    core.patch(
        &format!("/api/v1/environments/{key}/"),
        json!({"use_identity_overrides_in_local_eval": true}),
    )
    .await;
    let identifiers = ["id-0", "id-1", "id-2", "id-3", "id-4"];
    core.create_overridden_identities(&key, &feature["id"], &identifiers)
        .await;
    let server = core.server_key(&key).await;
    let proxy_key = core.proxy_key().await;
    let (edge, client) = ready_edge(
        &core,
        Options {
            proxy_key: Some(proxy_key),
            ..Options::default()
        },
    )
    .await;
    for identifier in identifiers {
        let r = client
            .get_with(
                &format!("/api/v1/identities/?identifier={identifier}"),
                "x-environment-key",
                &key,
            )
            .await;
        let banner = r.json["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feature"]["name"] == "banner")
            .unwrap()["feature_state_value"]
            .clone();
        assert_eq!(banner, json!(format!("for {identifier}")), "{identifier}");
    }
    for _ in 0..3 {
        assert_eq!(banner(&client, &key).await, Some(json!("default")));
    }
    let document = client
        .get_with(
            "/api/v1/environment-document/",
            "x-environment-key",
            &server,
        )
        .await;
    assert_eq!(document.status, StatusCode::OK);
    assert_eq!(
        document.json["identity_overrides"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    stop(edge).await;
    let from = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let usage = core
        .get(&format!(
            "/api/v1/analytics/usage/?environment={key}&bucket=1h&from={}&to={}",
            from.replace('+', "%2B"),
            to.replace('+', "%2B")
        ))
        .await;
    let mut totals = std::collections::BTreeMap::new();
    for row in usage.json["results"].as_array().unwrap() {
        *totals
            .entry(row["resource"].as_str().unwrap().to_string())
            .or_insert(0) += row["count"].as_i64().unwrap();
    }
    assert_eq!(totals.get("flags"), Some(&3), "{}", usage.json);
    assert_eq!(totals.get("identities"), Some(&5), "{}", usage.json);
    assert_eq!(
        totals.get("environment-document"),
        Some(&1),
        "{}",
        usage.json
    );
}

/// Evaluations SDKs report to an edge, which it forwards to its upstream's
/// `{api_url}analytics/flags/` with the client-side key (the default
/// `--analytics-sink flagsmith` of an `http` source), are counted by core and
/// read back through its analytics API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_forwards_sdk_reported_counts_into_core_analytics() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    core.create_features_on(project, &["banner", "checkout"])
        .await;
    let server = core.server_key(&key).await;
    let (edge, client) = ready_edge(&core, keyed(&server, &key)).await;
    let r = client
        .post_with(
            "/api/v1/analytics/flags/",
            "x-environment-key",
            &key,
            br#"{"banner": 3, "checkout": 1, "nope": 2}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = client
        .post_with("/api/v2/analytics/flags/", "x-environment-key", &key, br#"{"evaluations": [{"feature_name": "banner", "identity_identifier": "u", "enabled_when_evaluated": true, "count": 2}]}"#
                    .to_vec(),)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut totals = std::collections::BTreeMap::new();
    while Instant::now() < deadline {
        let now = chrono::Utc::now();
        let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let r = core
            .get(&format!(
                "/api/v1/analytics/flags/?environment={key}&bucket=1h&from={}&to={}",
                at(now - chrono::Duration::hours(2)),
                at(now + chrono::Duration::hours(2)),
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        totals.clear();
        for row in r.json["results"].as_array().unwrap() {
            *totals
                .entry(row["feature_name"].as_str().unwrap().to_string())
                .or_insert(0) += row["count"].as_i64().unwrap();
        }
        if totals.get("banner") == Some(&5) && totals.get("checkout") == Some(&1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        totals,
        [("banner".to_string(), 5), ("checkout".to_string(), 1)].into(),
        "what the edge forwarded, as core counted it"
    );
    stop(edge).await;
}

/// Push on the http path: an edge polling core only every 5 minutes serves a
/// change at once, because it follows core's change feed with its server-side
/// key; and the fetch is counted as pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_reading_core_is_pushed_each_change() {
    let core = Core::start().await;
    let (key, server) = banner_environment(&core).await;
    let (edge, client) = edge_reading(
        &core,
        Options {
            poll_interval_secs: Some(300.0),
            ..keyed(&server, &key)
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while banner(&client, &key).await != Some(json!("first"))
        || edge_metric(&client, "flagedge_push_connected", "").await != 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the edge never followed the feed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = core
        .get(&format!("/api/v1/environments/{key}/featurestates/"))
        .await
        .json["results"][0]["id"]
        .clone();
    // A Flagsmith SDK in realtime mode listens here; its first event is the current state.
    let mut realtime = sse_events(edge.address, &key).await;
    let first = tokio::time::timeout(Duration::from_secs(10), realtime.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.contains("updated_at"), "{first}");
    for value in ["second", "third"] {
        let changed = Instant::now();
        core.patch(
            &format!("/api/v1/environments/{key}/featurestates/{state}/"),
            json!({"feature_state_value": value}),
        )
        .await;
        while banner(&client, &key).await != Some(json!(value)) {
            assert!(
                changed.elapsed() < Duration::from_secs(10),
                "not pushed: {value} (the poll is 300 s away)"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("core → edge by push (debug build): {:?}", changed.elapsed());
        // ... and the realtime stream announced the new document as it was swapped in.
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), realtime.recv())
                .await
                .expect("a realtime event for the pushed change")
                .expect("stream open");
            if event.contains("updated_at") {
                break;
            }
        }
    }
    assert_eq!(
        edge_metric(
            &client,
            "flagedge_documents_fetched_total",
            "reason=\"push\""
        )
        .await,
        2.0
    );
    stop(edge).await;
}

/// The chunks of an edge's realtime (SSE) stream for an environment.
async fn sse_events(
    address: std::net::SocketAddr,
    client_key: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = hyper::Request::get(format!(
        "http://{address}/sse/environments/{client_key}/stream"
    ))
    .header("accept", "text/event-stream")
    .body(http_body_util::Full::default())
    .unwrap();
    let mut body = client.request(request).await.unwrap().into_body();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data()
                && sender
                    .send(String::from_utf8_lossy(&data).into_owned())
                    .is_err()
            {
                return;
            }
        }
    });
    receiver
}

/// Metrics of an edge: the sum of `name`'s samples whose labels contain `labels`.
async fn edge_metric(edge: &Core, name: &str, labels: &str) -> f64 {
    let text =
        String::from_utf8_lossy(&edge.request(Method::GET, "/metrics", &[], None).await.bytes)
            .into_owned();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A thousand environments changed by one project-wide write reach an edge
/// (with a proxy key, following core's feed, polling every 5 minutes) by push,
/// each fetched exactly once for its new revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_environments_changed_together_are_fetched_once_each() {
    const ENVIRONMENTS: usize = 1_000;
    let core = std::sync::Arc::new(Core::start().await);
    let project = core
        .create(
            "/api/v1/projects/",
            json!({"name": "Fleet", "organisation": core.organisation}),
        )
        .await["id"]
        .clone();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let creations: Vec<_> = (0..ENVIRONMENTS)
        .map(|n| {
            let (core, slots, project) = (core.clone(), slots.clone(), project.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire().await.unwrap();
                let environment = core
                    .create(
                        "/api/v1/environments/",
                        json!({"name": format!("env {n}"), "project": project}),
                    )
                    .await;
                let key = environment["api_key"].as_str().unwrap().to_string();
                core.server_key(&key).await;
                key
            })
        })
        .collect();
    let mut keys = Vec::with_capacity(ENVIRONMENTS);
    for creation in creations {
        keys.push(creation.await.unwrap());
    }
    let proxy_key = core.proxy_key().await;
    let (edge, client) = edge_reading(
        &core,
        Options {
            proxy_key: Some(proxy_key),
            poll_interval_secs: Some(300.0),
            ..Options::default()
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while edge_metric(&client, "flagedge_documents_fetched_total", "").await < ENVIRONMENTS as f64
        || edge_metric(&client, "flagedge_push_connected", "").await != 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the edge never loaded every environment"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One write changes every environment of the project.
    let changed = Instant::now();
    core.create(
        &format!("/api/v1/projects/{project}/features/"),
        json!({"name": "burst", "initial_value": "on", "default_enabled": true}),
    )
    .await;
    let serves_burst = |key: String| {
        let client = &client;
        async move {
            let flags = client
                .get_with("/api/v1/flags/", "x-environment-key", &key)
                .await
                .json;
            flags
                .as_array()
                .is_some_and(|flags| flags.iter().any(|f| f["feature"]["name"] == "burst"))
        }
    };
    for key in &keys {
        while !serves_burst(key.clone()).await {
            assert!(
                changed.elapsed() < Duration::from_secs(60),
                "not pushed to {key} (the poll is 300 s away)"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!(
        "{ENVIRONMENTS} environments changed together, all served by push after {:?} (debug build)",
        changed.elapsed()
    );
    // Let any late duplicate land before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The first load's recheck (on connecting to the feed) may still be under
    // way when the write lands: what it fetches then is the new revision too.
    let pushed = edge_metric(
        &client,
        "flagedge_documents_fetched_total",
        "reason=\"push\"",
    )
    .await;
    let rechecked = edge_metric(
        &client,
        "flagedge_documents_fetched_total",
        "reason=\"reconnect\"",
    )
    .await;
    assert!(pushed > 0.0, "nothing was pushed");
    assert_eq!(
        pushed + rechecked,
        ENVIRONMENTS as f64,
        "each changed environment fetched once after the first load"
    );
    assert_eq!(
        edge_metric(&client, "flagedge_documents_fetched_total", "").await,
        2.0 * ENVIRONMENTS as f64,
        "a first load and one push per environment: nothing twice"
    );
    stop(edge).await;
}

/// Stops an edge, waiting at most 10 s for it to finish.
async fn stop(edge: flagedge_edge::Edge) {
    edge.shutdown();
    tokio::time::timeout(Duration::from_secs(10), edge.wait())
        .await
        .unwrap();
}
