//! Every option of the edge, declared once: flag, environment variable, help,
//! default (clap's derive), and the TOML name (serde). A leaf below the
//! resolution (`mod.rs`) and the edge-proxy translation.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use flagedge_options::{AwsArgs, LogArgs, PublishedArgs};
use serde::{Deserialize, Serialize};

use crate::keys::KeyPair;

/// Where documents come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The demo environments built into the binary (the default with no configuration).
    Demo,
    /// A directory of documents, reloaded when files change.
    File,
    /// A Flagsmith-compatible API polled for `/environment-document/` (Flagsmith, or flagedge-core).
    Http,
    /// Documents flagedge-sync published to S3 (`--s3-bucket`).
    S3,
    /// Documents flagedge-sync published to DynamoDB (`--dynamodb-table`).
    Dynamodb,
}

/// Where evaluation counts go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalyticsSinkKind {
    /// Counted, never shipped.
    None,
    /// Written to the log as one line per batch.
    Log,
    /// POSTed to `--analytics-url` (flagedge-sync's ingest endpoint): every count.
    Http,
    /// The evaluation counts SDKs reported, forwarded to the upstream Flagsmith's
    /// `{api_url}analytics/flags/` with each environment's client-side key.
    Flagsmith,
}

/// Where identities' traits are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityStoreKind {
    /// Nowhere: traits are used for the request that sends them (like Flagsmith's edge-proxy).
    None,
    /// In this process, bounded (for a single edge; lost on restart).
    Memory,
    /// In DynamoDB (`--identity-table`), shared by every edge, as Flagsmith's SaaS edge keeps them.
    Dynamodb,
}

/// Every option, as given on the command line, in the environment or in a file.
#[derive(Parser, Debug, Default, Clone, Serialize, Deserialize)]
#[command(
    name = "flagedge-edge",
    version,
    about = "Flagsmith-compatible edge: serves feature flags from memory"
)]
pub struct Options {
    /// TOML config file (or Flagsmith edge-proxy's config.json); also CONFIG_PATH.
    #[arg(long, env = "FLAGEDGE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address to listen on.
    #[arg(long, env = "FLAGEDGE_BIND", default_value = "127.0.0.1:8000")]
    pub bind: Option<SocketAddr>,

    /// Where documents come from [default: demo, or file/http when their options are given].
    #[arg(long, env = "FLAGEDGE_SOURCE", value_enum)]
    pub source: Option<SourceKind>,

    /// Directory of environment documents (`*.json`) and `server-keys.json`, for `--source file`.
    #[arg(long, env = "FLAGEDGE_DOCUMENTS_DIR")]
    pub documents_dir: Option<PathBuf>,

    /// How often the documents directory is checked for changes, in milliseconds.
    #[arg(long, env = "FLAGEDGE_FILE_POLL_MS", default_value = "1000")]
    pub file_poll_ms: Option<u64>,

    /// Upstream API base URL, e.g. https://edge.api.flagsmith.com/api/v1/, for `--source http`.
    #[arg(long, env = "FLAGEDGE_API_URL")]
    pub api_url: Option<String>,

