//! The OpenFeature Remote Evaluation Protocol (OFREP 0.3): any OpenFeature SDK
//! with an OFREP provider can evaluate flags here.
//!
//! `POST /ofrep/v1/evaluate/flags/{key}` evaluates one flag, `POST
//! /ofrep/v1/evaluate/flags` all of them (with an ETag of the body, so
//! `If-None-Match` gets a 304). The environment key comes in `X-API-Key` or
//! `Authorization: Bearer`. The context maps onto the same engine and documents
//! as Flagsmith's SDK API, following Flagsmith's published mapping
//! (Flagsmith/flagsmith#8437): `targetingKey` is the identity's identifier and
//! every other context field a trait; `key` is the feature name; `value` is the
//! feature state's value, or its `enabled` when it has none; `reason` is
//! `TARGETING_MATCH`, `STATIC`, `SPLIT` or `DEFAULT`; `variant` is the chosen
//! multivariate option's key; `metadata.version` is the document's `updated_at`.
//! A context without `targetingKey` evaluates the environment's flags; one with
//! attributes but no `targetingKey` is refused (`TARGETING_KEY_MISSING`), since
//! traits need an identity.

use bytes::Bytes;
use flagedge_engine::{FlagDetail, Identity, KeyKind, ReasonCode};
use http::{StatusCode, header};
use serde_json::{Map, Value, json};

use super::app::App;
use super::call::Call;
use super::identities::TRAIT_VALUE_MAX_CHARS;
use super::respond::{HttpResponse, json};
use crate::counters::Resource;
use crate::environment::ServedEnvironment;

/// An OFREP error response.
fn failure(
    status: StatusCode,
    key: Option<&str>,
    code: &str,
    details: impl Into<String>,
) -> HttpResponse {
    let mut body = Map::new();
    if let Some(key) = key {
        body.insert("key".into(), Value::String(key.to_string()));
    }
    body.insert("errorCode".into(), Value::String(code.to_string()));
    body.insert("errorDetails".into(), Value::String(details.into()));
    json(status, Bytes::from(Value::Object(body).to_string()))
}

fn presented_key(call: &Call) -> Option<&str> {
    if let Some(key) = call.headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key);
    }
    let authorization = call.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The identity a context describes (`None`: no identity, environment flags).
struct Subject {
    identifier: Option<String>,
    traits: Vec<(String, Value)>,
}

fn subject(body: &Value) -> Result<Subject, (&'static str, String)> {
    let context = match body.get("context") {
        None | Some(Value::Null) => {
            return Ok(Subject {
                identifier: None,
                traits: Vec::new(),
            });
        }
        Some(Value::Object(context)) => context,
        Some(_) => return Err(("INVALID_CONTEXT", "context must be an object".into())),
    };
    let identifier = match context.get("targetingKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => None,
        Some(_) => return Err(("INVALID_CONTEXT", "targetingKey must be a string".into())),
    };
    let mut traits = Vec::with_capacity(context.len());
    for (key, value) in context {
        if key == "targetingKey" {
            continue;
        }
        match value {
            Value::Array(_) | Value::Object(_) => {
                return Err((
                    "INVALID_CONTEXT",
                    format!("context field {key:?} must be a string, number or boolean"),
                ));
            }
            Value::String(s) if s.chars().count() > TRAIT_VALUE_MAX_CHARS => {
                return Err((
                    "INVALID_CONTEXT",
                    format!(
                        "context field {key:?} is longer than {TRAIT_VALUE_MAX_CHARS} characters"
                    ),
                ));
            }
            _ => traits.push((key.clone(), value.clone())),
        }
    }
    if identifier.is_none() && traits.iter().any(|(_, v)| !v.is_null()) {
        return Err((
            "TARGETING_KEY_MISSING",
            "context attributes are traits of an identity: a targetingKey is required with them"
                .into(),
        ));
    }
    Ok(Subject { identifier, traits })
}

fn reason(code: ReasonCode) -> &'static str {
    match code {
        ReasonCode::Static => "STATIC",
        ReasonCode::Default => "DEFAULT",
        ReasonCode::TargetingMatch => "TARGETING_MATCH",
        ReasonCode::Split => "SPLIT",
        ReasonCode::Error => "ERROR",
    }
}

fn version(environment: &ServedEnvironment) -> Value {
    environment
        .compiled
        .meta()
        .updated_at
        .map_or(Value::Null, |t| Value::String(t.to_iso8601()))
}

