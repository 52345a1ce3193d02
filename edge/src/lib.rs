//! # flagedge-edge
//!
//! The edge node: Flagsmith's SDK API served from memory. A Flagsmith SDK points
//! its API URL here and works unchanged.
//!
//! Where to look (one concern per module):
//! - [`config`] — options, files, reloads;
//! - [`source`] — where documents come from (demo, file, http), [`persist`] — the
//!   last good ones on disk;
//! - [`environment`] — one environment as served (compiled + prepared bodies),
//!   [`snapshot`] — every key → environment in one `ArcSwap`, and its swap rules;
//! - [`api`] — the endpoints, [`server`] — connections, TLS, limits;
//! - [`identity_cache`], [`identity_store`] — identity responses and traits;
//! - [`analytics`] — evaluation counts → batches → sinks, [`metrics`] — Prometheus;
//! - [`shutdown`], [`tls`], [`http_client`] — plumbing.
//!
//! Depends on `flagedge-engine` for everything about documents and evaluation;
//! nothing depends on this crate.

pub mod analytics;
pub mod api;
pub mod clock;
pub mod config;
pub mod counters;
pub mod environment;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http_client;
pub mod identity_cache;
pub mod identity_store;
pub mod keys;
pub mod metrics;
pub mod persist;
pub mod rate_limit;
pub mod realtime;
pub mod route;
pub mod server;
pub mod shutdown;
pub mod snapshot;
pub mod source;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::task::JoinHandle;

use crate::api::app::App;
use crate::api::call::Limits;
use crate::config::{Config, ConfigError, SourceKind};
use crate::source::Loader;

/// Re-reads the configuration (for SIGHUP and config-file changes).
pub type Reloader = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// A running edge.
pub struct Edge {
    /// The address it listens on (useful with port 0).
    pub address: SocketAddr,
    /// The shared state, for inspection.
    pub app: &'static App,
    trigger: shutdown::Trigger,
    tasks: Vec<JoinHandle<()>>,
    stop_counting: shutdown::Trigger,
    counting: JoinHandle<()>,
}

impl Edge {
    /// Begins a graceful shutdown: stop accepting, finish in-flight requests.
    pub fn shutdown(&self) {
        self.trigger.trigger();
    }

    /// Waits for every task to finish (after [`Edge::shutdown`]); counted
    /// evaluations are shipped last, once no request can add to them.
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        self.stop_counting.trigger();
        let _ = self.counting.await;
    }
}

