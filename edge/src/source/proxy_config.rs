//! Flagsmith's proxy-key protocol, the reading side: `GET {api_url}proxy/config/`
//! with `X-Proxy-Key` lists the environments a proxy serves and their
//! server-side keys. A key is usable while `active` and not past `expires_at`;
//! an environment with no usable key is skipped.

use flagedge_engine::Timestamp;
use serde::Deserialize;

use crate::config::KeyPair;

/// One environment in the proxy configuration (fields this edge does not use are ignored).
#[derive(Debug, Deserialize)]
pub struct ProxyEnvironment {
    /// The environment's client-side key.
    pub client_side_key: String,
    /// Its server-side keys.
    #[serde(default)]
    pub server_side_keys: Vec<ProxyServerKey>,
}

/// A server-side key as the proxy configuration lists it.
#[derive(Debug, Deserialize)]
pub struct ProxyServerKey {
    /// `ser.…`
    pub key: String,
    /// Revoked keys are listed inactive.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// ISO 8601, or null for never.
    #[serde(default)]
    pub expires_at: Option<String>,
}

fn active_by_default() -> bool {
    true
}

impl ProxyServerKey {
    /// Whether the key opens its environment at `now` (an unreadable expiry counts as expired).
    fn usable(&self, now: Timestamp) -> bool {
        let unexpired = match &self.expires_at {
            None => true,
            Some(at) => Timestamp::parse_iso8601(at).is_some_and(|at| at.0 > now.0),
        };
        self.active && unexpired && self.key.starts_with("ser.") && self.key.len() > 4
    }
}

/// The key pairs a proxy configuration grants at `now`: every usable key of
/// every environment that has one, in the listed order.
pub fn key_pairs(environments: &[ProxyEnvironment], now: Timestamp) -> Vec<KeyPair> {
    let mut pairs = Vec::new();
    for environment in environments {
        if environment.client_side_key.is_empty() {
            continue;
        }
        let before = pairs.len();
        pairs.extend(
            environment
                .server_side_keys
                .iter()
                .filter(|key| key.usable(now))
                .map(|key| KeyPair {
                    server_side_key: key.key.clone(),
                    client_side_key: environment.client_side_key.clone(),
                }),
        );
        if pairs.len() == before {
            tracing::warn!(
                environment = %crate::config::redact(&environment.client_side_key),
                "proxy configuration: no active, unexpired server-side key; environment skipped"
            );
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_usable_keys_grant_access() {
        let environments: Vec<ProxyEnvironment> = serde_json::from_str(
            r#"[
              {"id":1,"name":"a","client_side_key":"A","updated_at":"2026-01-01T00:00:00Z",
               "server_side_keys":[{"key":"ser.a-old","active":false,"expires_at":null},
                                   {"key":"ser.a-new","active":true,"expires_at":null},
                                   {"key":"ser.a-expired","active":true,"expires_at":"2026-01-01T00:00:00Z"},
                                   {"key":"ser.a-later","active":true,"expires_at":"2027-01-01T00:00:00Z"},
                                   {"key":"ser.a-bad","active":true,"expires_at":"soon"}]},
              {"client_side_key":"B","server_side_keys":[{"key":"ser.b","active":false}]},
              {"client_side_key":"C","server_side_keys":[{"key":"ser.c"}]}
            ]"#,
        )
        .unwrap();
        let now = Timestamp::parse_iso8601("2026-06-01T00:00:00Z").unwrap();
        let pairs = key_pairs(&environments, now);
        let keys: Vec<(&str, &str)> = pairs
            .iter()
            .map(|p| (p.server_side_key.as_str(), p.client_side_key.as_str()))
            .collect();
        assert_eq!(
            keys,
            [("ser.a-new", "A"), ("ser.a-later", "A"), ("ser.c", "C")]
        );
    }
}
