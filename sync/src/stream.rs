//! The change stream sync offers its region's edges: `GET /api/v1/changes`
//! long-polls (bearer-authenticated like ingest) until sync has *published*
//! something new to S3/DynamoDB, so an edge reading the regional store learns of
//! a change the moment the document is there to read, and core never serves
//! document bytes (or a connection) to the fleet.
//!
//! One log per store (`?store=s3|dynamodb`): an environment is announced the
//! moment its document is readable in *that* store (before the manifest is
//! updated, which an announced edge does not need), so an edge reading S3 does
//! not wait for DynamoDB's write, nor the other way round.
//!
//! Cursors count publications in this process (`flagedge_cloud::changes`), named
//! by an `epoch` chosen at start: a cursor from an earlier process, or one older
//! than the retained window, is answered with `reset` — the edge then checks
//! everything once, which is also what it does on (re)connecting.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use flagedge_cloud::changes::{Changed, Listing};
use tokio::sync::watch;

/// Publications kept for followers that fall behind; older cursors are reset.
const RETAINED: usize = 10_000;

/// A change log per store sync publishes to.
pub struct Streams {
    logs: Vec<(&'static str, ChangeLog)>,
}

impl Streams {
    /// One log for each store named.
    pub fn new(stores: impl IntoIterator<Item = &'static str>) -> Streams {
        Streams {
            logs: stores.into_iter().map(|s| (s, ChangeLog::new())).collect(),
        }
    }

    /// The log of `store`.
    pub fn get(&self, store: &str) -> Option<&ChangeLog> {
        self.logs
            .iter()
            .find(|(s, _)| *s == store)
            .map(|(_, log)| log)
    }

    /// The stores, for error messages.
    pub fn names(&self) -> Vec<&'static str> {
        self.logs.iter().map(|(s, _)| *s).collect()
    }
}

/// What sync has published to one store, in order.
pub struct ChangeLog {
    epoch: String,
    log: Mutex<Log>,
    latest: watch::Sender<u64>,
}

#[derive(Default)]
struct Log {
    /// `(cursor, environment)`: `None` when only the server-side keys changed.
    entries: VecDeque<(u64, Option<Changed>)>,
    last: u64,
}

/// What a follower asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ask {
    /// The store it reads (`s3`, `dynamodb`).
    pub store: String,
    /// The cursor it holds.
    pub since: u64,
    /// The epoch that cursor is from.
    pub epoch: Option<String>,
    /// Seconds it will wait.
    pub timeout: Duration,
}

impl Default for ChangeLog {
    fn default() -> Self {
        ChangeLog::new()
    }
}

impl ChangeLog {
    /// An empty log with a fresh epoch.
    pub fn new() -> ChangeLog {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        ChangeLog {
            // Letters and digits only: it travels in a query string as it is.
            epoch: format!("{nanos:x}p{:x}", std::process::id()),
            log: Mutex::default(),
            latest: watch::channel(0).0,
        }
    }

    /// Records that `environment_key` is published at `revision`.
    pub fn published(&self, environment_key: &str, revision: u64) {
        self.push(Some(Changed {
            environment_key: environment_key.to_string(),
            revision,
            server_keys: Vec::new(),
        }));
    }

    /// Records that the published server-side keys changed.
    pub fn keys_changed(&self) {
        self.push(None);
    }

    fn push(&self, entry: Option<Changed>) {
        let cursor = {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.last += 1;
            let cursor = log.last;
            log.entries.push_back((cursor, entry));
            while log.entries.len() > RETAINED {
                log.entries.pop_front();
            }
            cursor
        };
        self.latest.send_replace(cursor);
    }

    /// The answer to `ask` now (empty when nothing is newer).
    pub fn since(&self, ask: &Ask) -> Listing {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let oldest_kept = log.entries.front().map_or(log.last, |(c, _)| c - 1);
        let reset = ask.epoch.as_deref() != Some(self.epoch.as_str())
            || ask.since > log.last
            || ask.since < oldest_kept;
        let mut environments: Vec<Changed> = if reset {
            Vec::new()
        } else {
            log.entries
                .iter()
                .filter(|(cursor, _)| *cursor > ask.since)
                .filter_map(|(_, changed)| changed.clone())
                .collect()
        };
        // One line per environment, at its newest revision.
        environments.sort_by(|a, b| {
            (&a.environment_key, b.revision).cmp(&(&b.environment_key, a.revision))
        });
        environments.dedup_by(|later, kept| later.environment_key == kept.environment_key);
        Listing {
            revision: log.last,
            environments,
            reset,
            epoch: Some(self.epoch.clone()),
        }
    }

    /// Waits until something newer than `ask.since` is published (or the
    /// timeout passes, or `stop` turns true), then answers.
    pub async fn wait(&self, ask: &Ask, mut stop: watch::Receiver<bool>) -> Listing {
        let mut latest = self.latest.subscribe();
        let deadline = tokio::time::Instant::now() + ask.timeout;
        loop {
            latest.borrow_and_update();
            let listing = self.since(ask);
            if listing.reset || listing.revision != ask.since || *stop.borrow() {
                return listing;
            }
            tokio::select! {
                _ = latest.changed() => {}
                _ = tokio::time::sleep_until(deadline) => return listing,
                _ = stop.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(log: &ChangeLog, since: u64) -> Ask {
        Ask {
            store: "s3".into(),
            since,
            epoch: Some(log.epoch.clone()),
            timeout: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn followers_get_what_was_published_after_their_cursor() {
        let log = ChangeLog::new();
        // No epoch (a new follower) or another process's: reset, at the current cursor.
        let first = log.since(&Ask::default());
        assert!(first.reset);
        assert_eq!(first.revision, 0);
        log.published("a", 5);
        log.published("b", 6);
        log.published("a", 7);
        let all = log.since(&ask(&log, 0));
        assert!(!all.reset);
        assert_eq!(all.revision, 3);
        let seen: Vec<(&str, u64)> = all
            .environments
            .iter()
            .map(|c| (c.environment_key.as_str(), c.revision))
            .collect();
        assert_eq!(seen, [("a", 7), ("b", 6)]);
        assert_eq!(log.since(&ask(&log, 2)).environments.len(), 1);
        let stale_epoch = Ask {
            epoch: Some("another".into()),
            ..ask(&log, 2)
        };
        assert!(log.since(&stale_epoch).reset);
        assert!(log.since(&ask(&log, 99)).reset, "a cursor from the future");

        // A key change moves the cursor without naming an environment.
        log.keys_changed();
        let keys = log.since(&ask(&log, 3));
        assert_eq!(
            (keys.revision, keys.environments.len(), keys.reset),
            (4, 0, false)
        );

        // Waiting: times out empty, or wakes on a publication.
        let (_stop, stopped) = watch::channel(false);
        let idle = log.wait(&ask(&log, 4), stopped.clone()).await;
        assert_eq!((idle.revision, idle.environments.len()), (4, 0));
        let log = std::sync::Arc::new(log);
        let waiter = {
            let log = std::sync::Arc::clone(&log);
            let mut long = ask(&log, 4);
            long.timeout = Duration::from_secs(30);
            tokio::spawn(async move { log.wait(&long, stopped).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        log.published("c", 9);
        let woke = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(woke.environments[0].environment_key, "c");
    }

    #[test]
    fn cursors_older_than_the_window_are_reset() {
        let log = ChangeLog::new();
        for n in 0..(RETAINED as u64 + 5) {
            log.published("a", n);
        }
        assert!(log.since(&ask(&log, 1)).reset);
        assert!(!log.since(&ask(&log, 5)).reset);
    }
}
