//! The outbound HTTP client (upstream documents, analytics): hyper with rustls,
//! HTTP/1.1 and HTTP/2, the system's root certificates.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP(S) client.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the client. Without usable system roots it still speaks plain HTTP.
pub fn new() -> HttpClient {
    crate::tls::install_crypto_provider();
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let connector = match builder.with_native_roots() {
        Ok(builder) => builder
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build(),
        Err(error) => {
            tracing::warn!(%error, "no system root certificates: HTTPS upstreams will fail");
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .build()
        }
    };
    Client::builder(TokioExecutor::new()).build(connector)
}
