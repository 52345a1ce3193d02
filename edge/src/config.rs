//! Configuration: command-line flags, `FLAGEDGE_*` environment variables, a TOML
//! file (`--config`), or Flagsmith edge-proxy's `config.json` — in that order of
//! precedence. `flagedge-edge --help` is the reference for every option.
//!
//! Everything is parsed into [`Options`] (all optional), merged, then resolved
//! into a [`Config`] with defaults. The config file is re-read on SIGHUP and when
//! it changes; [`Config::reloadable`] says which parts take effect without a
//! restart (keys, CORS origins, staleness bound).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Deserialize;

/// Where documents come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityStoreKind {
    /// Nowhere: traits are used for the request that sends them (like Flagsmith's edge-proxy).
    None,
    /// In this process, bounded (for a single edge; lost on restart).
    Memory,
    /// In DynamoDB (`--identity-table`), shared by every edge, as Flagsmith's SaaS edge keeps them.
    Dynamodb,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A server-side key and the client-side key of the environment it opens.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct KeyPair {
    /// The `ser.` key.
    pub server_side_key: String,
    /// The environment's client-side key.
    pub client_side_key: String,
}

impl std::str::FromStr for KeyPair {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (server, client) = text
            .split_once('=')
            .ok_or_else(|| format!("expected SERVER_KEY=CLIENT_KEY, got {text:?}"))?;
        let pair = KeyPair {
            server_side_key: server.trim().into(),
            client_side_key: client.trim().into(),
        };
        pair.validate()?;
        Ok(pair)
    }
}

impl KeyPair {
    fn validate(&self) -> Result<(), String> {
        if !self.server_side_key.starts_with("ser.") || self.server_side_key.len() <= 4 {
            return Err(format!(
                "server-side key must start with \"ser.\": {:?}",
                redact(&self.server_side_key)
            ));
        }
        if self.client_side_key.is_empty() {
            return Err("client-side key is empty".into());
        }
        Ok(())
    }
}

/// Shows only the start of a key, for logs and errors.
pub fn redact(key: &str) -> String {
    let visible: String = key.chars().take(6).collect();
    format!("{visible}…")
}

