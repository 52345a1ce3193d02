//! A lean HTTP/1.1 keep-alive client connection, for measuring.
//!
//! hyper's client connection is built for applications: every request crosses a
//! channel to a connection task and its response comes back through another, so
//! a request costs two task hand-offs and a few allocations on top of the
//! syscalls. On a two-core machine where the load generator and the server share
//! the CPU, whatever the generator spends is taken from the server, and a heavy
//! generator caps both sides of a comparison at its own speed (the ratios drift
//! towards 1). So HTTP/1.1 requests are written and responses parsed here, in
//! the worker's own task: one write and usually one read per request, headers
//! parsed with `httparse` (hyper's own parser), bodies counted and discarded,
//! never collected. Content-Length and chunked bodies are understood; a response
//! with `Connection: close` (or a body delimited by the close) ends the connection.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::exchange::{Failure, Outcome, Target};
use crate::workload::Prepared;

const BUFFER: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

/// One connection.
pub struct Connection {
    stream: TcpStream,
    buffer: Box<[u8]>,
    /// Unconsumed bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
    request: Vec<u8>,
    closed: bool,
}

/// Where a response body ends.
enum Framing {
    Length(u64),
    Chunked,
    Close,
}

impl Connection {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Connection {
        Connection {
            stream,
            buffer: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            request: Vec::with_capacity(1024),
            closed: false,
        }
    }