/// Starts an edge: loads documents, binds, serves, counts.
pub async fn start(config: Config, reloader: Option<Reloader>) -> anyhow::Result<Edge> {
    tls::install_crypto_provider();
    clock::start();
    let prometheus = metrics::install();
    let (trigger, shutdown) = shutdown::channel();
    let store = Arc::new(snapshot::Store::new());
    let persistence = match &config.persist_dir {
        Some(dir) => Some(
            persist::Persistence::new(dir.clone())
                .with_context(|| format!("persist dir {}", dir.display()))?,
        ),
        None => None,
    };
    let loader = Loader::new(Arc::clone(&store), persistence.clone());
    if let Some(persistence) = &persistence {
        let (documents, pairs) = persistence.load();
        loader.set_source_key_pairs(pairs);
        for document in documents {
            if let Err(error) = loader.offer(document, "persisted").await {
                tracing::warn!(%error, "a persisted document could not be loaded");
            }
        }
        tracing::info!(
            environments = store.load().environments.len(),
            "persisted documents loaded"
        );
    }
    loader.set_config_key_pairs(config.environment_key_pairs.clone());

    let client = http_client::new();
    let needs_aws = matches!(config.source, SourceKind::S3 | SourceKind::Dynamodb)
        || config.identity_store == config::IdentityStoreKind::Dynamodb;
    let aws = if needs_aws {
        Some(flagedge_cloud::aws::sdk_config(&config.aws).await)
    } else {
        None
    };
    let mut background = Vec::new();
    let identity_store: Option<Arc<dyn identity_store::IdentityStore>> =
        match (config.identity_store, &aws) {
            (config::IdentityStoreKind::None, _) => None,
            (config::IdentityStoreKind::Memory, _) => Some(Arc::new(
                identity_store::MemoryStore::new(config.identity_store_capacity),
            )),
            (config::IdentityStoreKind::Dynamodb, Some(aws)) => {
                let client = flagedge_cloud::aws::dynamodb(aws);
                let table = flagedge_cloud::dynamo::IdentityTable::new(
                    client,
                    config.identity_table.clone(),
                );
                let (store, writer) = identity_store::DynamoStore::new(
                    table,
                    config.identity_store_capacity,
                    shutdown.clone(),
                );
                background.push(tokio::spawn(writer));
                Some(Arc::new(store))
            }
            (config::IdentityStoreKind::Dynamodb, None) => {
                anyhow::bail!("the DynamoDB identity store needs AWS settings")
            }
        };
    let (sinks, reported) = analytics::Sinks::open(
        &config,
        client.clone(),
        persistence.as_ref().map(|p| p.analytics_dir()),
    )
    .context("opening the analytics sinks")?;
    // The state lives as long as the process: requests borrow it instead of taking
    // a reference count each (a cache line both cores would otherwise fight over).
    // A process normally starts one edge; tests start several and keep them all.
    environment::PLAIN_COPIES.set_budget(config.plain_copies_bytes);
    let app: &'static App = Box::leak(Box::new(App {
        store: Arc::clone(&store),
        settings: ArcSwap::from_pointee(config.reloadable()),
        identity_cache: (config.identity_cache_bytes > 0)
            .then(|| identity_cache::IdentityCache::new(config.identity_cache_bytes)),
        identity_store,
        reported,
        rate_limiter: rate_limit::Limiter::new(config.rate_limits.clone()),
        limits: Limits {
            max_body_bytes: config.max_body_bytes,
            max_header_bytes: config.max_header_bytes,
            request_timeout: config.request_timeout,
            idle_timeout: config.idle_timeout,
            max_connections: config.max_connections,
        },
        metrics: metrics::RequestMetrics::new(),
        prometheus,
        initial_load_done: false.into(),
        realtime: realtime::Realtime::new(
            realtime::RealtimeConfig {
                // Heartbeats also keep the connection watchdog from closing an idle stream.
                heartbeat: config.sse_heartbeat.min(config.idle_timeout / 2),
                max_streams_per_environment: config.sse_max_streams_per_environment,
                buffer: config.sse_buffer,
            },
            shutdown.clone(),
        ),
    }));
    let realtime_task =
        tokio::spawn(Arc::clone(&app.realtime).run(Arc::clone(&store), store.subscribe()));

    let mut tasks = vec![realtime_task];
    tasks.append(&mut background);
    let (pairs_sender, pairs_receiver) =
        tokio::sync::watch::channel(config.environment_key_pairs.clone());
    match config.source {
        SourceKind::Demo => {
            source::demo::load(&loader).await?;
            app.initial_load_done.store(true, Ordering::Release);
        }
        SourceKind::File => {
            let dir = config.documents_dir.clone().context("--documents-dir")?;
            let mut file_source = source::file::FileSource::new(dir);
            let failures = file_source.scan(&loader).await;
            if failures > 0 {
                tracing::warn!(failures, "some documents did not load");
            }
            app.initial_load_done.store(true, Ordering::Release);
            tasks.push(tokio::spawn(file_source.run(
                loader.clone(),
                config.file_poll,
                shutdown.clone(),
            )));
        }
        SourceKind::S3 | SourceKind::Dynamodb => {
            let aws = aws.as_ref().context("AWS settings")?;
            let published = match (&config.s3, &config.dynamodb_table) {
                (Some((bucket, prefix)), _) if config.source == SourceKind::S3 => {
                    source::published::Published::S3(flagedge_cloud::s3::S3Store::new(
                        flagedge_cloud::aws::s3(aws),
                        bucket.clone(),
                        prefix.clone(),
                    ))
                }
                (s3, Some(table)) => source::published::Published::DynamoDb(
                    flagedge_cloud::dynamo::DocumentTable::new(
                        flagedge_cloud::aws::dynamodb(aws),
                        table.clone(),
                        s3.as_ref().map(|(bucket, prefix)| {
                            flagedge_cloud::s3::S3Store::new(
                                flagedge_cloud::aws::s3(aws),
                                bucket.clone(),
                                prefix.clone(),
                            )
                        }),
                    ),
                ),
                _ => anyhow::bail!(
                    "--source s3 needs --s3-bucket; --source dynamodb needs --dynamodb-table"
                ),
            };
            let push = match (&config.push_url, config.push) {
                (Some((url, token)), true) => {
                    let mut bearer = http::HeaderValue::from_str(&format!("Bearer {token}"))
                        .context("--push-token is not a header value")?;
                    bearer.set_sensitive(true);
                    Some((
                        source::push::Feed {
                            name: "sync",
                            // Sync keeps a stream per store: this edge's.
                            url: format!(
                                "{url}{}store={}",
                                if url.contains('?') { '&' } else { '?' },
                                if config.source == SourceKind::S3 {
                                    "s3"
                                } else {
                                    "dynamodb"
                                }
                            ),
                            credential: (http::header::AUTHORIZATION, bearer),
                        },
                        client.clone(),
                    ))
                }
                _ => None,
            };
            let follower =
                source::published::PublishedSource::new(published, config.poll_interval, push);
            let (done_sender, done_receiver) = tokio::sync::oneshot::channel();
            tasks.push(tokio::spawn(follower.run(
                loader.clone(),
                shutdown.clone(),
                done_sender,
            )));
            tokio::spawn(async move {
                let _ = done_receiver.await;
                app.initial_load_done.store(true, Ordering::Release);
            });
        }
        SourceKind::Http => {
            let http = source::http::HttpSource {
                api_url: config.api_url.clone().context("--api-url")?,
                interval: config.poll_interval,
                timeout: config.poll_timeout,
                backoff_max: config.poll_backoff_max,
                proxy_key: config.proxy_key.clone(),
                push: config.push,
            };
            let (done_sender, done_receiver) = tokio::sync::oneshot::channel();
            tasks.push(tokio::spawn(http.run(
                client.clone(),
                loader.clone(),
                pairs_receiver,
                shutdown.clone(),
                done_sender,
            )));
            tokio::spawn(async move {
                let _ = done_receiver.await;
                app.initial_load_done.store(true, Ordering::Release);
            });
        }
    }

    let listener = server::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let address = listener.local_addr()?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls::server_config(cert, key)?),
        None => None,
    };
    tasks.push(tokio::spawn(server::serve(
        listener,
        tls,
        app,
        shutdown.clone(),
        config.shutdown_grace,
    )));
    let (stop_counting, counting_stopped) = shutdown::channel();
    let counting = tokio::spawn(analytics::run(
        loader.clone(),
        sinks,
        config.clone(),
        counting_stopped,
    ));
    if let Some(reloader) = reloader {
        tokio::spawn(watch_config(
            reloader,
            config.clone(),
            app,
            loader,
            pairs_sender,
            shutdown,
        ));
    }
    Ok(Edge {
        address,
        app,
        trigger,
        tasks,
        stop_counting,
        counting,
    })
}