/// Every option, as given on the command line, in the environment or in a file.
#[derive(Parser, Debug, Default, Clone, Deserialize)]
#[command(
    name = "flagedge-edge",
    version,
    about = "Flagsmith-compatible edge: serves feature flags from memory"
)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// TOML config file (or Flagsmith edge-proxy's config.json); also CONFIG_PATH.
    #[arg(long, env = "FLAGEDGE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long, env = "FLAGEDGE_BIND")]
    pub bind: Option<SocketAddr>,

    /// Where documents come from [default: demo, or file/http when their options are given].
    #[arg(long, env = "FLAGEDGE_SOURCE", value_enum)]
    pub source: Option<SourceKind>,

    /// Directory of environment documents (`*.json`) and `server-keys.json`, for `--source file`.
    #[arg(long, env = "FLAGEDGE_DOCUMENTS_DIR")]
    pub documents_dir: Option<PathBuf>,

    /// How often the documents directory is checked for changes, in milliseconds [default: 1000].
    #[arg(long, env = "FLAGEDGE_FILE_POLL_MS")]
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

    /// Seconds between polls of the upstream API [default: 10].
    #[arg(long, env = "FLAGEDGE_POLL_INTERVAL_SECS")]
    pub poll_interval_secs: Option<f64>,

    /// Timeout of one upstream request, in seconds [default: 5].
    #[arg(long, env = "FLAGEDGE_POLL_TIMEOUT_SECS")]
    pub poll_timeout_secs: Option<f64>,

    /// Longest wait between polls after repeated upstream errors, in seconds [default: 60].
    #[arg(long, env = "FLAGEDGE_POLL_BACKOFF_MAX_SECS")]
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

    /// CORS origins allowed to call the API, or `*` [default: *].
    #[arg(long, env = "FLAGEDGE_ALLOW_ORIGINS", value_delimiter = ',')]
    pub allow_origins: Option<Vec<String>>,

    /// Largest request body accepted, in bytes [default: 65536].
    #[arg(long, env = "FLAGEDGE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Largest request head (request line and headers) accepted, in bytes [default: 16384].
    #[arg(long, env = "FLAGEDGE_MAX_HEADER_BYTES")]
    pub max_header_bytes: Option<usize>,

    /// Time allowed to receive a request body, in seconds [default: 10].
    #[arg(long, env = "FLAGEDGE_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<f64>,

    /// Close a connection that starts no request for this many seconds (idle keep-alive,
    /// or a request head that never finishes arriving) [default: 30].
    #[arg(long, env = "FLAGEDGE_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<f64>,

    /// Memory for cached identity responses, in bytes; 0 disables the cache [default: 67108864].
    #[arg(long, env = "FLAGEDGE_IDENTITY_CACHE_BYTES")]
    pub identity_cache_bytes: Option<u64>,

    /// /ready fails when a document has not been confirmed by its source for this many
    /// seconds [default: for http, the poll interval + 30 s per environment; otherwise none].
    #[arg(long, env = "FLAGEDGE_MAX_DOCUMENT_AGE_SECS")]
    pub max_document_age_secs: Option<f64>,

    /// Seconds between heartbeats on realtime (SSE) streams [default: 15].
    #[arg(long, env = "FLAGEDGE_SSE_HEARTBEAT_SECS")]
    pub sse_heartbeat_secs: Option<f64>,

    /// Most realtime streams open at once per environment [default: 10000].
    #[arg(long, env = "FLAGEDGE_SSE_MAX_STREAMS_PER_ENVIRONMENT")]
    pub sse_max_streams_per_environment: Option<usize>,

    /// Events buffered per realtime stream before further ones are dropped [default: 8].
    #[arg(long, env = "FLAGEDGE_SSE_BUFFER")]
    pub sse_buffer: Option<usize>,

    /// S3 bucket with published documents, for `--source s3`.
    #[arg(long, env = "FLAGEDGE_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Key prefix in the bucket [default: flagedge].
    #[arg(long, env = "FLAGEDGE_S3_PREFIX")]
    pub s3_prefix: Option<String>,

    /// DynamoDB table with published documents, for `--source dynamodb`.
    #[arg(long, env = "FLAGEDGE_DYNAMODB_TABLE")]
    pub dynamodb_table: Option<String>,

    /// DynamoDB table of identities, for `--identity-store dynamodb` [default: flagedge_identities].
    #[arg(long, env = "FLAGEDGE_IDENTITY_TABLE")]
    pub identity_table: Option<String>,

    /// AWS region [default: AWS_REGION, else us-east-1].
    #[arg(long, env = "FLAGEDGE_AWS_REGION")]
    pub aws_region: Option<String>,

    /// AWS endpoint override (an S3/DynamoDB-compatible server such as moto).
    #[arg(long, env = "FLAGEDGE_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,

    /// Where identities' traits are kept between requests [default: none].
    #[arg(long, env = "FLAGEDGE_IDENTITY_STORE", value_enum)]
    pub identity_store: Option<IdentityStoreKind>,

    /// Most identities the memory store keeps [default: 100000].
    #[arg(long, env = "FLAGEDGE_IDENTITY_STORE_CAPACITY")]
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

    /// Seconds between analytics batches [default: 10].
    #[arg(long, env = "FLAGEDGE_ANALYTICS_INTERVAL_SECS")]
    pub analytics_interval_secs: Option<f64>,

    /// Batches kept for retry while the sink is down; older ones are dropped and counted [default: 360].
    #[arg(long, env = "FLAGEDGE_ANALYTICS_MAX_PENDING")]
    pub analytics_max_pending: Option<usize>,

    /// Most bytes of undelivered analytics batches kept in `--persist-dir` per sink, to be sent
    /// after a restart; the oldest are dropped (and counted) past it [default: 67108864].
    #[arg(long, env = "FLAGEDGE_ANALYTICS_SPOOL_BYTES")]
    pub analytics_spool_bytes: Option<u64>,

    /// This edge's name in analytics batches [default: hostname and process id].
    #[arg(long, env = "FLAGEDGE_EDGE_ID")]
    pub edge_id: Option<String>,

    /// Log format [default: text].
    #[arg(long, env = "FLAGEDGE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Log filter, e.g. `info` or `flagedge_edge=debug` [default: info].
    #[arg(long, env = "FLAGEDGE_LOG")]
    pub log: Option<String>,

    /// Seconds to finish in-flight requests after SIGTERM [default: 30].
    #[arg(long, env = "FLAGEDGE_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<f64>,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Config file in use, if any (watched for changes).
    pub config_file: Option<PathBuf>,
    /// Listen address.
    pub bind: SocketAddr,
    /// Document source.
    pub source: SourceKind,
    /// `--source file`: the directory.
    pub documents_dir: Option<PathBuf>,
    /// `--source file`: change-check interval.
    pub file_poll: Duration,
    /// `--source http`: upstream base URL, ending in `/`.
    pub api_url: Option<String>,
    /// Server-side keys and their environments.
    pub environment_key_pairs: Vec<KeyPair>,
    /// `--source http`: a Flagsmith proxy key.
    pub proxy_key: Option<String>,
    /// `--source http`: poll interval.
    pub poll_interval: Duration,
    /// `--source http`: request timeout.
    pub poll_timeout: Duration,
    /// `--source http`: longest backoff.
    pub poll_backoff_max: Duration,
    /// Last-good document directory.
    pub persist_dir: Option<PathBuf>,
    /// TLS certificate and key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// CORS origins; `*` allows any.
    pub allow_origins: Vec<String>,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// Request head limit.
    pub max_header_bytes: usize,
    /// Time limit to receive a request body.
    pub request_timeout: Duration,
    /// Idle connection limit.
    pub idle_timeout: Duration,
    /// Identity cache budget (0: off).
    pub identity_cache_bytes: u64,
    /// Readiness staleness bound.
    pub max_document_age: Option<Duration>,
    /// Realtime heartbeat interval.
    pub sse_heartbeat: Duration,
    /// Realtime stream limit per environment.
    pub sse_max_streams_per_environment: usize,
    /// Realtime per-stream buffer.
    pub sse_buffer: usize,
    /// `--source s3`: bucket and prefix.
    pub s3: Option<(String, String)>,
    /// `--source dynamodb`: the documents table.
    pub dynamodb_table: Option<String>,
    /// The identities table.
    pub identity_table: String,
    /// AWS settings.
    pub aws: flagedge_cloud::aws::AwsOptions,
    /// Identity store.
    pub identity_store: IdentityStoreKind,
    /// Memory store capacity.
    pub identity_store_capacity: u64,
    /// Analytics sinks (each at most once).
    pub analytics_sinks: Vec<AnalyticsSinkKind>,
    /// Analytics URL.
    pub analytics_url: Option<String>,
    /// Analytics token.
    pub analytics_token: Option<String>,
    /// Analytics batch interval.
    pub analytics_interval: Duration,
    /// Analytics retry buffer.
    pub analytics_max_pending: usize,
    /// Analytics spool bound per sink, in bytes.
    pub analytics_spool_bytes: u64,
    /// Edge name.
    pub edge_id: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log: String,
    /// Shutdown grace period.
    pub shutdown_grace: Duration,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A value is out of range or options conflict.
    #[error("{0}")]
    Invalid(String),
}

