//! # flagedge-sync
//!
//! Two jobs, each optional:
//! - [`publisher`]: follow flagedge-core's change feed (plus a periodic full
//!   reconcile) and publish environment documents and server-side keys to S3 and
//!   DynamoDB (formats in `flagedge-cloud`), where edges in every region read them;
//! - [`ingest`] + [`aggregate`] + [`store`]: receive edges' evaluation counts,
//!   aggregate them, and write them in batches to PostgreSQL (the tables core
//!   reads) or InfluxDB — never dropping counts silently.
//!
//! While publishing, [`stream`] tells the region's edges what was published the
//! moment it is readable (a long-poll), so they need not poll the store fast.
//!
//! Depends on `flagedge-cloud`; nothing depends on it.

pub mod aggregate;
pub mod config;
pub mod core_client;
pub mod ingest;
pub mod journal;
pub mod publisher;
pub mod store;
pub mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;

use crate::config::{AnalyticsStoreKind, Config};
use crate::publisher::{Publisher, Sink};

/// A running sync.
pub struct Sync {
    /// Where the API listens.
    pub address: SocketAddr,
    /// The aggregator, when ingest is on.
    pub aggregator: Option<Arc<aggregate::Aggregator>>,
    stop: tokio::sync::watch::Sender<bool>,
    stop_counting: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    counting: Option<JoinHandle<()>>,
}

impl Sync {
    /// Begins a graceful stop: the API stops accepting and finishes in-flight
    /// requests; [`Sync::wait`] then writes every count received.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for the API and the publisher, then has the counts written.
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        // Only now, with no request left in flight, is the last cut final.
        let _ = self.stop_counting.send(true);
        if let Some(counting) = self.counting {
            let _ = counting.await;
        }
    }
}

fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Starts sync.
pub async fn start(config: Config) -> anyhow::Result<Sync> {
    let prometheus = prometheus();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (stop_counting, counting_stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();

    // Documents.
    let mut sinks = Vec::new();
    let mut resources = None;
    if config.s3_bucket.is_some() || config.dynamodb_table.is_some() {
        let sdk = flagedge_cloud::aws::sdk_config(&config.aws).await;
        let s3 = config.s3_bucket.as_ref().map(|bucket| {
            flagedge_cloud::s3::S3Store::new(
                flagedge_cloud::aws::s3(&sdk),
                bucket.clone(),
                config.s3_prefix.clone(),
            )
        });
        let wanted = publisher::Resources {
            sdk: sdk.clone(),
            bucket: config.s3_bucket.clone(),
            table: config.dynamodb_table.clone(),
            identity_table: config.identity_table.clone(),
        };
        if config.create_resources {
            wanted.create().await?;
            resources = Some(wanted);
        }
        if let Some(store) = &s3 {
            sinks.push(Sink::S3(store.clone()));
        }
        if let Some(table) = &config.dynamodb_table {
            let documents = flagedge_cloud::dynamo::DocumentTable::new(
                flagedge_cloud::aws::dynamodb(&sdk),
                table.clone(),
                s3.clone(),
            );
            sinks.push(Sink::DynamoDb(documents));
        }
    }
    let changes =
        (!sinks.is_empty()).then(|| Arc::new(stream::Streams::new(sinks.iter().map(Sink::name))));
    if let Some(changes) = &changes {
        let core = core_client::CoreClient::new(
            config.core_url.clone().context("--core-url")?,
            config.core_token.clone(),
        );
        let publisher = Publisher::new(
            core,
            sinks,
            config.changes_timeout,
            config.reconcile_interval,
            Arc::clone(changes),
            resources,
        );
        tasks.push(tokio::spawn(publisher.run(stopped.clone())));
    }

    // Analytics.
    let (store, ready): (Arc<dyn store::Store>, ingest::Ready) = match config.analytics_store {
        AnalyticsStoreKind::Postgres => {
            let postgres = Arc::new(store::postgres::PostgresStore::connect(
                config
                    .analytics_database_url
                    .as_deref()
                    .context("--analytics-database-url")?,
            )?);
            let probe = Arc::clone(&postgres);
            (
                postgres,
                Arc::new(move || {
                    let probe = Arc::clone(&probe);
                    Box::pin(async move { probe.ping().await })
                }),
            )
        }
        AnalyticsStoreKind::Influxdb => {
            let influx =
                flagedge_influx::Influx::new(config.influxdb.clone().context("--influxdb-url")?);
            tasks.push(tokio::spawn(store::influx::set_up(
                influx.clone(),
                config.influxdb_downsampling,
                stopped.clone(),
            )));
            let probe = influx.clone();
            (
                Arc::new(store::influx::InfluxStore::new(
                    influx,
                    config.influxdb_host_tag.clone(),
                )),
                Arc::new(move || {
                    let probe = probe.clone();
                    Box::pin(async move { probe.ping().await })
                }),
            )
        }
        AnalyticsStoreKind::None => (
            Arc::new(store::Discard),
            Arc::new(|| Box::pin(async { true })),
        ),
    };
    let aggregator = config
        .ingest_token
        .as_ref()
        .map(|_| aggregate::Aggregator::new(store, config.max_pending_keys, config.flush_max_keys));
    let aggregator = match (aggregator, &config.journal_dir) {
        (Some(aggregator), Some(dir)) => {
            let (journal, left) = journal::Journal::open(dir)
                .with_context(|| format!("--journal-dir {}", dir.display()))?;
            let aggregator = Arc::new(aggregator.with_journal(journal));
            if !left.is_empty() {
                let recovering = Arc::clone(&aggregator);
                tokio::spawn(async move { recovering.recover(left).await });
            }
            Some(aggregator)
        }
        (aggregator, _) => aggregator.map(Arc::new),
    };
    let counting = aggregator.as_ref().map(|aggregator| {
        let aggregator = Arc::clone(aggregator);
        tokio::spawn(aggregator.run(
            config.flush_interval,
            counting_stopped,
            config.shutdown_grace,
        ))
    });
    let api = Arc::new(ingest::Api {
        aggregator: aggregator.clone(),
        token: config.ingest_token.clone(),
        max_batch_bytes: config.max_batch_bytes,
        prometheus,
        ready,
        changes,
        stopping: stopped.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let address = listener.local_addr()?;
    tasks.push(tokio::spawn(ingest::serve(
        listener,
        api,
        stopped,
        config.shutdown_grace,
    )));
    Ok(Sync {
        address,
        aggregator,
        stop,
        stop_counting,
        tasks,
        counting,
    })
}
