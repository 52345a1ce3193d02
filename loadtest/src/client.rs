//! Targets and client connections: HTTP/1.1 keep-alive (the lean client in
//! `h1.rs`), or HTTP/2 with prior knowledge (h2c) on hyper's client connection.
//!
//! There is no pool: each worker owns a connection (HTTP/2 workers may share one
//! as streams), so a run uses exactly the connections it was asked for, and a
//! broken connection is replaced by the worker that saw it break. Response bodies
//! are drained and counted, never collected.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, ETAG, HOST};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

pub use crate::exchange::{Failure, Outcome, Protocol, Target};
use crate::workload::Prepared;

/// A connection's request side.
pub enum Sender {
    /// HTTP/1.1: one request at a time, on the worker's own lean connection (`h1.rs`).
    Http1(Box<crate::h1::Connection>),
    /// HTTP/2: clones share the connection as concurrent streams.
    Http2(http2::SendRequest<Full<Bytes>>),
}

/// Opens a connection.
pub async fn connect(target: &Target, protocol: Protocol) -> Result<Sender, Failure> {
    let stream = TcpStream::connect(target.address)
        .await
        .map_err(|_| Failure("connect"))?;
    let _ = stream.set_nodelay(true);
    match protocol {
        Protocol::Http1 => Ok(Sender::Http1(Box::new(crate::h1::Connection::new(stream)))),
        Protocol::Http2 => {
            let io = TokioIo::new(stream);
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(connection);
            Ok(Sender::Http2(sender))
        }
    }
}

impl Sender {
    /// Another handle on the same connection, for HTTP/2; `None` for HTTP/1.1.
    pub fn share(&self) -> Option<Sender> {
        match self {
            Sender::Http1(_) => None,
            Sender::Http2(sender) => Some(Sender::Http2(sender.clone())),
        }
    }

    /// Whether the connection can take another request.
    pub fn is_closed(&self) -> bool {
        match self {
            Sender::Http1(connection) => connection.is_closed(),
            Sender::Http2(sender) => sender.is_closed(),
        }
    }

    /// Sends a request and drains the response.
    pub async fn send(&mut self, target: &Target, prepared: &Prepared) -> Result<Outcome, Failure> {
        let sender = match self {
            Sender::Http1(connection) => return connection.request(target, prepared).await,
            Sender::Http2(sender) => sender,
        };
        sender.ready().await?;
        let response = sender.send_request(target.request(prepared)).await?;
        let status = response.status();
        let etag = response.headers().get(ETAG).cloned();
        let mut body = response.into_body();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                bytes += data.len() as u64;
            }
        }
        Ok(Outcome {
            status,
            etag,
            bytes,
        })
    }
}

/// One request over a fresh HTTP/1.1 connection, body collected (for `ceiling --fetch`).
pub async fn fetch(
    url: &str,
    method: http::Method,
    headers: &[(String, String)],
    body: Bytes,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let target = Target::parse(url)?;
    let uri: Uri = url.parse()?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let stream = TcpStream::connect(target.address).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, target.host().clone());
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    let response = sender.send_request(builder.body(Full::new(body))?).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}