fn seconds(value: f64, name: &str) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        ConfigError::Invalid(format!("{name} must be a non-negative number of seconds"))
    })
}

impl Options {
    /// Fills every unset option from `other`.
    fn or(self, other: Options) -> Options {
        macro_rules! merge {
            ($($field:ident),* $(,)?) => { Options { config: self.config.or(other.config), $($field: self.$field.or(other.$field)),* } };
        }
        merge!(
            bind,
            source,
            documents_dir,
            file_poll_ms,
            api_url,
            environment_key_pairs,
            proxy_key,
            poll_interval_secs,
            poll_timeout_secs,
            poll_backoff_max_secs,
            persist_dir,
            tls_cert,
            tls_key,
            allow_origins,
            max_body_bytes,
            max_header_bytes,
            request_timeout_secs,
            idle_timeout_secs,
            identity_cache_bytes,
            max_document_age_secs,
            sse_heartbeat_secs,
            sse_max_streams_per_environment,
            sse_buffer,
            s3_bucket,
            s3_prefix,
            dynamodb_table,
            identity_table,
            aws_region,
            aws_endpoint_url,
            identity_store,
            identity_store_capacity,
            analytics_sink,
            analytics_url,
            analytics_token,
            analytics_interval_secs,
            analytics_max_pending,
            analytics_spool_bytes,
            edge_id,
            log_format,
            log,
            shutdown_grace_secs,
        )
    }
}

