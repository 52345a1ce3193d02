//! flagedge-core's edge API, as sync uses it: the change feed (long-poll), the
//! list of environments with their revisions and server-side keys (reconcile),
//! and each environment's document.

use std::time::Duration;

use bytes::Bytes;
use flagedge_cloud::changes::Listing;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest document accepted from core.
const MAX_DOCUMENT_BYTES: usize = 64 << 20;

/// Why a call to core failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Transport trouble.
    #[error("core unreachable: {0}")]
    Transport(String),
    /// An error status.
    #[error("core answered {0}")]
    Status(StatusCode),
    /// An unexpected body.
    #[error("unexpected answer from core: {0}")]
    Body(String),
}

/// A client for core.
#[derive(Clone)]
pub struct CoreClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    token: Option<String>,
}

impl CoreClient {
    /// A client for core at `base` (no trailing slash).
    pub fn new(base: String, token: Option<String>) -> CoreClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = match builder.with_native_roots() {
            Ok(builder) => builder.https_or_http().enable_http1().build(),
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
                .https_or_http()
                .enable_http1()
                .build(),
        };
        CoreClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base,
            token,
        }
    }

    async fn get(&self, path: &str, timeout: Duration) -> Result<Bytes, CoreError> {
        let mut request =
            Request::get(format!("{}{path}", self.base)).header(header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::default())
            .map_err(|e| CoreError::Transport(e.to_string()))?;
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| CoreError::Transport("timed out".into()))?
            .map_err(|e| CoreError::Transport(e.to_string()))?;
        if !response.status().is_success() {
            return Err(CoreError::Status(response.status()));
        }
        let body = tokio::time::timeout(
            timeout,
            Limited::new(response.into_body(), MAX_DOCUMENT_BYTES).collect(),
        )
        .await
        .map_err(|_| CoreError::Transport("timed out reading".into()))?
        .map_err(|e| CoreError::Transport(e.to_string()))?;
        Ok(body.to_bytes())
    }

    /// Waits (up to `timeout_secs`) for environments changed after `since`.
    pub async fn changes(&self, since: u64, timeout_secs: u64) -> Result<Listing, CoreError> {
        let body = self
            .get(
                &format!("/api/v1/edge/changes?since={since}&timeout={timeout_secs}"),
                Duration::from_secs(timeout_secs + 10),
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| CoreError::Body(e.to_string()))
    }

    /// Every environment, with its revision and server-side keys.
    pub async fn environments(&self) -> Result<Listing, CoreError> {
        let body = self
            .get("/api/v1/edge/environments", Duration::from_secs(30))
            .await?;
        serde_json::from_slice(&body).map_err(|e| CoreError::Body(e.to_string()))
    }

    /// An environment's document.
    pub async fn document(&self, environment_key: &str) -> Result<Bytes, CoreError> {
        self.get(
            &format!("/api/v1/edge/environments/{environment_key}/document"),
            Duration::from_secs(30),
        )
        .await
    }
}
