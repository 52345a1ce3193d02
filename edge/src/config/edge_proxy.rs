//! Flagsmith edge-proxy's `config.json`, translated into this edge's options so
//! switching is a matter of pointing `--config` (or `CONFIG_PATH`) at it.

use std::net::SocketAddr;

use serde::Deserialize;

use flagedge_options::{LogArgs, LogFormat};

use super::options::{Options, SourceKind};
use crate::keys::KeyPair;

/// Reads a `config.json`.
pub fn options(text: &str) -> Result<Options, String> {
    let proxy: EdgeProxyConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
    proxy.into_options()
}

/// Flagsmith edge-proxy's `config.json` (SPEC §5.1), for a drop-in switch.
#[derive(Debug, Deserialize)]
struct EdgeProxyConfig {
    #[serde(default)]
    environment_key_pairs: Vec<KeyPair>,
    proxy_key: Option<String>,
    api_url: Option<String>,
    #[serde(alias = "api_poll_frequency")]
    api_poll_frequency_seconds: Option<f64>,
    #[serde(alias = "api_poll_timeout")]
    api_poll_timeout_seconds: Option<f64>,
    allow_origins: Option<Vec<String>>,
    endpoint_caches: Option<EdgeProxyCaches>,
    server: Option<EdgeProxyServer>,
    health_check: Option<EdgeProxyHealthCheck>,
    logging: Option<EdgeProxyLogging>,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyCaches {
    identities: Option<EdgeProxyCache>,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyCache {
    #[serde(default)]
    use_cache: bool,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyServer {
    host: Option<String>,
    port: Option<u16>,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyHealthCheck {
    environment_update_grace_period_seconds: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct EdgeProxyLogging {
    log_format: Option<String>,
    log_level: Option<String>,
}

impl EdgeProxyConfig {
    fn into_options(self) -> Result<Options, String> {
        for pair in &self.environment_key_pairs {
            pair.validate()?;
        }
        let poll = self.api_poll_frequency_seconds.unwrap_or(10.0);
        let bind = match &self.server {
            Some(server) => {
                let host = server.host.as_deref().unwrap_or("0.0.0.0");
                let port = server.port.unwrap_or(8000);
                Some(
                    format!("{host}:{port}")
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("server: {e}"))?,
                )
            }
            None => None,
        };
        // edge-proxy: stale when not updated for poll interval + grace × environments; null disables.
        let max_document_age_secs = match &self.health_check {
            Some(EdgeProxyHealthCheck {
                environment_update_grace_period_seconds: None,
            }) => None,
            other => {
                let grace = other
                    .as_ref()
                    .and_then(|h| h.environment_update_grace_period_seconds)
                    .unwrap_or(30.0);
                Some(poll + grace * self.environment_key_pairs.len().max(1) as f64)
            }
        };
        Ok(Options {
            source: Some(SourceKind::Http),
            api_url: Some(
                self.api_url
                    .unwrap_or_else(|| "https://edge.api.flagsmith.com/api/v1/".into()),
            ),
            environment_key_pairs: Some(self.environment_key_pairs),
            proxy_key: self.proxy_key,
            poll_interval_secs: Some(poll),
            poll_timeout_secs: self.api_poll_timeout_seconds,
            allow_origins: self.allow_origins,
            identity_cache_bytes: self
                .endpoint_caches
                .and_then(|c| c.identities)
                // On: the edge's own default budget.
                .and_then(|c| (!c.use_cache).then_some(0)),
            bind,
            max_document_age_secs,
            logging: LogArgs {
                log_format: self.logging.as_ref().and_then(|l| {
                    l.log_format.as_deref().map(|format| match format {
                        "json" => LogFormat::Json,
                        _ => LogFormat::Text,
                    })
                }),
                log: self
                    .logging
                    .and_then(|l| l.log_level)
                    .map(|l| l.to_lowercase()),
            },
            ..Options::default()
        })
    }
}
