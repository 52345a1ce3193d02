//! Test support: an edge started in-process on a loopback port, a small HTTP
//! client, a fake upstream API serving documents, and a receiver for analytics
//! batches. Everything binds 127.0.0.1 only.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
pub use flagedge_edge::config::{Config, Options};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

pub const SHOP: &str = include_str!("../../../examples/environments/shop.json");
pub const SHOP_CLIENT: &str = "demo-shop-client-key";
pub const SHOP_SERVER: &str = "ser.demo-shop-server-key";

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "flagedge-test-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A documents directory with the shop environment and its server key.
pub fn shop_dir(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    std::fs::write(dir.join("shop.json"), SHOP).expect("write");
    std::fs::write(
        dir.join("server-keys.json"),
        format!(r#"{{"environment_key_pairs":[{{"server_side_key":"{SHOP_SERVER}","client_side_key":"{SHOP_CLIENT}"}}]}}"#),
    )
    .expect("write");
    dir
}

/// Options for an edge on an ephemeral loopback port reading `dir`.
pub fn file_options(dir: &Path) -> Options {
    Options {
        bind: Some("127.0.0.1:0".parse().expect("addr")),
        documents_dir: Some(dir.to_path_buf()),
        file_poll_ms: Some(50),
        analytics_interval_secs: Some(0.1),
        shutdown_grace_secs: Some(2.0),
        ..Options::default()
    }
}

pub async fn start(options: Options) -> flagedge_edge::Edge {
    let config = Config::resolve(options).expect("valid config");
    flagedge_edge::start(config, None)
        .await
        .expect("edge starts")
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request over HTTP/1.1.
pub async fn send(
    address: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let client = flagedge_edge::http_client::new();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("no timeout")
        .expect("response");
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

/// A GET with the given headers.
pub async fn get_with(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(address, Method::GET, path, headers, Bytes::new()).await
}

pub async fn get(address: SocketAddr, path: &str, key: &str) -> Reply {
    get_with(address, path, &[("x-environment-key", key)]).await
}

/// The status of `GET /api/v1/flags/` with `key`.
pub async fn flags_status(address: SocketAddr, key: &str) -> StatusCode {
    get(address, "/api/v1/flags/", key).await.status
}

/// The shop environment's `GET /api/v1/identities/` for `identifier` (no traits given), as JSON.
pub async fn shop_identity(address: SocketAddr, identifier: &str) -> Value {
    let path = format!("/api/v1/identities/?identifier={identifier}");
    get(address, &path, SHOP_CLIENT).await.json()
}

pub async fn post_json(address: SocketAddr, path: &str, key: &str, body: &Value) -> Reply {
    send(
        address,
        Method::POST,
        path,
        &[
            ("x-environment-key", key),
            ("content-type", "application/json"),
        ],
        Bytes::from(body.to_string()),
    )
    .await
}

/// Polls until `check` holds (or panics after `timeout`).
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not met within {timeout:?}");
}

pub type Handler = Arc<dyn Fn(Request<Bytes>) -> http::Response<Full<Bytes>> + Send + Sync>;

/// A tiny HTTP server on loopback, stoppable and restartable on the same port.
pub struct TestServer {
    pub address: SocketAddr,
    handler: Handler,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(handler: Handler) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("addr");
        let mut server = TestServer {
            address,
            handler,
            task: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let handler = Arc::clone(&self.handler);
        self.task = Some(tokio::spawn(async move {
            // Connections live in this set, so stopping the server drops them too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                while connections.try_join_next().is_some() {}
                let handler = Arc::clone(&handler);
                connections.spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let handler = Arc::clone(&handler);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            Ok::<_, std::convert::Infallible>(handler(Request::from_parts(
                                parts, body,
                            )))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }));
    }

    /// Stops listening (connections are refused until `restart`).
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .expect("rebind");
        self.serve(listener);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fake Flagsmith API serving one document per server key, with
/// Last-Modified / If-Modified-Since like Flagsmith's.
pub struct Upstream {
    pub server: TestServer,
    pub documents: Arc<Mutex<std::collections::HashMap<String, Value>>>,
    pub requests: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let documents: Arc<Mutex<std::collections::HashMap<String, Value>>> = Arc::default();
        let requests: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
        let (docs, log) = (Arc::clone(&documents), Arc::clone(&requests));
        let handler: Handler = Arc::new(move |request| {
            log.lock().unwrap().push(request.headers().clone());
            let reply = |status: u16, body: String| {
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap()
            };
            if request.uri().path() != "/api/v1/environment-document/" {
                return reply(404, r#"{"detail":"Not found."}"#.into());
            }
            let key = request
                .headers()
                .get("x-environment-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let Some(document) = docs.lock().unwrap().get(key).cloned() else {
                return reply(
                    403,
                    r#"{"detail":"Invalid or missing Environment Key"}"#.into(),
                );
            };
            let updated = flagedge_engine::Timestamp::parse_iso8601(
                document["updated_at"].as_str().unwrap_or_default(),
            )
            .unwrap_or(flagedge_engine::Timestamp(0));
            let since = request
                .headers()
                .get("if-modified-since")
                .and_then(|v| v.to_str().ok())
                .and_then(flagedge_engine::Timestamp::parse_http_date);
            if since.is_some_and(|s| updated.unix_seconds() <= s.unix_seconds()) {
                return http::Response::builder()
                    .status(304)
                    .body(Full::default())
                    .unwrap();
            }
            let mut response = reply(200, document.to_string());
            response
                .headers_mut()
                .insert("last-modified", updated.to_http_date().parse().unwrap());
            response
        });
        Upstream {
            server: TestServer::start(handler).await,
            documents,
            requests,
        }
    }

    pub fn set(&self, server_key: &str, document: Value) {
        self.documents
            .lock()
            .unwrap()
            .insert(server_key.to_string(), document);
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/api/v1/", self.server.address)
    }
}

/// Receives analytics batches.
pub struct Receiver {
    pub server: TestServer,
    pub batches: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let batches: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
        let store = Arc::clone(&batches);
        let handler: Handler = Arc::new(move |request| {
            let body: Value = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
            store
                .lock()
                .unwrap()
                .push((request.headers().clone(), body));
            http::Response::builder()
                .status(202)
                .body(Full::default())
                .unwrap()
        });
        Receiver {
            server: TestServer::start(handler).await,
            batches,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v1/analytics/batch", self.server.address)
    }

    /// Total evaluations received for one feature of one environment.
    pub fn evaluations(&self, environment: &str, feature: &str) -> u64 {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, batch)| {
                batch["environments"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|e| e["environment_key"] == environment)
            .map(|e| e["evaluations"][feature].as_u64().unwrap_or(0))
            .sum()
    }
}

/// The shop document with `max_cart_items` set to `value` and each field of
/// `stamp` (e.g. `{"revision": 3}` or `{"updated_at": "…"}`) set over it.
pub fn shop_with(max_cart_items: i64, stamp: Value) -> Value {
    let mut document: Value = serde_json::from_str(SHOP).unwrap();
    for (field, value) in stamp.as_object().expect("stamp is an object") {
        document[field] = value.clone();
    }
    for state in document["feature_states"].as_array_mut().unwrap() {
        if state["feature"]["name"] == "max_cart_items" {
            state["feature_state_value"] = max_cart_items.into();
        }
    }
    document
}

/// The value of flag `name` in a list of flags (`/flags/`, or an identity's `flags`).
pub fn flag_value(flags: &Value, name: &str) -> Value {
    flags
        .as_array()
        .unwrap_or_else(|| panic!("not a list of flags: {flags}"))
        .iter()
        .find(|f| f["feature"]["name"] == name)
        .unwrap_or_else(|| panic!("no flag {name}"))["feature_state_value"]
        .clone()
}

/// `max_cart_items` as `edge` serves the shop's `/flags/` (null while it serves no shop).
pub async fn max_cart_items(edge: &flagedge_edge::Edge) -> Value {
    let reply = get(edge.address, "/api/v1/flags/", SHOP_CLIENT).await;
    if reply.status != StatusCode::OK {
        return Value::Null;
    }
    flag_value(&reply.json(), "max_cart_items")
}
