//! Polling a Flagsmith-compatible API for environment documents: Flagsmith's own
//! (SaaS or self-hosted), another edge, or flagedge-core.
//!
//! For every environment, `GET {api_url}environment-document/` with one of its
//! server-side keys in `X-Environment-Key`. Requests are conditional:
//! `If-Modified-Since` from the last `Last-Modified` (or the document's
//! `updated_at`), which Flagsmith understands, and `If-None-Match` only when the
//! upstream has sent an ETag. A 304 confirms the served document is current.
//! Paged documents (`Link: <…>; rel="next"`) are read to the last page and merged
//! ([`super::pages`]); only a complete document is offered. Redirects are
//! followed.
//!
//! Errors keep the last good document. Until an environment's first document
//! arrives, retries come quickly (100 ms, doubling up to the poll interval), so
//! an edge started before its upstream serves as soon as the upstream does;
//! after that, failures back off exponentially up to a ceiling.
//!
//! The environments come from the configured key pairs (reloadable) and, with a
//! proxy key, from `{api_url}proxy/config/` ([`super::proxy_config`]), refreshed
//! every poll: environments it adds are served without a restart, ones it drops
//! stop being served (configured pairs never are), and a failed refresh changes
//! nothing.
//!
//! Push ([`super::push`]): against flagedge-core, the source also follows
//! `{api_url}edge/changes` (with the proxy key, else one feed per server-side
//! key) and fetches a changed environment at once; the poll, jittered so a fleet
//! does not poll in step, stays as the safety net. Flagsmith's API has no such
//! feed (404), and the edge then simply polls.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::watch;

use super::Loader;
use super::pages::{self, PageError, Pages};
use super::proxy_config::{self, ProxyEnvironment};
use super::push::{Feed, Followers, Reason, Wake};
use crate::config::{KeyPair, redact};
use crate::http_client::HttpClient;
use crate::shutdown::Shutdown;

/// Largest document accepted from upstream (all its pages together).
const MAX_DOCUMENT_BYTES: usize = 64 << 20;
/// Largest proxy configuration accepted.
const MAX_PROXY_CONFIG_BYTES: usize = 16 << 20;
const MAX_REDIRECTS: usize = 5;
/// The first retry after a failure, before an environment has been loaded.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// Times a paged read starts over when the document changes between pages.
const PAGE_RESTARTS: usize = 2;
/// Documents fetched at once (1,000 environments changed together queue behind these).
const FETCH_CONCURRENCY: usize = 32;

const USER_AGENT: &str = concat!("flagedge-edge/", env!("CARGO_PKG_VERSION"));

/// Polling settings.
#[derive(Clone, Debug)]
pub struct HttpSource {
    /// Base URL ending in `/`.
    pub api_url: String,
    /// Between polls.
    pub interval: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Backoff ceiling.
    pub backoff_max: Duration,
    /// A Flagsmith proxy key: environments come from `proxy/config/` too.
    pub proxy_key: Option<String>,
    /// Follow the upstream's change feed (flagedge-core's), if it has one.
    pub push: bool,
}

/// When to fetch something again: after the interval once it succeeded, sooner
/// (backing off) after failures. Environments and the proxy configuration share it.
#[derive(Default)]
struct Schedule {
    failures: u32,
    loaded: bool,
    due: Option<Instant>,
}

impl Schedule {
    fn is_due(&self, now: Instant) -> bool {
        self.due.is_none_or(|due| due <= now)
    }

    /// Next time after the interval, give or take 10 %, so a fleet drifts out of step.
    fn succeeded(&mut self, interval: Duration) {
        self.failures = 0;
        self.loaded = true;
        self.due = Some(Instant::now() + interval.mul_f64(0.9 + 0.2 * fastrand::f64()));
    }

    /// Due now, whatever the backoff said: the feed announced a change.
    fn wake(&mut self) {
        self.due = Some(Instant::now());
    }

    /// Records a failure; returns the wait before the next try.
    fn failed(&mut self, interval: Duration, ceiling: Duration) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let wait = backoff(self.failures, self.loaded, interval, ceiling);
        self.due = Some(Instant::now() + wait);
        wait
    }
}

