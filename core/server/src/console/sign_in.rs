//! `GET/POST /sign-in` and `POST /sign-out`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::session::{
    Posted, SESSION_COOKIE, SIGN_IN_COOKIE, Session, cookie, over_tls, set_cookie,
};
use super::state::ConsoleState;
use super::view::{bare_page, error_page, local_back};
use crate::auth::admin_from_key;
use crate::error::ApiError;
use crate::keys;

/// Where to go after signing in.
#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

fn sign_in_page(token: &str, next: &str, error: Option<&str>) -> maud::Markup {
    bare_page(
        "Sign in",
        html! {
            h1 { "Sign in" }
            form.stack method="post" action="/sign-in" {
                input type="hidden" name="sign_in" value=(token);
                input type="hidden" name="next" value=(next);
                label for="admin-key" { "Admin key" }
                input #admin-key type="password" name="key" autocomplete="off" required autofocus;
                @if let Some(error) = error { span.field-error role="alert" { (error) } }
                div { button.primary type="submit" { "Sign in" } }
            }
            p.muted {
                "No key yet? On the machine with core's database, run "
                code { "flagedge-core init" }
                " (with " code { "DATABASE_URL" } " set): it creates the first organisation and prints an admin key. "
                "Admins make further keys on the Keys page or with "
                code { "POST /api/v1/organisations/{id}/master-api-keys/" } "."
            }
        },
    )
}

fn with_sign_in_cookie(
    state: &ConsoleState,
    headers: &HeaderMap,
    status: StatusCode,
    markup: maud::Markup,
    token: &str,
) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let value = set_cookie(SIGN_IN_COOKIE, token, 3600, over_tls(state, headers));
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /sign-in`: the form (or on to the console when already signed in).
pub async fn form(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(next): Query<Next>,
) -> Response {
    let next = local_back(next.next.as_deref(), "/");
    if Session::find(&state, &headers).await.is_some() {
        return Redirect::to(&next).into_response();
    }
    let token = keys::session_token();
    with_sign_in_cookie(
        &state,
        &headers,
        StatusCode::OK,
        sign_in_page(&token, &next, None),
        &token,
    )
}

/// `POST /sign-in`: checks the key, starts a session, sets its cookie.
pub async fn submit(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let next = local_back(Some(field("next")), "/");
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or("");
    let presented = field("sign_in");
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This sign-in form has expired or did not come from the console. Reload the sign-in page and try again.",
        );
    }
    let admin = match admin_from_key(&state.app, field("key").trim()).await {
        Ok(admin) => admin,
        Err(ApiError::Unauthorized(_)) => {
            let token = keys::session_token();
            return with_sign_in_cookie(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                sign_in_page(
                    &token,
                    &next,
                    Some("That admin key is not valid (unknown, revoked or expired)."),
                ),
                &token,
            );
        }
        Err(_) => {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable; try again shortly.",
            );
        }
    };
    let id = match Session::start(&state, &admin).await {
        Ok(id) => id,
        Err(_) => {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable; try again shortly.",
            );
        }
    };
    let secure = over_tls(&state, &headers);
    let mut response = Redirect::to(&next).into_response();
    let session = set_cookie(
        SESSION_COOKIE,
        &id,
        state.session_ttl.as_secs() as i64,
        secure,
    );
    let cleared = set_cookie(SIGN_IN_COOKIE, "", 0, secure);
    for value in [session, cleared] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `POST /sign-out`: ends the session and clears its cookie.
pub async fn sign_out(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    _posted: Posted,
) -> Response {
    if Session::end(&state, &headers).await.is_err() {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is unavailable; try again shortly.",
        );
    }
    let mut response = Redirect::to("/sign-in").into_response();
    let cleared = set_cookie(SESSION_COOKIE, "", 0, over_tls(&state, &headers));
    if let Ok(value) = HeaderValue::from_str(&cleared) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
