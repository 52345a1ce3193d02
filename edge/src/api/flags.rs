//! `GET /api/v1/flags/`: the environment's flags, prepared per revision.

use http::{StatusCode, header};

use super::{ApiError, App, Call, HttpResponse, json, prepared};
use crate::analytics::Resource;

/// All flags (a JSON array), or one with `?feature=<name>` (an object, or 404).
pub fn environment_flags(app: &App, call: &Call) -> Result<HttpResponse, ApiError> {
    app.with_key(call, |environment, kind| {
        environment.counters.api_call(Resource::Flags);
        if let Some(name) = call.query_param("feature") {
            let compiled = &environment.compiled;
            let body = compiled
                .environment_flag_json(&name, kind)
                .ok_or_else(|| ApiError::not_found("Given feature not found"))?;
            if let Some(index) = compiled.feature_index(&name) {
                environment.counters.feature(index, 1);
            }
            let mut response = json(StatusCode::OK, bytes::Bytes::copy_from_slice(body));
            response.headers_mut().insert(
                "x-flagsmith-document-updated-at",
                environment.updated_at_header.clone(),
            );
            response
                .headers_mut()
                .insert(header::AGE, environment.age_seconds().into());
            return Ok(response);
        }
        environment.counters.environment_flags(kind);
        Ok(prepared(
            call,
            environment,
            &environment.flags[kind as usize],
        ))
    })
}
