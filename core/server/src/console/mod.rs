//! The console: server-rendered pages for the people who run flags, served by
//! core at `/` beside the admin API (`/api/v1/…`, `/health`, `/ready`).
//!
//! Pages read and write only through the admin API, called in process
//! ([`api`]), so validation, authorization, revision bumps and the audit log
//! are the API's own. [`session`] signs admins in and checks CSRF; [`view`] is
//! the frame and the shared pieces; one module per section below it. Pages
//! work without JavaScript; `assets/console.js` only submits a toggle when
//! its checkbox changes and filters tables as you type.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower::ServiceExt;

use crate::state::AppState;
pub use pages::{PageRoute, Pages};
pub use state::{ConsoleSettings, ConsoleState};

/// The value of a page step, or the page saying why it failed (a `Response`
/// already made, or the API's `Refused` as an error page) returned at once.
macro_rules! or_page {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(failure) => return $crate::console::view::IntoPage::into_page(failure),
        }
    };
}

pub mod api;
pub mod assets;
pub mod explain;
pub mod feature;
pub mod feature_forms;
pub mod features;
pub mod fleet;
pub mod history;
pub mod home;
pub mod identities;
pub mod keys;
pub mod layout;
pub mod override_actions;
pub mod overrides;
pub mod pages;
pub mod place;
pub mod segments;
pub mod session;
pub mod sign_in;
pub mod state;
pub mod usage;
pub mod view;

fn all_pages() -> Pages {
    let pages = Pages::new()
        .public(
            "/sign-in",
            &["GET", "POST"],
            get(sign_in::form).post(sign_in::submit),
        )
        .public(assets::CSS_PATH, &["GET"], get(assets::css))
        .public(assets::JS_PATH, &["GET"], get(assets::js))
        .route("/sign-out", &["POST"], post(sign_in::sign_out));
    let pages = home::routes(pages);
    let pages = features::routes(pages);
    let pages = feature::routes(pages);
    let pages = override_actions::routes(pages);
    let pages = segments::routes(pages);
    let pages = identities::routes(pages);
    let pages = keys::routes(pages);
    let pages = explain::routes(pages);
    let pages = usage::routes(pages);
    let pages = fleet::routes(pages);
    history::routes(pages)
}

/// Every console route, in the order added.
pub fn route_list() -> Vec<PageRoute> {
    all_pages().into_parts().1
}

/// The console, answering what is not the API's; everything else goes to `api`.
pub fn router(app: AppState, api: Router, settings: &ConsoleSettings) -> Router {
    let state = ConsoleState {
        app,
        api: api.clone(),
        secure_cookies: settings.secure_cookies,
        session_ttl: settings.session_ttl,
    };
    let (pages, _) = all_pages().into_parts();
    let pages = pages
        .layer(DefaultBodyLimit::max(session::FORM_LIMIT))
        .layer(middleware::from_fn(protect))
        .with_state(state);
    pages.fallback(move |request: Request| {
        let api = api.clone();
        async move {
            let path = request.uri().path();
            if path.starts_with("/api/") || path == "/health" || path == "/ready" {
                match api.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            } else {
                view::error_page(StatusCode::NOT_FOUND, "There is no page here.")
            }
        }
    })
}

/// Headers every console answer carries: no framing, no sniffing, only our
/// own scripts and styles, pages not cached.
async fn protect(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