    /// Whether the server ended the connection (the caller opens a new one).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends a prepared request to `target` and reads the response.
    pub async fn request(
        &mut self,
        target: &Target,
        prepared: &Prepared,
    ) -> Result<Outcome, Failure> {
        let mut head = std::mem::take(&mut self.request);
        head.clear();
        head.extend_from_slice(prepared.method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(target.base_path().as_bytes());
        head.extend_from_slice(prepared.path.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        head.extend_from_slice(target.host().as_bytes());
        head.extend_from_slice(b"\r\nx-environment-key: ");
        head.extend_from_slice(prepared.key.as_bytes());
        head.extend_from_slice(b"\r\n");
        if !prepared.body.is_empty() {
            head.extend_from_slice(b"content-type: application/json\r\n");
        }
        if let Some(etag) = &prepared.if_none_match {
            head.extend_from_slice(b"if-none-match: ");
            head.extend_from_slice(etag.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        let head_only = prepared.method == http::Method::HEAD;
        let result = self.send(&head, &prepared.body, head_only).await;
        self.request = head;
        result
    }

    /// Sends one request and reads its response. `head` is the request head
    /// without the final blank line and without Content-Length.
    pub async fn send(
        &mut self,
        head: &[u8],
        body: &Bytes,
        head_only: bool,
    ) -> Result<Outcome, Failure> {
        self.request.clear();
        self.request.extend_from_slice(head);
        if !body.is_empty() || head.starts_with(b"POST") || head.starts_with(b"PUT") {
            self.request.extend_from_slice(b"content-length: ");
            self.request
                .extend_from_slice(body.len().to_string().as_bytes());
            self.request.extend_from_slice(b"\r\n");
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(body);
        if let Err(error) = self.stream.write_all(&self.request).await {
            self.closed = true;
            return Err(io_failure(&error));
        }
        let result = self.read_response(head_only).await;
        if result.is_err() {
            self.closed = true;
        }
        result
    }

    async fn read_response(&mut self, head_only: bool) -> Result<Outcome, Failure> {
        loop {
            // Interim 1xx responses are skipped.
            let (status, etag, framing, close, head_length) = loop {
                if let Some(parsed) = self.parse_head()? {
                    break parsed;
                }
                self.fill().await?;
            };
            self.start += head_length;
            if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
                continue;
            }
            let bodiless =
                head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
            let bytes = if bodiless {
                0
            } else {
                match framing {
                    Framing::Length(n) => self.skip(n).await?,
                    Framing::Chunked => self.skip_chunked().await?,
                    Framing::Close => {
                        let mut n = (self.end - self.start) as u64;
                        self.start = self.end;
                        while self.fill_or_eof().await? {
                            n += (self.end - self.start) as u64;
                            self.start = self.end;
                        }
                        self.closed = true;
                        n
                    }
                }
            };
            if close {
                self.closed = true;
            }
            return Ok(Outcome {
                status,
                etag,
                bytes,
            });
        }
    }

    /// Parses a response head from the buffer, if it is all there.
    #[allow(clippy::type_complexity)]
    fn parse_head(
        &mut self,
    ) -> Result<Option<(StatusCode, Option<HeaderValue>, Framing, bool, usize)>, Failure> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let length = match response.parse(&self.buffer[self.start..self.end]) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Failure("malformed response")),
        };
        let status = response
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or(Failure("malformed response"))?;
        let mut etag = None;
        let mut framing = Framing::Close;
        let mut close = response.version == Some(0);
        for header in response.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(header.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or(Failure("malformed response"))?;
                if !matches!(framing, Framing::Chunked) {
                    framing = Framing::Length(n);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                if header
                    .value
                    .split(|&b| b == b',')
                    .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"))
                {
                    framing = Framing::Chunked;
                }
            } else if name.eq_ignore_ascii_case("etag") {
                etag = HeaderValue::from_bytes(header.value).ok();
            } else if name.eq_ignore_ascii_case("connection") {
                let value = header.value;
                if value.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if value.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
        Ok(Some((status, etag, framing, close, length)))
    }

    /// Reads more bytes; the connection ending is a failure.
    async fn fill(&mut self) -> Result<(), Failure> {
        if self.fill_or_eof().await? {
            Ok(())
        } else {
            Err(Failure("connection closed"))
        }
    }

    /// Reads more bytes; `false` when the server closed the connection.
    async fn fill_or_eof(&mut self) -> Result<bool, Failure> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buffer.len() {
            if self.start == 0 {
                return Err(Failure("response head too large"));
            }
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        match self.stream.read(&mut self.buffer[self.end..]).await {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(error) => Err(io_failure(&error)),
        }
    }

    /// Skips `n` body bytes.
    async fn skip(&mut self, n: u64) -> Result<u64, Failure> {
        let mut remaining = n;
        loop {
            let available = (self.end - self.start) as u64;
            let take = available.min(remaining);
            self.start += take as usize;
            remaining -= take;
            if remaining == 0 {
                return Ok(n);
            }
            self.fill().await?;
        }
    }

    /// A line (without CRLF) at the front of the buffer, consumed.
    async fn line(&mut self) -> Result<(usize, usize), Failure> {
        loop {
            if let Some(i) = self.buffer[self.start..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                let line = (self.start, self.start + i);
                self.start += i + 2;
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    /// Skips a chunked body, returning the payload size.
    async fn skip_chunked(&mut self) -> Result<u64, Failure> {
        let mut total = 0u64;
        loop {
            let (from, to) = self.line().await?;
            let size_text = self.buffer[from..to]
                .split(|&b| b == b';')
                .next()
                .unwrap_or_default();
            let size = std::str::from_utf8(size_text)
                .ok()
                .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                .ok_or(Failure("malformed response"))?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    let (from, to) = self.line().await?;
                    if from == to {
                        return Ok(total);
                    }
                }
            }
            total += self.skip(size).await?;
            let (from, to) = self.line().await?;
            if from != to {
                return Err(Failure("malformed response"));
            }
        }
    }
}

fn io_failure(error: &std::io::Error) -> Failure {
    use std::io::ErrorKind;
    Failure(match error.kind() {
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
            "connection closed"
        }
        _ => "i/o error",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A server that answers each request with the next canned response.
    async fn server(responses: Vec<&'static [u8]>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0u8; 4096];
            for response in responses {
                // One request per read is enough for these small requests.
                let n = stream.read(&mut buffer).await.unwrap();
                assert!(buffer[..n].starts_with(b"GET /x HTTP/1.1\r\n"));
                assert!(buffer[..n].ends_with(b"\r\n\r\n"));
                // Dribble the response out in small pieces.
                for piece in response.chunks(7) {
                    stream.write_all(piece).await.unwrap();
                    stream.flush().await.unwrap();
                }
            }
        });
        address
    }

    #[tokio::test]
    async fn reads_length_chunked_bodiless_and_close() {
        let address = server(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"a\"\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n",
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        ])
        .await;
        let mut connection = Connection::new(TcpStream::connect(address).await.unwrap());
        let head = b"GET /x HTTP/1.1\r\nhost: h\r\n";
        let empty = Bytes::new();
        let first = connection.send(head, &empty, false).await.unwrap();
        assert_eq!((first.status, first.bytes), (StatusCode::OK, 5));
        assert_eq!(first.etag.unwrap(), "\"a\"");
        let second = connection.send(head, &empty, false).await.unwrap();
        assert_eq!((second.status, second.bytes), (StatusCode::OK, 19));
        let third = connection.send(head, &empty, false).await.unwrap();
        assert_eq!((third.status, third.bytes), (StatusCode::NOT_MODIFIED, 0));
        assert!(!connection.is_closed());
        let fourth = connection.send(head, &empty, false).await.unwrap();
        assert_eq!((fourth.status, fourth.bytes), (StatusCode::FORBIDDEN, 2));
        assert!(connection.is_closed());
    }

    #[tokio::test]
    async fn a_dropped_connection_is_a_failure() {
        let address = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"]).await;
        let mut connection = Connection::new(TcpStream::connect(address).await.unwrap());
        let failure = connection
            .send(b"GET /x HTTP/1.1\r\nhost: h\r\n", &Bytes::new(), false)
            .await
            .unwrap_err();
        assert_eq!(failure.0, "connection closed");
        assert!(connection.is_closed());
    }
}
