//! The SDK API over real HTTP: every endpoint, status code and error path.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_flags_with_and_without_trailing_slash() {
    let edge = start(file_options(&shop_dir("flags"))).await;
    for path in ["/api/v1/flags/", "/api/v1/flags"] {
        let reply = get(edge.address, path, SHOP_CLIENT).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let flags = reply.json();
        let names: Vec<&str> = flags
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["feature"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["new_checkout", "banner_text", "max_cart_items", "dark_mode"]
        );
        assert!(reply.header("etag").is_some());
        assert_eq!(
            reply.header("x-flagsmith-document-updated-at"),
            Some("1795338000.0")
        );
        assert!(reply.header("age").is_some());
    }
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_key_only_features_never_reach_client_keys() {
    let edge = start(file_options(&shop_dir("server-only"))).await;
    let client = get(edge.address, "/api/v1/flags/", SHOP_CLIENT)
        .await
        .json();
    let server = get(edge.address, "/api/v1/flags/", SHOP_SERVER)
        .await
        .json();
    let has = |flags: &serde_json::Value| {
        flags
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["feature"]["id"] == 105)
    };
    assert!(!has(&client));
    assert!(has(&server));
    let single = get(
        edge.address,
        "/api/v1/flags/?feature=payment_provider_secret_route",
        SHOP_CLIENT,
    )
    .await;
    assert_eq!(single.status, StatusCode::NOT_FOUND);
    let identity = post_json(
        edge.address,
        "/api/v1/identities/",
        SHOP_CLIENT,
        &json!({"identifier": "a"}),
    )
    .await
    .json();
    assert!(!has(&identity["flags"]));
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_feature_lookup() {
    let edge = start(file_options(&shop_dir("feature"))).await;
    let reply = get(
        edge.address,
        "/api/v1/flags/?feature=max_cart_items",
        SHOP_CLIENT,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["feature_state_value"], 20);
    let missing = get(edge.address, "/api/v1/flags/?feature=nope", SHOP_CLIENT).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["detail"], "Given feature not found");
    let identity = get(
        edge.address,
        "/api/v1/identities/?identifier=vip%40example.com&feature=max_cart_items",
        SHOP_CLIENT,
    )
    .await;
    assert_eq!(
        identity.json()["feature_state_value"],
        1000,
        "identity override from the document"
    );
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked() {
    let edge = start(file_options(&shop_dir("keys"))).await;
    let missing = get_with(edge.address, "/api/v1/flags/", &[]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert_eq!(
        missing.json()["detail"],
        "Invalid or missing Environment Key"
    );
    assert_eq!(
        flags_status(edge.address, "wrong").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        flags_status(edge.address, &SHOP_CLIENT[..5]).await,
        StatusCode::FORBIDDEN
    );
    let document = get(edge.address, "/api/v1/environment-document/", SHOP_CLIENT).await;
    assert_eq!(
        document.status,
        StatusCode::FORBIDDEN,
        "client keys never get the document"
    );
    assert!(
        document.json()["detail"]
            .as_str()
            .unwrap()
            .contains("server-side key")
    );
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_document_is_conditional() {
    let edge = start(file_options(&shop_dir("document"))).await;
    let reply = get(edge.address, "/api/v1/environment-document", SHOP_SERVER).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        serde_json::from_str::<serde_json::Value>(SHOP).unwrap()
    );
    let etag = reply.header("etag").unwrap().to_string();
    let last_modified = reply.header("last-modified").unwrap().to_string();
    assert_eq!(last_modified, "Sun, 22 Nov 2026 09:00:00 GMT");
    let flags_etag = get(edge.address, "/api/v1/flags/", SHOP_CLIENT)
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let document = "/api/v1/environment-document/";
    let older = "Sat, 21 Nov 2026 09:00:00 GMT";
    for (path, key, condition, status) in [
        (
            document,
            SHOP_SERVER,
            ("if-none-match", &*etag),
            StatusCode::NOT_MODIFIED,
        ),
        (
            document,
            SHOP_SERVER,
            ("if-modified-since", &last_modified),
            StatusCode::NOT_MODIFIED,
        ),
        (
            document,
            SHOP_SERVER,
            ("if-modified-since", older),
            StatusCode::OK,
        ),
        (
            "/api/v1/flags/",
            SHOP_CLIENT,
            ("if-none-match", &flags_etag),
            StatusCode::NOT_MODIFIED,
        ),
    ] {
        let reply = get_with(edge.address, path, &[("x-environment-key", key), condition]).await;
        assert_eq!(reply.status, status, "{path} {condition:?}");
        assert_eq!(reply.body.is_empty(), status == StatusCode::NOT_MODIFIED);
    }
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_follow_flagsmith_semantics() {
    let edge = start(file_options(&shop_dir("identities"))).await;
    let body = json!({"identifier": "alice", "traits": [
        {"trait_key": "plan", "trait_value": "pro"},
        {"trait_key": "age", "trait_value": 42},
        {"trait_key": "gone", "trait_value": null},
        {"trait_key": "email", "trait_value": "a@x.io", "transient": true},
    ]});
    let reply = post_json(edge.address, "/api/v1/identities/", SHOP_CLIENT, &body).await;
    assert_eq!(reply.status, StatusCode::OK);
    let identity = reply.json();
    assert_eq!(identity["identifier"], "alice");
    let checkout = identity["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"]["name"] == "new_checkout")
        .unwrap();
    assert_eq!(
        checkout["feature_state_value"], "v2",
        "the pro segment matched"
    );
    assert_eq!(checkout["enabled"], true);
    let trait_keys: Vec<&str> = identity["traits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trait_key"].as_str().unwrap())
        .collect();
    assert_eq!(trait_keys, ["plan", "age", "email"], "nulls are not traits");
    // Without an identity store, GET evaluates with no traits (as edge-proxy).
    let stored = shop_identity(edge.address, "alice").await;
    assert_eq!(stored["traits"], json!([]));
    // The same identity and traits twice give the same (cached) answer.
    let again = post_json(edge.address, "/api/v1/identities/", SHOP_CLIENT, &body)
        .await
        .json();
    assert_eq!(again, identity);
    edge.shutdown();
}

