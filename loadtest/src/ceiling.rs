//! The ceiling: a bare hyper server answering every request with fixed bytes.
//!
//! It runs on the same runtime (tokio, multi-threaded) and the same HTTP stack
//! (hyper-util's auto builder: HTTP/1.1 keep-alive, HTTP/2 by preface) with the
//! same protocol settings as the edge, and does nothing else: no routing, no
//! keys, no evaluation, no metrics. What it serves per second on a machine is
//! the most any hyper service can, so the edge's throughput is quoted as a ratio
//! to it, measured alternately in the same session (`compare`). The bytes can be
//! given, read from a file, or fetched once from a URL (e.g. the edge's own
//! response, so both send the same body).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// The edge's connection settings (`edge/src/server.rs`), without its routing.
pub fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(16 * 1024).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(16 * 1024)
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    builder
}

/// Serves `body` on every connection `listener` accepts, forever.
pub async fn serve(listener: TcpListener, body: Bytes, content_type: HeaderValue) {
    let builder: &'static auto::Builder<TokioExecutor> = Box::leak(Box::new(builder()));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let content_type = content_type.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let mut response = Response::new(Full::new(body.clone()));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, content_type.clone());
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}
