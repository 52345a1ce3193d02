//! In front of Flagsmith: paged documents, proxy keys, SDK-reported counts
//! forwarded, usage reports, and an edge started before its upstream.
//!
//! No Flagsmith API can run here, so `StandIn` plays one, following Flagsmith's
//! documented contract (shared/flagsmith/SPEC.md §1.5, §8.1, §8.2): pages linked
//! by `Link: <…?page_id=identity_override:…>; rel="next"`, `GET /proxy/config/`
//! and `POST /proxy/usage/` with `X-Proxy-Key`, `POST /analytics/flags/` with the
//! environment's client key. It records what it receives.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use support::*;

/// What the stand-in serves and what it was sent.
#[derive(Default)]
struct State {
    /// Server key → document.
    documents: HashMap<String, Value>,
    /// Identity overrides per page (0: unpaged).
    page_size: usize,
    /// Pages (1-based) answered with a 500.
    failing_pages: Vec<usize>,
    /// The proxy configuration, or a 500 when `None`.
    proxy_config: Option<Value>,
    /// Usage posts answered with a 503 before one is accepted.
    usage_failures: usize,
    /// Analytics posts answered with a 503 while set.
    analytics_down: bool,
    analytics: Vec<(String, Value)>,
    usage: Vec<(String, Value)>,
    document_requests: Vec<String>,
}

struct StandIn {
    server: TestServer,
    state: Arc<Mutex<State>>,
}

