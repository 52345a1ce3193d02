//! The receivers of batches:
//! - flagedge-sync's ingest (`--analytics-sink http`): every count, one batch a
//!   request, deduplicated by batch id on the receiving side; or the log;
//! - Flagsmith's `{api_url}analytics/flags/` (`--analytics-sink flagsmith`): what
//!   SDKs reported, one request per environment with its client-side key, in
//!   the v1 body SDKs send (`{"<feature>": <count>}`);
//! - Flagsmith's `{api_url}proxy/usage/` (with a proxy key): requests served per
//!   environment and resource, at most 1,000 rows a request, with the batch id
//!   as `Idempotency-Key` so a retry is not counted twice.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use super::outbox::{Delivery, Sink};
use super::reported::ReportedBatch;
use crate::http_client::HttpClient;
use flagedge_cloud::counts::Batch;

/// Time allowed for one delivery request.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Most rows Flagsmith's usage endpoint takes in one request.
pub const MAX_USAGE_ROWS: usize = 1000;

/// One row of Flagsmith's proxy usage report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UsageRow {
    /// The environment's client-side key.
    pub client_side_key: String,
    /// `flags`, `identities` or `environment-document`.
    pub resource: String,
    /// Requests served.
    pub count: u64,
}

/// Requests served, as one usage report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct UsageBatch {
    /// At most [`MAX_USAGE_ROWS`].
    pub rows: Vec<UsageRow>,
}

async fn post(
    client: &HttpClient,
    url: &http::Uri,
    headers: &[(&str, HeaderValue)],
    body: Vec<u8>,
) -> Result<StatusCode, String> {
    let mut request = http::Request::post(url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("flagedge-edge/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        request = request.header(*name, value.clone());
    }
    let request = request
        .body(http_body_util::Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(SEND_TIMEOUT, client.request(request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(response.status())
}

/// flagedge-sync's ingest, or the log.
pub enum BatchSink {
    /// One log line per batch.
    Log,
    /// `POST` to flagedge-sync.
    Http {
        /// The client.
        client: Box<HttpClient>,
        /// The ingest URL.
        url: http::Uri,
        /// `Authorization: Bearer` value.
        token: Option<String>,
    },
}

impl Sink<Batch> for BatchSink {
    async fn send(&self, _id: &str, batch: &mut Batch) -> Delivery {
        match self {
            BatchSink::Log => {
                tracing::info!(batch = %serde_json::to_string(batch).unwrap_or_default(), "analytics batch");
                Delivery::Done
            }
            BatchSink::Http { client, url, token } => {
                let mut headers = Vec::new();
                if let Some(token) = token
                    && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
                {
                    headers.push((http::header::AUTHORIZATION.as_str(), value));
                }
                let body = serde_json::to_vec(batch).unwrap_or_default();
                match post(client, url, &headers, body).await {
                    // The receiver answers 503 when its queue is full: every error is retried.
                    Ok(status) if status.is_success() => Delivery::Done,
                    Ok(status) => Delivery::Retry(format!("receiver answered {status}")),
                    Err(error) => Delivery::Retry(error),
                }
            }
        }
    }
}

/// Flagsmith's flag-analytics endpoint.
pub struct FlagsmithSink {
    /// The client.
    pub client: HttpClient,
    /// `{api_url}analytics/flags/`.
    pub url: http::Uri,
}

impl Sink<ReportedBatch> for FlagsmithSink {
    async fn send(&self, _id: &str, batch: &mut ReportedBatch) -> Delivery {
        let mut delivered_any = false;
        while let Some((environment, counts)) = batch.environments.first_key_value() {
            let Ok(key) = HeaderValue::from_str(environment) else {
                batch.environments.pop_first();
                continue;
            };
            let body = serde_json::to_vec(counts).unwrap_or_default();
            let outcome = post(&self.client, &self.url, &[("x-environment-key", key)], body).await;
            match outcome {
                Ok(status) if status.is_success() => {}
                Ok(status) if status.is_client_error() => {
                    tracing::error!(environment = %crate::config::redact(environment), %status, evaluations = counts.values().sum::<u64>(), "Flagsmith refused these SDK-reported counts: dropped");
                    metrics::counter!("flagedge_evaluations_dropped_total", "sink" => "flagsmith")
                        .increment(counts.values().sum::<u64>());
                }
                Ok(status) => {
                    return retry_or_partial(delivered_any, format!("Flagsmith answered {status}"));
                }
                Err(error) => return retry_or_partial(delivered_any, error),
            }
            batch.environments.pop_first();
            delivered_any = true;
        }
        Delivery::Done
    }
}

fn retry_or_partial(progressed: bool, reason: String) -> Delivery {
    if progressed {
        Delivery::Partial
    } else {
        Delivery::Retry(reason)
    }
}

/// Flagsmith's proxy usage endpoint.
pub struct UsageSink {
    /// The client.
    pub client: HttpClient,
    /// `{api_url}proxy/usage/`.
    pub url: http::Uri,
    /// `X-Proxy-Key`.
    pub proxy_key: HeaderValue,
}

impl Sink<UsageBatch> for UsageSink {
    async fn send(&self, id: &str, batch: &mut UsageBatch) -> Delivery {
        let Ok(idempotency_key) = HeaderValue::from_str(id) else {
            return Delivery::Refused("batch id is not a header value".into());
        };
        let headers = [
            ("x-proxy-key", self.proxy_key.clone()),
            ("idempotency-key", idempotency_key),
        ];
        let body = serde_json::to_vec(&batch.rows).unwrap_or_default();
        match post(&self.client, &self.url, &headers, body).await {
            Ok(status) if status.is_success() => Delivery::Done,
            Ok(status) if status.is_client_error() => {
                Delivery::Refused(format!("Flagsmith answered {status}"))
            }
            Ok(status) => Delivery::Retry(format!("Flagsmith answered {status}")),
            Err(error) => Delivery::Retry(error),
        }
    }
}
