//! Push: following a change feed so a change is fetched the moment it exists,
//! with the poll kept only as the safety net.
//!
//! A feed answers long-polls in `flagedge_cloud::changes`' shape: flagedge-core's
//! `{api_url}edge/changes` for the `http` source (authenticated by a proxy key or
//! a server-side key), flagedge-sync's `/api/v1/changes` for `s3`/`dynamodb`
//! (`--push-url`, bearer `--push-token`). Each answer becomes a [`Wake`] for the
//! source, which fetches through its usual conditional path — so a document is
//! never transferred twice for one revision, and the feed itself carries no
//! document bytes.
//!
//! The first answer after (re)connecting wakes everything once: whatever changed
//! while no one was listening is found by that one full check. Errors reconnect
//! with backoff (100 ms doubling to 1 s, jittered): a change made while the
//! upstream was down must arrive within about a second of its return, and a
//! refused or failed long-poll costs the upstream little. An upstream without a feed (404 —
//! Flagsmith's API) or refusing the credential one (401/403) ends the follower:
//! the source keeps polling (a changed key starts a new follower).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use flagedge_cloud::changes::{Changed, Listing};
use http::{HeaderName, HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::http_client::HttpClient;
use crate::shutdown::Shutdown;

/// How long each long-poll asks the feed to wait.
const LONG_POLL_SECS: u64 = 30;
/// Largest feed answer read.
const MAX_ANSWER_BYTES: usize = 8 << 20;
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between reconnects after errors.
const RECONNECT_CEILING: Duration = Duration::from_secs(1);
/// The longest wait after a feed that keeps resetting cursors.
const RETRY_CEILING: Duration = Duration::from_secs(30);

/// What a feed asks of its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Check everything once (connected, reconnected, or the cursor was reset).
    Everything,
    /// These environments changed (client-side keys, new revisions).
    Changed(Vec<Changed>),
}

/// Why a document is fetched (the `reason` of `flagedge_documents_fetched_total`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reason {
    /// The interval came round (or the first load).
    #[default]
    Poll,
    /// The change feed named the environment.
    Push,
    /// The feed (re)connected or reset its cursor: everything is checked once.
    Reconnect,
}

impl Reason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Poll => "poll",
            Reason::Push => "push",
            Reason::Reconnect => "reconnect",
        }
    }
}

/// One feed to follow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Feed {
    /// `core` or `sync`, for logs and metrics.
    pub name: &'static str,
    /// The feed's URL (its own query parameters, if any, are kept).
    pub url: String,
    /// The credential header sent with each long-poll.
    pub credential: (HeaderName, HeaderValue),
}

/// Why a long-poll failed.
#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("the upstream has no change feed ({0})")]
    Absent(StatusCode),
    #[error("the upstream refuses this credential a change feed ({0})")]
    Refused(StatusCode),
    #[error("answered {0}")]
    Status(StatusCode),
    #[error("{0}")]
    Transport(String),
    #[error("not a change listing: {0}")]
    Body(String),
}