/// Reads a config file: TOML with the same names as the flags (snake_case), or,
/// for a `.json` file, Flagsmith edge-proxy's `config.json`.
pub fn read_file(path: &Path) -> Result<Options, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    let parse_error = |message: String| ConfigError::Parse {
        path: path.into(),
        message,
    };
    if path.extension().is_some_and(|e| e == "json") {
        let proxy: EdgeProxyConfig =
            serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
        proxy.into_options().map_err(parse_error)
    } else {
        let mut options: Options = toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
        // Relative paths in a file are relative to the file.
        let base = path.parent().unwrap_or(Path::new("."));
        for dir in [
            &mut options.documents_dir,
            &mut options.persist_dir,
            &mut options.tls_cert,
            &mut options.tls_key,
        ] {
            if let Some(d) = dir.as_mut().filter(|d| d.is_relative()) {
                *d = base.join(&*d);
            }
        }
        Ok(options)
    }
}

impl Config {
    /// Resolves command-line/environment options, reading the config file they name.
    pub fn load(cli: Options) -> Result<Config, ConfigError> {
        let file = cli
            .config
            .clone()
            .or_else(|| std::env::var_os("CONFIG_PATH").map(PathBuf::from));
        let from_file = match &file {
            Some(path) => read_file(path)?,
            None => Options::default(),
        };
        let mut config = Config::resolve(cli.or(from_file))?;
        config.config_file = file;
        Ok(config)
    }

