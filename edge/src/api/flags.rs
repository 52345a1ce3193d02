//! `GET /api/v1/flags/`: the environment's flags, prepared per revision.

use http::StatusCode;

use super::app::App;
use super::call::Call;
use super::error::ApiError;
use super::negotiate::prepared;
use super::respond::{HttpResponse, freshness_headers, json};
use crate::counters::Resource;

/// All flags (a JSON array), or one with `?feature=<name>` (an object, or 404).
pub fn environment_flags(app: &App, call: &Call) -> Result<HttpResponse, ApiError> {
    app.with_key(call, |environment, kind| {
        if let Some(name) = call.query_param("feature") {
            environment.counters.api_call(Resource::Flags);
            let compiled = &environment.compiled;
            let body = compiled
                .environment_flag_json(&name, kind)
                .ok_or_else(|| ApiError::not_found("Given feature not found"))?;
            if let Some(index) = compiled.feature_index(&name) {
                environment.counters.feature(index, 1);
            }
            let mut response = json(StatusCode::OK, bytes::Bytes::from(body));
            freshness_headers(response.headers_mut(), environment);
            return Ok(response);
        }
        // One increment: also counts the API call (see `Counters::environment_flags`).
        environment.counters.environment_flags(kind);
        Ok(prepared(
            call,
            environment,
            &environment.flags[kind as usize],
        ))
    })
}