impl Feed {
    async fn ask(
        &self,
        client: &HttpClient,
        cursor: Option<&Listing>,
    ) -> Result<Listing, FeedError> {
        let query = match cursor {
            None => format!("timeout={LONG_POLL_SECS}"),
            Some(cursor) => {
                let epoch = cursor
                    .epoch
                    .as_deref()
                    .map(|e| {
                        format!(
                            "&epoch={}",
                            percent_encoding::utf8_percent_encode(
                                e,
                                percent_encoding::NON_ALPHANUMERIC
                            )
                        )
                    })
                    .unwrap_or_default();
                format!("since={}{epoch}&timeout={LONG_POLL_SECS}", cursor.revision)
            }
        };
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let request = Request::get(format!("{}{separator}{query}", self.url))
            .header(header::ACCEPT, "application/json")
            .header(self.credential.0.clone(), self.credential.1.clone())
            .body(Full::<Bytes>::default())
            .map_err(|e| FeedError::Transport(e.to_string()))?;
        // The feed holds the request up to LONG_POLL_SECS; allow for that and a slow answer.
        let patience = Duration::from_secs(LONG_POLL_SECS + 15);
        let response = tokio::time::timeout(patience, client.request(request))
            .await
            .map_err(|_| FeedError::Transport("timed out".into()))?
            .map_err(|e| FeedError::Transport(e.to_string()))?;
        let status = response.status();
        match status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::NOT_IMPLEMENTED => {
                return Err(FeedError::Absent(status));
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(FeedError::Refused(status));
            }
            other => return Err(FeedError::Status(other)),
        }
        let body = tokio::time::timeout(
            patience,
            Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect(),
        )
        .await
        .map_err(|_| FeedError::Transport("timed out reading".into()))?
        .map_err(|e| FeedError::Transport(e.to_string()))?
        .to_bytes();
        serde_json::from_slice(&body).map_err(|e| FeedError::Body(e.to_string()))
    }

    /// Follows the feed until shutdown (or until the upstream turns out to have none).
    pub async fn follow(
        self,
        client: HttpClient,
        wakes: UnboundedSender<Wake>,
        shutdown: Shutdown,
    ) {
        let feed = self.name;
        let mut cursor: Option<Listing> = None;
        let mut failures = 0u32;
        let mut resets = 0u32;
        loop {
            let answer = tokio::select! {
                answer = self.ask(&client, cursor.as_ref()) => answer,
                _ = shutdown.wait() => break,
            };
            match answer {
                Ok(listing) => {
                    if failures > 0 || cursor.is_none() {
                        tracing::info!(feed, "following the change feed");
                    }
                    failures = 0;
                    metrics::gauge!("flagedge_push_connected", "feed" => feed).set(1.0);
                    // A feed that resets every cursor would answer at once forever: slow down.
                    resets = if listing.reset && cursor.is_some() {
                        resets + 1
                    } else {
                        0
                    };
                    if resets > 1 {
                        tracing::warn!(feed, "the change feed keeps resetting its cursor");
                        tokio::time::sleep(retry_after(resets)).await;
                    }
                    let wake = if cursor.is_none() || listing.reset {
                        Some(Wake::Everything)
                    } else if listing.revision != cursor.as_ref().map_or(0, |c| c.revision) {
                        metrics::counter!("flagedge_push_events_total", "feed" => feed)
                            .increment(1);
                        Some(Wake::Changed(listing.environments.clone()))
                    } else {
                        None
                    };
                    if let Some(wake) = wake
                        && wakes.send(wake).is_err()
                    {
                        break;
                    }
                    cursor = Some(Listing {
                        environments: Vec::new(),
                        ..listing
                    });
                }
                Err(FeedError::Absent(status)) => {
                    tracing::info!(feed, %status, "the upstream offers no change feed: polling only");
                    break;
                }
                // Asking again would be refused again; a changed key starts a new follower.
                Err(error @ FeedError::Refused(_)) => {
                    tracing::warn!(feed, %error, "polling only");
                    break;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    cursor = None;
                    metrics::gauge!("flagedge_push_connected", "feed" => feed).set(0.0);
                    metrics::counter!("flagedge_push_reconnects_total", "feed" => feed)
                        .increment(1);
                    // Jittered, so edges that lost the same upstream do not return in step.
                    let wait = retry_after(failures)
                        .min(RECONNECT_CEILING)
                        .mul_f64(0.5 + 0.5 * fastrand::f64());
                    tracing::warn!(feed, %error, retry_in_secs = wait.as_secs_f64(), "change feed lost; polling continues");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait() => break,
                    }
                }
            }
        }
        metrics::gauge!("flagedge_push_connected", "feed" => feed).set(0.0);
    }
}

/// The wait after the `n`th consecutive failure.
fn retry_after(n: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << n.saturating_sub(1).min(16))
        .min(RETRY_CEILING)
}

/// The feeds a source follows, each in its own task, changed as its credentials change.
pub struct Followers {
    client: HttpClient,
    wakes: UnboundedSender<Wake>,
    shutdown: Shutdown,
    running: HashMap<Feed, JoinHandle<()>>,
}

impl Followers {
    /// No feeds yet; wakes go to `wakes`.
    pub fn new(client: HttpClient, wakes: UnboundedSender<Wake>, shutdown: Shutdown) -> Followers {
        Followers {
            client,
            wakes,
            shutdown,
            running: HashMap::new(),
        }
    }

    /// Follows exactly `feeds`: new ones start, dropped ones stop.
    pub fn set(&mut self, feeds: impl IntoIterator<Item = Feed>) {
        let wanted: Vec<Feed> = feeds.into_iter().collect();
        self.running.retain(|feed, task| {
            let keep = wanted.contains(feed);
            if !keep {
                task.abort();
            }
            keep
        });
        for feed in wanted {
            if !self.running.contains_key(&feed) {
                let task = tokio::spawn(feed.clone().follow(
                    self.client.clone(),
                    self.wakes.clone(),
                    self.shutdown.clone(),
                ));
                self.running.insert(feed, task);
            }
        }
    }
}

impl Drop for Followers {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}