/// Applies configuration changes on SIGHUP or when the config file changes.
async fn watch_config(
    reloader: Reloader,
    config: Config,
    app: &'static App,
    loader: Loader,
    pairs: tokio::sync::watch::Sender<Vec<config::KeyPair>>,
    shutdown: shutdown::Shutdown,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).ok();
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut last_seen = config.config_file.as_deref().and_then(modified);
    let mut current = config.reloadable();
    loop {
        let hup = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = hup => tracing::info!("SIGHUP: reloading the configuration"),
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                let now = config.config_file.as_deref().and_then(modified);
                if now == last_seen {
                    continue;
                }
                last_seen = now;
                tracing::info!("the config file changed: reloading");
            }
            _ = shutdown.wait() => return,
        }
        match reloader() {
            Ok(new) => {
                let reloadable = new.reloadable();
                if reloadable != current {
                    loader.set_config_key_pairs(reloadable.environment_key_pairs.clone());
                    let _ = pairs.send(reloadable.environment_key_pairs.clone());
                    app.rate_limiter.set(reloadable.rate_limits.clone());
                    app.settings.store(Arc::new(reloadable.clone()));
                    current = reloadable;
                    tracing::info!(
                        "configuration reloaded (keys, CORS origins, staleness bound, rate limits)"
                    );
                }
            }
            Err(error) => {
                tracing::error!(%error, "configuration not reloaded: keeping the current one")
            }
        }
    }
}