/// OFREP's success shape. `metadata.version` is left out when the document has
/// no `updated_at` (metadata values are scalars, never null). `variant` is
/// always there, null without one: OpenFeature's Python OFREP provider reads it
/// unconditionally and fails the evaluation when it is missing.
fn success(detail: &FlagDetail<'_>, version: &Value) -> Value {
    let mut metadata = json!({"enabled": detail.enabled, "flagsmithReason": detail.reason_text});
    if !version.is_null() {
        metadata["version"] = version.clone();
    }
    json!({
        "key": detail.name,
        "value": if detail.value.is_null() { Value::Bool(detail.enabled) } else { detail.value.clone() },
        "reason": reason(detail.reason),
        "variant": detail.variant,
        "metadata": metadata,
    })
}

/// Evaluates one flag (`flag`) or all of them.
pub async fn evaluate(app: &App, call: &mut Call, flag: Option<String>) -> HttpResponse {
    let flag = flag.as_deref();
    let body = match call.body().await {
        Ok(body) => body,
        Err(error) => return failure(error.status, flag, "GENERAL", error.detail),
    };
    let body: Value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_slice(&body) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    flag,
                    "PARSE_ERROR",
                    "the body must be a JSON object",
                );
            }
            Err(error) => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    flag,
                    "PARSE_ERROR",
                    format!("malformed JSON: {error}"),
                );
            }
        }
    };
    let subject = match subject(&body) {
        Ok(subject) => subject,
        Err((code, details)) => return failure(StatusCode::BAD_REQUEST, flag, code, details),
    };
    let Some(key) = presented_key(call) else {
        return failure(
            StatusCode::UNAUTHORIZED,
            flag,
            "GENERAL",
            "an environment key is required in X-API-Key or Authorization: Bearer",
        );
    };
    let snapshot = app.store.load();
    let Some((environment, kind)) = snapshot.lookup(key) else {
        return failure(
            StatusCode::UNAUTHORIZED,
            flag,
            "GENERAL",
            "unknown environment key",
        );
    };
    if let Err(wait) = app.rate_limiter.admit(environment.client_key()) {
        let seconds = super::error::retry_after_seconds(wait);
        let mut response = failure(
            StatusCode::TOO_MANY_REQUESTS,
            flag,
            "GENERAL",
            format!("rate limit reached; retry in {seconds} s"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, http::HeaderValue::from(seconds));
        return response;
    }
    let compiled = &environment.compiled;
    let identity = subject.identifier.as_deref().map(|identifier| Identity {
        identifier,
        key: None,
        traits: &subject.traits,
    });
    let evaluation = compiled.evaluate(identity.as_ref());
    let version = version(environment);
    environment.counters.api_call(if identity.is_some() {
        Resource::Identities
    } else {
        Resource::Flags
    });
    match flag {
        Some(name) => match evaluation.detail(compiled, name, kind) {
            Some(detail) => {
                if let Some(index) = compiled.feature_index(name) {
                    environment.counters.feature(index, 1);
                }
                json(
                    StatusCode::OK,
                    Bytes::from(success(&detail, &version).to_string()),
                )
            }
            None => failure(
                StatusCode::NOT_FOUND,
                Some(name),
                "FLAG_NOT_FOUND",
                format!("no flag named {name:?} in this environment"),
            ),
        },
        None => {
            let flags: Vec<Value> = evaluation
                .details(compiled, kind)
                .map(|d| success(&d, &version))
                .collect();
            for index in evaluation.visible_features(compiled, kind) {
                environment.counters.feature(index, 1);
            }
            let body =
                Bytes::from(json!({"flags": flags, "metadata": {"version": version}}).to_string());
            bulk_response(call, body, kind)
        }
    }
}

fn bulk_response(call: &Call, body: Bytes, _kind: KeyKind) -> HttpResponse {
    let etag = crate::environment::content_etag(&body);
    let mut response = if call.etag_matches(&etag) {
        let mut response = http::Response::new(super::body::ResponseBody::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        json(StatusCode::OK, body)
    };
    response.headers_mut().insert(header::ETAG, etag);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_map_to_identities() {
        let ok =
            subject(&json!({"context": {"targetingKey": "u1", "plan": "pro", "age": 3}})).unwrap();
        assert_eq!(ok.identifier.as_deref(), Some("u1"));
        assert_eq!(ok.traits.len(), 2);
        assert!(
            subject(&json!({"context": {}}))
                .unwrap()
                .identifier
                .is_none()
        );
        assert_eq!(
            subject(&json!({"context": {"plan": "pro"}}))
                .err()
                .unwrap()
                .0,
            "TARGETING_KEY_MISSING"
        );
        assert_eq!(
            subject(&json!({"context": {"targetingKey": 5}}))
                .err()
                .unwrap()
                .0,
            "INVALID_CONTEXT"
        );
        assert_eq!(
            subject(&json!({"context": {"targetingKey": "u", "x": {"a": 1}}}))
                .err()
                .unwrap()
                .0,
            "INVALID_CONTEXT"
        );
        assert_eq!(
            subject(&json!({"context": "nope"})).err().unwrap().0,
            "INVALID_CONTEXT"
        );
    }
}