    /// Applies defaults and checks consistency.
    pub fn resolve(o: Options) -> Result<Config, ConfigError> {
        let source = o.source.unwrap_or(if o.api_url.is_some() {
            SourceKind::Http
        } else if o.documents_dir.is_some() {
            SourceKind::File
        } else if o.s3_bucket.is_some() {
            SourceKind::S3
        } else if o.dynamodb_table.is_some() {
            SourceKind::Dynamodb
        } else {
            SourceKind::Demo
        });
        let pairs = o.environment_key_pairs.unwrap_or_default();
        for pair in &pairs {
            pair.validate().map_err(ConfigError::Invalid)?;
        }
        match source {
            SourceKind::File if o.documents_dir.is_none() => {
                return Err(ConfigError::Invalid(
                    "--source file needs --documents-dir".into(),
                ));
            }
            SourceKind::S3 if o.s3_bucket.is_none() => {
                return Err(ConfigError::Invalid("--source s3 needs --s3-bucket".into()));
            }
            SourceKind::Dynamodb if o.dynamodb_table.is_none() => {
                return Err(ConfigError::Invalid(
                    "--source dynamodb needs --dynamodb-table".into(),
                ));
            }
            SourceKind::Http
                if o.api_url.is_none() || (pairs.is_empty() && o.proxy_key.is_none()) =>
            {
                return Err(ConfigError::Invalid(
                    "--source http needs --api-url and at least one --environment-key-pair or a --proxy-key".into(),
                ));
            }
            _ => {}
        }
        let poll_interval = seconds(o.poll_interval_secs.unwrap_or(10.0), "poll interval")?;
        let max_document_age = match (o.max_document_age_secs, source) {
            (Some(age), _) => Some(seconds(age, "max document age")?),
            (None, SourceKind::Http) => {
                Some(poll_interval + Duration::from_secs(30 * pairs.len().max(1) as u64))
            }
            (None, _) => None,
        };
        let tls = match (o.tls_cert, o.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "--tls-cert and --tls-key go together".into(),
                ));
            }
        };
        if o.proxy_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return Err(ConfigError::Invalid("--proxy-key is empty".into()));
        }
        let mut analytics_sinks = o.analytics_sink.unwrap_or_else(|| {
            if o.analytics_url.is_some() {
                vec![AnalyticsSinkKind::Http]
            } else if source == SourceKind::Http {
                vec![AnalyticsSinkKind::Flagsmith]
            } else {
                vec![]
            }
        });
        analytics_sinks.retain(|sink| *sink != AnalyticsSinkKind::None);
        analytics_sinks.sort_by_key(|sink| *sink as u8);
        analytics_sinks.dedup();
        if analytics_sinks.contains(&AnalyticsSinkKind::Http) && o.analytics_url.is_none() {
            return Err(ConfigError::Invalid(
                "--analytics-sink http needs --analytics-url".into(),
            ));
        }
        if analytics_sinks.contains(&AnalyticsSinkKind::Flagsmith) && source != SourceKind::Http {
            return Err(ConfigError::Invalid(
                "--analytics-sink flagsmith needs --source http (it forwards to the upstream API)"
                    .into(),
            ));
        }
        Ok(Config {
            config_file: None,
            bind: o
                .bind
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000))),
            source,
            documents_dir: o.documents_dir,
            file_poll: Duration::from_millis(o.file_poll_ms.unwrap_or(1000).max(10)),
            api_url: o.api_url.map(|url| {
                if url.ends_with('/') {
                    url
                } else {
                    format!("{url}/")
                }
            }),
            environment_key_pairs: pairs,
            proxy_key: o.proxy_key.map(|k| k.trim().to_string()),
            poll_interval,
            poll_timeout: seconds(o.poll_timeout_secs.unwrap_or(5.0), "poll timeout")?,
            poll_backoff_max: seconds(o.poll_backoff_max_secs.unwrap_or(60.0), "poll backoff")?,
            persist_dir: o.persist_dir,
            tls,
            allow_origins: o.allow_origins.unwrap_or_else(|| vec!["*".into()]),
            max_body_bytes: o.max_body_bytes.unwrap_or(64 * 1024),
            max_header_bytes: o.max_header_bytes.unwrap_or(16 * 1024).max(1024),
            request_timeout: seconds(o.request_timeout_secs.unwrap_or(10.0), "request timeout")?,
            idle_timeout: seconds(o.idle_timeout_secs.unwrap_or(30.0), "idle timeout")?
                .max(Duration::from_secs(1)),
            identity_cache_bytes: o.identity_cache_bytes.unwrap_or(64 << 20),
            max_document_age,
            sse_heartbeat: seconds(o.sse_heartbeat_secs.unwrap_or(15.0), "SSE heartbeat")?
                .max(Duration::from_millis(100)),
            sse_max_streams_per_environment: o.sse_max_streams_per_environment.unwrap_or(10_000),
            sse_buffer: o.sse_buffer.unwrap_or(8).max(1),
            s3: o.s3_bucket.clone().map(|bucket| {
                (
                    bucket,
                    o.s3_prefix.clone().unwrap_or_else(|| "flagedge".into()),
                )
            }),
            dynamodb_table: o.dynamodb_table.clone(),
            identity_table: o
                .identity_table
                .clone()
                .unwrap_or_else(|| "flagedge_identities".into()),
            aws: flagedge_cloud::aws::AwsOptions {
                region: o.aws_region.clone(),
                endpoint_url: o.aws_endpoint_url.clone(),
                static_credentials: None,
            },
            identity_store: o.identity_store.unwrap_or(IdentityStoreKind::None),
            identity_store_capacity: o.identity_store_capacity.unwrap_or(100_000).max(1),
            analytics_sinks,
            analytics_url: o.analytics_url,
            analytics_token: o.analytics_token,
            analytics_interval: seconds(
                o.analytics_interval_secs.unwrap_or(10.0),
                "analytics interval",
            )?
            .max(Duration::from_millis(10)),
            analytics_max_pending: o.analytics_max_pending.unwrap_or(360).max(1),
            analytics_spool_bytes: o.analytics_spool_bytes.unwrap_or(64 << 20),
            edge_id: o.edge_id.unwrap_or_else(default_edge_id),
            log_format: o.log_format.unwrap_or(LogFormat::Text),
            log: o.log.unwrap_or_else(|| "info".into()),
            shutdown_grace: seconds(o.shutdown_grace_secs.unwrap_or(30.0), "shutdown grace")?,
        })
    }

    /// The parts of a re-read configuration that apply without a restart.
    pub fn reloadable(&self) -> Reloadable {
        Reloadable {
            environment_key_pairs: self.environment_key_pairs.clone(),
            allow_origins: self.allow_origins.clone(),
            max_document_age: self.max_document_age,
        }
    }
}

