//! The request as handlers see it: method, headers, target, and a body read
//! on demand within the limits; query parameters and JSON parsing.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::error::ApiError;

/// Limits applied per request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body.
    pub max_body_bytes: usize,
    /// Largest head.
    pub max_header_bytes: usize,
    /// Time to receive a request body.
    pub request_timeout: std::time::Duration,
    /// A connection that starts no request for this long is closed.
    pub idle_timeout: std::time::Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// A request's body: from the network, or already in memory (what the fuzz
/// target and the random-request test hand to [`super::handle`]).
pub enum RequestBody {
    /// Streaming from the connection.
    Network(Incoming),
    /// Whole, in memory.
    Buffered(Bytes),
}

/// The request as handlers see it.
pub struct Call {
    /// Method.
    pub method: Method,
    /// Headers.
    pub headers: HeaderMap,
    /// The request target.
    pub uri: http::Uri,
    pub(super) body: Option<RequestBody>,
    pub(super) limits: Limits,
    /// The connection's activity clock, for long-lived responses (SSE).
    pub activity: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl Call {
    /// A query parameter, percent-decoded (the first occurrence).
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.uri.query()?, name)
    }

    /// Reads the whole body within the size limit.
    pub async fn body(&mut self) -> Result<Bytes, ApiError> {
        let body = match self.body.take() {
            None => return Ok(Bytes::new()),
            Some(RequestBody::Buffered(bytes)) if bytes.len() > self.limits.max_body_bytes => {
                return Err(ApiError::too_large(self.limits.max_body_bytes));
            }
            Some(RequestBody::Buffered(bytes)) => return Ok(bytes),
            Some(RequestBody::Network(body)) => body,
        };
        let declared = self
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limits.max_body_bytes as u64) {
            return Err(ApiError::too_large(self.limits.max_body_bytes));
        }
        let mut read = std::pin::pin!(Limited::new(body, self.limits.max_body_bytes).collect());
        // Small bodies usually arrive with the head: try once before arming a timer.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(read.as_mut().poll(cx))).await;
        let collected = match first {
            std::task::Poll::Ready(collected) => collected,
            std::task::Poll::Pending => tokio::time::timeout(self.limits.request_timeout, read)
                .await
                .map_err(|_| ApiError::timeout())?,
        };
        match collected {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                Err(ApiError::too_large(self.limits.max_body_bytes))
            }
            Err(error) => Err(ApiError::bad_request(format!(
                "could not read the request body: {error}"
            ))),
        }
    }

    /// Reads a JSON body's bytes: refuses other content types and empty bodies.
    pub async fn json_body(&mut self) -> Result<Bytes, ApiError> {
        if let Some(content_type) = self.headers.get(header::CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim();
            let json = essence.eq_ignore_ascii_case("application/json")
                || essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case("+json");
            if !json {
                return Err(ApiError::unsupported_media_type(essence));
            }
        }
        let body = self.body().await?;
        if body.is_empty() {
            return Err(ApiError::bad_request(
                "the request body is empty; expected JSON",
            ));
        }
        Ok(body)
    }

    /// Reads and parses a JSON body; malformed JSON is a 400.
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let body = self.json_body().await?;
        parse_json(&body)
    }

    /// The environment key header, if present.
    pub fn environment_key(&self) -> Option<&str> {
        self.headers
            .get("x-environment-key")
            .and_then(|v| v.to_str().ok())
    }

    /// Whether the client accepts gzip.
    pub fn accepts_gzip(&self) -> bool {
        self.headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or_default().trim();
                let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
            })
    }

    /// Whether `If-None-Match` names this ETag (or `*`).
    pub fn etag_matches(&self, etag: &HeaderValue) -> bool {
        self.headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag.as_bytes() == etag.as_bytes())
    }
}

/// Parses JSON into `T`; syntax errors and shape errors are both 400s, worded apart.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = T::deserialize(&mut deserializer).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request(format!("malformed JSON: {e}"))
        } else {
            ApiError::bad_request(format!("invalid request: {e}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// The first value of a query parameter, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// Form decoding (`+` is a space), as query strings are encoded.
fn percent_decode(text: &str) -> String {
    percent_decode_path(&text.replace('+', " "))
}

/// Percent-decoding alone, as path segments are encoded (`+` is a plus).
fn percent_decode_path(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_decode() {
        assert_eq!(
            query_param("identifier=a%20b&x=1", "identifier").as_deref(),
            Some("a b")
        );
        assert_eq!(
            query_param("identifier=a+b", "identifier").as_deref(),
            Some("a b")
        );
        assert_eq!(
            query_param("feature=%E6%97%A5", "feature").as_deref(),
            Some("日")
        );
        assert_eq!(query_param("transient", "transient").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "b"), None);
        assert_eq!(query_param("a=%zz%", "a").as_deref(), Some("%zz%"));
    }
}
