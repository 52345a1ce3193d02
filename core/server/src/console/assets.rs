//! The console's stylesheet and script: ours, compiled into the binary (no
//! build step, nothing third-party), cached by browsers for a day.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Where the stylesheet is served.
pub const CSS_PATH: &str = "/assets/console.css";
/// Where the script is served.
pub const JS_PATH: &str = "/assets/console.js";
/// The stylesheet's URL, versioned so a new release is fetched at once.
pub const CSS_URL: &str = concat!("/assets/console.css?v=", env!("CARGO_PKG_VERSION"));
/// The script's URL.
pub const JS_URL: &str = concat!("/assets/console.js?v=", env!("CARGO_PKG_VERSION"));

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

/// `GET /assets/console.css`.
pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// `GET /assets/console.js`.
pub async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}