fn reply(status: u16, body: Value) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn page(state: &mut State, key: &str, query: &str) -> http::Response<Full<Bytes>> {
    let Some(document) = state.documents.get(key).cloned() else {
        return reply(403, json!({"detail": "Invalid or missing Environment Key"}));
    };
    let number: usize = query
        .strip_prefix("page_id=identity_override:1:")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    state.document_requests.push(format!("{key} page {number}"));
    if state.failing_pages.contains(&number) {
        return reply(500, json!({"detail": "Server error"}));
    }
    let overrides = document["identity_overrides"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if state.page_size == 0 {
        return reply(200, document);
    }
    let mut this = document.clone();
    let chunk: Vec<Value> = overrides
        .iter()
        .skip((number - 1) * state.page_size)
        .take(state.page_size)
        .cloned()
        .collect();
    this["identity_overrides"] = Value::Array(chunk);
    let mut response = reply(200, this);
    if number * state.page_size < overrides.len() {
        let link = format!(
            "</api/v1/environment-document/?page_id=identity_override:1:{}>; rel=\"next\"",
            number + 1
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

impl StandIn {
    async fn start() -> StandIn {
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = Arc::clone(&state);
        let handler: Handler = Arc::new(move |request| {
            let mut state = shared.lock().unwrap();
            let headers = request.headers();
            let body: Value = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
            match request.uri().path() {
                "/api/v1/environment-document/" => page(
                    &mut state,
                    &header(headers, "x-environment-key"),
                    request.uri().query().unwrap_or(""),
                ),
                "/api/v1/proxy/config/" => {
                    if header(headers, "x-proxy-key") != "pk.test-proxy-key" {
                        return reply(401, json!({"detail": "Invalid proxy key."}));
                    }
                    match &state.proxy_config {
                        Some(config) => reply(200, config.clone()),
                        None => reply(500, json!({"detail": "Server error"})),
                    }
                }
                "/api/v1/proxy/usage/" => {
                    let key = header(headers, "idempotency-key");
                    state.usage.push((key, body));
                    if state.usage_failures > 0 {
                        state.usage_failures -= 1;
                        return reply(503, json!({"detail": "unavailable"}));
                    }
                    reply(204, Value::Null)
                }
                "/api/v1/analytics/flags/" => {
                    if state.analytics_down {
                        return reply(503, json!({"detail": "unavailable"}));
                    }
                    let key = header(headers, "x-environment-key");
                    state.analytics.push((key, body));
                    reply(200, Value::Null)
                }
                _ => reply(404, json!({"detail": "Not found."})),
            }
        });
        StandIn {
            server: TestServer::start(handler).await,
            state,
        }
    }

    fn api_url(&self) -> String {
        format!("http://{}/api/v1/", self.server.address)
    }

    fn with<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        change(&mut self.state.lock().unwrap())
    }

    /// Evaluations of `feature` Flagsmith received for `client_key`.
    fn reported(&self, client_key: &str, feature: &str) -> u64 {
        self.with(|s| {
            s.analytics
                .iter()
                .filter(|(key, _)| key == client_key)
                .map(|(_, body)| body[feature].as_u64().unwrap_or(0))
                .sum()
        })
    }
}

/// The demo shop with `count` identity overrides, `user-<n>` getting `max_cart_items` = n + base.
fn shop_with_overrides(updated_at: &str, count: usize, base: i64) -> Value {
    let mut document: Value = serde_json::from_str(SHOP).unwrap();
    document["updated_at"] = json!(updated_at);
    document["identity_overrides"] = (0..count)
        .map(|n| {
            json!({"identifier": format!("user-{n}"), "identity_features": [{
                "feature": {"id": 103, "name": "max_cart_items", "type": "STANDARD"},
                "enabled": true, "feature_state_value": base + n as i64, "django_id": null,
                "featurestate_uuid": format!("7d3c1d1e-1b7e-4b8e-9d2a-{:012}", n),
                "feature_segment": null, "multivariate_feature_state_values": []}]})
        })
        .collect();
    document
}

fn shop_as(client_key: &str) -> Value {
    let mut document: Value = serde_json::from_str(SHOP).unwrap();
    document["api_key"] = json!(client_key);
    document
}

async fn cart_items(edge: &flagedge_edge::Edge, identifier: &str) -> Value {
    let reply = get(
        edge.address,
        &format!("/api/v1/identities/?identifier={identifier}"),
        SHOP_CLIENT,
    )
    .await;
    flag_value(&reply.json()["flags"], "max_cart_items")
}

fn options(stand_in: &StandIn) -> Options {
    Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        api_url: Some(stand_in.api_url()),
        environment_key_pairs: Some(vec![
            format!("{SHOP_SERVER}={SHOP_CLIENT}").parse().unwrap(),
        ]),
        poll_interval_secs: Some(0.1),
        poll_timeout_secs: Some(1.0),
        poll_backoff_max_secs: Some(0.2),
        analytics_interval_secs: Some(0.1),
        shutdown_grace_secs: Some(1.0),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_documents_serve_every_override_and_swap_only_whole() {
    let stand_in = StandIn::start().await;
    stand_in.with(|s| {
        s.page_size = 10;
        s.documents.insert(
            SHOP_SERVER.into(),
            shop_with_overrides("2026-11-22T09:00:00Z", 25, 100),
        );
    });
    let edge = start(options(&stand_in)).await;
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    for n in [0, 9, 10, 19, 20, 24] {
        assert_eq!(
            cart_items(&edge, &format!("user-{n}")).await,
            100 + n,
            "user-{n}"
        );
    }
    let document = get(edge.address, "/api/v1/environment-document/", SHOP_SERVER)
        .await
        .json();
    assert_eq!(document["identity_overrides"].as_array().unwrap().len(), 25);
    assert!(stand_in.with(|s| {
        s.document_requests
            .contains(&format!("{SHOP_SERVER} page 3"))
    }));

    // A failing page keeps the whole served document, not a mix of old and new.
    stand_in.with(|s| {
        s.failing_pages = vec![2];
        s.documents.insert(
            SHOP_SERVER.into(),
            shop_with_overrides("2026-11-22T10:00:00Z", 25, 500),
        );
    });
    eventually(Duration::from_secs(5), || async {
        stand_in.with(|s| {
            s.document_requests
                .iter()
                .filter(|r| r.ends_with("page 2"))
                .count()
                >= 3
        })
    })
    .await;
    assert_eq!(
        cart_items(&edge, "user-0").await,
        100,
        "page one alone is not swapped in"
    );
    assert_eq!(cart_items(&edge, "user-24").await, 124);

    stand_in.with(|s| s.failing_pages.clear());
    eventually(Duration::from_secs(5), || async {
        cart_items(&edge, "user-24").await == 524
    })
    .await;
    assert_eq!(cart_items(&edge, "user-0").await, 500);
    assert_eq!(cart_items(&edge, "user-15").await, 515);
    edge.shutdown();
    edge.wait().await;
}

fn proxy_environment(client_key: &str, keys: Value) -> Value {
    json!({"id": 1, "name": client_key, "client_side_key": client_key, "server_side_keys": keys,
           "updated_at": "2026-11-22T09:00:00Z", "project_id": 1, "organisation_id": 1})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_keys_add_rotate_and_drop_environments() {
    let stand_in = StandIn::start().await;
    let second: Value = shop_as("second-client");
    let third: Value = shop_as("static-client");
    stand_in.with(|s| {
        s.documents.insert("ser.shop-a".into(), shop_as(SHOP_CLIENT));
        s.documents.insert("ser.second".into(), second.clone());
        s.documents.insert("ser.static".into(), third.clone());
        s.proxy_config = Some(json!([
            proxy_environment(SHOP_CLIENT, json!([{"key": "ser.shop-a", "active": true, "expires_at": null}])),
            proxy_environment("expired-client", json!([{"key": "ser.expired", "active": true, "expires_at": "2020-01-01T00:00:00Z"}])),
        ]));
    });
    let mut options = options(&stand_in);
    options.environment_key_pairs = Some(vec!["ser.static=static-client".parse().unwrap()]);
    options.proxy_key = Some("pk.test-proxy-key".into());
    let edge = start(options).await;
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    let status = |key: &'static str| {
        let address = edge.address;
        async move {
            get(address, "/api/v1/environment-document/", key)
                .await
                .status
        }
    };
    assert_eq!(
        flags_status(edge.address, SHOP_CLIENT).await,
        StatusCode::OK
    );
    assert_eq!(status("ser.shop-a").await, StatusCode::OK);
    assert_eq!(status("ser.static").await, StatusCode::OK);
    assert_eq!(status("ser.expired").await, StatusCode::FORBIDDEN);

    // A new environment is served without a restart.
    stand_in.with(|s| {
        s.proxy_config
            .as_mut()
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(proxy_environment(
                "second-client",
                json!([{"key": "ser.second", "active": true, "expires_at": null}]),
            ));
    });
    eventually(Duration::from_secs(5), || async {
        flags_status(edge.address, "second-client").await == StatusCode::OK
    })
    .await;

    // Rotation: the new key takes over, the old one stops working at once.
    stand_in.with(|s| {
        let document = s.documents.remove("ser.shop-a").unwrap();
        s.documents.insert("ser.shop-b".into(), document);
        s.proxy_config.as_mut().unwrap()[0]["server_side_keys"] = json!([
            {"key": "ser.shop-a", "active": false, "expires_at": null},
            {"key": "ser.shop-b", "active": true, "expires_at": null}]);
    });
    eventually(Duration::from_secs(5), || async {
        status("ser.shop-b").await == StatusCode::OK
    })
    .await;
    assert_eq!(status("ser.shop-a").await, StatusCode::FORBIDDEN);

    // A failed refresh removes nothing.
    let saved = stand_in.with(|s| s.proxy_config.take());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        flags_status(edge.address, "second-client").await,
        StatusCode::OK
    );
    assert_eq!(status("ser.shop-b").await, StatusCode::OK);

    // Dropped environments stop serving; configured pairs never are dropped.
    stand_in.with(|s| {
        let mut config = saved.unwrap();
        config
            .as_array_mut()
            .unwrap()
            .retain(|e| e["client_side_key"] != "second-client");
        s.proxy_config = Some(config);
    });
    eventually(Duration::from_secs(5), || async {
        flags_status(edge.address, "second-client").await == StatusCode::FORBIDDEN
    })
    .await;
    assert_eq!(status("ser.second").await, StatusCode::FORBIDDEN);
    assert_eq!(status("ser.static").await, StatusCode::OK);
    assert_eq!(
        flags_status(edge.address, SHOP_CLIENT).await,
        StatusCode::OK
    );
    edge.shutdown();
    edge.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_rows_sum_to_requests_served_and_retries_keep_their_key() {
    let stand_in = StandIn::start().await;
    stand_in.with(|s| {
        s.documents
            .insert("ser.shop-a".into(), shop_as(SHOP_CLIENT));
        s.proxy_config = Some(json!([proxy_environment(
            SHOP_CLIENT,
            json!([{"key": "ser.shop-a", "active": true, "expires_at": null}])
        )]));
        s.usage_failures = 1;
    });
    let mut options = options(&stand_in);
    options.environment_key_pairs = None;
    options.proxy_key = Some("pk.test-proxy-key".into());
    let edge = start(options).await;
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    for _ in 0..7 {
        assert_eq!(
            flags_status(edge.address, SHOP_CLIENT).await,
            StatusCode::OK
        );
    }
    for n in 0..4 {
        let path = format!("/api/v1/identities/?identifier=u{n}");
        assert_eq!(
            get(edge.address, &path, SHOP_CLIENT).await.status,
            StatusCode::OK
        );
    }
    for _ in 0..2 {
        let reply = get(edge.address, "/api/v1/environment-document/", "ser.shop-a").await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    edge.shutdown();
    edge.wait().await;
    let (posts, accepted) = stand_in.with(|s| {
        let accepted: Vec<(String, Value)> = s.usage.iter().skip(1).cloned().collect();
        (s.usage.clone(), accepted)
    });
    assert!(posts.len() >= 2, "a failed post is retried: {posts:?}");
    assert_eq!(
        posts[0].0, posts[1].0,
        "the retry reuses its Idempotency-Key"
    );
    assert!(!posts[0].0.is_empty());
    let mut sums: HashMap<String, u64> = HashMap::new();
    for (_, body) in &accepted {
        let rows = body.as_array().unwrap();
        assert!(rows.len() <= 1000);
        for row in rows {
            assert_eq!(row["client_side_key"], SHOP_CLIENT);
            *sums
                .entry(row["resource"].as_str().unwrap().to_string())
                .or_default() += row["count"].as_u64().unwrap();
        }
    }
    assert_eq!(sums.get("flags"), Some(&7));
    assert_eq!(sums.get("identities"), Some(&4));
    assert_eq!(sums.get("environment-document"), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_reported_counts_reach_flagsmith_once_across_a_restart() {
    let stand_in = StandIn::start().await;
    stand_in.with(|s| {
        s.documents.insert(SHOP_SERVER.into(), shop_as(SHOP_CLIENT));
        s.analytics_down = true;
    });
    let persist = temp_dir("flagsmith-analytics");
    let mut options = options(&stand_in);
    options.persist_dir = Some(persist.clone());
    let edge = start(options.clone()).await;
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    let v1 = post_json(
        edge.address,
        "/api/v1/analytics/flags/",
        SHOP_CLIENT,
        &json!({"new_checkout": 3, "max_cart_items": 2, "no_such_feature": 9}),
    )
    .await;
    assert_eq!(v1.status, StatusCode::OK);
    let v2 = post_json(
        edge.address,
        "/api/v2/analytics/flags/",
        SHOP_CLIENT,
        &json!({"evaluations": [{"feature_name": "new_checkout", "count": 4,
                 "identity_identifier": "alice", "enabled_when_evaluated": true}]}),
    )
    .await;
    assert_eq!(v2.status, StatusCode::NO_CONTENT);
    // Flagsmith is down: the counts wait in the spool through a restart.
    tokio::time::sleep(Duration::from_millis(400)).await;
    edge.shutdown();
    edge.wait().await;
    assert_eq!(stand_in.reported(SHOP_CLIENT, "new_checkout"), 0);
    stand_in.with(|s| s.analytics_down = false);
    let edge = start(options).await;
    eventually(Duration::from_secs(5), || async {
        stand_in.reported(SHOP_CLIENT, "new_checkout") == 7
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(stand_in.reported(SHOP_CLIENT, "new_checkout"), 7, "once");
    assert_eq!(stand_in.reported(SHOP_CLIENT, "max_cart_items"), 2);
    assert_eq!(stand_in.reported(SHOP_CLIENT, "no_such_feature"), 0);
    edge.shutdown();
    edge.wait().await;
    let spool = persist.join("analytics").join("spool").join("flagsmith");
    assert_eq!(
        std::fs::read_dir(spool).unwrap().count(),
        0,
        "delivered batches leave the spool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_started_before_its_upstream_serves_as_soon_as_it_is_up() {
    let mut stand_in = StandIn::start().await;
    stand_in.with(|s| {
        s.documents.insert(SHOP_SERVER.into(), shop_as(SHOP_CLIENT));
    });
    stand_in.server.stop();
    let mut options = options(&stand_in);
    options.poll_interval_secs = Some(30.0);
    options.poll_backoff_max_secs = Some(60.0);
    let edge = start(options).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get(edge.address, "/ready", "").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    stand_in.server.restart().await;
    // Retries started at 100 ms and double: well within 3 s, never a 30 s poll interval.
    eventually(Duration::from_secs(3), || async {
        flags_status(edge.address, SHOP_CLIENT).await == StatusCode::OK
    })
    .await;
    edge.shutdown();
    edge.wait().await;
}
