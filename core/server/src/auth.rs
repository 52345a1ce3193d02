//! Who may call what.
//!
//! - Admin API: `Authorization: Api-Key <key>`. Keys are `<prefix>.<secret>`;
//!   the prefix finds the row, and the SHA-256 of the presented key is compared
//!   with the stored one in constant time. A key with an organisation sees only
//!   that organisation's objects (others are 404, never 403, so ids do not
//!   leak); a key without one (made by `flagedge-core init`) sees everything.
//! - Edge/sync API: `Authorization: Bearer <sync token>` (`--sync-token`), or
//!   an admin key. The change feed (`/api/v1/edge/changes`) also takes what an
//!   edge holds: a proxy key (its organisation) or a server-side key (its
//!   environment), so edges reading core directly are pushed changes too.
//! - Proxy API: `X-Proxy-Key: pk.<prefix>.<secret>`, checked like an admin
//!   key (prefix → row, SHA-256 compared in constant time); it sees its
//!   organisation only.
//!
//! - SDK endpoints that take either kind of environment key
//!   (`X-Environment-Key`): a client-side key, or an active, unexpired
//!   server-side key, which stands for its environment.
//!
//! Missing or wrong credentials are 401, except on the proxy API and the SDK
//! endpoints, which answer 403 as Flagsmith's key-in-a-header endpoints do
//! (there is no HTTP authentication scheme to name in a `WWW-Authenticate`).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use flagedge_engine::KeyKind;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::keys::{self, USABLE_SERVER_KEY};
use crate::state::AppState;

/// An authenticated admin.
#[derive(Clone, Copy, Debug)]
pub struct Admin {
    /// The organisation the key is limited to; `None`: every organisation.
    pub organisation: Option<i64>,
    /// The key's id: what the audit log records as the writer.
    pub key_id: i64,
}

impl Admin {
    /// Whether this admin may see objects of `organisation`.
    pub fn may_see(&self, organisation: i64) -> bool {
        self.organisation.is_none_or(|o| o == organisation)
    }

    /// 404 unless this admin may see objects of `organisation`.
    pub fn check(&self, organisation: i64) -> Result<(), ApiError> {
        if self.may_see(organisation) {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }
}

impl crate::db::Writer for Admin {
    fn admin_key_id(&self) -> i64 {
        self.key_id
    }
}

const MISSING: &str = "Authentication credentials were not provided.";
const INVALID: &str = "Invalid API key.";

/// The admin a key (`<prefix>.<secret>`) stands for: 401 unless it is known, unrevoked and unexpired.
pub async fn admin_from_key(state: &AppState, key: &str) -> Result<Admin, ApiError> {
    let Some((prefix, _)) = key.split_once('.') else {
        return Err(ApiError::Unauthorized(INVALID));
    };
    let row: Option<(i64, Option<i64>, Vec<u8>)> = sqlx::query_as(
        "SELECT id, organisation_id, key_hash FROM admin_api_keys \
         WHERE prefix = $1 AND NOT revoked AND (expiry_date IS NULL OR expiry_date > now())",
    )
    .bind(prefix)
    .fetch_optional(&state.db)
    .await?;
    // Hash even when no row matched, so both paths cost the same.
    let presented = keys::hash(key);
    match row {
        Some((key_id, organisation, stored)) if bool::from(presented.ct_eq(&stored)) => Ok(Admin {
            organisation,
            key_id,
        }),
        _ => Err(ApiError::Unauthorized(INVALID)),
    }
}

/// An admin's request: the application and the admin the request
/// authenticates, what every admin handler starts from (the [`Admin`]
/// extractor's checks, then the state).
pub struct Caller {
    /// The application.
    pub state: AppState,
    /// Who asks.
    pub admin: Admin,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let admin = Admin::from_request_parts(parts, state).await?;
        Ok(Caller {
            state: state.clone(),
            admin,
        })
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, ApiError> {
        // The console calls the API in process for a signed-in session; its
        // admin travels as a request extension, which no network request can set.
        if let Some(admin) = parts.extensions.get::<Admin>() {
            return Ok(*admin);
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized(MISSING))?;
        let key = header
            .strip_prefix("Api-Key ")
            .or_else(|| header.strip_prefix("Token "))
            .ok_or(ApiError::Unauthorized(INVALID))?
            .trim();
        admin_from_key(state, key).await
    }
}

/// A caller of the edge/sync API: the sync token or an admin key.
#[derive(Clone, Copy, Debug)]
pub struct SyncCaller {
    /// The organisation an admin key is limited to; `None` for the sync token.
    pub organisation: Option<i64>,
}

impl FromRequestParts<AppState> for SyncCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<SyncCaller, ApiError> {
        // The console, in process, as a signed-in admin (see `Admin`).
        if let Some(admin) = parts.extensions.get::<Admin>() {
            return Ok(SyncCaller {
                organisation: admin.organisation,
            });
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized(MISSING))?;
        if let Some(token) = header.strip_prefix("Bearer ") {
            let expected = state
                .sync_token_hash
                .as_ref()
                .ok_or(ApiError::Unauthorized(INVALID))?;
            return if bool::from(keys::hash(token.trim()).ct_eq(expected)) {
                Ok(SyncCaller { organisation: None })
            } else {
                Err(ApiError::Unauthorized(INVALID))
            };
        }
        let admin = Admin::from_request_parts(parts, state).await?;
        Ok(SyncCaller {
            organisation: admin.organisation,
        })
    }
}

