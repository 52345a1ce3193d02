//! Who is signed in: server-side sessions and CSRF.
//!
//! Signing in with an admin key stores a session row (the SHA-256 of a random
//! 256-bit id, the key's id, a random CSRF token, an expiry) and sets the id in
//! an `HttpOnly`, `SameSite=Strict` cookie (`Secure` under TLS). Every page
//! takes a [`Session`]; without one it redirects to sign-in. Every
//! state-changing request takes a [`Posted`] form, which also carries the
//! session's CSRF token or is refused with 403. The sign-in form itself is
//! protected by a double-submit token (a cookie and a field that must match).
//! Revoking or expiring the admin key ends its sessions at the next request.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::state::ConsoleState;
use super::view::error_page;
use crate::auth::Admin;
use crate::keys;

/// The session cookie.
pub const SESSION_COOKIE: &str = "flagedge_session";
/// The sign-in form's double-submit cookie.
pub const SIGN_IN_COOKIE: &str = "flagedge_sign_in";
/// The form field every state-changing request carries.
pub const CSRF_FIELD: &str = "csrf";

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the request came over TLS (directly or through a proxy that says so).
pub fn over_tls(state: &ConsoleState, headers: &HeaderMap) -> bool {
    state.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, path `/`.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A signed-in admin.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who.
    pub admin: Admin,
    /// The token forms must carry.
    pub csrf: String,
    /// The admin key's name.
    pub key_name: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

/// Where a page without a session goes: sign-in, then back.
pub struct SignInFirst(String);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next: String =
            percent_encoding::utf8_percent_encode(&self.0, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        Redirect::to(&format!("/sign-in?next={next}")).into_response()
    }
}

/// A live session's row: key id, its organisation, its name, CSRF token, expiry.
type SessionRow = (i64, Option<i64>, String, String, DateTime<Utc>);

impl Session {
    /// The session a cookie names, if it is live and its key still valid.
    pub async fn find(state: &ConsoleState, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT k.id, k.organisation_id, k.name, s.csrf_token, s.expires_at \
             FROM console_sessions s JOIN admin_api_keys k ON k.id = s.admin_key_id \
             WHERE s.id_hash = $1 AND s.expires_at > now() \
             AND NOT k.revoked AND (k.expiry_date IS NULL OR k.expiry_date > now())",
        )
        .bind(keys::hash(id))
        .fetch_optional(&state.app.db)
        .await
        .ok()
        .flatten();
        row.map(
            |(key_id, organisation, key_name, csrf, expires_at)| Session {
                admin: Admin {
                    organisation,
                    key_id,
                },
                csrf,
                key_name,
                expires_at,
            },
        )
    }

    /// Starts a session for `admin`; returns the cookie's value.
    pub async fn start(state: &ConsoleState, admin: &Admin) -> Result<String, sqlx::Error> {
        let id = keys::session_token();
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= now()")
            .execute(&state.app.db)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, admin_key_id, csrf_token, expires_at) \
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .bind(keys::hash(&id))
        .bind(admin.key_id)
        .bind(keys::session_token())
        .bind(state.session_ttl.as_secs_f64())
        .execute(&state.app.db)
        .await?;
        Ok(id)
    }

    /// Ends the session a cookie names.
    pub async fn end(state: &ConsoleState, headers: &HeaderMap) -> Result<(), sqlx::Error> {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
                .bind(keys::hash(id))
                .execute(&state.app.db)
                .await?;
        }
        Ok(())
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(self.csrf.as_bytes())))
    }
}

fn path_and_query(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string())
}

impl FromRequestParts<ConsoleState> for Session {
    type Rejection = SignInFirst;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Session, SignInFirst> {
        match Session::find(state, &parts.headers).await {
            Some(session) => Ok(session),
            None => Err(SignInFirst(if parts.method == axum::http::Method::GET {
                path_and_query(parts)
            } else {
                "/".to_string()
            })),
        }
    }
}

/// A form posted by a signed-in admin, its CSRF token checked.
pub struct Posted {
    /// The session.
    pub session: Session,
    /// The fields in order (a name may repeat: the last one wins in [`Posted::get`]).
    pub fields: Vec<(String, String)>,
}

impl Posted {
    /// The last value of `name`, trimmed of nothing.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `get(name)` or empty.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// The typed value of the fields `{prefix}value_type` and `{prefix}value`.
    pub fn typed(&self, prefix: &str) -> Result<serde_json::Value, String> {
        super::view::typed_value(
            self.text(&format!("{prefix}value_type")),
            self.text(&format!("{prefix}value")),
        )
    }

    /// Whether a checkbox (or a hidden `false` followed by one) says yes.
    pub fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "on" | "1"))
    }
}

/// Largest form the console accepts.
pub const FORM_LIMIT: usize = 256 << 10;

impl FromRequest<ConsoleState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Posted, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| error_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| error_page(StatusCode::BAD_REQUEST, "The form could not be read."))?;
        let token = fields
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str());
        if !session.csrf_ok(token) {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from the console (CSRF check failed). Go back, reload the page and try again.",
            ));
        }
        Ok(Posted { session, fields })
    }
}
