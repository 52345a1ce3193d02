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
//! With `--push-url`, the source follows sync's change stream for its store
//! ([`super::push`]): an announced environment it already serves is read
//! straight from the store (sync announces it once the document is there, before
//! the manifest catches up); anything else — a new environment, new keys, a
//! reconnect — reads the manifest as a poll does. The interval poll, jittered,
//! is the safety net.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flagedge_cloud::CloudError;
use flagedge_cloud::changes::Changed;
use flagedge_cloud::dynamo::DocumentTable;
use flagedge_cloud::manifest::{Entry, Manifest};
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
    /// What has been loaded: a document is re-fetched when its revision moves.
    loaded: Manifest,
    /// The manifest as last read: an entry that moved *down* from it (a store
    /// restored, a bogus revision taken back) is fetched too, and the loader's
    /// order decides whether it is served — otherwise an edge that once loaded a
    /// revision the store later disowns would never follow that store again.
    seen: Manifest,
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
            seen: Manifest::default(),
            etag: None,
        }
    }

    /// Fetches `documents` (bounded concurrency) and offers them; records what
    /// loaded. Returns whether all of them did.
    async fn fetch(
        &mut self,
        loader: &Loader,
        documents: Vec<(String, Entry)>,
        reason: Reason,
    ) -> bool {
        let source = self.published.name();
        let slots = Arc::new(tokio::sync::Semaphore::new(FETCH_CONCURRENCY));
        let fetches: Vec<_> = documents
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
        let mut complete = true;
        for fetch in fetches {
            let Ok((key, mut entry, fetched)) = fetch.await else {
                complete = false;
                continue;
            };
            match fetched {
                Ok(_) => {
                    metrics::counter!("flagedge_documents_fetched_total", "source" => source, "reason" => reason.label()).increment(1);
                    // The store may already hold a newer revision than the one announced.
                    let served = loader
                        .store
                        .load()
                        .environments
                        .get(key.as_str())
                        .and_then(|e| e.version.revision);
                    entry.revision = entry.revision.max(served.unwrap_or(0));
                    loader.store.confirm(&key);
                    self.loaded.environments.insert(key, entry);
                }
                Err(error) => {
                    complete = false;
                    tracing::warn!(source, environment = %key, %error, "published document not loaded");
                    metrics::counter!("flagedge_source_errors_total", "source" => source, "kind" => "document").increment(1);
                }
            }
        }
        complete
    }

    /// Reads what the stream announced. Returns false when only the manifest can
    /// answer (an environment not served yet, new server-side keys).
    async fn fetch_announced(&mut self, loader: &Loader, changed: &[Changed]) -> bool {
        if changed.is_empty()
            || changed
                .iter()
                .any(|c| !self.loaded.environments.contains_key(&c.environment_key))
        {
            return false;
        }
        let newer: Vec<(String, Entry)> = changed
            .iter()
            .filter(|c| self.loaded.environments[&c.environment_key].revision < c.revision)
            .map(|c| {
                let entry = Entry {
                    revision: c.revision,
                    updated_at: None,
                };
                (c.environment_key.clone(), entry)
            })
            .collect();
        self.fetch(loader, newer, Reason::Push).await
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
        let moved_back = manifest.environments.iter().filter(|(key, entry)| {
            let below = |m: &Manifest| {
                m.environments
                    .get(*key)
                    .is_some_and(|l| entry.revision < l.revision)
            };
            below(&self.loaded)
                && self
                    .seen
                    .environments
                    .get(*key)
                    .is_some_and(|s| s.revision != entry.revision)
        });
        let changed: Vec<(String, flagedge_cloud::manifest::Entry)> = manifest
            .changed_since(&self.loaded)
            .chain(moved_back.map(|(k, e)| (k.as_str(), e)))
            .map(|(k, e)| (k.to_string(), e.clone()))
            .collect();
        if !self.fetch(loader, changed, reason).await {
            complete = false;
        }
        for key in manifest.environments.keys() {
            loader.store.confirm(key);
        }
        self.loaded.server_keys = manifest.server_keys.clone();
        self.seen = manifest;
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
            let wake = tokio::select! {
                _ = tokio::time::sleep_until(next) => None,
                Some(wake) = wakes.recv(), if followers.is_some() => Some(wake),
                _ = shutdown.wait() => {
                    followers.take();
                    return;
                }
            };
            let reason = match wake {
                None => Reason::Poll,
                Some(first) => {
                    // Everything queued is answered together.
                    let mut everything = first == Wake::Everything;
                    let mut announced = Vec::new();
                    for wake in
                        std::iter::once(first).chain(std::iter::from_fn(|| wakes.try_recv().ok()))
                    {
                        match wake {
                            Wake::Everything => everything = true,
                            Wake::Changed(changed) => announced.extend(changed),
                        }
                    }
                    if !everything && self.fetch_announced(&loader, &announced).await {
                        continue;
                    }
                    if everything {
                        Reason::Reconnect
                    } else {
                        Reason::Push
                    }
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
