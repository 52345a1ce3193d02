//! Environment keys as the edge holds them: a server-side key paired with the
//! client-side key of its environment, and how keys appear in logs (never whole).

use serde::{Deserialize, Serialize};

/// A server-side key and the client-side key of the environment it opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    /// The `ser.` key.
    pub server_side_key: String,
    /// The environment's client-side key.
    pub client_side_key: String,
}

impl std::str::FromStr for KeyPair {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (server, client) = text
            .split_once('=')
            .ok_or_else(|| format!("expected SERVER_KEY=CLIENT_KEY, got {text:?}"))?;
        let pair = KeyPair {
            server_side_key: server.trim().into(),
            client_side_key: client.trim().into(),
        };
        pair.validate()?;
        Ok(pair)
    }
}

impl KeyPair {
    pub fn validate(&self) -> Result<(), String> {
        if !self.server_side_key.starts_with("ser.") || self.server_side_key.len() <= 4 {
            return Err(format!(
                "server-side key must start with \"ser.\": {:?}",
                redact(&self.server_side_key)
            ));
        }
        if self.client_side_key.is_empty() {
            return Err("client-side key is empty".into());
        }
        Ok(())
    }
}

/// Shows only the start of a key, for logs and errors.
pub fn redact(key: &str) -> String {
    let visible: String = key.chars().take(6).collect();
    format!("{visible}…")
}