    /// A server-side key and its environment's client-side key, `ser.xxx=yyy`; repeatable
    /// (in the environment variable: comma-separated).
    #[arg(
        long = "environment-key-pair",
        env = "FLAGEDGE_ENVIRONMENT_KEY_PAIRS",
        value_delimiter = ','
    )]
    pub environment_key_pairs: Option<Vec<KeyPair>>,

    /// A Flagsmith proxy key (`pk.…`): the environments to serve and their server-side keys
    /// come from `{api_url}proxy/config/`, refreshed every poll, and served requests are
    /// reported to `{api_url}proxy/usage/`.
    #[arg(long, env = "FLAGEDGE_PROXY_KEY", hide_env_values = true)]
    pub proxy_key: Option<String>,

    /// Seconds between polls of the upstream API.
    #[arg(long, env = "FLAGEDGE_POLL_INTERVAL_SECS", default_value = "10")]
    pub poll_interval_secs: Option<f64>,

    /// Follow a change feed so a change is fetched at once, the poll staying as the safety net:
    /// flagedge-core's `{api_url}edge/changes` for `--source http` (an upstream without one,
    /// such as Flagsmith's API, is only polled), flagedge-sync's `--push-url` for s3/dynamodb.
    #[arg(long, env = "FLAGEDGE_PUSH", default_value = "true", action = clap::ArgAction::Set)]
    pub push: Option<bool>,

    /// flagedge-sync's change stream, e.g. http://sync:8090/api/v1/changes, for `--source s3`
    /// or `dynamodb` (without it, those sources only poll).
    #[arg(long, env = "FLAGEDGE_PUSH_URL")]
    pub push_url: Option<String>,

    /// Bearer token for `--push-url` (sync's `--ingest-token`) [default: --analytics-token].
    #[arg(long, env = "FLAGEDGE_PUSH_TOKEN", hide_env_values = true)]
    pub push_token: Option<String>,

    /// Timeout of one upstream request, in seconds.
    #[arg(long, env = "FLAGEDGE_POLL_TIMEOUT_SECS", default_value = "5")]
    pub poll_timeout_secs: Option<f64>,

    /// Longest wait between polls after repeated upstream errors, in seconds.
    #[arg(long, env = "FLAGEDGE_POLL_BACKOFF_MAX_SECS", default_value = "60")]
    pub poll_backoff_max_secs: Option<f64>,

    /// Directory where the last good documents are kept, to serve at once after a restart.
    #[arg(long, env = "FLAGEDGE_PERSIST_DIR")]
    pub persist_dir: Option<PathBuf>,

    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "FLAGEDGE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "FLAGEDGE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// CORS origins allowed to call the API, or `*`.
    #[arg(
        long,
        env = "FLAGEDGE_ALLOW_ORIGINS",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub allow_origins: Option<Vec<String>>,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "FLAGEDGE_MAX_BODY_BYTES", default_value = "65536")]
    pub max_body_bytes: Option<usize>,

    /// Largest request head (request line and headers) accepted, in bytes.
    #[arg(long, env = "FLAGEDGE_MAX_HEADER_BYTES", default_value = "16384")]
    pub max_header_bytes: Option<usize>,

    /// Time allowed to receive a request body, in seconds.
    #[arg(long, env = "FLAGEDGE_REQUEST_TIMEOUT_SECS", default_value = "10")]
    pub request_timeout_secs: Option<f64>,

    /// Close a connection that starts no request for this many seconds (idle keep-alive,
    /// or a request head that never finishes arriving).
    #[arg(long, env = "FLAGEDGE_IDLE_TIMEOUT_SECS", default_value = "30")]
    pub idle_timeout_secs: Option<f64>,

    /// Requests per second allowed per environment (its client and server keys together);
    /// past it, 429 with `Retry-After`. Off when unset. Reloadable.
    #[arg(long, env = "FLAGEDGE_RATE_LIMIT")]
    pub rate_limit: Option<f64>,

    /// Requests a quiet environment may send at once under --rate-limit [default: one second's worth].
    #[arg(long, env = "FLAGEDGE_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,

    /// A rate for one environment, `CLIENT_KEY=RATE[/BURST]`, or `CLIENT_KEY=off`; repeatable
    /// (in the environment variable: comma-separated). Reloadable.
    #[arg(
        long = "rate-limit-for",
        env = "FLAGEDGE_RATE_LIMIT_FOR",
        value_delimiter = ','
    )]
    pub rate_limit_for: Option<Vec<String>>,

    /// Most connections open at once; past it, new connections wait in the listen backlog
    /// (counted in `flagedge_connections_limited_total`) until one closes.
    #[arg(long, env = "FLAGEDGE_MAX_CONNECTIONS", default_value = "10000")]
    pub max_connections: Option<usize>,

    /// Memory for cached identity responses, in bytes (about 2.4 KB each for 200 features,
    /// plus their gzip when asked for); 0 disables the cache.
    #[arg(
        long,
        env = "FLAGEDGE_IDENTITY_CACHE_BYTES",
        default_value = "16777216"
    )]
    pub identity_cache_bytes: Option<u64>,

    /// Memory for plain copies of gzipped `/flags/` bodies, kept for clients that do not
    /// accept gzip, in bytes; past it, such a read decompresses afresh.
    #[arg(long, env = "FLAGEDGE_PLAIN_COPIES_BYTES", default_value = "16777216")]
    pub plain_copies_bytes: Option<usize>,

    /// /ready fails when a document has not been confirmed by its source for this many
    /// seconds [default: for http, the poll interval + 30 s per environment; otherwise none].
    #[arg(long, env = "FLAGEDGE_MAX_DOCUMENT_AGE_SECS")]
    pub max_document_age_secs: Option<f64>,

    /// Seconds between heartbeats on realtime (SSE) streams.
    #[arg(long, env = "FLAGEDGE_SSE_HEARTBEAT_SECS", default_value = "15")]
    pub sse_heartbeat_secs: Option<f64>,

    /// Most realtime streams open at once per environment.
    #[arg(
        long,
        env = "FLAGEDGE_SSE_MAX_STREAMS_PER_ENVIRONMENT",
        default_value = "10000"
    )]
    pub sse_max_streams_per_environment: Option<usize>,

    /// Events buffered per realtime stream before further ones are dropped.
    #[arg(long, env = "FLAGEDGE_SSE_BUFFER", default_value = "8")]
    pub sse_buffer: Option<usize>,

    /// Published documents, for `--source s3` or `dynamodb`.
    #[command(flatten)]
    #[serde(flatten)]
    pub published: PublishedArgs,

    /// DynamoDB table of identities, for `--identity-store dynamodb`.
    #[arg(
        long,
        env = "FLAGEDGE_IDENTITY_TABLE",
        default_value = "flagedge_identities"
    )]
    pub identity_table: Option<String>,

    /// Where identities' traits are kept between requests.
    #[arg(
        long,
        env = "FLAGEDGE_IDENTITY_STORE",
        value_enum,
        default_value = "none"
    )]
    pub identity_store: Option<IdentityStoreKind>,

    /// Most identities the memory store keeps.
    #[arg(
        long,
        env = "FLAGEDGE_IDENTITY_STORE_CAPACITY",
        default_value = "100000"
    )]
    pub identity_store_capacity: Option<u64>,

    /// Where evaluation counts go; several may be given (`http,flagsmith`) [default: http when
    /// --analytics-url is set; else flagsmith when the source is a Flagsmith API (`--source http`);
    /// else none].
    #[arg(
        long,
        env = "FLAGEDGE_ANALYTICS_SINK",
        value_enum,
        value_delimiter = ','
    )]
    pub analytics_sink: Option<Vec<AnalyticsSinkKind>>,

    /// flagedge-sync's ingest URL, e.g. http://sync:8090/api/v1/analytics/batch.
    #[arg(long, env = "FLAGEDGE_ANALYTICS_URL")]
    pub analytics_url: Option<String>,

    /// Bearer token for the analytics ingest endpoint.
    #[arg(long, env = "FLAGEDGE_ANALYTICS_TOKEN")]
    pub analytics_token: Option<String>,

    /// Seconds between analytics batches.
    #[arg(long, env = "FLAGEDGE_ANALYTICS_INTERVAL_SECS", default_value = "10")]
    pub analytics_interval_secs: Option<f64>,

    /// Batches kept for retry while the sink is down; older ones are dropped and counted.
    #[arg(long, env = "FLAGEDGE_ANALYTICS_MAX_PENDING", default_value = "360")]
    pub analytics_max_pending: Option<usize>,

    /// Most bytes of undelivered analytics batches kept in `--persist-dir` per sink, to be sent
    /// after a restart; the oldest are dropped (and counted) past it.
    #[arg(
        long,
        env = "FLAGEDGE_ANALYTICS_SPOOL_BYTES",
        default_value = "67108864"
    )]
    pub analytics_spool_bytes: Option<u64>,

    /// This edge's name in analytics batches [default: hostname and process id].
    #[arg(long, env = "FLAGEDGE_EDGE_ID")]
    pub edge_id: Option<String>,

    /// This edge's region or label, reported with its batches for the console's fleet view.
    #[arg(long, env = "FLAGEDGE_EDGE_REGION")]
    pub edge_region: Option<String>,

    /// Seconds to finish in-flight requests after SIGTERM.
    #[arg(long, env = "FLAGEDGE_SHUTDOWN_GRACE_SECS", default_value = "30")]
    pub shutdown_grace_secs: Option<f64>,

    /// AWS settings.
    #[command(flatten)]
    #[serde(flatten)]
    pub aws: AwsArgs,

    /// Logging.
    #[command(flatten)]
    #[serde(flatten)]
    pub logging: LogArgs,
}
