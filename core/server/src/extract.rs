//! Request extractors that answer bad input in the API's own error shapes
//! (axum's built-in ones answer in plain text): path ids that do not parse are
//! 404s, bad query strings 400s, and JSON bodies are parsed with the path of
//! the first wrong field, so `{"name": 3}` yields `{"name": ["..."]}`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, FieldErrors};

/// Path parameters; any that fail to parse mean the object cannot exist: 404.
pub struct Ids<T>(pub T);

impl<S, T> FromRequestParts<S> for Ids<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Ids(p.0))
            .map_err(|_| ApiError::NotFound)
    }
}

/// Query parameters; a malformed one is a 400 naming it.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded_de(query).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|e| {
                let field = e.path().to_string();
                ApiError::field(&field, e.into_inner().to_string())
            })
    }
}

/// Query strings are flat `key=value` pairs: decode them into a JSON object of
/// strings, which typed structs then read through [`from_text`] helpers.
fn serde_urlencoded_de(query: &str) -> Result<serde_json::Value, ApiError> {
    let mut map = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        let value = percent_decode(value)?;
        map.insert(key, serde_json::Value::String(value));
    }
    Ok(serde_json::Value::Object(map))
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte
/// (through the `percent-encoding` crate), and the result must be UTF-8. A `%`
/// not followed by two hex digits is refused rather than passed through as
/// the crate would, so a malformed query is a 400, not a silently different
/// value.
fn percent_decode(text: &str) -> Result<String, ApiError> {
    let malformed = || ApiError::BadRequest("Malformed query string.".into());
    let bytes = text.as_bytes();
    let escape_ok = |i: usize| {
        let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
        hex.len() == 2 && hex.iter().all(u8::is_ascii_hexdigit)
    };
    if (0..bytes.len()).any(|i| bytes[i] == b'%' && !escape_ok(i)) {
        return Err(malformed());
    }
    let spaced: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| malformed())
}

/// Reads a query value given as text into a number or boolean.
pub mod from_text {
    use super::*;

    /// An optional integer given as text.
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        parsed(d, "A valid integer is required.")
    }

    /// An optional unsigned integer given as text.
    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        parsed(d, "A valid non-negative integer is required.")
    }

    /// Text parsed as `T`; absent or empty is `None`, anything else `invalid`.
    fn parsed<'de, D: Deserializer<'de>, T: std::str::FromStr>(
        d: D,
        invalid: &'static str,
    ) -> Result<Option<T>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        match text.as_deref() {
            None | Some("") => Ok(None),
            Some(t) => t
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(invalid)),
        }
    }
}

/// A JSON request body of type `T`.
pub struct Body<T>(pub T);

/// The body's bytes, when it is JSON (or has no content type) and within
/// `--max-body-bytes`: else 415 or 413.
async fn json_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let json_or_absent = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            let ct = ct.split(';').next().unwrap_or("").trim();
            ct.eq_ignore_ascii_case("application/json") || ct.ends_with("+json")
        });
    if !json_or_absent {
        return Err(ApiError::UnsupportedMediaType);
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|e| match e.status().as_u16() {
            413 => ApiError::TooLarge,
            _ => ApiError::BadRequest("Could not read the request body.".into()),
        })
}

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(request, state).await?;
        parse_body(&bytes).map(Body)
    }
}

/// A JSON array body, its items left for the handler to validate one by one
/// (so every bad item is reported, keyed `[<index>]`). Anything but an array
/// is 400.
pub struct ListBody(pub Vec<serde_json::Value>);

impl<S: Send + Sync> FromRequest<S> for ListBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(request, state).await?;
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Array(items)) => Ok(ListBody(items)),
            Ok(_) => {
                let mut errors = FieldErrors::new();
                errors.add("non_field_errors", "Expected a list of items.");
                Err(ApiError::Invalid(errors))
            }
            Err(e) => Err(ApiError::BadRequest(format!("JSON parse error - {e}"))),
        }
    }
}

/// Parses a JSON body, reporting the first bad field DRF-style.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))?;
    if !value.is_object() {
        let mut errors = FieldErrors::new();
        errors.add("non_field_errors", "Expected a JSON object.");
        return Err(ApiError::Invalid(errors));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "non_field_errors".to_string()
        } else {
            path
        };
        ApiError::field(&field, friendly(&e.into_inner().to_string()))
    })
}

/// serde's messages, nearer to DRF's.
fn friendly(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("This field is required: {rest}.");
    }
    if message.starts_with("invalid type: null") {
        return "This field may not be null.".to_string();
    }
    message.to_string()
}

/// For fields where absent and `null` differ (`hide_disabled_flags: null`
/// defers to the project): absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn query_values_decode_as_forms_do_and_malformed_escapes_are_refused() {
        assert_eq!(
            percent_decode("a+b%2Bc%C3%A9").ok().as_deref(),
            Some("a b+cé")
        );
        assert_eq!(percent_decode("").ok().as_deref(), Some(""));
        for bad in ["%", "%4", "%zz", "a%4g", "%+1", "%C3"] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
    }
}
