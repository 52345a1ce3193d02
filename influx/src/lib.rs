//! # flagedge-influx
//!
//! The analytics store in InfluxDB, in Flagsmith's own shape ([`schema`]):
//! flagedge-sync writes edges' counts and fleet reports, flagedge-core writes
//! the counts it receives itself and reads all of it back for the analytics
//! API, the fleet and the console.
//!
//! Spoken through the v1 HTTP API — `/write` (line protocol, [`line`]) and
//! `/query` (InfluxQL, [`influxql`]) — which InfluxDB 1.x serves and 2.x's
//! compatibility layer maps onto buckets. Flagsmith's buckets are a database's
//! retention policies here: raw points in `default`, sums in
//! `default_downsampled_15m` and `default_downsampled_1h` ([`downsampling`]
//! creates them on 1.x, fed by continuous queries; on 2.x map them with DBRP
//! mappings). Reads ([`read`]) use a downsampled one when it exists.
//!
//! Depends on no flagedge crate.

pub mod downsampling;
pub mod influxql;
pub mod line;
pub mod read;
pub mod schema;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

pub use line::Point;
pub use schema::{Counted, EnvironmentTags};

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 32 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    /// Transport trouble or a timeout.
    #[error("InfluxDB unreachable: {0}")]
    Transport(String),
    /// An error status, with InfluxDB's message.
    #[error("InfluxDB answered {0}: {1}")]
    Status(StatusCode, String),
    /// A statement failed.
    #[error("InfluxDB query failed: {0}")]
    Query(String),
    /// An answer that is not what InfluxDB sends.
    #[error("unexpected answer from InfluxDB: {0}")]
    Answer(String),
}

/// Where the store is.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// The database (1.x), or the database name the 2.x DBRP mappings use.
    pub database: String,
    /// Flagsmith's bucket for raw points (a retention policy here), `default`.
    pub bucket: String,
    /// A 2.x token, sent as `Authorization: Token …`.
    pub token: Option<String>,
}

/// A client (cheap to clone).
#[derive(Clone)]
pub struct Influx {
    client: Client<HttpConnector, Full<Bytes>>,
    settings: std::sync::Arc<Settings>,
}

impl std::fmt::Debug for Influx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        write!(
            f,
            "Influx({} db={} bucket={})",
            self.settings.url, self.settings.database, self.settings.bucket
        )
    }
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

impl Influx {
    /// A client for `settings` (nothing is contacted yet).
    pub fn new(settings: Settings) -> Influx {
        Influx {
            client: Client::builder(TokioExecutor::new()).build_http(),
            settings: std::sync::Arc::new(Settings {
                url: settings.url.trim_end_matches('/').to_string(),
                ..settings
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `"db"."rp"."measurement"`.
    fn target(&self, retention_policy: &str, measurement: &str) -> String {
        format!(
            "{}.{}.{}",
            influxql::ident(&self.settings.database),
            influxql::ident(retention_policy),
            influxql::ident(measurement)
        )
    }

    async fn call(
        &self,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<Bytes, InfluxError> {
        let mut request = request;
        if let Some(token) = &self.settings.token {
            request = request.header(header::AUTHORIZATION, format!("Token {token}"));
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| InfluxError::Transport(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| InfluxError::Transport(e.to_string()))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| InfluxError::Transport(e.to_string()))?
                .to_bytes();
            if status.is_success() {
                Ok(body)
            } else {
                Err(InfluxError::Status(
                    status,
                    String::from_utf8_lossy(&body).chars().take(300).collect(),
                ))
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| InfluxError::Transport("timed out".into()))?
    }

    /// Writes points into the raw bucket.
    pub async fn write(&self, points: &[Point]) -> Result<(), InfluxError> {
        if points.is_empty() {
            return Ok(());
        }
        let url = format!(
            "{}/write?db={}&rp={}&precision=ns",
            self.settings.url,
            encode(&self.settings.database),
            encode(&self.settings.bucket)
        );
        self.call(
            Request::post(url).header(header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            Bytes::from(line::body(points)),
        )
        .await
        .map(drop)
    }

    /// Runs InfluxQL statements (`;`-separated); times come back in seconds.
    pub async fn query(&self, statements: &str) -> Result<Vec<Vec<influxql::Series>>, InfluxError> {
        let url = format!(
            "{}/query?db={}&epoch=s",
            self.settings.url,
            encode(&self.settings.database)
        );
        let body = self
            .call(
                Request::post(url)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
                Bytes::from(format!("q={}", encode(statements))),
            )
            .await?;
        influxql::parse(&body)
    }

    /// Whether InfluxDB answers its ping.
    pub async fn ping(&self) -> bool {
        let url = format!("{}/ping", self.settings.url);
        self.call(Request::get(url), Bytes::new()).await.is_ok()
    }

    /// The database's retention policies (Flagsmith's buckets).
    pub async fn retention_policies(&self) -> Result<Vec<String>, InfluxError> {
        let answer = self
            .query(&format!(
                "SHOW RETENTION POLICIES ON {}",
                influxql::ident(&self.settings.database)
            ))
            .await?;
        Ok(answer
            .iter()
            .flatten()
            .flat_map(|s| s.texts("name"))
            .collect())
    }
}
