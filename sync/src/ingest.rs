//! sync's HTTP API: `POST /api/v1/analytics/batch` (edges' counts, bearer-token
//! authenticated, compared in constant time), `GET /api/v1/changes` (the change
//! stream of what was published, [`crate::stream`]; the same token), `/health`,
//! `/ready`, `/metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use subtle::ConstantTimeEq;

use crate::aggregate::{Accepted, Aggregator, Batch, Refused};
use crate::stream::{Ask, Streams};

/// The longest a change-stream request waits, and its default.
const STREAM_TIMEOUT_MAX: u64 = 60;
const STREAM_TIMEOUT_DEFAULT: u64 = 30;

/// Whether the store is reachable (for `/ready`).
pub type Ready = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync,
>;

/// What the API needs.
pub struct Api {
    /// Counting.
    pub aggregator: Option<Arc<Aggregator>>,
    /// The bearer token edges present.
    pub token: Option<String>,
    /// Largest batch.
    pub max_batch_bytes: usize,
    /// Prometheus output.
    pub prometheus: metrics_exporter_prometheus::PrometheusHandle,
    /// Whether the store is reachable.
    pub ready: Ready,
    /// What was published to each store, when this sync publishes documents.
    pub changes: Option<Arc<Streams>>,
    /// Turns true when sync stops (ends waiting change-stream requests).
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

fn detail(status: StatusCode, text: impl Into<String>) -> Response<Full<Bytes>> {
    json(status, serde_json::json!({ "detail": text.into() }))
}

fn authorised(api: &Api, request: &Request<Incoming>) -> bool {
    let Some(expected) = &api.token else {
        return false;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

async fn ingest(api: &Api, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(aggregator) = &api.aggregator else {
        return detail(
            StatusCode::NOT_FOUND,
            "ingest is not enabled on this sync (no --ingest-token)",
        );
    };
    if !authorised(api, &request) {
        return detail(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
    }
    let body = match tokio::time::timeout(
        Duration::from_secs(30),
        Limited::new(request.into_body(), api.max_batch_bytes).collect(),
    )
    .await
    {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("batches are limited to {} bytes", api.max_batch_bytes),
            );
        }
        Ok(Err(error)) => {
            return detail(
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {error}"),
            );
        }
        Err(_) => return detail(StatusCode::REQUEST_TIMEOUT, "the body took too long"),
    };
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => return detail(StatusCode::BAD_REQUEST, format!("invalid batch: {error}")),
    };
    match aggregator.ingest(batch).await {
        Ok(Accepted::Counted) => json(
            StatusCode::ACCEPTED,
            serde_json::json!({"status": "counted"}),
        ),
        Ok(Accepted::Duplicate) => json(StatusCode::OK, serde_json::json!({"status": "duplicate"})),
        Err(refused @ (Refused::Busy | Refused::Closing)) => {
            let mut response = detail(StatusCode::SERVICE_UNAVAILABLE, refused.to_string());
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("5"));
            response
        }
        Err(Refused::Invalid(message)) => detail(StatusCode::BAD_REQUEST, message),
        Err(error @ Refused::Unavailable(_)) => {
            detail(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }
    }
}

/// `store`, `since`, `epoch` and `timeout` from the query (names, numbers and a
/// hex epoch: nothing to decode).
fn parse_ask(query: Option<&str>) -> Result<Ask, String> {
    let mut ask = Ask {
        timeout: Duration::from_secs(STREAM_TIMEOUT_DEFAULT),
        ..Ask::default()
    };
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{name} must be a non-negative integer"))
        };
        match name {
            "since" => ask.since = number()?,
            "timeout" => ask.timeout = Duration::from_secs(number()?.min(STREAM_TIMEOUT_MAX)),
            "epoch" => ask.epoch = Some(value.to_string()),
            "store" => ask.store = value.to_string(),
            _ => {}
        }
    }
    Ok(ask)
}

async fn changes(api: &Api, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(streams) = &api.changes else {
        return detail(
            StatusCode::NOT_FOUND,
            "this sync publishes no documents (no --s3-bucket or --dynamodb-table)",
        );
    };
    if !authorised(api, &request) {
        return detail(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
    }
    let ask = match parse_ask(request.uri().query()) {
        Ok(ask) => ask,
        Err(message) => return detail(StatusCode::BAD_REQUEST, message),
    };
    metrics::gauge!("flagedge_sync_stream_waiting").increment(1.0);
    let Some(log) = streams.get(&ask.store) else {
        return detail(
            StatusCode::BAD_REQUEST,
            format!(
                "store must name a store this sync publishes to: {}",
                streams.names().join(", ")
            ),
        );
    };
    let listing = log.wait(&ask, api.stopping.clone()).await;
    metrics::gauge!("flagedge_sync_stream_waiting").decrement(1.0);
    json(
        StatusCode::OK,
        serde_json::to_value(listing).unwrap_or_default(),
    )
}

async fn handle(api: Arc<Api>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().trim_end_matches('/').to_string();
    match (request.method().clone(), path.as_str()) {
        (Method::POST, "/api/v1/analytics/batch") => ingest(&api, request).await,
        (Method::GET, "/api/v1/changes") => changes(&api, request).await,
        (Method::GET, "/health") => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        (Method::GET, "/ready") => {
            if (api.ready)().await {
                json(StatusCode::OK, serde_json::json!({"status": "ready"}))
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"status": "not ready"}),
                )
            }
        }
        (Method::GET, "/metrics") => Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(api.prometheus.render())))
            .unwrap_or_default(),
        (_, "/api/v1/analytics/batch" | "/api/v1/changes" | "/health" | "/ready" | "/metrics") => {
            detail(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

/// Serves until `stop`, then finishes in-flight requests within `grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Arc<Api>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            _ = stop.changed() => break,
        };
        let api = Arc::clone(&api);
        let service = service_fn(move |request| {
            let api = Arc::clone(&api);
            async move { Ok::<_, Infallible>(handle(api, request).await) }
        });
        let connection = graceful.watch(
            builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned(),
        );
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}
