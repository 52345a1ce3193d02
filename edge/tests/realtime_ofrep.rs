//! Realtime streams (server-sent events) and OpenFeature's remote evaluation
//! protocol, over real HTTP.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use support::*;

/// Opens an SSE stream and returns a receiver of its chunks.
async fn open_stream(
    address: std::net::SocketAddr,
    key: &str,
) -> (StatusCode, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://{address}/sse/environments/{key}/stream"))
        .header("accept", "text/event-stream")
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut body = response.into_body();
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
    (status, receiver)
}

async fn next_chunk(
    receiver: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    within: Duration,
) -> String {
    tokio::time::timeout(within, receiver.recv())
        .await
        .expect("a chunk in time")
        .expect("stream open")
}

fn shop_at(updated_at: &str, max_cart_items: i64) -> String {
    shop_with(max_cart_items, json!({"updated_at": updated_at})).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_reach_open_streams() {
    let dir = shop_dir("sse");
    let edge = start(Options {
        file_poll_ms: Some(20),
        sse_heartbeat_secs: Some(0.3),
        ..file_options(&dir)
    })
    .await;
    let (status, mut stream) = open_stream(edge.address, SHOP_CLIENT).await;
    assert_eq!(status, StatusCode::OK);
    let first = next_chunk(&mut stream, Duration::from_secs(2)).await;
    assert_eq!(
        first,
        "event: environment_updated\ndata: {\"updated_at\": 1795338000.0}\n\n"
    );
    // Heartbeats keep idle streams alive.
    assert_eq!(
        next_chunk(&mut stream, Duration::from_secs(2)).await,
        ": heartbeat\n\n"
    );

    std::fs::write(dir.join("shop.json"), shop_at("2026-11-22T10:00:00.5Z", 21)).unwrap();
    let written = Instant::now();
    loop {
        let chunk = next_chunk(&mut stream, Duration::from_secs(3)).await;
        if chunk.starts_with("event:") {
            assert_eq!(
                chunk,
                "event: environment_updated\ndata: {\"updated_at\": 1795341600.5}\n\n"
            );
            break;
        }
    }
    // File polling (20 ms) bounds the delay from the write; the swap-to-event hop is immediate.
    assert!(written.elapsed() < Duration::from_secs(2));
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_outlive_the_idle_timeout_and_are_limited() {
    let edge = start(Options {
        idle_timeout_secs: Some(1.0),
        sse_max_streams_per_environment: Some(1),
        ..file_options(&shop_dir("sse-limits"))
    })
    .await;
    let (_, mut stream) = open_stream(edge.address, SHOP_CLIENT).await;
    next_chunk(&mut stream, Duration::from_secs(2)).await;
    let (status, _) = open_stream(edge.address, SHOP_CLIENT).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = open_stream(edge.address, "unknown-key").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Heartbeats (every half idle timeout) keep the connection past the idle limit.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        next_chunk(&mut stream, Duration::from_secs(2)).await,
        ": heartbeat\n\n"
    );
    edge.shutdown();
}

async fn ofrep(
    address: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> Reply {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(
        address,
        Method::POST,
        path,
        &all,
        Bytes::from(body.to_string()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ofrep_single_and_bulk() {
    let edge = start(file_options(&shop_dir("ofrep"))).await;
    let auth = [("x-api-key", SHOP_CLIENT)];
    let pro = json!({"context": {"targetingKey": "alice", "plan": "pro"}});

    let reply = ofrep(
        edge.address,
        "/ofrep/v1/evaluate/flags/new_checkout",
        &auth,
        pro.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let flag = reply.json();
    assert_eq!(flag["key"], "new_checkout");
    assert_eq!(flag["value"], "v2");
    assert_eq!(flag["reason"], "TARGETING_MATCH");
    // Null, not absent: OpenFeature's Python provider reads the field unconditionally.
    assert_eq!(flag["variant"], Value::Null);
    assert_eq!(
        flag["metadata"]["version"],
        "2026-11-22T09:00:00.000000+00:00"
    );

    // No value: the value is `enabled`. Static: nothing targets it.
    let dark = ofrep(
        edge.address,
        "/ofrep/v1/evaluate/flags/dark_mode",
        &[("authorization", &format!("Bearer {SHOP_CLIENT}"))],
        json!({"context": {"targetingKey": "bob"}}),
    )
    .await
    .json();
    assert_eq!(
        (dark["value"].clone(), dark["reason"].clone()),
        (json!(false), json!("DEFAULT"))
    );

    // A split: some identity lands in a keyed option.
    let mut split = None;
    for i in 0..200 {
        let reply = ofrep(
            edge.address,
            "/ofrep/v1/evaluate/flags/banner_text",
            &auth,
            json!({"context": {"targetingKey": format!("user-{i}")}}),
        )
        .await
        .json();
        if reply["reason"] == "SPLIT" {
            split = Some(reply);
            break;
        }
    }
    let split = split.expect("some identity is in a variant");
    assert!(["shipping", "discount"].contains(&split["variant"].as_str().unwrap()));

    let bulk = ofrep(edge.address, "/ofrep/v1/evaluate/flags", &auth, pro.clone()).await;
    assert_eq!(bulk.status, StatusCode::OK);
    let etag = bulk.header("etag").unwrap().to_string();
    let names: Vec<String> = bulk.json()["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["new_checkout", "banner_text", "max_cart_items", "dark_mode"]
    );
    let again = ofrep(
        edge.address,
        "/ofrep/v1/evaluate/flags",
        &[("x-api-key", SHOP_CLIENT), ("if-none-match", &etag)],
        pro.clone(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let other = ofrep(
        edge.address,
        "/ofrep/v1/evaluate/flags",
        &[("x-api-key", SHOP_CLIENT), ("if-none-match", &etag)],
        json!({"context": {"targetingKey": "bob", "plan": "free"}}),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::OK,
        "another context, another body"
    );
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ofrep_errors_use_the_protocol_codes() {
    let edge = start(file_options(&shop_dir("ofrep-errors"))).await;
    let auth = [("x-api-key", SHOP_CLIENT)];
    let check = |reply: Reply, status: StatusCode, code: &str| {
        assert_eq!(
            reply.status,
            status,
            "{:?}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        assert_eq!(body["errorCode"], code);
        assert!(body["errorDetails"].is_string());
    };
    check(
        ofrep(
            edge.address,
            "/ofrep/v1/evaluate/flags/nope",
            &auth,
            json!({"context": {"targetingKey": "a"}}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "FLAG_NOT_FOUND",
    );
    let secret = ofrep(
        edge.address,
        "/ofrep/v1/evaluate/flags/payment_provider_secret_route",
        &auth,
        json!({"context": {}}),
    )
    .await;
    check(secret, StatusCode::NOT_FOUND, "FLAG_NOT_FOUND");
    let server = ofrep(
        edge.address,
        "/ofrep/v1/evaluate/flags/payment_provider_secret_route",
        &[("x-api-key", SHOP_SERVER)],
        json!({"context": {}}),
    )
    .await;
    assert_eq!(
        server.status,
        StatusCode::OK,
        "server keys see server-only flags"
    );
    let malformed = send(
        edge.address,
        Method::POST,
        "/ofrep/v1/evaluate/flags/dark_mode",
        &[("x-api-key", SHOP_CLIENT)],
        Bytes::from_static(b"{nope"),
    )
    .await;
    check(malformed, StatusCode::BAD_REQUEST, "PARSE_ERROR");
    check(
        ofrep(
            edge.address,
            "/ofrep/v1/evaluate/flags/dark_mode",
            &auth,
            json!({"context": {"plan": "pro"}}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "TARGETING_KEY_MISSING",
    );
    check(
        ofrep(
            edge.address,
            "/ofrep/v1/evaluate/flags/dark_mode",
            &auth,
            json!({"context": {"targetingKey": "a", "x": [1]}}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_CONTEXT",
    );
    check(
        ofrep(
            edge.address,
            "/ofrep/v1/evaluate/flags",
            &auth,
            json!({"context": 3}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_CONTEXT",
    );
    let unauthorised = ofrep(
        edge.address,
        "/ofrep/v1/evaluate/flags/dark_mode",
        &[],
        json!({"context": {}}),
    )
    .await;
    assert_eq!(unauthorised.status, StatusCode::UNAUTHORIZED);
    let wrong = ofrep(
        edge.address,
        "/ofrep/v1/evaluate/flags/dark_mode",
        &[("x-api-key", "nope")],
        json!({"context": {}}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    edge.shutdown();
}
