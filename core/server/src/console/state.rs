//! What console handlers share, and the console's settings.

use std::time::Duration;

use axum::Router;

use crate::state::AppState;

/// What console handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    /// Core's state (the session table lives in its database).
    pub app: AppState,
    /// The admin API, called in process.
    pub api: Router,
    /// Mark cookies `Secure` even without `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// How long a session lasts.
    pub session_ttl: Duration,
}

/// The console's settings.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// Mark cookies `Secure` (core behind TLS).
    pub secure_cookies: bool,
    /// How long a session lasts.
    pub session_ttl: Duration,
}

impl Default for ConsoleSettings {
    fn default() -> ConsoleSettings {
        ConsoleSettings {
            secure_cookies: false,
            session_ttl: Duration::from_secs(8 * 3600),
        }
    }
}
