//! `POST /api/v1/analytics/flags/` and `POST /api/v2/analytics/flags/`: the
//! evaluations an SDK counted itself, added to this edge's counters and, when
//! they are forwarded to Flagsmith, recorded (journaled) before the answer
//! (the Flagsmith edge-proxy drops them on the floor).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::app::App;
use super::call::Call;
use super::error::ApiError;
use super::respond::{HttpResponse, json};
use crate::environment::ServedEnvironment;

/// v1: `{"<feature name>": <count>, …}` → 200 with an empty body. Entries that are
/// not a feature of the environment, or not a non-negative integer, are skipped,
/// as Flagsmith skips them.
pub async fn flags_v1(app: &App, call: &mut Call) -> Result<HttpResponse, ApiError> {
    let authenticated = app.authenticate(call)?;
    let body: Value = call.json().await?;
    let Value::Object(entries) = body else {
        return Err(ApiError::bad_request(
            "Expected a JSON object of feature names to counts.",
        ));
    };
    let counts = entries
        .iter()
        .filter_map(|(name, count)| Some((name.as_str(), count.as_u64()?)));
    record(app, &authenticated.environment, counts);
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
    let authenticated = app.authenticate(call)?;
    let body: V2Body = call.json().await?;
    let counts = body
        .evaluations
        .iter()
        .map(|e| (e.feature_name.as_str(), e.count));
    record(app, &authenticated.environment, counts);
    Ok(json(StatusCode::NO_CONTENT, Bytes::new()))
}

/// Adds an SDK's counts of the environment's features (others are skipped, as
/// Flagsmith skips them): to the edge's counters, and to the reported counts
/// when those are forwarded.
fn record<'a>(
    app: &App,
    environment: &ServedEnvironment,
    counts: impl Iterator<Item = (&'a str, u64)>,
) {
    let mut reported: BTreeMap<String, u64> = BTreeMap::new();
    for (name, count) in counts {
        if let Some(index) = environment.compiled.feature_index(name) {
            environment.counters.feature(index, count);
            if app.reported.is_some() && count > 0 {
                *reported.entry(name.to_string()).or_default() += count;
            }
        }
    }
    if let Some(journal) = &app.reported {
        journal.record(environment.client_key(), reported);
    }
}
