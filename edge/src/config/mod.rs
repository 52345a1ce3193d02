//! Configuration: command-line flags, `FLAGEDGE_*` environment variables, a TOML
//! file (`--config`), or Flagsmith edge-proxy's `config.json` — in that order of
//! precedence. `flagedge-edge --help` is the reference for every option.
//!
//! Every option is declared once in `options.rs` (all optional there); the
//! layers are merged by flagedge-options, then resolved into a [`Config`]. The config file is re-read on SIGHUP and when
//! it changes; [`Config::reloadable`] says which parts take effect without a
//! restart (keys, CORS origins, staleness bound).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod edge_proxy;
mod options;

pub use crate::keys::{KeyPair, redact};
use crate::rate_limit::{Rate, RateLimits};
pub use flagedge_options::{AwsArgs, LogArgs, LogFormat};
pub use options::{AnalyticsSinkKind, IdentityStoreKind, Options, SourceKind};

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
    /// Follow change feeds (`--push`).
    pub push: bool,
    /// `--source s3|dynamodb`: sync's change stream and its bearer token.
    pub push_url: Option<(String, String)>,
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
    /// Open connection cap.
    pub max_connections: usize,
    /// Rate limits per environment.
    pub rate_limits: RateLimits,
    /// Identity cache budget (0: off).
    pub identity_cache_bytes: u64,
    /// Budget of plain copies of gzipped bodies.
    pub plain_copies_bytes: usize,
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
    /// Edge region or label (reported to sync for the fleet view).
    pub edge_region: String,
    /// Logging.
    pub logging: LogArgs,
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

fn rate_limits(o: &Options) -> Result<RateLimits, ConfigError> {
    let mut limits = RateLimits {
        default: o
            .rate_limit
            .map(|rate| Rate::new(rate, o.rate_limit_burst))
            .transpose()
            .map_err(ConfigError::Invalid)?,
        ..RateLimits::default()
    };
    for text in o.rate_limit_for.iter().flatten() {
        limits.add_override(text).map_err(ConfigError::Invalid)?;
    }
    Ok(limits)
}

/// An option with a declared default, after the defaults layer.
fn declared<T>(value: Option<T>) -> T {
    value.expect("every option with a declared default has a value after the defaults layer")
}

