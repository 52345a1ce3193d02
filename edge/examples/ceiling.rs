//! The physical reference for edge benchmarks: a bare hyper server (same runtime,
//! same HTTP stack as the edge) answering every request with fixed bytes.
//!
//! ```text
//! cargo run --release -p flagedge-edge --example ceiling -- 127.0.0.1:8100 body.json
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:8100".into());
    let body = match args.next() {
        Some(path) => Bytes::from(std::fs::read(path)?),
        None => Bytes::from_static(b"[]"),
    };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("ceiling: {} bytes on http://{address}", body.len());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .header(http::header::CONTENT_TYPE, "application/json")
                            .body(Full::new(body))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
