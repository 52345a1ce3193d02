//! What a request exchange is made of, shared by both clients (`client.rs`'s
//! HTTP/2 and `h1.rs`'s lean HTTP/1.1): the target, the protocol, an outcome
//! and a failure.

use std::net::{SocketAddr, ToSocketAddrs};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, IF_NONE_MATCH};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::Full;

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
