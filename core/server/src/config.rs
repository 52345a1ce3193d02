//! The binary's settings: every option a flag and a `FLAGEDGE_*` variable
//! (`DATABASE_URL` is honoured as well), `--help` is the reference.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// flagedge-core: the PostgreSQL-backed source of truth and its admin API.
#[derive(Parser, Debug)]
#[command(name = "flagedge-core", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "FLAGEDGE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
    /// Log filter (tracing-subscriber syntax).
    #[arg(long, env = "FLAGEDGE_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply migrations, then serve the API.
    Serve(ServeArgs),
    /// Apply migrations and exit.
    Migrate(DatabaseArgs),
    /// Create the first organisation and an instance-wide admin key, and print the key.
    Init(InitArgs),
}

/// Where the data is.
#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL URL (`postgres://user:pass@host/db`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// A separate PostgreSQL database for the analytics tables (default: the main one).
    #[arg(long, env = "FLAGEDGE_ANALYTICS_DATABASE_URL", hide_env_values = true)]
    pub analytics_database_url: Option<String>,
    /// Most database connections per pool.
    #[arg(long, env = "FLAGEDGE_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
}

/// `serve`'s options.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The databases.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Listen address.
    #[arg(long, env = "FLAGEDGE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Token flagedge-sync presents as `Authorization: Bearer <token>`.
    #[arg(long, env = "FLAGEDGE_SYNC_TOKEN", hide_env_values = true)]
    pub sync_token: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "FLAGEDGE_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "FLAGEDGE_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// Identity overrides per page of `GET /api/v1/environment-document/`: a
    /// document with more is paged (`Link: <…?page_id=…>; rel="next"`, as
    /// Flagsmith pages them); 0 never pages.
    #[arg(long, env = "FLAGEDGE_DOCUMENT_PAGE_SIZE", default_value_t = DOCUMENT_PAGE_SIZE_DEFAULT)]
    pub document_page_size: usize,
    /// Mark the console's cookies `Secure` (set it when core is reached over
    /// TLS; a proxy's `X-Forwarded-Proto: https` also does).
    #[arg(long, env = "FLAGEDGE_CONSOLE_SECURE_COOKIES", default_value_t = false)]
    pub console_secure_cookies: bool,
    /// Hours a console session lasts after signing in.
    #[arg(long, env = "FLAGEDGE_CONSOLE_SESSION_HOURS", default_value_t = 8)]
    pub console_session_hours: u64,
    /// Where analytics are kept.
    #[command(flatten)]
    pub analytics: AnalyticsArgs,
}

/// Where analytics counts and the fleet's reports are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AnalyticsStore {
    /// The analytics tables (core's database or `--analytics-database-url`).
    Postgres,
    /// InfluxDB in Flagsmith's shape (what flagedge-sync writes with `--analytics-store influxdb`).
    Influxdb,
}

/// The analytics store's options; set them as flagedge-sync's are set.
#[derive(Args, Debug, Clone)]
pub struct AnalyticsArgs {
    /// Where counts are read from and written to.
    #[arg(
        long,
        env = "FLAGEDGE_ANALYTICS_STORE",
        value_enum,
        default_value = "postgres"
    )]
    pub analytics_store: AnalyticsStore,
    /// InfluxDB base URL, e.g. http://127.0.0.1:8086.
    #[arg(long, env = "FLAGEDGE_INFLUXDB_URL")]
    pub influxdb_url: Option<String>,
    /// InfluxDB database (1.x; on 2.x the database name of the DBRP mappings).
    #[arg(long, env = "FLAGEDGE_INFLUXDB_DATABASE", default_value = "flagedge")]
    pub influxdb_database: String,
    /// Flagsmith's bucket for raw points (a retention policy of the database);
    /// reads use `<bucket>_downsampled_15m` and `_1h` when they exist.
    #[arg(long, env = "FLAGEDGE_INFLUXDB_BUCKET", default_value = "default")]
    pub influxdb_bucket: String,
    /// InfluxDB token (2.x compatibility API), sent as `Authorization: Token`.
    #[arg(long, env = "FLAGEDGE_INFLUXDB_TOKEN", hide_env_values = true)]
    pub influxdb_token: Option<String>,
    /// The `host` tag of the `api_call` points core writes (proxies' usage reports).
    #[arg(long, env = "FLAGEDGE_INFLUXDB_HOST_TAG", default_value = "flagedge")]
    pub influxdb_host_tag: String,
}

impl AnalyticsArgs {
    /// The InfluxDB store, when it is the one chosen.
    pub fn influx(&self) -> Result<Option<flagedge_influx::Influx>, String> {
        match (self.analytics_store, &self.influxdb_url) {
            (AnalyticsStore::Postgres, _) => Ok(None),
            (AnalyticsStore::Influxdb, None) => {
                Err("--analytics-store influxdb needs --influxdb-url".into())
            }
            (AnalyticsStore::Influxdb, Some(url)) => Ok(Some(flagedge_influx::Influx::new(
                flagedge_influx::Settings {
                    url: url.clone(),
                    database: self.influxdb_database.clone(),
                    bucket: self.influxdb_bucket.clone(),
                    token: self.influxdb_token.clone(),
                },
            ))),
        }
    }
}

/// Identity overrides per document page unless configured.
pub const DOCUMENT_PAGE_SIZE_DEFAULT: usize = 1000;

/// `init`'s options.
#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// The databases.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The first organisation's name.
    #[arg(long, env = "FLAGEDGE_ORGANISATION_NAME", default_value = "Default")]
    pub organisation_name: String,
    /// The admin key's name.
    #[arg(long, default_value = "init")]
    pub key_name: String,
}