/// Settings that change while running.
#[derive(Clone, Debug, PartialEq)]
pub struct Reloadable {
    /// Server-side keys and their environments.
    pub environment_key_pairs: Vec<KeyPair>,
    /// CORS origins.
    pub allow_origins: Vec<String>,
    /// Readiness staleness bound.
    pub max_document_age: Option<Duration>,
}

fn default_edge_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "edge".to_string()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

/// Flagsmith edge-proxy's `config.json` (SPEC §5.1), for a drop-in switch.
#[derive(Debug, Deserialize)]
struct EdgeProxyConfig {
    #[serde(default)]
    environment_key_pairs: Vec<KeyPair>,
    proxy_key: Option<String>,
    api_url: Option<String>,
    #[serde(alias = "api_poll_frequency")]
    api_poll_frequency_seconds: Option<f64>,
    #[serde(alias = "api_poll_timeout")]
    api_poll_timeout_seconds: Option<f64>,
    allow_origins: Option<Vec<String>>,
    endpoint_caches: Option<EdgeProxyCaches>,
    server: Option<EdgeProxyServer>,
    health_check: Option<EdgeProxyHealthCheck>,
    logging: Option<EdgeProxyLogging>,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyCaches {
    identities: Option<EdgeProxyCache>,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyCache {
    #[serde(default)]
    use_cache: bool,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyServer {
    host: Option<String>,
    port: Option<u16>,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyHealthCheck {
    environment_update_grace_period_seconds: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyLogging {
    log_format: Option<String>,
    log_level: Option<String>,
}

impl EdgeProxyConfig {
    fn into_options(self) -> Result<Options, String> {
        for pair in &self.environment_key_pairs {
            pair.validate()?;
        }
        let poll = self.api_poll_frequency_seconds.unwrap_or(10.0);
        let bind = match &self.server {
            Some(server) => {
                let host = server.host.as_deref().unwrap_or("0.0.0.0");
                let port = server.port.unwrap_or(8000);
                Some(
                    format!("{host}:{port}")
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("server: {e}"))?,
                )
            }
            None => None,
        };
        // edge-proxy: stale when not updated for poll interval + grace × environments; null disables.
        let max_document_age_secs = match &self.health_check {
            Some(EdgeProxyHealthCheck {
                environment_update_grace_period_seconds: None,
            }) => None,
            other => {
                let grace = other
                    .as_ref()
                    .and_then(|h| h.environment_update_grace_period_seconds)
                    .unwrap_or(30.0);
                Some(poll + grace * self.environment_key_pairs.len().max(1) as f64)
            }
        };
        Ok(Options {
            source: Some(SourceKind::Http),
            api_url: Some(
                self.api_url
                    .unwrap_or_else(|| "https://edge.api.flagsmith.com/api/v1/".into()),
            ),
            environment_key_pairs: Some(self.environment_key_pairs),
            proxy_key: self.proxy_key,
            poll_interval_secs: Some(poll),
            poll_timeout_secs: self.api_poll_timeout_seconds,
            allow_origins: self.allow_origins,
            identity_cache_bytes: self
                .endpoint_caches
                .and_then(|c| c.identities)
                .map(|c| if c.use_cache { 64 << 20 } else { 0 }),
            bind,
            max_document_age_secs,
            log_format: self
                .logging
                .as_ref()
                .and_then(|l| match l.log_format.as_deref() {
                    Some("json") => Some(LogFormat::Json),
                    Some(_) => Some(LogFormat::Text),
                    None => None,
                }),
            log: self
                .logging
                .and_then(|l| l.log_level)
                .map(|l| l.to_lowercase()),
            ..Options::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_the_demo() {
        let config = Config::resolve(Options::default()).unwrap();
        assert_eq!(config.source, SourceKind::Demo);
        assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 8000)));
        assert_eq!(config.max_document_age, None);
    }

    #[test]
    fn edge_proxy_config_is_a_drop_in() {
        let dir = std::env::temp_dir().join(format!("flagedge-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(
            &path,
            r#"{"environment_key_pairs":[{"server_side_key":"ser.abc","client_side_key":"client1"}],
                "api_url":"https://flagsmith.example/api/v1","api_poll_frequency":5,
                "allow_origins":["https://app.example"],"server":{"host":"127.0.0.1","port":9000},
                "health_check":{"environment_update_grace_period_seconds":10},
                "endpoint_caches":{"identities":{"use_cache":false}},
                "logging":{"log_format":"json","log_level":"DEBUG"}}"#,
        )
        .unwrap();
        let config = Config::resolve(read_file(&path).unwrap()).unwrap();
        assert_eq!(config.source, SourceKind::Http);
        assert_eq!(
            config.api_url.as_deref(),
            Some("https://flagsmith.example/api/v1/")
        );
        assert_eq!(config.poll_interval, Duration::from_secs(5));
        assert_eq!(config.max_document_age, Some(Duration::from_secs(15)));
        assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(config.identity_cache_bytes, 0);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(
            config.allow_origins,
            vec!["https://app.example".to_string()]
        );
    }

    #[test]
    fn flags_override_the_file() {
        let cli = Options {
            bind: Some("127.0.0.1:1234".parse().unwrap()),
            ..Options::default()
        };
        let file = Options {
            bind: Some("127.0.0.1:9".parse().unwrap()),
            poll_interval_secs: Some(3.0),
            ..Options::default()
        };
        let merged = cli.or(file);
        assert_eq!(merged.bind, Some("127.0.0.1:1234".parse().unwrap()));
        assert_eq!(merged.poll_interval_secs, Some(3.0));
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!("client=ser.x".parse::<KeyPair>().is_err());
        let http_without_keys = Options {
            api_url: Some("http://x".into()),
            ..Options::default()
        };
        assert!(Config::resolve(http_without_keys).is_err());
        let half_tls = Options {
            tls_cert: Some("c.pem".into()),
            ..Options::default()
        };
        assert!(Config::resolve(half_tls).is_err());
    }
}
