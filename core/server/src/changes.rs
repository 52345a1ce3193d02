//! The change signal: one task LISTENs on `flagedge_changes` and publishes the
//! highest revision announced into a `watch` channel, which long-polling
//! handlers wait on. Notifications are only a wake-up call — handlers always
//! re-read the database — so a lost one (a dropped connection) costs at most
//! the fallback poll interval, never a missed change.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::db::CHANNEL;

/// How often waiting handlers re-read the database even without a notification.
pub const FALLBACK_POLL: Duration = Duration::from_secs(5);

/// Starts the listener; the receiver sees each announced revision.
pub fn spawn(db: PgPool, mut shutdown: watch::Receiver<bool>) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        loop {
            let mut listener = match PgListener::connect_with(&db).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "change listener cannot connect; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                        _ = shutdown.changed() => return,
                    }
                }
            };
            if let Err(error) = listener.listen(CHANNEL).await {
                tracing::warn!(%error, "LISTEN failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
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
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    rx
}
