//! Test support: a real PostgreSQL (flagedge-testkit's throwaway cluster, or
//! the server at `FLAGEDGE_TEST_DATABASE_URL` when set), a fresh database per
//! test, and a real flagedge-core on 127.0.0.1 with an admin key and a sync
//! token, plus a small JSON HTTP client.

#![allow(dead_code)]

pub mod visitor;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use flagedge_core::db;
use flagedge_core::server::{self, Server};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;

pub const SYNC_TOKEN: &str = "test-sync-token";

/// The settings tests run core with: 64 KiB bodies, a 2 s grace period,
/// documents paged as by default.
pub fn test_settings() -> server::Settings {
    server::Settings {
        sync_token: Some(SYNC_TOKEN.to_string()),
        max_body_bytes: 64 * 1024,
        grace: Duration::from_secs(2),
        ..server::Settings::default()
    }
}

/// A fresh, empty database URL.
pub async fn database() -> String {
    if let Ok(url) = std::env::var("FLAGEDGE_TEST_DATABASE_URL") {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "core_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let admin = PgPool::connect(&url)
            .await
            .expect("connect to FLAGEDGE_TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("CREATE DATABASE");
        let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
        return format!("{base}/{name}");
    }
    tokio::task::spawn_blocking(|| flagedge_testkit::Postgres::shared().database())
        .await
        .expect("start PostgreSQL")
}

/// A running core.
pub struct Core {
    pub base: String,
    pub db: PgPool,
    pub analytics: PgPool,
    pub admin_key: String,
    pub organisation: i64,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
}

/// A response: status, headers, body (JSON when it parses, else Null) and raw bytes.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub bytes: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Core {
    /// Core on a fresh database (analytics in the same one).
    pub async fn start() -> Core {
        let url = database().await;
        Core::start_with(&url, None).await
    }

    /// Core with its own settings (`sync_token` is always [`SYNC_TOKEN`]).
    pub async fn start_configured(settings: server::Settings) -> Core {
        let url = database().await;
        Core::start_full(&url, None, settings).await
    }

    /// Core serving documents in pages of `page_size` identity overrides.
    pub async fn start_paged(page_size: usize) -> Core {
        Core::start_configured(server::Settings {
            document_page_size: page_size,
            ..test_settings()
        })
        .await
    }

    /// Core with analytics in a database of their own.
    pub async fn start_with(url: &str, analytics_url: Option<&str>) -> Core {
        Core::start_full(url, analytics_url, test_settings()).await
    }

    pub async fn start_full(
        url: &str,
        analytics_url: Option<&str>,
        settings: server::Settings,
    ) -> Core {
        let db = db::connect(url, 8).expect("pool");
        let analytics = match analytics_url {
            Some(a) => db::connect(a, 4).expect("analytics pool"),
            None => db.clone(),
        };
        db::migrate(&db, &analytics).await.expect("migrations");
        let (organisation, admin_key) = server::init(&db, "Acme", "test").await.expect("init");
        let settings = server::Settings {
            sync_token: Some(SYNC_TOKEN.to_string()),
            ..settings
        };
        let server = Server::bind(
            db.clone(),
            analytics.clone(),
            "127.0.0.1:0".parse().unwrap(),
            &settings,
        )
        .await
        .expect("bind");
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Core {
            base: format!("http://{addr}"),
            db,
            analytics,
            admin_key,
            organisation,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop: Some(stop),
        }
    }

    /// A client for a server started elsewhere (no database handles).
    pub fn attach(base: String) -> Core {
        let db = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://unused@127.0.0.1:1/unused")
            .unwrap();
        Core {
            base,
            analytics: db.clone(),
            db,
            admin_key: String::new(),
            organisation: 0,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop: None,
        }
    }

    /// Attaches to an edge at `address` once its `/ready` answers 200 (10 s at most).
    pub async fn attach_ready(address: std::net::SocketAddr) -> Core {
        let client = Core::attach(format!("http://{address}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while client
            .request(Method::GET, "/ready", &[], None)
            .await
            .status
            != StatusCode::OK
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{address} never became ready"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        client
    }

    /// Any request; `auth` is the full Authorization header value, if any.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let typed = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !typed {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(90), self.client.request(request))
            .await
            .expect("response in time")
            .expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            bytes,
        }
    }

    /// A GET with one header: a key, or a full Authorization value.
    pub async fn get_with(&self, path: &str, header: &str, value: &str) -> Reply {
        self.request(Method::GET, path, &[(header, value)], None)
            .await
    }

    /// A POST of `body` with one header: a key, or a full Authorization value.
    pub async fn post_with(
        &self,
        path: &str,
        header: &str,
        value: &str,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        self.request(Method::POST, path, &[(header, value)], Some(body.into()))
            .await
    }

    fn admin_header(&self) -> String {
        format!("Api-Key {}", self.admin_key)
    }

    /// Requests as another admin key (`Api-Key …`, the whole header value).
    pub fn as_key(&self, authorization: String) -> AsKey<'_> {
        AsKey {
            core: self,
            authorization,
        }
    }

    /// An admin request with a JSON body.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let auth = self.admin_header();
        self.request(
            method,
            path,
            &[("authorization", &auth)],
            body.map(|b| serde_json::to_vec(&b).unwrap()),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.admin(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.admin(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.admin(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.admin(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.admin(Method::DELETE, path, None).await
    }

    /// Deletes `path` (204) and checks it is gone (404).
    pub async fn delete_is_gone(&self, path: &str) {
        assert_eq!(
            self.delete(path).await.status,
            StatusCode::NO_CONTENT,
            "DELETE {path}"
        );
        assert_eq!(
            self.get(path).await.status,
            StatusCode::NOT_FOUND,
            "GET {path}"
        );
    }

    /// A request with the sync token.
    pub async fn sync(&self, path: &str) -> Reply {
        self.request(
            Method::GET,
            path,
            &[("authorization", &format!("Bearer {SYNC_TOKEN}"))],
            None,
        )
        .await
    }

    /// POST that must succeed with 201; returns the body.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let reply = self.post(path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "POST {path}: {}",
            reply.json
        );
        reply.json
    }

    /// A project in the test organisation with one environment: `(project id, client key)`.
    pub async fn project_with_environment(&self) -> (i64, String) {
        self.project_in(self.organisation, "Shop", "Production")
            .await
    }

    /// Project `name` in `organisation` with one environment, `environment`:
    /// `(project id, client key)`.
    pub async fn project_in(
        &self,
        organisation: i64,
        name: &str,
        environment: &str,
    ) -> (i64, String) {
        let project = serde_json::json!({"name": name, "organisation": organisation});
        let project = self.create("/api/v1/projects/", project).await;
        let environment = serde_json::json!({"name": environment, "project": project["id"]});
        let environment = self.create("/api/v1/environments/", environment).await;
        (
            project["id"].as_i64().unwrap(),
            environment["api_key"].as_str().unwrap().to_string(),
        )
    }

    /// A new environment `name` in `project`, as created.
    pub async fn create_environment(&self, project: impl serde::Serialize, name: &str) -> Value {
        let body = serde_json::json!({"name": name, "project": project});
        self.create("/api/v1/environments/", body).await
    }

    /// A new identity `identifier` in the environment with client key `key`, as created.
    pub async fn create_identity(&self, key: impl std::fmt::Display, identifier: &str) -> Value {
        let path = format!("/api/v1/environments/{key}/identities/");
        self.create(&path, serde_json::json!({"identifier": identifier}))
            .await
    }

    /// Identities `identifiers` in the environment with client key `key`, each
    /// overriding `feature` (an id) on, with the value "for <identifier>".
    pub async fn create_overridden_identities(
        &self,
        key: impl std::fmt::Display,
        feature: &Value,
        identifiers: &[&str],
    ) {
        for identifier in identifiers {
            let identity = self.create_identity(&key, identifier).await;
            let path = format!(
                "/api/v1/environments/{key}/identities/{}/featurestates/",
                identity["id"]
            );
            let value = format!("for {identifier}");
            let body = serde_json::json!({"feature": feature, "enabled": true, "feature_state_value": value});
            self.create(&path, body).await;
        }
    }

    /// A new server-side key `name` of the environment with client key `key`, as created.
    pub async fn create_server_key(&self, key: impl std::fmt::Display, name: &str) -> Value {
        let path = format!("/api/v1/environments/{key}/api-keys/");
        self.create(&path, serde_json::json!({"name": name})).await
    }

    /// A new admin key `name` of the test organisation, as created (with its `key`).
    pub async fn create_admin_key(&self, name: &str) -> Value {
        let path = format!(
            "/api/v1/organisations/{}/master-api-keys/",
            self.organisation
        );
        self.create(&path, serde_json::json!({"name": name})).await
    }

    /// Features of `project`, each on by default.
    pub async fn create_features_on(&self, project: i64, names: &[&str]) {
        let path = format!("/api/v1/projects/{project}/features/");
        for name in names {
            let body = serde_json::json!({"name": name, "default_enabled": true});
            self.create(&path, body).await;
        }
    }

    /// A second organisation, "Other": its id.
    pub async fn other_organisation(&self) -> i64 {
        let other = serde_json::json!({"name": "Other"});
        let other = self.create("/api/v1/organisations/", other).await;
        other["id"].as_i64().unwrap()
    }

    /// A proxy key (`pk.…`) for the test organisation.
    pub async fn proxy_key(&self) -> String {
        let created = self
            .create(
                "/api/v1/proxy-keys/",
                serde_json::json!({"name": "edge", "organisation": self.organisation}),
            )
            .await;
        created["key"].as_str().unwrap().to_string()
    }

    /// A server-side key for an environment.
    pub async fn server_key(&self, client_key: &str) -> String {
        let key = self
            .create(
                &format!("/api/v1/environments/{client_key}/api-keys/"),
                serde_json::json!({"name": "sdk"}),
            )
            .await;
        key["key"].as_str().unwrap().to_string()
    }

    /// The environment's current revision.
    pub async fn revision(&self, client_key: &str) -> i64 {
        self.get(&format!("/api/v1/environments/{client_key}/"))
            .await
            .json["revision"]
            .as_i64()
            .unwrap()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Requests to core as one admin key ([`Core::as_key`]).
pub struct AsKey<'c> {
    core: &'c Core,
    authorization: String,
}

impl AsKey<'_> {
    /// A request with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        let headers = [("authorization", self.authorization.as_str())];
        self.core.request(method, path, &headers, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }
}