/// What a change-feed caller may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedScope {
    /// Every environment (the sync token, an unrestricted admin key).
    Everything,
    /// One organisation's environments (a restricted admin key, a proxy key).
    Organisation(i64),
    /// One environment (its server-side key).
    Environment(i64),
}

/// A caller of the change feed: a [`SyncCaller`], a proxy key, or a server-side key.
#[derive(Clone, Copy, Debug)]
pub struct FeedCaller {
    /// What it may see.
    pub scope: FeedScope,
}

impl FromRequestParts<AppState> for FeedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<FeedCaller, ApiError> {
        if parts.headers.contains_key(PROXY_KEY_HEADER) {
            let proxy = ProxyCaller::from_request_parts(parts, state).await?;
            return Ok(FeedCaller {
                scope: FeedScope::Organisation(proxy.organisation),
            });
        }
        if let Some(key) = parts
            .headers
            .get(ENVIRONMENT_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            // Server-only: a client-side key (public) opens no feed.
            if KeyKind::of(key.trim()) != KeyKind::Server {
                return Err(ApiError::Forbidden(FEED_NEEDS_SERVER_KEY));
            }
            let caller = EnvironmentCaller::from_request_parts(parts, state).await?;
            return Ok(FeedCaller {
                scope: FeedScope::Environment(caller.environment),
            });
        }
        let sync = SyncCaller::from_request_parts(parts, state).await?;
        Ok(FeedCaller {
            scope: sync
                .organisation
                .map_or(FeedScope::Everything, FeedScope::Organisation),
        })
    }
}

const FEED_NEEDS_SERVER_KEY: &str = "The change feed needs a server-side key (ser.…).";

/// A caller of the proxy API: an unrevoked proxy key.
#[derive(Clone, Copy, Debug)]
pub struct ProxyCaller {
    /// The key's id (scopes its idempotency keys).
    pub key_id: i64,
    /// The organisation the key belongs to.
    pub organisation: i64,
}

/// The header a proxy key travels in.
pub const PROXY_KEY_HEADER: &str = "x-proxy-key";

const PROXY_MISSING: &str = "A proxy key (X-Proxy-Key: pk.…) is required.";
const PROXY_INVALID: &str = "Invalid or revoked proxy key.";

impl FromRequestParts<AppState> for ProxyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ProxyCaller, ApiError> {
        let key = parts
            .headers
            .get(PROXY_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Forbidden(PROXY_MISSING))?;
        // Client, server and admin keys do not have this shape; nothing else
        // reaches the database.
        let prefix = keys::proxy_key_prefix(key).ok_or(ApiError::Forbidden(PROXY_INVALID))?;
        let row: Option<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT id, organisation_id, key_hash FROM proxy_keys WHERE prefix = $1 AND NOT revoked",
        )
        .bind(prefix)
        .fetch_optional(&state.db)
        .await?;
        let presented = keys::hash(key);
        match row {
            Some((key_id, organisation, stored)) if bool::from(presented.ct_eq(&stored)) => {
                Ok(ProxyCaller {
                    key_id,
                    organisation,
                })
            }
            _ => Err(ApiError::Forbidden(PROXY_INVALID)),
        }
    }
}

/// A caller of an SDK endpoint that takes either kind of environment key in
/// `X-Environment-Key` (Flagsmith's `EnvironmentKeyAuthentication` without a
/// required prefix): a client-side key, or an active, unexpired `ser.` key.
#[derive(Clone, Debug)]
pub struct EnvironmentCaller {
    /// The environment's id.
    pub environment: i64,
    /// Its project.
    pub project: i64,
    /// Its client-side key, whichever kind of key was presented (analytics
    /// rows are keyed by it).
    pub client_key: String,
}

/// The header environment keys travel in.
pub const ENVIRONMENT_KEY_HEADER: &str = "x-environment-key";

/// Flagsmith's message for a missing or unknown environment key.
const ENVIRONMENT_KEY_INVALID: &str = "Invalid or missing Environment Key";

impl FromRequestParts<AppState> for EnvironmentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<EnvironmentCaller, ApiError> {
        let key = parts
            .headers
            .get(ENVIRONMENT_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Forbidden(ENVIRONMENT_KEY_INVALID))?;
        // Environment keys are looked up, not hashed: client keys are public,
        // and server keys are stored as issued (as for the environment document).
        let server_sql;
        let sql = match KeyKind::of(key) {
            KeyKind::Client => {
                "SELECT e.id, e.project_id, e.api_key FROM environments e WHERE e.api_key = $1"
            }
            KeyKind::Server => {
                server_sql = format!(
                    "SELECT e.id, e.project_id, e.api_key FROM server_keys k \
                     JOIN environments e ON e.id = k.environment_id \
                     WHERE k.key = $1 AND {USABLE_SERVER_KEY}"
                );
                server_sql.as_str()
            }
        };
        let found: Option<(i64, i64, String)> = sqlx::query_as(sql)
            .bind(key)
            .fetch_optional(&state.db)
            .await?;
        let (environment, project, client_key) =
            found.ok_or(ApiError::Forbidden(ENVIRONMENT_KEY_INVALID))?;
        Ok(EnvironmentCaller {
            environment,
            project,
            client_key,
        })
    }
}