fn seconds(value: f64, name: &str) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        ConfigError::Invalid(format!("{name} must be a non-negative number of seconds"))
    })
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
        edge_proxy::options(&text).map_err(parse_error)
    } else {
        let mut options: Options = flagedge_options::from_toml(&text).map_err(parse_error)?;
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
        let mut config = Config::resolve(flagedge_options::layer(cli, &from_file))?;
        config.config_file = file;
        Ok(config)
    }

    /// Applies defaults and checks consistency.
    pub fn resolve(o: Options) -> Result<Config, ConfigError> {
        let o = flagedge_options::layer(o, &flagedge_options::defaults::<Options>());
        let rate_limits = rate_limits(&o)?;
        let source = o.source.unwrap_or(if o.api_url.is_some() {
            SourceKind::Http
        } else if o.documents_dir.is_some() {
            SourceKind::File
        } else if o.published.s3_bucket.is_some() {
            SourceKind::S3
        } else if o.published.dynamodb_table.is_some() {
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
            SourceKind::S3 if o.published.s3_bucket.is_none() => {
                return Err(ConfigError::Invalid("--source s3 needs --s3-bucket".into()));
            }
            SourceKind::Dynamodb if o.published.dynamodb_table.is_none() => {
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
        let poll_interval = seconds(declared(o.poll_interval_secs), "poll interval")?;
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
        let push_url = match (
            &o.push_url,
            o.push_token.as_ref().or(o.analytics_token.as_ref()),
        ) {
            (None, _) => None,
            (Some(_), _) if !matches!(source, SourceKind::S3 | SourceKind::Dynamodb) => {
                return Err(ConfigError::Invalid(
                    "--push-url is sync's change stream, for --source s3 or dynamodb (the http source follows core's feed by itself)".into(),
                ));
            }
            (Some(url), Some(token)) => Some((url.clone(), token.clone())),
            (Some(_), None) => {
                return Err(ConfigError::Invalid(
                    "--push-url needs --push-token (or --analytics-token): sync's --ingest-token"
                        .into(),
                ));
            }
        };
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
            file_poll: Duration::from_millis(declared(o.file_poll_ms).max(10)),
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
            push: declared(o.push),
            push_url,
            poll_timeout: seconds(declared(o.poll_timeout_secs), "poll timeout")?,
            poll_backoff_max: seconds(declared(o.poll_backoff_max_secs), "poll backoff")?,
            persist_dir: o.persist_dir,
            tls,
            allow_origins: declared(o.allow_origins),
            max_body_bytes: declared(o.max_body_bytes),
            max_header_bytes: declared(o.max_header_bytes).max(1024),
            request_timeout: seconds(declared(o.request_timeout_secs), "request timeout")?,
            max_connections: declared(o.max_connections).max(1),
            rate_limits,
            idle_timeout: seconds(declared(o.idle_timeout_secs), "idle timeout")?
                .max(Duration::from_secs(1)),
            identity_cache_bytes: declared(o.identity_cache_bytes),
            plain_copies_bytes: declared(o.plain_copies_bytes),
            max_document_age,
            sse_heartbeat: seconds(declared(o.sse_heartbeat_secs), "SSE heartbeat")?
                .max(Duration::from_millis(100)),
            sse_max_streams_per_environment: declared(o.sse_max_streams_per_environment),
            sse_buffer: declared(o.sse_buffer).max(1),
            s3: o
                .published
                .s3_bucket
                .clone()
                .map(|bucket| (bucket, declared(o.published.s3_prefix.clone()))),
            dynamodb_table: o.published.dynamodb_table.clone(),
            identity_table: declared(o.identity_table.clone()),
            aws: o.aws.sdk_options(),
            identity_store: declared(o.identity_store),
            identity_store_capacity: declared(o.identity_store_capacity).max(1),
            analytics_sinks,
            analytics_url: o.analytics_url,
            analytics_token: o.analytics_token,
            analytics_interval: seconds(declared(o.analytics_interval_secs), "analytics interval")?
                .max(Duration::from_millis(10)),
            analytics_max_pending: declared(o.analytics_max_pending).max(1),
            analytics_spool_bytes: declared(o.analytics_spool_bytes),
            edge_id: o.edge_id.unwrap_or_else(default_edge_id),
            edge_region: o.edge_region.unwrap_or_default(),
            logging: o.logging.clone(),
            shutdown_grace: seconds(declared(o.shutdown_grace_secs), "shutdown grace")?,
        })
    }

    /// The parts of a re-read configuration that apply without a restart.
    pub fn reloadable(&self) -> Reloadable {
        Reloadable {
            environment_key_pairs: self.environment_key_pairs.clone(),
            allow_origins: self.allow_origins.clone(),
            max_document_age: self.max_document_age,
            rate_limits: self.rate_limits.clone(),
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
    /// Rate limits per environment.
    pub rate_limits: RateLimits,
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
        assert_eq!(config.logging.log_format, Some(LogFormat::Json));
        assert_eq!(
            config.allow_origins,
            vec!["https://app.example".to_string()]
        );
    }

    #[test]
    fn the_file_sits_between_flags_and_defaults() {
        use clap::CommandFactory;
        let dir = std::env::temp_dir().join(format!("flagedge-layers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("edge.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:9001\"\npoll_interval_secs = 3\n").unwrap();
        let path_text = path.to_str().unwrap();
        let from = |args: &[&str]| {
            let matches = Options::command().get_matches_from(args);
            Config::load(flagedge_options::explicit(&matches).unwrap()).unwrap()
        };
        let config = from(&["flagedge-edge", "--config", path_text]);
        assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 9001)));
        assert_eq!(config.poll_interval, Duration::from_secs(3));
        assert_eq!(config.max_body_bytes, 65536, "the declared default");
        let config = from(&[
            "flagedge-edge",
            "--config",
            path_text,
            "--bind",
            "127.0.0.1:9002",
        ]);
        assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 9002)));
        std::fs::write(&path, "bnd = 1\n").unwrap();
        let matches = Options::command().get_matches_from(["flagedge-edge", "--config", path_text]);
        let error = Config::load(flagedge_options::explicit(&matches).unwrap()).unwrap_err();
        assert!(error.to_string().contains("bnd"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
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
        let merged = flagedge_options::layer(cli, &file);
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