/// A cache hit writes the response again from compact picks: it must be the miss's
/// bytes, plain and gzipped, hidden flags still hidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_identity_responses_are_the_evaluated_bytes() {
    let dir = shop_dir("identity-cache");
    let mut shop: serde_json::Value = serde_json::from_str(SHOP).unwrap();
    shop["hide_disabled_flags"] = json!(true);
    std::fs::write(dir.join("shop.json"), shop.to_string()).unwrap();
    let edge = start(file_options(&dir)).await;
    // Long enough for the response to be worth gzipping.
    let identifier = "i".repeat(1500);
    let body =
        json!({"identifier": identifier, "traits": [{"trait_key": "plan", "trait_value": "pro"}]});
    let identify = |gzip: bool| {
        let body = body.to_string();
        let address = edge.address;
        async move {
            let mut headers = vec![
                ("x-environment-key", SHOP_CLIENT),
                ("content-type", "application/json"),
            ];
            if gzip {
                headers.push(("accept-encoding", "gzip"));
            }
            send(address, Method::POST, "/api/v1/identities/", &headers, body).await
        }
    };
    let missed = identify(false).await;
    let flags = missed.json()["flags"].as_array().unwrap().clone();
    assert!(
        (1..5).contains(&flags.len()) && flags.iter().all(|f| f["enabled"] == true),
        "disabled flags are hidden: {flags:?}"
    );
    let hit = identify(false).await;
    assert_eq!(hit.body, missed.body);
    let gzipped = identify(true).await;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gzipped.body[..]),
        &mut decoded,
    )
    .unwrap();
    assert_eq!(decoded, missed.body);
    let metrics = String::from_utf8(get(edge.address, "/metrics", "").await.body.to_vec()).unwrap();
    for line in [
        "flagedge_identity_cache_hits_total 2",
        "flagedge_identity_cache_misses_total 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "metrics lack {line}");
    }
    assert!(metrics.contains("flagedge_identity_cache_bytes"));
    edge.shutdown();
}

