//! Polling a Flagsmith-compatible API for environment documents: Flagsmith's own
//! (SaaS or self-hosted), another edge, or flagedge-core.
//!
//! For every server-side key, `GET {api_url}environment-document/` with
//! `X-Environment-Key`. Requests are conditional: `If-Modified-Since` from the
//! last `Last-Modified` (or the document's `updated_at`), which Flagsmith
//! understands, and `If-None-Match` only when the upstream has sent an ETag.
//! A 304 confirms the served document is current. Errors keep the last good
//! document and back off exponentially per key, up to a ceiling. Redirects are
//! followed. The key list can change at runtime (config reload).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::watch;

use super::Loader;
use crate::config::{KeyPair, redact};
use crate::http_client::HttpClient;
use crate::shutdown::Shutdown;

/// Largest document accepted from upstream.
const MAX_DOCUMENT_BYTES: usize = 64 << 20;
const MAX_REDIRECTS: usize = 5;

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
}

#[derive(Default)]
struct KeyState {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
    failures: u32,
    next_attempt: Option<Instant>,
}

/// What one poll found.
#[derive(Debug)]
enum Polled {
    Document(Bytes, Option<HeaderValue>, Option<HeaderValue>),
    NotModified,
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(
        "upstream rejected the server-side key ({0}); check that it is a server-side key of this upstream"
    )]
    Rejected(StatusCode),
    #[error("upstream answered {0}")]
    Status(StatusCode),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("timed out")]
    Timeout,
    #[error("too many redirects")]
    Redirects,
}

impl HttpSource {
    async fn fetch(
        &self,
        client: &HttpClient,
        pair: &KeyPair,
        state: &KeyState,
    ) -> Result<Polled, PollError> {
        let mut url = format!("{}environment-document/", self.api_url);
        for _ in 0..=MAX_REDIRECTS {
            let mut request = Request::get(&url)
                .header("x-environment-key", &pair.server_side_key)
                .header(header::ACCEPT, "application/json")
                .header(
                    header::USER_AGENT,
                    concat!("flagedge-edge/", env!("CARGO_PKG_VERSION")),
                );
            if let Some(etag) = &state.etag {
                request = request.header(header::IF_NONE_MATCH, etag.clone());
            }
            if let Some(last_modified) = &state.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, last_modified.clone());
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
                url = resolve(&url, location);
                continue;
            }
            return match status {
                StatusCode::OK => {
                    let etag = response.headers().get(header::ETAG).cloned();
                    let last_modified = response.headers().get(header::LAST_MODIFIED).cloned();
                    let body = tokio::time::timeout(
                        self.timeout,
                        Limited::new(response.into_body(), MAX_DOCUMENT_BYTES).collect(),
                    )
                    .await
                    .map_err(|_| PollError::Timeout)?
                    .map_err(|e| PollError::Transport(e.to_string()))?;
                    Ok(Polled::Document(body.to_bytes(), etag, last_modified))
                }
                StatusCode::NOT_MODIFIED => Ok(Polled::NotModified),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Err(PollError::Rejected(status))
                }
                other => Err(PollError::Status(other)),
            };
        }
        Err(PollError::Redirects)
    }

    async fn poll(
        &self,
        client: &HttpClient,
        loader: &Loader,
        pair: &KeyPair,
        state: &mut KeyState,
    ) {
        if state.next_attempt.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let outcome = match self.fetch(client, pair, state).await {
            Ok(Polled::NotModified) => {
                loader.store.confirm(&pair.client_side_key);
                Ok(())
            }
            Ok(Polled::Document(bytes, etag, last_modified)) => {
                match loader.offer(bytes, "http").await {
                    Ok(_) => {
                        state.etag = etag;
                        state.last_modified = last_modified.or_else(|| {
                            // No Last-Modified: derive it from the document, as edge-proxy does.
                            let snapshot = loader.store.load();
                            let served =
                                snapshot.environments.get(pair.client_side_key.as_str())?;
                            served.last_modified.clone()
                        });
                        if !loader
                            .store
                            .load()
                            .environments
                            .contains_key(pair.client_side_key.as_str())
                        {
                            Err(format!(
                                "the document for {} has a different api_key",
                                redact(&pair.client_side_key)
                            ))
                        } else {
                            Ok(())
                        }
                    }
                    Err(error) => Err(error.to_string()),
                }
            }
            Err(error) => Err(error.to_string()),
        };
        match outcome {
            Ok(()) => {
                state.failures = 0;
                state.next_attempt = None;
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let backoff = self
                    .interval
                    .saturating_mul(1 << state.failures.min(16))
                    .min(self.backoff_max);
                state.next_attempt = Some(Instant::now() + backoff);
                tracing::warn!(key = %redact(&pair.server_side_key), %error, failures = state.failures, retry_in_secs = backoff.as_secs_f64(), "environment document not updated");
                metrics::counter!("flagedge_source_errors_total", "source" => "http", "kind" => "fetch").increment(1);
            }
        }
    }

    /// Polls every key once (concurrently).
    async fn cycle(
        &self,
        client: &HttpClient,
        loader: &Loader,
        pairs: &[KeyPair],
        states: &mut HashMap<String, KeyState>,
    ) {
        states.retain(|key, _| pairs.iter().any(|p| &p.server_side_key == key));
        let mut polls = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let mut state = states.remove(&pair.server_side_key).unwrap_or_default();
            let (this, client, loader, pair) =
                (self.clone(), client.clone(), loader.clone(), pair.clone());
            polls.push(tokio::spawn(async move {
                this.poll(&client, &loader, &pair, &mut state).await;
                (pair.server_side_key, state)
            }));
        }
        for poll in polls {
            if let Ok((key, state)) = poll.await {
                states.insert(key, state);
            }
        }
    }

    /// Polls until shutdown. `first_cycle_done` is signalled after the first cycle.
    pub async fn run(
        self,
        client: HttpClient,
        loader: Loader,
        mut pairs: watch::Receiver<Vec<KeyPair>>,
        shutdown: Shutdown,
        first_cycle_done: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut states = HashMap::new();
        let mut first = Some(first_cycle_done);
        loop {
            let current = pairs.borrow_and_update().clone();
            loader
                .store
                .expect(current.iter().map(|p| p.client_side_key.clone()));
            self.cycle(&client, &loader, &current, &mut states).await;
            if let Some(done) = first.take() {
                let _ = done.send(());
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = pairs.changed() => tracing::info!("server-side keys changed: polling the new set"),
                _ = shutdown.wait() => return,
            }
        }
    }
}

/// Resolves a redirect target against the URL that answered.
fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    if location.starts_with('/') {
        format!("{}{location}", &base[..origin_end])
    } else {
        let dir_end = base.rfind('/').map_or(base.len(), |i| i + 1);
        format!("{}{location}", &base[..dir_end])
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn redirects_resolve() {
        let base = "http://up.example:8000/api/v1/environment-document/";
        assert_eq!(resolve(base, "https://other/x"), "https://other/x");
        assert_eq!(
            resolve(base, "/api/v2/doc/"),
            "http://up.example:8000/api/v2/doc/"
        );
        assert_eq!(
            resolve(base, "other/"),
            "http://up.example:8000/api/v1/environment-document/other/"
        );
    }
}
