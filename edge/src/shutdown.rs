//! Graceful shutdown: one signal, observed by every task.
//!
//! SIGTERM or SIGINT triggers it. The server stops accepting, finishes in-flight
//! requests within the grace period, sources stop polling, and analytics flushes
//! what it has counted before the process exits.

use tokio::sync::watch;

/// A handle that resolves when shutdown begins.
#[derive(Clone, Debug)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// Starts shutdown.
#[derive(Debug)]
pub struct Trigger {
    sender: watch::Sender<bool>,
}

/// A connected trigger and handle.
pub fn channel() -> (Trigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (Trigger { sender }, Shutdown { receiver })
}

impl Trigger {
    /// Begins shutdown (idempotent).
    pub fn trigger(&self) {
        let _ = self.sender.send(true);
    }
}

impl Shutdown {
    /// Waits until shutdown begins.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }

    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}
