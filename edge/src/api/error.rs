//! Errors as Flagsmith returns them: a status code and `{"detail": "..."}`.

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};

use super::respond::{HttpResponse, json};

/// A request that cannot be answered as asked.
#[derive(Debug)]
pub struct ApiError {
    /// The status code.
    pub status: StatusCode,
    /// The human-readable reason.
    pub detail: String,
    allow: Option<String>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// A status and detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            allow: None,
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 403: the key header is missing (Flagsmith's wording and status).
    pub fn missing_key() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Invalid or missing Environment Key")
    }

    /// 403: the key is not known here.
    pub fn unknown_key() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Invalid or missing Environment Key")
    }

    /// 403 with a reason.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 405 with the allowed methods.
    pub fn method_not_allowed(method: &Method, allowed: &[Method]) -> ApiError {
        let allow: Vec<&str> = allowed
            .iter()
            .map(Method::as_str)
            .chain(["OPTIONS"])
            .collect();
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            detail: format!("Method \"{method}\" not allowed."),
            allow: Some(allow.join(", ")),
            retry_after: None,
        }
    }

    /// 413.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// 415.
    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Unsupported media type \"{content_type}\" in request; expected application/json."
            ),
        )
    }

    /// 429: the environment's rate limit is spent; worded as Flagsmith's API words it.
    pub fn throttled(wait: std::time::Duration) -> ApiError {
        let seconds = retry_after_seconds(wait);
        let unit = if seconds == 1 { "second" } else { "seconds" };
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Request was throttled. Expected available in {seconds} {unit}."),
            )
        }
    }

    /// 408: the request took longer than allowed.
    pub fn timeout() -> ApiError {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "The request took too long.")
    }

    /// The response.
    pub fn into_response(self) -> HttpResponse {
        let body = serde_json::json!({ "detail": self.detail });
        let mut response = json(self.status, Bytes::from(body.to_string()));
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `Retry-After` is whole seconds: round up, and never say 0 for a wait.
pub fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}
