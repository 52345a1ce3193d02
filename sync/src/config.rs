//! flagedge-sync's configuration: flags, `FLAGEDGE_*` environment variables, or
//! a TOML file (`--config`), in that order of precedence. `--help` is the reference.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use flagedge_options::{AwsArgs, LogArgs, PublishedArgs};
use serde::{Deserialize, Serialize};

/// Where evaluation counts are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalyticsStoreKind {
    /// PostgreSQL: the tables flagedge-core reads.
    Postgres,
    /// InfluxDB, through its v1 `/write` API (line protocol).
    Influxdb,
    /// Nowhere (counts are accepted and discarded; for trials).
    None,
}

/// Every option.
#[derive(Parser, Debug, Default, Clone, Serialize, Deserialize)]
#[command(
    name = "flagedge-sync",
    version,
    about = "Publishes documents to S3/DynamoDB and ingests evaluation counts"
)]
pub struct Options {
    /// TOML config file.
    #[arg(long, env = "FLAGEDGE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address of the ingest API, health and metrics.
    #[arg(long, env = "FLAGEDGE_BIND", default_value = "127.0.0.1:8090")]
    pub bind: Option<SocketAddr>,

    /// flagedge-core's base URL (e.g. http://core:8080); enables document publishing.
    #[arg(long, env = "FLAGEDGE_CORE_URL")]
    pub core_url: Option<String>,

    /// Token for core's edge API (`Authorization: Bearer`).
    #[arg(long, env = "FLAGEDGE_CORE_TOKEN")]
    pub core_token: Option<String>,

    /// Seconds between full reconciles with core.
    #[arg(long, env = "FLAGEDGE_RECONCILE_INTERVAL_SECS", default_value = "60")]
    pub reconcile_interval_secs: Option<f64>,

    /// Long-poll timeout for core's change feed, in seconds.
    #[arg(long, env = "FLAGEDGE_CHANGES_TIMEOUT_SECS", default_value = "30")]
    pub changes_timeout_secs: Option<u64>,

    /// Where documents are published.
    #[command(flatten)]
    #[serde(flatten)]
    pub published: PublishedArgs,

    /// Create the DynamoDB table (and S3 bucket) when missing (local stand-ins, first runs).
    #[arg(long, env = "FLAGEDGE_CREATE_RESOURCES")]
    pub create_resources: Option<bool>,

    /// With --create-resources, also create this identities table (for edges
    /// running `--identity-store dynamodb`).
    #[arg(long, env = "FLAGEDGE_IDENTITY_TABLE")]
    pub identity_table: Option<String>,

    /// Bearer token edges present to the ingest API and the change stream (`/api/v1/changes`);
    /// ingest is off, and the stream refuses every edge, without it.
    #[arg(long, env = "FLAGEDGE_INGEST_TOKEN")]
    pub ingest_token: Option<String>,

    /// Where counts are written [default: postgres when a database URL is set, else none].
    #[arg(long, env = "FLAGEDGE_ANALYTICS_STORE", value_enum)]
    pub analytics_store: Option<AnalyticsStoreKind>,

    /// PostgreSQL URL of the analytics tables (also ANALYTICS_DATABASE_URL).
    #[arg(long, env = "FLAGEDGE_ANALYTICS_DATABASE_URL")]
    pub analytics_database_url: Option<String>,

    /// InfluxDB base URL, e.g. http://127.0.0.1:8086.
    #[arg(long, env = "FLAGEDGE_INFLUXDB_URL")]
    pub influxdb_url: Option<String>,

    /// InfluxDB database (1.x; on 2.x the database name of the DBRP mappings).
    #[arg(long, env = "FLAGEDGE_INFLUXDB_DATABASE", default_value = "flagedge")]
    pub influxdb_database: Option<String>,

    /// Flagsmith's bucket for raw points: a retention policy of the database
    /// (its sums go to `<bucket>_downsampled_15m` and `_1h`).
    #[arg(long, env = "FLAGEDGE_INFLUXDB_BUCKET", default_value = "default")]
    pub influxdb_bucket: Option<String>,

