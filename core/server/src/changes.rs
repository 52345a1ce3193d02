//! The change signal: one task LISTENs on `flagedge_changes` and publishes the
//! highest revision announced into a `watch` channel, which long-polling
//! handlers wait on. Notifications are only a wake-up call — handlers always
//! re-read the database — so a lost one (a dropped connection) costs at most
//! the fallback poll interval, never a missed change.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flagedge_cloud::changes::Changed;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::db::CHANNEL;

/// How often waiting handlers re-read the database even without a notification.
pub const FALLBACK_POLL: Duration = Duration::from_secs(5);

/// What a follower asks: its scope (organisation, environment) and cursor.
pub type Question = (Option<i64>, Option<i64>, u64);

/// An answer: the cursor to give and the environments changed.
pub type Answer = Arc<(u64, Vec<Changed>)>;

/// How long an answer is reused for the same question at the same announced
/// revision (short: it is what heals a lost notification, with the fallback poll).
const REUSE: Duration = Duration::from_secs(1);

/// Answers shared by followers asking the same question after the same
/// announcement: a change wakes every follower at once, and without this each
/// would run the same query (100 edges, 100 queries). One runs it, the rest
/// wait for its result. Reusing an answer is safe because any answer is a valid
/// cursor; a follower's next ask catches whatever committed after it.
#[derive(Default)]
pub struct SharedAnswers {
    answers: Mutex<HashMap<Question, Shared>>,
}

struct Shared {
    signal: u64,
    since: Instant,
    answer: Arc<tokio::sync::OnceCell<Answer>>,
}

impl SharedAnswers {
    /// The answer to `question` at announced revision `signal`: reused if one
    /// is fresh, else computed by `compute` (once, however many ask at once).
    pub async fn answer<E, F>(
        &self,
        question: Question,
        signal: u64,
        compute: F,
    ) -> Result<Answer, E>
    where
        F: Future<Output = Result<(u64, Vec<Changed>), E>>,
    {
        let cell = {
            let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            answers.retain(|_, shared| shared.since.elapsed() < REUSE);
            let shared = answers.entry(question).or_insert_with(|| Shared {
                signal,
                since: Instant::now(),
                answer: Arc::default(),
            });
            if shared.signal != signal {
                *shared = Shared {
                    signal,
                    since: Instant::now(),
                    answer: Arc::default(),
                };
            }
            Arc::clone(&shared.answer)
        };
        cell.get_or_try_init(|| async { compute.await.map(Arc::new) })
            .await
            .cloned()
    }
}

/// Starts the listener; the receiver sees each announced revision.
pub fn spawn(db: PgPool, mut shutdown: watch::Receiver<bool>) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        // Retried often (a refused connection costs nothing): every moment without
        // the listener delays the changes committed meanwhile to the next poll.
        let mut failing = false;
        loop {
            let mut listener = match PgListener::connect_with(&db).await {
                Ok(listener) => listener,
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "change listener cannot connect; retrying every 250 ms");
                    }
                    failing = true;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                        _ = shutdown.changed() => return,
                    }
                }
            };
            failing = false;
            if let Err(error) = listener.listen(CHANNEL).await {
                tracing::warn!(%error, "LISTEN failed; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            // Wake waiters once on (re)connecting: something may have changed meanwhile.
            tx.send_modify(|r| *r = r.saturating_add(0));
            loop {
                let next = tokio::select! {
                    next = listener.try_recv() => next,
                    _ = shutdown.changed() => return,
                };
                match next {
                    Ok(Some(notification)) => {
                        let revision = notification.payload().parse::<u64>().unwrap_or(0);
                        tx.send_modify(|r| *r = (*r).max(revision));
                    }
                    Ok(None) => {
                        // The connection dropped; try_recv reconnects on the next call.
                        tracing::warn!("change listener lost its connection; reconnecting");
                        tx.send_modify(|_| {});
                    }
                    Err(error) => {
                        tracing::warn!(%error, "change listener failed; reconnecting");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn followers_asking_together_share_one_query() {
        let shared = Arc::new(SharedAnswers::default());
        let queries = Arc::new(AtomicUsize::new(0));
        let ask = |question: Question, signal: u64| {
            let (shared, queries) = (Arc::clone(&shared), Arc::clone(&queries));
            tokio::spawn(async move {
                shared
                    .answer::<(), _>(question, signal, async {
                        queries.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok((
                            signal,
                            vec![Changed {
                                environment_key: signal.to_string(),
                                revision: signal,
                                server_keys: Vec::new(),
                            }],
                        ))
                    })
                    .await
                    .unwrap()
            })
        };
        let together: Vec<_> = (0..50).map(|_| ask((Some(1), None, 7), 9)).collect();
        for answer in together {
            assert_eq!(answer.await.unwrap().0, 9);
        }
        assert_eq!(queries.load(Ordering::SeqCst), 1);
        // Another question, or a newer announcement, is asked of the database.
        ask((None, Some(2), 7), 9).await.unwrap();
        assert_eq!(ask((Some(1), None, 7), 10).await.unwrap().0, 10);
        assert_eq!(queries.load(Ordering::SeqCst), 3);
    }
}