/// Per environment: validators, retry timing, and why the next fetch happens.
#[derive(Default)]
struct PollState {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
    schedule: Schedule,
    reason: Reason,
}

/// What one poll found.
#[derive(Debug)]
enum Polled {
    Document {
        body: Bytes,
        etag: Option<HeaderValue>,
        last_modified: Option<HeaderValue>,
        pages: usize,
    },
    NotModified,
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("upstream rejected the key ({0}); check that it is a key of this upstream")]
    Rejected(StatusCode),
    #[error("upstream answered {0}")]
    Status(StatusCode),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("timed out")]
    Timeout,
    #[error("too many redirects")]
    Redirects,
    #[error("paged document: {0}")]
    Pages(#[from] PageError),
    #[error("proxy configuration is not a list of environments: {0}")]
    ProxyConfig(String),
}

/// One answered request: where it was answered from, status, headers, body.
struct Answer {
    url: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// Retry delay after `failures` consecutive failures.
fn backoff(failures: u32, loaded: bool, interval: Duration, ceiling: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    if loaded {
        interval.saturating_mul(2 << exponent).min(ceiling)
    } else {
        FIRST_RETRY
            .saturating_mul(1 << exponent)
            .min(interval)
            .min(ceiling)
    }
}

impl HttpSource {
    /// GET `url` with `headers`, following redirects; reads the body of a 200
    /// (at most `max_bytes`).
    async fn get(
        &self,
        client: &HttpClient,
        mut url: String,
        headers: &[(&str, &HeaderValue)],
        max_bytes: usize,
    ) -> Result<Answer, PollError> {
        for _ in 0..=MAX_REDIRECTS {
            let mut request = Request::get(&url)
                .header(header::ACCEPT, "application/json")
                .header(header::USER_AGENT, USER_AGENT);
            for (name, value) in headers {
                request = request.header(*name, (*value).clone());
            }
            let request = request
                .body(Full::default())
                .map_err(|e| PollError::Transport(e.to_string()))?;
            let response = tokio::time::timeout(self.timeout, client.request(request))
                .await
                .map_err(|_| PollError::Timeout)?
                .map_err(|e| PollError::Transport(e.to_string()))?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or(PollError::Status(status))?;
                url = pages::resolve(&url, location);
                continue;
            }
            let (parts, body) = response.into_parts();
            let body = if status == StatusCode::OK {
                tokio::time::timeout(self.timeout, Limited::new(body, max_bytes).collect())
                    .await
                    .map_err(|_| PollError::Timeout)?
                    .map_err(|e| PollError::Transport(e.to_string()))?
                    .to_bytes()
            } else {
                Bytes::new()
            };
            return match status {
                StatusCode::OK | StatusCode::NOT_MODIFIED => Ok(Answer {
                    url,
                    status,
                    headers: parts.headers,
                    body,
                }),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Err(PollError::Rejected(status))
                }
                other => Err(PollError::Status(other)),
            };
        }
        Err(PollError::Redirects)
    }

    /// Reads an environment's document, every page of it.
    async fn fetch(
        &self,
        client: &HttpClient,
        pair: &KeyPair,
        state: &PollState,
    ) -> Result<Polled, PollError> {
        let key = HeaderValue::from_str(&pair.server_side_key).map_err(|_| {
            PollError::Transport("the server-side key is not a header value".into())
        })?;
        let mut attempt = 0;
        loop {
            let mut headers = vec![("x-environment-key", &key)];
            if let Some(etag) = &state.etag {
                headers.push((header::IF_NONE_MATCH.as_str(), etag));
            }
            if let Some(last_modified) = &state.last_modified {
                headers.push((header::IF_MODIFIED_SINCE.as_str(), last_modified));
            }
            let first_url = format!("{}environment-document/", self.api_url);
            let first = self
                .get(client, first_url, &headers, MAX_DOCUMENT_BYTES)
                .await?;
            if first.status == StatusCode::NOT_MODIFIED {
                return Ok(Polled::NotModified);
            }
            let etag = first.headers.get(header::ETAG).cloned();
            let last_modified = first.headers.get(header::LAST_MODIFIED).cloned();
            let Some(next) = next_page(&first) else {
                return Ok(Polled::Document {
                    body: first.body,
                    etag,
                    last_modified,
                    pages: 1,
                });
            };
            match self.read_pages(client, &key, first, next).await {
                Ok(merged) => {
                    return Ok(Polled::Document {
                        pages: merged.count(),
                        body: merged.into_document(),
                        etag,
                        last_modified,
                    });
                }
                Err(PollError::Pages(PageError::Changed { .. })) if attempt < PAGE_RESTARTS => {
                    attempt += 1;
                    tracing::info!(key = %redact(&pair.server_side_key), "document changed while paging: reading it again");
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Follows `next` links from page one to the last page.
    async fn read_pages(
        &self,
        client: &HttpClient,
        key: &HeaderValue,
        first: Answer,
        mut next: String,
    ) -> Result<Pages, PollError> {
        let mut merged = Pages::new(&first.url, &first.body, MAX_DOCUMENT_BYTES)?;
        loop {
            merged.admit(&next)?;
            let page = self
                .get(
                    client,
                    next,
                    &[("x-environment-key", key)],
                    MAX_DOCUMENT_BYTES,
                )
                .await?;
            if page.status != StatusCode::OK {
                return Err(PollError::Status(page.status));
            }
            merged.add(&page.body)?;
            match next_page(&page) {
                Some(following) => next = following,
                None => return Ok(merged),
            }
        }
    }

    /// Reads the proxy configuration: the key pairs it grants.
    async fn fetch_proxy_config(
        &self,
        client: &HttpClient,
        proxy_key: &str,
    ) -> Result<Vec<KeyPair>, PollError> {
        let key = HeaderValue::from_str(proxy_key)
            .map_err(|_| PollError::Transport("the proxy key is not a header value".into()))?;
        let url = format!("{}proxy/config/", self.api_url);
        let answer = self
            .get(
                client,
                url,
                &[("x-proxy-key", &key)],
                MAX_PROXY_CONFIG_BYTES,
            )
            .await?;
        if answer.status != StatusCode::OK {
            return Err(PollError::Status(answer.status));
        }
        let environments: Vec<ProxyEnvironment> = serde_json::from_slice(&answer.body)
            .map_err(|e| PollError::ProxyConfig(e.to_string()))?;
        Ok(proxy_config::key_pairs(&environments, now()))
    }

    async fn poll(
        &self,
        client: &HttpClient,
        loader: &Loader,
        pair: &KeyPair,
        state: &mut PollState,
    ) {
        let started = Instant::now();
        let outcome = match self.fetch(client, pair, state).await {
            Ok(Polled::NotModified) => {
                loader.store.confirm(&pair.client_side_key);
                Ok(())
            }
            Ok(Polled::Document {
                body,
                etag,
                last_modified,
                pages,
            }) => match loader.offer(body, "http").await {
                Ok(_) => {
                    metrics::counter!("flagedge_documents_fetched_total", "source" => "http", "reason" => state.reason.label()).increment(1);
                    if pages > 1 {
                        tracing::debug!(environment = %redact(&pair.client_side_key), pages, "paged document read");
                        metrics::counter!("flagedge_source_pages_total", "source" => "http")
                            .increment(pages as u64);
                    }
                    state.etag = etag;
                    let snapshot = loader.store.load();
                    let served = snapshot.environments.get(pair.client_side_key.as_str());
                    // No Last-Modified: derive it from the document, as edge-proxy does.
                    state.last_modified =
                        last_modified.or_else(|| served.and_then(|s| s.last_modified.clone()));
                    match served {
                        Some(_) => Ok(()),
                        None => Err(format!(
                            "the document for {} has a different api_key",
                            redact(&pair.client_side_key)
                        )),
                    }
                }
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        state.reason = Reason::Poll;
        let took = started.elapsed();
        if took > self.interval {
            tracing::warn!(environment = %redact(&pair.client_side_key), took_secs = took.as_secs_f64(), interval_secs = self.interval.as_secs_f64(), "fetching the document took longer than the poll interval");
            metrics::counter!("flagedge_source_slow_fetches_total", "source" => "http")
                .increment(1);
        }
        match outcome {
            Ok(()) => state.schedule.succeeded(self.interval),
            Err(error) => {
                let wait = state.schedule.failed(self.interval, self.backoff_max);
                tracing::warn!(key = %redact(&pair.server_side_key), %error, failures = state.schedule.failures, retry_in_secs = wait.as_secs_f64(), "environment document not updated");
                metrics::counter!("flagedge_source_errors_total", "source" => "http", "kind" => "fetch").increment(1);
            }
        }
    }

    /// Polls every environment that is due (concurrently).
    async fn cycle(
        &self,
        client: &HttpClient,
        loader: &Loader,
        targets: &[KeyPair],
        states: &mut HashMap<String, PollState>,
    ) {
        states.retain(|client_key, _| targets.iter().any(|p| &p.client_side_key == client_key));
        let now = Instant::now();
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(FETCH_CONCURRENCY));
        let mut polls = Vec::with_capacity(targets.len());
        for pair in targets {
            let due = states
                .get(&pair.client_side_key)
                .is_none_or(|s| s.schedule.is_due(now));
            if !due {
                continue;
            }
            let mut state = states.remove(&pair.client_side_key).unwrap_or_default();
            let (this, client, loader, pair, slots) = (
                self.clone(),
                client.clone(),
                loader.clone(),
                pair.clone(),
                slots.clone(),
            );
            polls.push(tokio::spawn(async move {
                let _slot = slots.acquire_owned().await;
                this.poll(&client, &loader, &pair, &mut state).await;
                (pair.client_side_key, state)
            }));
        }
        for poll in polls {
            if let Ok((key, state)) = poll.await {
                states.insert(key, state);
            }
        }
    }

    /// Refreshes the proxy configuration if it is due; on success, serves what
    /// it grants and stops serving what it no longer lists.
    async fn refresh(
        &self,
        client: &HttpClient,
        loader: &Loader,
        configured: &[KeyPair],
        state: &mut Schedule,
        granted: &mut Vec<KeyPair>,
    ) {
        let Some(proxy_key) = &self.proxy_key else {
            return;
        };
        if !state.is_due(Instant::now()) {
            return;
        }
        match self.fetch_proxy_config(client, proxy_key).await {
            Ok(pairs) => {
                if !state.loaded || pairs != *granted {
                    tracing::info!(
                        environments = pairs
                            .iter()
                            .map(|p| &p.client_side_key)
                            .collect::<HashSet<_>>()
                            .len(),
                        keys = pairs.len(),
                        "proxy configuration applied"
                    );
                }
                loader.set_source_key_pairs(pairs.clone());
                let keep: HashSet<String> = configured
                    .iter()
                    .chain(&pairs)
                    .map(|p| p.client_side_key.clone())
                    .collect();
                loader.retain_environments(&keep);
                *granted = pairs;
                state.succeeded(self.interval);
            }
            Err(error) => {
                let wait = state.failed(self.interval, self.backoff_max);
                tracing::warn!(%error, failures = state.failures, retry_in_secs = wait.as_secs_f64(), "proxy configuration not refreshed; serving what was configured before");
                metrics::counter!("flagedge_source_errors_total", "source" => "http", "kind" => "proxy_config").increment(1);
            }
        }
    }

    /// Polls until shutdown. `first_cycle_done` is signalled after the first
    /// cycle that knew its environments (with a proxy key: after the first
    /// successful refresh of the proxy configuration).
    pub async fn run(
        self,
        client: HttpClient,
        loader: Loader,
        mut configured: watch::Receiver<Vec<KeyPair>>,
        shutdown: Shutdown,
        first_cycle_done: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut states: HashMap<String, PollState> = HashMap::new();
        let mut refresh_state = Schedule::default();
        let mut granted: Vec<KeyPair> = Vec::new();
        let mut first = Some(first_cycle_done);
        let (wake_sender, mut wakes) = tokio::sync::mpsc::unbounded_channel();
        let mut followers = Followers::new(client.clone(), wake_sender, shutdown.clone());
        loop {
            let configured_pairs = configured.borrow_and_update().clone();
            self.refresh(
                &client,
                &loader,
                &configured_pairs,
                &mut refresh_state,
                &mut granted,
            )
            .await;
            // One key per environment; configured pairs first.
            let mut seen = HashSet::new();
            let targets: Vec<KeyPair> = configured_pairs
                .iter()
                .chain(&granted)
                .filter(|p| seen.insert(p.client_side_key.clone()))
                .cloned()
                .collect();
            loader
                .store
                .expect(targets.iter().map(|p| p.client_side_key.clone()));
            if self.push {
                followers.set(self.feeds(&targets));
            }
            self.cycle(&client, &loader, &targets, &mut states).await;
            if (self.proxy_key.is_none() || refresh_state.loaded)
                && let Some(done) = first.take()
            {
                let _ = done.send(());
            }
            let next = states
                .values()
                .filter_map(|s| s.schedule.due)
                .chain(refresh_state.due)
                .min()
                .unwrap_or_else(|| Instant::now() + self.interval);
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = configured.changed() => tracing::info!("server-side keys changed: polling the new set"),
                Some(wake) = wakes.recv() => {
                    // Take every wake already queued: one cycle serves them all.
                    let mut pending = vec![wake];
                    while let Ok(more) = wakes.try_recv() {
                        pending.push(more);
                    }
                    for wake in pending {
                        self.apply(wake, &mut states, &mut refresh_state);
                    }
                }
                _ = shutdown.wait() => return,
            }
        }
    }

    /// The change feeds to follow: one with the proxy key, else one per server-side key.
    fn feeds(&self, targets: &[KeyPair]) -> Vec<Feed> {
        let url = format!("{}edge/changes", self.api_url);
        let credential = |name: &'static str, value: &str| {
            let mut value = HeaderValue::from_str(value).ok()?;
            value.set_sensitive(true);
            Some(Feed {
                name: "core",
                url: url.clone(),
                credential: (http::HeaderName::from_static(name), value),
            })
        };
        match &self.proxy_key {
            Some(proxy_key) => credential("x-proxy-key", proxy_key).into_iter().collect(),
            None => targets
                .iter()
                .filter_map(|p| credential("x-environment-key", &p.server_side_key))
                .collect(),
        }
    }

    /// Makes what a feed named due now.
    fn apply(&self, wake: Wake, states: &mut HashMap<String, PollState>, refresh: &mut Schedule) {
        match wake {
            Wake::Everything => {
                for state in states.values_mut() {
                    state.schedule.wake();
                    state.reason = Reason::Reconnect;
                }
                refresh.wake();
            }
            Wake::Changed(changed) => {
                for key in changed.into_iter().map(|c| c.environment_key) {
                    match states.get_mut(&key) {
                        Some(state) => {
                            state.schedule.wake();
                            state.reason = Reason::Push;
                        }
                        // Not served yet: the proxy configuration may have just granted it.
                        None if self.proxy_key.is_some() => refresh.wake(),
                        None => {}
                    }
                }
            }
        }
    }
}

/// The resolved `rel="next"` link of a page, if any.
fn next_page(answer: &Answer) -> Option<String> {
    let link = answer
        .headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(pages::next_link)?;
    Some(pages::resolve(&answer.url, link))
}

fn now() -> flagedge_engine::Timestamp {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    flagedge_engine::Timestamp(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_quick_until_loaded() {
        let interval = Duration::from_secs(10);
        let ceiling = Duration::from_secs(60);
        let first: Vec<u128> = (1..=9)
            .map(|n| backoff(n, false, interval, ceiling).as_millis())
            .collect();
        assert_eq!(first, [100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000]);
        assert_eq!(backoff(1, true, interval, ceiling), Duration::from_secs(20));
        assert_eq!(backoff(5, true, interval, ceiling), ceiling);
    }
}