    /// At start, create the database and retention policies that are missing
    /// and, with this on, the downsampled ones with the continuous queries that
    /// fill them (InfluxDB 1.x; on 2.x use Flagsmith's Flux tasks).
    #[arg(long, env = "FLAGEDGE_INFLUXDB_DOWNSAMPLING", default_value = "true")]
    pub influxdb_downsampling: Option<bool>,

    /// The `host` tag of `api_call` points (Flagsmith tags the API host SDKs called).
    #[arg(long, env = "FLAGEDGE_INFLUXDB_HOST_TAG", default_value = "flagedge")]
    pub influxdb_host_tag: Option<String>,

    /// InfluxDB token (2.x compatibility API), sent as `Authorization: Token`.
    #[arg(long, env = "FLAGEDGE_INFLUXDB_TOKEN")]
    pub influxdb_token: Option<String>,

    /// Seconds between flushes of counts to the store.
    #[arg(long, env = "FLAGEDGE_FLUSH_INTERVAL_SECS", default_value = "5")]
    pub flush_interval_secs: Option<f64>,

    /// Flush early once this many distinct counters are pending.
    #[arg(long, env = "FLAGEDGE_FLUSH_MAX_KEYS", default_value = "20000")]
    pub flush_max_keys: Option<usize>,

    /// Most counters held while the store is unreachable; past it, ingest answers
    /// 503 and edges keep their batches.
    #[arg(long, env = "FLAGEDGE_MAX_PENDING_KEYS", default_value = "1000000")]
    pub max_pending_keys: Option<usize>,

    /// Journal every accepted batch here before answering the edge, so counts
    /// survive `kill -9` of sync and store outages; files left by a previous
    /// process are counted again at start (off when unset).
    #[arg(long, env = "FLAGEDGE_JOURNAL_DIR")]
    pub journal_dir: Option<PathBuf>,

    /// Largest batch accepted, in bytes.
    #[arg(long, env = "FLAGEDGE_MAX_BATCH_BYTES", default_value = "8388608")]
    pub max_batch_bytes: Option<usize>,

    /// Seconds to finish requests and flush counts after SIGTERM.
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

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// Core, when publishing documents.
    pub core_url: Option<String>,
    /// Core token.
    pub core_token: Option<String>,
    /// Reconcile interval.
    pub reconcile_interval: Duration,
    /// Change-feed long-poll timeout (seconds).
    pub changes_timeout: u64,
    /// S3 sink.
    pub s3_bucket: Option<String>,
    /// S3 prefix.
    pub s3_prefix: String,
    /// DynamoDB sink.
    pub dynamodb_table: Option<String>,
    /// Create missing tables/buckets.
    pub create_resources: bool,
    /// Identities table to create.
    pub identity_table: Option<String>,
    /// AWS settings.
    pub aws: flagedge_cloud::aws::AwsOptions,
    /// Ingest token (ingest is off without one).
    pub ingest_token: Option<String>,
    /// Analytics store.
    pub analytics_store: AnalyticsStoreKind,
    /// Postgres URL.
    pub analytics_database_url: Option<String>,
    /// InfluxDB, when it is the store.
    pub influxdb: Option<flagedge_influx::Settings>,
    /// Create InfluxDB's downsampled buckets and continuous queries.
    pub influxdb_downsampling: bool,
    /// The `host` tag of `api_call` points.
    pub influxdb_host_tag: String,
    /// Flush interval.
    pub flush_interval: Duration,
    /// Early-flush threshold.
    pub flush_max_keys: usize,
    /// Back-pressure threshold.
    pub max_pending_keys: usize,
    /// Where accepted batches are journaled.
    pub journal_dir: Option<PathBuf>,
    /// Batch size limit.
    pub max_batch_bytes: usize,
    /// Logging.
    pub logging: LogArgs,
    /// Shutdown grace.
    pub shutdown_grace: Duration,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("{0}")]
    File(String),
    /// A value is out of range or options conflict.
    #[error("{0}")]
    Invalid(String),
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

