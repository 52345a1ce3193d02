//! Documents flagedge-sync published to S3 or DynamoDB (formats in
//! `flagedge-cloud`).
//!
//! Each poll reads only the manifest — from S3 conditionally on its ETag (an
//! unchanged manifest costs one 304), from DynamoDB as one small item — then
//! fetches just the documents whose revision moved, and takes the server-side
//! keys from it. Documents go through the same loader and swap rules as every
//! other source. An unchanged manifest confirms every document it lists, which is
//! what keeps `/ready` from calling them stale.
//!
//! With `--push-url`, the source follows sync's change stream ([`super::push`]):
//! each announcement polls the manifest at once (the document still comes from
//! the regional store); the interval poll, jittered, is the safety net.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flagedge_cloud::CloudError;
use flagedge_cloud::dynamo::DocumentTable;
use flagedge_cloud::manifest::Manifest;
use flagedge_cloud::s3::{ManifestPoll, S3Store};

use super::Loader;
use super::push::{Feed, Followers, Reason, Wake};
use crate::config::KeyPair;
use crate::http_client::HttpClient;
use crate::shutdown::Shutdown;

/// Documents fetched at once when many changed together.
const FETCH_CONCURRENCY: usize = 32;

/// Where the published documents are.
pub enum Published {
    /// An S3 bucket and prefix.
    S3(S3Store),
    /// A DynamoDB table.
    DynamoDb(DocumentTable),
}

impl Published {
    fn name(&self) -> &'static str {
        match self {
            Published::S3(_) => "s3",
            Published::DynamoDb(_) => "dynamodb",
        }
    }

    /// The manifest if it changed since the last poll (`None`: unchanged).
    async fn poll(
        &self,
        etag: &mut Option<String>,
        last: &Manifest,
    ) -> Result<Option<Manifest>, CloudError> {
        match self {
            Published::S3(store) => match store.poll_manifest(etag.as_deref()).await? {
                ManifestPoll::Changed(manifest, new_etag) => {
                    *etag = Some(new_etag);
                    Ok(Some(manifest))
                }
                ManifestPoll::Unchanged => Ok(None),
                ManifestPoll::Missing => Ok(Some(Manifest::default())),
            },
            Published::DynamoDb(table) => {
                let manifest = table.get_manifest().await?;
                Ok((manifest != *last).then_some(manifest))
            }
        }
    }

    async fn document(&self, client_key: &str) -> Result<Bytes, CloudError> {
        match self {
            Published::S3(store) => store.get_document(client_key).await,
            Published::DynamoDb(table) => table.get_document(client_key).await,
        }
    }
}

/// Follows the manifest.
pub struct PublishedSource {
    published: Arc<Published>,
    interval: Duration,
    push: Option<(Feed, HttpClient)>,
    /// What has been loaded: a document is re-fetched only when its revision moves.
    loaded: Manifest,
    etag: Option<String>,
}

impl PublishedSource {
    /// A source polling every `interval` and, given a feed, fetching when it says.
    pub fn new(
        published: Published,
        interval: Duration,
        push: Option<(Feed, HttpClient)>,
    ) -> PublishedSource {
        PublishedSource {
            published: Arc::new(published),
            interval,
            push,
            loaded: Manifest::default(),
            etag: None,
        }
    }

    /// One poll: returns whether it succeeded.
    pub async fn poll(&mut self, loader: &Loader, reason: Reason) -> bool {
        let source = self.published.name();
        let manifest = match self.published.poll(&mut self.etag, &self.loaded).await {
            Ok(Some(manifest)) => manifest,
            Ok(None) => {
                for key in self.loaded.environments.keys() {
                    loader.store.confirm(key);
                }
                return true;
            }
            Err(error) => {
                tracing::warn!(source, %error, "published documents not polled");
                metrics::counter!("flagedge_source_errors_total", "source" => source, "kind" => "fetch").increment(1);
                return false;
            }
        };
        loader.store.expect(manifest.environments.keys().cloned());
        let pairs: Vec<KeyPair> = manifest
            .server_keys
            .iter()
            .map(|(server, client)| KeyPair {
                server_side_key: server.clone(),
                client_side_key: client.clone(),
            })
            .collect();
        loader.set_source_key_pairs(pairs);
        let mut complete = true;
        let changed: Vec<(String, flagedge_cloud::manifest::Entry)> = manifest
            .changed_since(&self.loaded)
            .map(|(k, e)| (k.to_string(), e.clone()))
            .collect();
        let slots = Arc::new(tokio::sync::Semaphore::new(FETCH_CONCURRENCY));
        let fetches: Vec<_> = changed
            .into_iter()
            .map(|(key, entry)| {
                let (published, loader, slots) = (
                    Arc::clone(&self.published),
                    loader.clone(),
                    Arc::clone(&slots),
                );
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    let fetched = match published.document(&key).await {
                        Ok(bytes) => loader.offer(bytes, source).await.map_err(|e| e.to_string()),
                        Err(error) => Err(error.to_string()),
                    };
                    (key, entry, fetched)
                })
            })
            .collect();
        for fetch in fetches {
            let Ok((key, entry, fetched)) = fetch.await else {
                complete = false;
                continue;
            };
            match fetched {
                Ok(_) => {
                    metrics::counter!("flagedge_documents_fetched_total", "source" => source, "reason" => reason.label()).increment(1);
                    self.loaded.environments.insert(key, entry);
                }
                Err(error) => {
                    complete = false;
                    tracing::warn!(source, environment = %key, %error, "published document not loaded");
                    metrics::counter!("flagedge_source_errors_total", "source" => source, "kind" => "document").increment(1);
                }
            }
        }
        for key in manifest.environments.keys() {
            loader.store.confirm(key);
        }
        self.loaded.server_keys = manifest.server_keys;
        if !complete {
            // Poll the manifest in full next time, to retry the documents that failed.
            self.etag = None;
        }
        complete
    }

    /// Polls until shutdown, signalling after the first poll; with a feed, also
    /// whenever it announces something.
    pub async fn run(
        mut self,
        loader: Loader,
        shutdown: Shutdown,
        first_poll_done: tokio::sync::oneshot::Sender<()>,
    ) {
        self.poll(&loader, Reason::Poll).await;
        let _ = first_poll_done.send(());
        let (wake_sender, mut wakes) = tokio::sync::mpsc::unbounded_channel();
        let mut followers = self.push.take().map(|(feed, client)| {
            let mut followers = Followers::new(client, wake_sender, shutdown.clone());
            followers.set([feed]);
            followers
        });
        let jittered = |interval: Duration| interval.mul_f64(0.9 + 0.2 * fastrand::f64());
        let mut next = tokio::time::Instant::now() + jittered(self.interval);
        loop {
            let reason = tokio::select! {
                _ = tokio::time::sleep_until(next) => Reason::Poll,
                Some(wake) = wakes.recv(), if followers.is_some() => {
                    // Everything queued is answered by this one manifest read.
                    let mut reason = match wake {
                        Wake::Everything => Reason::Reconnect,
                        Wake::Environments(_) => Reason::Push,
                    };
                    while let Ok(more) = wakes.try_recv() {
                        if more == Wake::Everything {
                            reason = Reason::Reconnect;
                        }
                    }
                    reason
                }
                _ = shutdown.wait() => {
                    followers.take();
                    return;
                }
            };
            if reason == Reason::Reconnect {
                // A full check: read the whole manifest, not just a changed ETag.
                self.etag = None;
            }
            self.poll(&loader, reason).await;
            next = tokio::time::Instant::now() + jittered(self.interval);
        }
    }
}
