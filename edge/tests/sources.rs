//! Where documents come from: an upstream that goes away and comes back,
//! persistence across restarts, key rotation without a restart, TLS and HTTP/2.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use support::*;

fn http_options(upstream: &Upstream) -> Options {
    http_options_for(upstream.api_url())
}

fn http_options_from(options: &Options) -> Options {
    http_options_for(options.api_url.clone().unwrap())
}

fn http_options_for(api_url: String) -> Options {
    Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        api_url: Some(api_url),
        environment_key_pairs: Some(vec![
            format!("{SHOP_SERVER}={SHOP_CLIENT}").parse().unwrap(),
        ]),
        poll_interval_secs: Some(0.1),
        poll_timeout_secs: Some(1.0),
        poll_backoff_max_secs: Some(0.2),
        max_document_age_secs: Some(1.0),
        shutdown_grace_secs: Some(1.0),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_goes_away_and_comes_back() {
    let mut upstream = Upstream::start().await;
    upstream.set(
        SHOP_SERVER,
        shop_with(20, json!({"updated_at": "2026-11-22T09:00:00Z"})),
    );
    let edge = start(http_options(&upstream)).await;
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    assert_eq!(max_cart_items(&edge).await, 20);
    // Polls are conditional: the upstream sees If-Modified-Since once it has a document.
    eventually(Duration::from_secs(5), || async {
        upstream
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|h| h.contains_key("if-modified-since"))
    })
    .await;

    upstream.server.stop();
    // Still serving the last good document; readiness reports staleness.
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let ready = get(edge.address, "/ready", "").await.json();
    assert_eq!(ready["stale_environments"], json!([SHOP_CLIENT]));
    let proxy = get(edge.address, "/proxy/health/readiness", "").await;
    assert_eq!(proxy.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(proxy.json()["reason"], "environment document(s) stale.");
    assert_eq!(max_cart_items(&edge).await, 20);

    upstream.set(
        SHOP_SERVER,
        shop_with(30, json!({"updated_at": "2026-11-22T11:00:00Z"})),
    );
    upstream.server.restart().await;
    eventually(Duration::from_secs(5), || async {
        max_cart_items(&edge).await == 30
    })
    .await;
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_every_environment_loads() {
    let upstream = Upstream::start().await;
    let edge = start(http_options(&upstream)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = get(edge.address, "/ready", "").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["missing_environments"], json!([SHOP_CLIENT]));
    let proxy = get(edge.address, "/proxy/health/readiness", "")
        .await
        .json();
    assert_eq!(proxy["reason"], "environment document(s) not updated.");
    assert_eq!(proxy["last_successful_update"], Value::Null);
    assert_eq!(
        flags_status(edge.address, SHOP_CLIENT).await,
        StatusCode::FORBIDDEN
    );
    upstream.set(
        SHOP_SERVER,
        shop_with(20, json!({"updated_at": "2026-11-22T09:00:00Z"})),
    );
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_during_an_outage_serves_the_persisted_documents() {
    let persist = temp_dir("persist");
    let mut upstream = Upstream::start().await;
    upstream.set(
        SHOP_SERVER,
        shop_with(42, json!({"updated_at": "2026-11-22T09:00:00Z"})),
    );
    let options = Options {
        persist_dir: Some(persist.clone()),
        ..http_options(&upstream)
    };
    let options = move || Options {
        persist_dir: options.persist_dir.clone(),
        ..http_options_from(&options)
    };
    let first = start(options()).await;
    eventually(Duration::from_secs(5), || async {
        get(first.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    first.shutdown();
    first.wait().await;

    upstream.server.stop();
    let second = start(options()).await;
    // Served at once, from disk, with the upstream down; the server key works too.
    assert_eq!(max_cart_items(&second).await, 42);
    assert_eq!(
        get(second.address, "/api/v1/environment-document/", SHOP_SERVER)
            .await
            .status,
        StatusCode::OK
    );
    second.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_key_needs_no_restart() {
    let dir = shop_dir("rotate");
    std::fs::remove_file(dir.join("server-keys.json")).unwrap();
    let config_file = dir.join("edge.toml");
    let write_config = |server_key: &str| {
        std::fs::write(
            &config_file,
            format!(
                "documents_dir = \".\"\nfile_poll_ms = 50\nbind = \"127.0.0.1:0\"\nenvironment_key_pairs = [{{ server_side_key = \"{server_key}\", client_side_key = \"{SHOP_CLIENT}\" }}]\n"
            ),
        )
        .unwrap();
    };
    write_config("ser.old-key");
    let cli = Options {
        config: Some(config_file.clone()),
        ..Options::default()
    };
    let config = flagedge_edge::config::Config::load(cli.clone()).unwrap();
    let reloader: flagedge_edge::Reloader =
        Box::new(move || flagedge_edge::config::Config::load(cli.clone()));
    let edge = flagedge_edge::start(config, Some(reloader)).await.unwrap();
    assert_eq!(
        get(edge.address, "/api/v1/environment-document/", "ser.old-key")
            .await
            .status,
        StatusCode::OK
    );

    // Keep the modification time moving even on coarse file systems.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    write_config("ser.new-key");
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/api/v1/environment-document/", "ser.new-key")
            .await
            .status
            == StatusCode::OK
    })
    .await;
    assert_eq!(
        get(edge.address, "/api/v1/environment-document/", "ser.old-key")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_proxy_config_json_is_a_drop_in() {
    let upstream = Upstream::start().await;
    upstream.set(
        SHOP_SERVER,
        shop_with(20, json!({"updated_at": "2026-11-22T09:00:00Z"})),
    );
    let dir = temp_dir("proxy-config");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config_file = dir.join("config.json");
    std::fs::write(
        &config_file,
        json!({
            "environment_key_pairs": [{"server_side_key": SHOP_SERVER, "client_side_key": SHOP_CLIENT}],
            "api_url": upstream.api_url().trim_end_matches('/'),
            "api_poll_frequency_seconds": 1,
            "api_poll_timeout_seconds": 2,
            "allow_origins": ["*"],
            "endpoint_caches": {"flags": {"use_cache": true}, "identities": {"use_cache": true, "cache_max_size": 128}},
            "server": {"host": "127.0.0.1", "port": port, "reload": false, "proxy_headers": false, "timeout_keep_alive": 5},
            "health_check": {"environment_update_grace_period_seconds": 30},
            "logging": {"enable_access_log": false, "log_format": "generic", "log_level": "INFO"}
        })
        .to_string(),
    )
    .unwrap();
    let edge = start(Options {
        config: None,
        ..flagedge_edge::config::read_file(&config_file).unwrap()
    })
    .await;
    assert_eq!(edge.address.port(), port);
    eventually(Duration::from_secs(5), || async {
        get(edge.address, "/proxy/health/readiness", "")
            .await
            .status
            == StatusCode::OK
    })
    .await;
    assert_eq!(max_cart_items(&edge).await, 20);
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_http2_and_http1() {
    let dir = shop_dir("tls");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), certified.key_pair.serialize_pem()).unwrap();
    let edge = start(Options {
        tls_cert: Some(dir.join("cert.pem")),
        tls_key: Some(dir.join("key.pem")),
        ..file_options(&dir)
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    for http2 in [true, false] {
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let connector = if http2 {
            builder.enable_http2().build()
        } else {
            builder.enable_http1().build()
        };
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(http2)
                .build::<_, Full<Bytes>>(connector);
        let request = http::Request::builder()
            .method(Method::GET)
            .uri(format!(
                "https://localhost:{}/api/v1/flags/",
                edge.address.port()
            ))
            .header("x-environment-key", SHOP_CLIENT)
            .body(Full::default())
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.version(),
            if http2 {
                http::Version::HTTP_2
            } else {
                http::Version::HTTP_11
            }
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(b"[{\"feature\""));
    }
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_http2_prior_knowledge() {
    let edge = start(file_options(&shop_dir("h2c"))).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://{}/api/v1/flags/", edge.address))
        .header("x-environment-key", SHOP_CLIENT)
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(
        (response.status(), response.version()),
        (StatusCode::OK, http::Version::HTTP_2)
    );
    edge.shutdown();
}
