//! Targets and client connections: HTTP/1.1 keep-alive (the lean client in
//! `h1.rs`), or HTTP/2 with prior knowledge (h2c) on hyper's client connection.
//!
//! There is no pool: each worker owns a connection (HTTP/2 workers may share one
//! as streams), so a run uses exactly the connections it was asked for, and a
//! broken connection is replaced by the worker that saw it break. Response bodies
//! are drained and counted, never collected.

use std::net::{SocketAddr, ToSocketAddrs};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::workload::Prepared;

/// The HTTP version a run speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive.
    #[value(name = "1")]
    #[serde(rename = "http/1.1")]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (h2c).
    #[value(name = "2")]
    #[serde(rename = "h2c")]
    Http2,
}

impl Protocol {
    /// As reports show it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2 (h2c)",
        }
    }
}

/// Where requests go: an `http://host:port[/base]` URL, resolved once.
#[derive(Clone, Debug)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// The resolved address.
    pub address: SocketAddr,
    authority: String,
    host: HeaderValue,
    base_path: String,
}

impl Target {
    /// Parses and resolves a target URL. Only `http://` is supported.
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let uri: Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("target {url:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                anyhow::bail!("target {url:?}: only http:// is supported, not {other}://")
            }
            None => anyhow::bail!("target {url:?}: give a full URL, e.g. http://127.0.0.1:8000"),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("target {url:?} has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let address = (authority.host(), port)
            .to_socket_addrs()
            .map_err(|e| anyhow::anyhow!("cannot resolve {url:?}: {e}"))?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{url:?} resolves to no address"))?;
        // A base path (a Flagsmith API URL ends in /api/v1/) is accepted and the
        // scenario's `/api/v1/...` paths are appended to what precedes `/api/`.
        let path = uri.path();
        let base_path = path
            .find("/api/")
            .map_or(path, |i| &path[..i])
            .trim_end_matches('/')
            .to_string();
        Ok(Target {
            url: url.to_string(),
            address,
            authority: authority.as_str().to_string(),
            host: HeaderValue::from_str(authority.as_str())?,
            base_path,
        })
    }

    /// The Host header value.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// The path every request path is appended to (often empty).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The HTTP/2 request for a prepared call (the authority travels as a
    /// pseudo-header, taken from the absolute URI).
    pub fn request(&self, prepared: &Prepared) -> Request<Full<Bytes>> {
        let uri = format!(
            "http://{}{}{}",
            self.authority, self.base_path, prepared.path
        );
        let mut builder = Request::builder()
            .method(prepared.method.clone())
            .uri(uri)
            .header("x-environment-key", prepared.key.clone());
        if !prepared.body.is_empty() {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(etag) = &prepared.if_none_match {
            builder = builder.header(IF_NONE_MATCH, etag.clone());
        }
        builder
            .body(Full::new(prepared.body.clone()))
            .unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
    }
}

/// A connection's request side.
pub enum Sender {
    /// HTTP/1.1: one request at a time, on the worker's own lean connection (`h1.rs`).
    Http1(Box<crate::h1::Connection>),
    /// HTTP/2: clones share the connection as concurrent streams.
    Http2(http2::SendRequest<Full<Bytes>>),
}

/// What a response said, as far as a load run cares.
#[derive(Debug)]
pub struct Outcome {
    /// The status.
    pub status: StatusCode,
    /// The ETag, if any.
    pub etag: Option<HeaderValue>,
    /// Body bytes received.
    pub bytes: u64,
}

/// Why a request got no response.
#[derive(Debug)]
pub struct Failure(pub &'static str);

impl From<hyper::Error> for Failure {
    fn from(error: hyper::Error) -> Failure {
        Failure(
            if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
                "connection closed"
            } else if error.is_parse() {
                "malformed response"
            } else if error.is_timeout() {
                "timeout"
            } else {
                "i/o error"
            },
        )
    }
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
        .header(HOST, target.host.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_a_base_path() {
        let target = Target::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(target.base_path, "");
        assert_eq!(target.address.port(), 8000);
        let target = Target::parse("http://127.0.0.1:9/flagsmith/api/v1/").unwrap();
        assert_eq!(target.base_path, "/flagsmith");
        assert!(Target::parse("https://127.0.0.1").is_err());
        assert!(Target::parse("127.0.0.1:80").is_err());
    }
}
