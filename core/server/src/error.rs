//! One error type for every handler, in Flagsmith's shapes: `{"detail": "..."}`
//! for most errors and `{"<field>": ["<message>"]}` for validation errors.
//!
//! Database errors caused by the request (a duplicate name, a reference to a
//! row that is gone, a value out of range) become 4xx here, so no client
//! mistake surfaces as a 5xx. Anything else is logged and answered with a bare
//! 500 that carries no internal detail.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Field errors, as DRF reports them: field name → messages.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(Map<String, Value>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> FieldErrors {
        FieldErrors::default()
    }

    /// Adds a message for a field.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let entry = self
            .0
            .entry(field.into())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(messages) = entry {
            messages.push(Value::String(message.into()));
        }
    }

    /// Adds a nested error object for a field (nested rules, list items).
    pub fn add_nested(&mut self, field: impl Into<String>, errors: Value) {
        self.0.insert(field.into(), errors);
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, else the 400 error.
    pub fn check(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self))
        }
    }

    /// The errors as a JSON object.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with field errors.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// 400 with a detail message.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or an unknown admin key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404.
    #[error("Not found.")]
    NotFound,
    /// 404 for a page past the end.
    #[error("Invalid page.")]
    InvalidPage,
    /// 405.
    #[error("Method not allowed.")]
    MethodNotAllowed,
    /// 409: a write raced another (retrying helps).
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("Request body too large.")]
    TooLarge,
    /// 415.
    #[error("Unsupported media type; send application/json.")]
    UnsupportedMediaType,
    /// 503: the database is unreachable.
    #[error("Service unavailable.")]
    Unavailable,
    /// 500: a bug or an unexpected database error (logged, not shown).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming one field.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        let mut errors = FieldErrors::new();
        errors.add(field, message);
        ApiError::Invalid(errors)
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::InvalidPage => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            ApiError::Invalid(errors) => errors.into_value(),
            ApiError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                json!({"detail": "A server error occurred."})
            }
            other => json!({"detail": other.to_string()}),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Api-Key"),
            );
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        match &error {
            sqlx::Error::RowNotFound => ApiError::NotFound,
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // unique_violation
                Some("23505") => ApiError::BadRequest(unique_message(db.constraint())),
                // foreign_key_violation: the referenced row is gone (or never was).
                Some("23503") => {
                    ApiError::BadRequest("A referenced object does not exist.".to_string())
                }
                // not_null, check, string too long, bad text, out of range, bad JSON,
                // text the encoding cannot hold (NUL), bad or out-of-range datetimes.
                Some(
                    "23502" | "23514" | "22001" | "22P02" | "22003" | "22023" | "22P05" | "22021"
                    | "22007" | "22008",
                ) => ApiError::BadRequest(format!("Invalid value: {}", db.message())),
                // serialization failure, deadlock: the client may retry.
                Some("40001" | "40P01") => {
                    ApiError::Conflict("A concurrent change conflicted; retry.".to_string())
                }
                _ => ApiError::Internal(error.to_string()),
            },
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::error!(%error, "database unavailable");
                ApiError::Unavailable
            }
            _ => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<flagedge_influx::InfluxError> for ApiError {
    fn from(error: flagedge_influx::InfluxError) -> ApiError {
        match &error {
            flagedge_influx::InfluxError::Transport(_) => {
                tracing::error!(%error, "analytics store unavailable");
                ApiError::Unavailable
            }
            flagedge_influx::InfluxError::Status(status, _) if status.is_server_error() => {
                tracing::error!(%error, "analytics store unavailable");
                ApiError::Unavailable
            }
            _ => ApiError::Internal(error.to_string()),
        }
    }
}

/// A readable message for a unique constraint, by its name.
fn unique_message(constraint: Option<&str>) -> String {
    match constraint {
        Some("features_project_id_name_key") => {
            "A feature with this name already exists in this project.".to_string()
        }
        Some("segments_project_id_name_key") => {
            "A segment with this name already exists in this project.".to_string()
        }
        Some("identities_environment_id_identifier_key") => {
            "An identity with this identifier already exists in this environment.".to_string()
        }
        Some("traits_identity_id_trait_key_key") => {
            "This identity already has a trait with this key.".to_string()
        }
        Some("feature_segments_feature_id_segment_id_environment_id_key") => {
            "This segment already overrides this feature in this environment.".to_string()
        }
        Some("feature_states_identity") => {
            "This identity already overrides this feature.".to_string()
        }
        Some("feature_states_feature_segment_id_key") => {
            "This feature segment already has a feature state.".to_string()
        }
        Some("mv_feature_state_values_feature_state_id_mv_option_id_key") => {
            "An option is allocated twice in this feature state.".to_string()
        }
        _ => "An object with these values already exists.".to_string(),
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
