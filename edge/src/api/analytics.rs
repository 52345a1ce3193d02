//! `POST /api/v1/analytics/flags/` and `POST /api/v2/analytics/flags/`: the
//! evaluations an SDK counted itself, added to this edge's counters (which the
//! Flagsmith edge-proxy drops on the floor).

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, App, Call, HttpResponse, json};

/// v1: `{"<feature name>": <count>, …}` → 200 with an empty body. Entries that are
/// not a feature of the environment, or not a non-negative integer, are skipped,
/// as Flagsmith skips them.
pub async fn flags_v1(app: &App, call: &mut Call) -> Result<HttpResponse, ApiError> {
    let body: Value = call.json().await?;
    let authenticated = app.authenticate(call)?;
    let Value::Object(entries) = body else {
        return Err(ApiError::bad_request(
            "Expected a JSON object of feature names to counts.",
        ));
    };
    let environment = &authenticated.environment;
    for (name, count) in &entries {
        if let (Some(index), Some(count)) =
            (environment.compiled.feature_index(name), count.as_u64())
        {
            environment.counters.feature(index, count);
        }
    }
    Ok(json(StatusCode::OK, Bytes::new()))
}

#[derive(Deserialize)]
struct V2Body {
    evaluations: Vec<V2Evaluation>,
}

#[derive(Deserialize)]
struct V2Evaluation {
    feature_name: String,
    count: u64,
    #[serde(default)]
    #[allow(dead_code)]
    identity_identifier: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    enabled_when_evaluated: Option<bool>,
}

/// v2: `{"evaluations": [{"feature_name", "count", …}]}` → 204.
pub async fn flags_v2(app: &App, call: &mut Call) -> Result<HttpResponse, ApiError> {
    let body: V2Body = call.json().await?;
    let authenticated = app.authenticate(call)?;
    let environment = &authenticated.environment;
    for evaluation in &body.evaluations {
        if let Some(index) = environment.compiled.feature_index(&evaluation.feature_name) {
            environment.counters.feature(index, evaluation.count);
        }
    }
    Ok(json(StatusCode::NO_CONTENT, Bytes::new()))
}