/// A change of values keeps what selects flags: a cached identity is carried
/// over to the new revision (written with its values, not evaluated again),
/// while a change of rules starts afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_identities_survive_a_change_of_values() {
    let dir = shop_dir("identity-cache-carried");
    let edge = start(file_options(&dir)).await;
    let body =
        json!({"identifier": "carol", "traits": [{"trait_key": "plan", "trait_value": "free"}]});
    let cart = || async {
        let reply = post_json(edge.address, "/api/v1/identities/", SHOP_CLIENT, &body).await;
        flag_value(&reply.json()["flags"], "max_cart_items")
    };
    let cache = || async {
        let metrics =
            String::from_utf8(get(edge.address, "/metrics", "").await.body.to_vec()).unwrap();
        ["hits", "misses", "carried"].map(|name| {
            let prefix = format!("flagedge_identity_cache_{name}_total ");
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(prefix.as_str()))
                .map_or(0, |count| count.parse::<u64>().unwrap())
        })
    };
    assert_eq!(cart().await, 20);
    let write = |document: serde_json::Value| {
        std::fs::write(dir.join("shop.json"), document.to_string()).unwrap()
    };
    write(shop_with(
        31,
        json!({"updated_at": "2026-11-22T10:00:00.000000+00:00"}),
    ));
    eventually(Duration::from_secs(5), || async {
        max_cart_items(&edge).await == 31
    })
    .await;
    assert_eq!(cart().await, 31, "written with the new revision's value");
    assert_eq!(cache().await, [1, 1, 1], "hits, misses, carried");
    assert_eq!(cart().await, 31);
    assert_eq!(cache().await, [2, 1, 1], "carried once, then a plain hit");
    // A rule changes: the segment now matches `free`, and its override applies.
    let mut rules = shop_with(
        32,
        json!({"updated_at": "2026-11-22T11:00:00.000000+00:00"}),
    );
    rules["project"]["segments"][0]["rules"][0]["rules"][0]["conditions"][0]["value"] =
        json!("free");
    write(rules);
    eventually(Duration::from_secs(5), || async {
        max_cart_items(&edge).await == 32
    })
    .await;
    assert_eq!(
        cart().await,
        100,
        "the segment's override, evaluated afresh"
    );
    assert_eq!(cache().await, [2, 2, 1]);
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_errors_are_clear() {
    let edge = start(Options {
        max_body_bytes: Some(4096),
        ..file_options(&shop_dir("identity-errors"))
    })
    .await;
    let address = edge.address;
    let post = |body: &'static str, content_type: &'static str| async move {
        send(
            address,
            Method::POST,
            "/api/v1/identities/",
            &[
                ("x-environment-key", SHOP_CLIENT),
                ("content-type", content_type),
            ],
            body,
        )
        .await
    };
    let malformed = post("{\"identifier\": ", "application/json").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed.json()["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
    let wrong_type = post("identifier=x", "application/x-www-form-urlencoded").await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let wrong_shape = post(
        "{\"identifier\": \"a\", \"traits\": {\"a\": 1}}",
        "application/json",
    )
    .await;
    assert_eq!(wrong_shape.status, StatusCode::BAD_REQUEST);
    let long = "x".repeat(2001);
    let too_long = post_json(
        address,
        "/api/v1/identities/",
        SHOP_CLIENT,
        &json!({"identifier": "a", "traits": [{"trait_key": "k", "trait_value": long}]}),
    )
    .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert!(too_long.json()["detail"].as_str().unwrap().contains("2000"));
    let huge = send(
        address,
        Method::POST,
        "/api/v1/identities/",
        &[
            ("x-environment-key", SHOP_CLIENT),
            ("content-type", "application/json"),
        ],
        Bytes::from(format!("{{\"identifier\":\"{}\"}}", "y".repeat(10_000))),
    )
    .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let missing = get(address, "/api/v1/identities/", SHOP_CLIENT).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.json()["detail"]
            .as_str()
            .unwrap()
            .contains("Missing identifier")
    );
    let empty = post("", "application/json").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    // No identifier: a transient identity named after its traits.
    let transient = post_json(
        address,
        "/api/v1/identities/",
        SHOP_CLIENT,
        &json!({"traits": [{"trait_key": "plan", "trait_value": "pro"}]}),
    )
    .await;
    assert_eq!(transient.status, StatusCode::OK);
    assert_eq!(transient.json()["identifier"].as_str().unwrap().len(), 64);
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_routes_and_cors() {
    let edge = start(Options {
        allow_origins: Some(vec!["https://app.example".into()]),
        ..file_options(&shop_dir("cors"))
    })
    .await;
    let wrong_method = send(
        edge.address,
        Method::DELETE,
        "/api/v1/flags/",
        &[("x-environment-key", SHOP_CLIENT)],
        Bytes::new(),
    )
    .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.header("allow"), Some("GET, HEAD, OPTIONS"));
    let unknown = get_with(edge.address, "/api/v1/nope/", &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["detail"], "Not found.");
    let preflight = send(
        edge.address,
        Method::OPTIONS,
        "/api/v1/identities/",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "x-environment-key,content-type",
            ),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("x-environment-key,content-type")
    );
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    let allowed = get_with(
        edge.address,
        "/api/v1/flags/",
        &[
            ("x-environment-key", SHOP_CLIENT),
            ("origin", "https://app.example"),
        ],
    )
    .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let foreign = get_with(
        edge.address,
        "/api/v1/flags/",
        &[
            ("x-environment-key", SHOP_CLIENT),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    let head = send(
        edge.address,
        Method::HEAD,
        "/api/v1/flags/",
        &[("x-environment-key", SHOP_CLIENT)],
        Bytes::new(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_when_accepted_and_worth_it() {
    let edge = start(file_options(&shop_dir("gzip"))).await;
    let document = get_with(
        edge.address,
        "/api/v1/environment-document/",
        &[
            ("x-environment-key", SHOP_SERVER),
            ("accept-encoding", "gzip, br"),
        ],
    )
    .await;
    assert_eq!(document.header("content-encoding"), Some("gzip"));
    let mut decoded = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&document.body[..]),
        &mut decoded,
    )
    .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&decoded).unwrap(),
        serde_json::from_str::<serde_json::Value>(SHOP).unwrap()
    );
    let refused = get_with(
        edge.address,
        "/api/v1/environment-document/",
        &[
            ("x-environment-key", SHOP_SERVER),
            ("accept-encoding", "gzip;q=0"),
        ],
    )
    .await;
    assert_eq!(refused.header("content-encoding"), None);
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let edge = start(file_options(&shop_dir("health"))).await;
    let health = get(edge.address, "/health", "").await;
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    assert_eq!(get(edge.address, "/ready", "").await.status, StatusCode::OK);
    let proxy = get(edge.address, "/proxy/health/readiness", "").await;
    assert_eq!(proxy.status, StatusCode::OK);
    assert_eq!(proxy.json()["status"], "ok");
    assert!(proxy.json()["last_successful_update"].is_string());
    assert_eq!(
        get(edge.address, "/proxy/health", "").await.status,
        StatusCode::OK
    );
    let liveness = get(edge.address, "/proxy/health/liveness/", "").await;
    assert_eq!((liveness.status, liveness.body.len()), (StatusCode::OK, 0));
    get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await;
    let metrics = String::from_utf8(get(edge.address, "/metrics", "").await.body.to_vec()).unwrap();
    for name in [
        "flagedge_http_requests_total{route=\"flags\",status=\"200\"}",
        "flagedge_http_request_duration_seconds_bucket",
        "flagedge_environments_loaded",
        "flagedge_document_age_seconds",
        "flagedge_document_swaps_total",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}");
    }
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_source_reloads_and_keeps_the_last_good_document() {
    let dir = shop_dir("reload");
    let edge = start(file_options(&dir)).await;
    let value = |reply: Reply| flag_value(&reply.json(), "max_cart_items");
    assert_eq!(
        value(get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await),
        20
    );
    // A newer document is picked up.
    let newer = SHOP
        .replace("\"feature_state_value\": 20", "\"feature_state_value\": 25")
        .replace("2026-11-22T09:00:00", "2026-11-22T10:00:00");
    std::fs::write(dir.join("shop.json"), &newer).unwrap();
    eventually(Duration::from_secs(5), || async {
        value(get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await) == 25
    })
    .await;
    // A broken one is not.
    std::fs::write(dir.join("shop.json"), "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        value(get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await),
        25
    );
    // Nor an older one.
    let older = SHOP
        .replace("\"feature_state_value\": 20", "\"feature_state_value\": 1")
        .replace("2026-11-22T09:00:00", "2026-11-20T09:00:00");
    std::fs::write(dir.join("shop.json"), older).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        value(get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await),
        25
    );
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_are_counted_and_shipped_including_at_shutdown() {
    let receiver = Receiver::start().await;
    let edge = start(Options {
        analytics_url: Some(receiver.url()),
        analytics_token: Some("sync-token".into()),
        analytics_interval_secs: Some(3600.0),
        ..file_options(&shop_dir("analytics"))
    })
    .await;
    for _ in 0..3 {
        get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await;
    }
    post_json(
        edge.address,
        "/api/v1/identities/",
        SHOP_SERVER,
        &json!({"identifier": "bob"}),
    )
    .await;
    let reported = post_json(
        edge.address,
        "/api/v1/analytics/flags/",
        SHOP_CLIENT,
        &json!({"dark_mode": 7, "not_a_feature": 3, "bad": "x"}),
    )
    .await;
    assert_eq!(reported.status, StatusCode::OK);
    let v2 = post_json(edge.address, "/api/v2/analytics/flags/", SHOP_CLIENT, &json!({"evaluations": [{"feature_name": "dark_mode", "count": 2, "identity_identifier": null, "enabled_when_evaluated": false}]})).await;
    assert_eq!(v2.status, StatusCode::NO_CONTENT);
    let not_object = post_json(
        edge.address,
        "/api/v1/analytics/flags/",
        SHOP_CLIENT,
        &json!([1]),
    )
    .await;
    assert_eq!(not_object.status, StatusCode::BAD_REQUEST);
    // The interval is an hour: only the graceful shutdown flush can deliver these.
    edge.shutdown();
    edge.wait().await;
    assert_eq!(receiver.evaluations(SHOP_CLIENT, "max_cart_items"), 4);
    assert_eq!(
        receiver.evaluations(SHOP_CLIENT, "dark_mode"),
        3 + 1 + 7 + 2
    );
    assert_eq!(
        receiver.evaluations(SHOP_CLIENT, "payment_provider_secret_route"),
        1,
        "server key only"
    );
    let batches = receiver.batches.lock().unwrap();
    // Besides counts, each batch reports the edge (a batch of the report alone
    // when there was nothing to count, as at the first tick).
    let counted = batches
        .iter()
        .find(|b| {
            b.1["environments"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        })
        .expect("a batch with counts");
    assert_eq!(counted.0.get("authorization").unwrap(), "Bearer sync-token");
    assert_eq!(counted.1["environments"][0]["api_calls"]["flags"], 3);
    assert!(
        batches
            .iter()
            .all(|b| b.1["edge"]["version"] == env!("CARGO_PKG_VERSION"))
    );
    let served = counted.1["edge"]["environments"].as_array().unwrap();
    assert!(
        served
            .iter()
            .any(|e| e["environment_key"] == SHOP_CLIENT && e["confirmed_secs_ago"].is_u64()),
        "{served:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_store_memory_keeps_traits() {
    let edge = start(Options {
        identity_store: Some(flagedge_edge::config::IdentityStoreKind::Memory),
        ..file_options(&shop_dir("store"))
    })
    .await;
    let set = post_json(
        edge.address,
        "/api/v1/traits/",
        SHOP_CLIENT,
        &json!({"identity": {"identifier": "carol"}, "trait_key": "plan", "trait_value": "pro"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK);
    let flags = shop_identity(edge.address, "carol").await;
    assert_eq!(
        flags["traits"],
        json!([{"trait_key": "plan", "trait_value": "pro"}])
    );
    let checkout = flags["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"]["name"] == "new_checkout")
        .unwrap()
        .clone();
    assert_eq!(checkout["feature_state_value"], "v2");
    let bulk = send(
        edge.address,
        Method::PUT,
        "/api/v1/traits/bulk/",
        &[("x-environment-key", SHOP_CLIENT), ("content-type", "application/json")],
        Bytes::from(json!([{"identity": {"identifier": "carol"}, "trait_key": "plan", "trait_value": null}]).to_string()),
    )
    .await;
    assert_eq!(bulk.status, StatusCode::OK);
    assert_eq!(
        shop_identity(edge.address, "carol").await["traits"],
        json!([])
    );
    // Transient traits are used, not stored.
    post_json(edge.address, "/api/v1/identities/", SHOP_CLIENT, &json!({"identifier": "dan", "traits": [{"trait_key": "plan", "trait_value": "pro", "transient": true}, {"trait_key": "age", "trait_value": 3}]})).await;
    assert_eq!(
        shop_identity(edge.address, "dan").await["traits"],
        json!([{"trait_key": "age", "trait_value": 3}])
    );
    edge.shutdown();
    let without = start(file_options(&shop_dir("no-store"))).await;
    let refused = post_json(
        without.address,
        "/api/v1/traits/",
        SHOP_CLIENT,
        &json!({"identity": {"identifier": "carol"}, "trait_key": "plan", "trait_value": "pro"}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_IMPLEMENTED);
    without.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let edge = start(Options {
        idle_timeout_secs: Some(1.0),
        ..file_options(&shop_dir("idle"))
    })
    .await;
    // A request head that never finishes arriving.
    let mut slow = tokio::net::TcpStream::connect(edge.address).await.unwrap();
    slow.write_all(b"GET /api/v1/flags/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buffer)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the edge should close a stalled connection"
    );
    // A well-behaved keep-alive client is served.
    assert_eq!(
        flags_status(edge.address, SHOP_CLIENT).await,
        StatusCode::OK
    );
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_checked_before_the_body_whatever_the_store() {
    for store in [None, Some(flagedge_edge::config::IdentityStoreKind::Memory)] {
        let edge = start(Options {
            identity_store: store,
            ..file_options(&shop_dir(&format!("order-{}", store.is_some())))
        })
        .await;
        let bad_body = json!({"identifier": 5, "traits": "no"});
        let reply = post_json(edge.address, "/api/v1/identities/", "wrong-key", &bad_body).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "store {store:?}");
        let reply = post_json(edge.address, "/api/v1/identities/", SHOP_CLIENT, &bad_body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "store {store:?}");
        for path in [
            "/api/v1/traits/",
            "/api/v1/analytics/flags/",
            "/api/v2/analytics/flags/",
        ] {
            let reply = post_json(edge.address, path, "wrong-key", &json!([1])).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{path}, store {store:?}"
            );
        }
        edge.shutdown();
        edge.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_sockets_is_capped_and_drains() {
    use tokio::io::AsyncWriteExt;
    let edge = start(Options {
        max_connections: Some(3),
        idle_timeout_secs: Some(2.0),
        ..file_options(&shop_dir("max-connections"))
    })
    .await;
    // Slowloris: three connections that never finish a request head hold every slot.
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(edge.address).await.unwrap();
        stream
            .write_all(b"GET /api/v1/flags/ HTTP/1.1\r\n")
            .await
            .unwrap();
        idle.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A fourth waits (in the backlog, holding no descriptor of the edge's) ...
    let waiting = tokio::time::timeout(
        Duration::from_millis(700),
        get(edge.address, "/api/v1/flags/", SHOP_CLIENT),
    )
    .await;
    assert!(waiting.is_err(), "served past the connection cap");
    // ... and is served once the idle ones are closed by the watchdog.
    let started = std::time::Instant::now();
    let reply = get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(5));
    let metrics = get(edge.address, "/metrics", "").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("flagedge_connections_limited_total"),
        "the cap is counted"
    );
    drop(idle);
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    let edge = start(Options {
        rate_limit: Some(0.5),
        rate_limit_burst: Some(2),
        ..file_options(&shop_dir("rate-limit"))
    })
    .await;
    for _ in 0..2 {
        let reply = get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    // The server key shares the environment's bucket.
    let limited = get(edge.address, "/api/v1/environment-document/", SHOP_SERVER).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert!(
        limited.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Request was throttled."),
        "{:?}",
        limited.json()
    );
    let ofrep = send(
        edge.address,
        Method::POST,
        "/ofrep/v1/evaluate/flags/new_checkout",
        &[
            ("x-api-key", SHOP_CLIENT),
            ("content-type", "application/json"),
        ],
        Bytes::from(r#"{"context":{"targetingKey":"u1"}}"#),
    )
    .await;
    assert_eq!(ofrep.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(ofrep.header("retry-after").is_some());
    // An unknown key is still a 403, not a 429: the limit is per environment.
    assert_eq!(
        flags_status(edge.address, "nobody").await,
        StatusCode::FORBIDDEN
    );
    edge.shutdown();
}
