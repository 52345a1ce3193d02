//! How the API writes and reads scalar values that are not plain JSON:
//! timestamps (ISO 8601, UTC, microseconds) and ids given as numbers or text.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;
use serde_json::Value;

use crate::error::{ApiError, ApiResult, FieldErrors};

/// A timestamp as the API writes it (ISO 8601, UTC, microseconds).
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// An optional timestamp.
pub fn iso_opt(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| Value::String(iso(at)))
}

/// An expiry as a create or update gives it in `field` (absent: `kept`;
/// null: none), or `None` with the field's error added to `errors`.
pub fn expiry(
    errors: &mut FieldErrors,
    field: &'static str,
    given: &Option<Option<String>>,
    kept: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match given {
        None => kept,
        Some(None) => None,
        Some(Some(text)) => parse_time(field, text)
            .map_err(|_| errors.add(field, "Datetime has wrong format. Use ISO 8601."))
            .ok(),
    }
}

/// Parses an ISO 8601 / RFC 3339 date-time field.
pub fn parse_time(field: &str, text: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::field(
                field,
                "Datetime has wrong format. Use ISO 8601 (e.g. 2025-01-01T00:00:00Z).",
            )
        })
}

/// A JSON value for ids given either as a number or as numeric text.
pub fn id_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// [`iso`] for `#[serde(serialize_with = "iso_time")]`.
pub fn iso_time<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&iso(*at))
}

/// [`iso_time`] of an optional time (`null` when absent).
pub fn iso_time_opt<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&iso(*at)),
        None => serializer.serialize_none(),
    }
}
