//! Accepting connections: TCP, optional TLS, HTTP/1.1 and HTTP/2, limits, and a
//! graceful stop.
//!
//! Each connection is served by hyper-util's auto builder (HTTP/2 by ALPN or
//! preface, else HTTP/1.1 with keep-alive). Request heads are bounded in size;
//! a watchdog per connection closes it when no request has started for the idle
//! limit (a slowly trickled request head, or an idle keep-alive). The watchdog
//! reads a coarse clock once a second, instead of arming a timer per request
//! (which costs several per cent of throughput). Bodies are bounded by the API
//! layer. On shutdown the listener closes, idle connections are closed, in-flight
//! requests finish within the grace period.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::api::app::App;

use crate::shutdown::Shutdown;

/// Serves until shutdown, then drains connections for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: &'static App,
    shutdown: Shutdown,
    grace: Duration,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let idle_timeout = app.limits.idle_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(app.limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(app.limits.max_header_bytes as u32)
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    // One permit per open connection: at the cap, accepting waits, and further
    // connections wait in the kernel's backlog rather than costing descriptors.
    let open = Arc::new(tokio::sync::Semaphore::new(app.limits.max_connections));
    loop {
        if open.available_permits() == 0 {
            tracing::warn!(
                max_connections = app.limits.max_connections,
                "connection limit reached: new connections wait"
            );
            metrics::counter!("flagedge_connections_limited_total").increment(1);
        }
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.wait() => break,
        };
        metrics::gauge!("flagedge_connections_open")
            .set((app.limits.max_connections - open.available_permits()) as f64);
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(AtomicU64::new(crate::clock::now_ms()));
        let seen = Arc::clone(&activity);
        let service = service_fn(move |request: hyper::Request<Incoming>| {
            seen.store(crate::clock::now_ms(), Ordering::Relaxed);
            // Only long-lived responses need to keep the connection's clock going.
            let activity = request
                .uri()
                .path()
                .starts_with("/sse/")
                .then(|| Arc::clone(&seen));
            async move {
                Ok::<_, Infallible>(
                    crate::api::handle(
                        app,
                        request.map(crate::api::RequestBody::Network),
                        peer,
                        activity,
                    )
                    .await,
                )
            }
        });
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let connection = tokio::spawn(async move {
            let _permit = permit;
            let result = match acceptor {
                None => {
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
        tokio::spawn(watchdog(connection.abort_handle(), activity, idle_timeout));
    }
    drop(listener);
    tracing::info!(
        grace_secs = grace.as_secs_f64(),
        "stopped accepting; finishing in-flight requests"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over: closing remaining connections");
    }
}

/// Closes a connection on which no request has started within `idle`. It runs
/// as its own task, checking once a second, so the connection's task is not
/// woken for it; it ends when the connection does.
async fn watchdog(connection: tokio::task::AbortHandle, activity: Arc<AtomicU64>, idle: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if connection.is_finished() {
            return;
        }
        let quiet = crate::clock::now_ms().saturating_sub(activity.load(Ordering::Relaxed));
        if quiet > idle.as_millis() as u64 {
            connection.abort();
            return;
        }
    }
}

/// Binds the listener (separately, so callers learn the port before serving).
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}