impl Config {
    /// Resolves flags/environment, reading the config file they name.
    pub fn load(cli: Options) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::File(format!("{}: {e}", path.display())))?;
                flagedge_options::from_toml(&text)
                    .map_err(|e| ConfigError::File(format!("{}: {e}", path.display())))?
            }
            None => Options::default(),
        };
        let mut options = flagedge_options::layer(cli, &file);
        if options.analytics_database_url.is_none() {
            options.analytics_database_url = std::env::var("ANALYTICS_DATABASE_URL").ok();
        }
        Config::resolve(options)
    }

    /// Applies defaults and checks consistency.
    pub fn resolve(o: Options) -> Result<Config, ConfigError> {
        let o = flagedge_options::layer(o, &flagedge_options::defaults::<Options>());
        let analytics_store = o
            .analytics_store
            .unwrap_or(if o.analytics_database_url.is_some() {
                AnalyticsStoreKind::Postgres
            } else {
                AnalyticsStoreKind::None
            });
        match analytics_store {
            AnalyticsStoreKind::Postgres if o.analytics_database_url.is_none() => {
                return Err(ConfigError::Invalid(
                    "--analytics-store postgres needs --analytics-database-url".into(),
                ));
            }
            AnalyticsStoreKind::Influxdb if o.influxdb_url.is_none() => {
                return Err(ConfigError::Invalid(
                    "--analytics-store influxdb needs --influxdb-url".into(),
                ));
            }
            _ => {}
        }
        let published = o.published;
        if (published.s3_bucket.is_some() || published.dynamodb_table.is_some())
            && o.core_url.is_none()
        {
            return Err(ConfigError::Invalid(
                "publishing documents needs --core-url".into(),
            ));
        }
        Ok(Config {
            bind: declared(o.bind),
            core_url: o.core_url.map(|u| u.trim_end_matches('/').to_string()),
            core_token: o.core_token,
            reconcile_interval: seconds(declared(o.reconcile_interval_secs), "reconcile interval")?,
            changes_timeout: declared(o.changes_timeout_secs).clamp(1, 60),
            s3_bucket: published.s3_bucket,
            s3_prefix: declared(published.s3_prefix),
            dynamodb_table: published.dynamodb_table,
            create_resources: o.create_resources.unwrap_or(false),
            identity_table: o.identity_table,
            aws: o.aws.sdk_options(),
            ingest_token: o.ingest_token,
            analytics_store,
            analytics_database_url: o.analytics_database_url,
            influxdb: o.influxdb_url.map(|url| flagedge_influx::Settings {
                url,
                database: declared(o.influxdb_database.clone()),
                bucket: declared(o.influxdb_bucket.clone()),
                token: o.influxdb_token.clone(),
            }),
            influxdb_downsampling: declared(o.influxdb_downsampling),
            influxdb_host_tag: declared(o.influxdb_host_tag.clone()),
            flush_interval: seconds(declared(o.flush_interval_secs), "flush interval")?
                .max(Duration::from_millis(10)),
            flush_max_keys: declared(o.flush_max_keys).max(1),
            max_pending_keys: declared(o.max_pending_keys).max(1),
            journal_dir: o.journal_dir,
            max_batch_bytes: declared(o.max_batch_bytes),
            logging: o.logging,
            shutdown_grace: seconds(declared(o.shutdown_grace_secs), "shutdown grace")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicting_options_are_refused() {
        assert!(
            Config::resolve(Options {
                published: PublishedArgs::s3("b"),
                ..Options::default()
            })
            .is_err()
        );
        assert!(
            Config::resolve(Options {
                analytics_store: Some(AnalyticsStoreKind::Postgres),
                ..Options::default()
            })
            .is_err()
        );
        let ok = Config::resolve(Options::default()).unwrap();
        assert_eq!(ok.analytics_store, AnalyticsStoreKind::None);
        assert_eq!(ok.bind, SocketAddr::from(([127, 0, 0, 1], 8090)));
    }
}
