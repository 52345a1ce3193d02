//! Running the server: pools, migrations, the change listener, the HTTP
//! listener, and graceful shutdown (SIGTERM/SIGINT stop accepting, end
//! long-polls early, and give in-flight requests a grace period).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{DOCUMENT_PAGE_SIZE_DEFAULT, DatabaseArgs, ServeArgs};
use crate::console::{self, ConsoleSettings};
use crate::state::{AppState, InfluxStore, Inner};
use crate::{api, changes, db, keys};

/// The two pools (the same pool twice when analytics share the database).
pub fn pools(args: &DatabaseArgs) -> Result<(PgPool, PgPool), sqlx::Error> {
    let core = db::connect(&args.database_url, args.database_max_connections)?;
    let analytics = match &args.analytics_database_url {
        Some(url) => db::connect(url, args.database_max_connections.clamp(1, 8))?,
        None => core.clone(),
    };
    Ok((core, analytics))
}

/// What shapes a server beyond its databases and address.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Token flagedge-sync presents (`None` or empty: bearer tokens are refused).
    pub sync_token: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long in-flight requests get after shutdown begins.
    pub grace: Duration,
    /// Identity overrides per page of the SDK document endpoint (0: no pages).
    pub document_page_size: usize,
    /// The console's cookies and sessions.
    pub console: ConsoleSettings,
    /// InfluxDB, when analytics are kept there (else the analytics tables).
    pub influx: Option<InfluxStore>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sync_token: None,
            max_body_bytes: 1 << 20,
            grace: Duration::from_secs(30),
            document_page_size: DOCUMENT_PAGE_SIZE_DEFAULT,
            console: ConsoleSettings::default(),
            influx: None,
        }
    }
}

/// A server bound and ready to run.
pub struct Server {
    listener: TcpListener,
    app: axum::Router,
    shutdown: watch::Sender<bool>,
    grace: Duration,
}

impl Server {
    /// Binds and wires everything (migrations must already be applied).
    pub async fn bind(
        db: PgPool,
        analytics: PgPool,
        bind: SocketAddr,
        settings: &Settings,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(bind).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let changes = changes::spawn(db.clone(), shutdown_rx.clone());
        let state = AppState(Arc::new(Inner {
            db,
            analytics,
            sync_token_hash: settings
                .sync_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(keys::hash),
            changes,
            shutdown: shutdown_rx,
            documents: Mutex::new(HashMap::new()),
            feed_answers: Default::default(),
            document_page_size: settings.document_page_size,
            influx: settings.influx.clone(),
        }));
        let api = api::router(state.clone(), settings.max_body_bytes);
        Ok(Server {
            listener,
            app: console::router(state, api, &settings.console),
            shutdown,
            grace: settings.grace,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` resolves, then shuts down gracefully.
    pub async fn run(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            listener,
            app,
            shutdown,
            grace,
        } = self;
        let (stopped_tx, mut stopped_rx) = watch::channel(false);
        let signal = async move {
            stop.await;
            tracing::info!("shutting down");
            let _ = shutdown.send(true);
            let _ = stopped_tx.send(true);
        };
        let serve = axum::serve(listener, app).with_graceful_shutdown(signal);
        let serve = serve.into_future();
        tokio::pin!(serve);
        tokio::select! {
            result = &mut serve => result,
            _ = async {
                let _ = stopped_rx.wait_for(|s| *s).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("grace period over; closing remaining connections");
                Ok(())
            }
        }
    }
}

/// `serve`: migrate, bind, run until SIGTERM/SIGINT.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (core, analytics) = pools(&args.database)?;
    db::migrate(&core, &analytics).await?;
    let settings = Settings {
        sync_token: args.sync_token,
        max_body_bytes: args.max_body_bytes,
        grace: Duration::from_secs(args.shutdown_grace_secs),
        document_page_size: args.document_page_size,
        console: ConsoleSettings {
            secure_cookies: args.console_secure_cookies,
            session_ttl: Duration::from_secs(args.console_session_hours.max(1) * 3600),
        },
        influx: args
            .analytics
            .influx()
            .map_err(anyhow::Error::msg)?
            .map(|influx| InfluxStore {
                influx,
                host_tag: args.analytics.influxdb_host_tag.clone(),
            }),
    };
    let server = Server::bind(core, analytics, args.bind, &settings).await?;
    tracing::info!(address = %server.local_addr()?, "flagedge-core listening");
    server.run(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// `init`: the first organisation and an instance-wide admin key. Returns the key.
pub async fn init(
    db: &PgPool,
    organisation: &str,
    key_name: &str,
) -> Result<(i64, String), sqlx::Error> {
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as("INSERT INTO organisations (name) VALUES ($1) RETURNING id")
        .bind(organisation)
        .fetch_one(&mut *tx)
        .await?;
    let (prefix, key) = keys::admin_key();
    sqlx::query(
        "INSERT INTO admin_api_keys (organisation_id, name, prefix, key_hash) VALUES (NULL, $1, $2, $3)",
    )
    .bind(key_name)
    .bind(prefix)
    .bind(keys::hash(&key))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((id, key))
}
