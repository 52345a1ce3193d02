//! `GET /api/v1/openapi.json`: an OpenAPI 3.0 description of every route,
//! generated from the router's own route list (so it cannot miss one) plus
//! the resource schemas below.

use std::sync::Arc;

use axum::Json;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::routes::{Route, Routes};

/// Where the document is served.
const PATH: &str = "/api/v1/openapi.json";

/// Adds `GET /api/v1/openapi.json`, describing every route in `routes` and
/// itself; `api/mod.rs` adds it last, so that is every route.
pub(super) fn routes(routes: Routes) -> Routes {
    let mut list = routes.list().to_vec();
    list.push(Route {
        method: "GET",
        path: PATH,
    });
    list.sort();
    let document = Arc::new(document(&list));
    routes.add(
        PATH,
        &["GET"],
        get(move || {
            let document = Arc::clone(&document);
            async move { Json(Value::clone(&document)) }
        }),
    )
}

/// The resource schema a path's bodies use, if any.
fn resource(path: &str) -> Option<&'static str> {
    let table: &[(&str, &str)] = &[
        ("/master-api-keys/", "AdminApiKey"),
        ("/audit-log/", "AuditLogEntry"),
        ("/proxy-keys/", "ProxyKey"),
        ("/mv-options/", "MultivariateOption"),
        ("/features/feature-segments/", "FeatureSegment"),
        ("/traits/", "Trait"),
        ("/featurestates/", "FeatureState"),
        ("/identities/", "Identity"),
        ("/api-keys/", "ServerKey"),
        ("/segments/", "Segment"),
        ("/features/", "Feature"),
        ("/environments/", "Environment"),
        ("/projects/", "Project"),
        ("/organisations/", "Organisation"),
    ];
    let path = path.strip_prefix("/api/v1")?;
    table
        .iter()
        .filter(|(fragment, _)| path.contains(fragment))
        .max_by_key(|(fragment, _)| path.rfind(fragment).unwrap_or(0))
        .map(|(_, schema)| *schema)
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn error(description: &str) -> Value {
    json_response(description, reference("Error"))
}

fn operation(route: &Route) -> Value {
    let path = route.path;
    let mut parameters: Vec<Value> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let text = matches!(name, "api_key" | "prefix" | "environment_key");
            json!({
                "name": name, "in": "path", "required": true,
                "schema": if text { json!({"type": "string"}) } else { json!({"type": "integer", "format": "int64"}) },
            })
        })
        .collect();
    let is_item = path.trim_end_matches('/').ends_with('}');
    let schema = resource(path);
    let mut responses = Map::new();
    let mut request_body = None;
    let security: Value;
    let mut summary = format!("{} {}", route.method, path);
    let query = |name: &str, kind: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": description});
    if path == "/health" || path == "/ready" || path == "/api/v1/openapi.json" {
        security = json!([]);
        responses.insert("200".into(), json_response("OK", json!({"type": "object"})));
        if path == "/ready" {
            responses.insert(
                "503".into(),
                json_response("Not ready", json!({"type": "object"})),
            );
        }
    } else if path == "/api/v1/environment-document/" {
        security = json!([{"EnvironmentKey": []}]);
        summary = "The environment document (server-side key)".into();
        // Printable ASCII: other bytes are not valid in an HTTP field value, and
        // the HTTP layer refuses such a request before the route sees it.
        let field = json!({"type": "string", "pattern": "^[ -~]*$"});
        parameters.push(
            json!({"name": "If-None-Match", "in": "header", "required": false, "schema": field}),
        );
        parameters.push(json!({"name": "If-Modified-Since", "in": "header", "required": false, "schema": field}));
        parameters.push(json!({
            "name": "page_id", "in": "query", "required": false,
            "schema": {"type": "string", "pattern": "^identity_override:-?[0-9]+:([0-9a-f]{2})+$"},
            "description": "A later page of a document with many identity overrides: the value from the previous page's `Link` header (`identity_override:<environment id>:<cursor>`).",
        }));
        let mut page = json_response(
            "The document, or one page of it: the whole environment with a slice of its identity overrides",
            reference("EnvironmentDocument"),
        );
        page["headers"] = json!({"Link": {
            "description": "`</api/v1/environment-document/?page_id=identity_override:<environment id>:<cursor>>; rel=\"next\"` while more identity overrides follow (absent on the last page).",
            "schema": {"type": "string"},
        }});
        responses.insert("200".into(), page);
        responses.insert(
            "304".into(),
            json!({"description": "Not modified (page one only)"}),
        );
        responses.insert("400".into(), error("Malformed page_id or query"));
        responses.insert("403".into(), error("Not a valid server-side key"));
        responses.insert("404".into(), error("A page_id of another environment"));
    } else if path.starts_with("/api/v1/proxy/") {
        security = json!([{"ProxyKey": []}]);
        responses.insert("403".into(), error("Missing, unknown or revoked proxy key"));
        if path.ends_with("/config/") {
            summary = "The proxy key's organisation: environments and their keys".into();
            responses.insert(
                "200".into(),
                json_response(
                    "Every environment of the organisation",
                    json!({"type": "array", "items": reference("ProxyEnvironment")}),
                ),
            );
        } else {
            summary = "Report API usage counted by a proxy (idempotent per Idempotency-Key)".into();
            parameters.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": true,
                "schema": {"type": "string", "pattern": "^[ -~]*$", "maxLength": 200},
                "description": "A UUID per report; a retry with the same key is not counted again.",
            }));
            request_body = Some(json!({
                "type": "array", "maxItems": 1000, "items": reference("UsageRow"),
            }));
            responses.insert("204".into(), json!({"description": "Recorded"}));
            responses.insert(
                "400".into(),
                json_response("Invalid input", reference("FieldErrors")),
            );
            responses.insert("413".into(), error("Body too large"));
            responses.insert("415".into(), error("Not JSON"));
        }
    } else if path.starts_with("/api/v1/edge/") {
        security = if path.ends_with("/changes") {
            // Edges reading core directly follow the feed with their own keys.
            json!([{"SyncToken": []}, {"AdminApiKey": []}, {"ProxyKey": []}, {"EnvironmentKey": []}])
        } else {
            json!([{"SyncToken": []}, {"AdminApiKey": []}])
        };
        responses.insert("401".into(), error("Missing or invalid credentials"));
        if path.ends_with("/changes") {
            responses.insert(
                "403".into(),
                error("Invalid proxy key, or not a server-side key"),
            );
            summary = "Long-poll for environments changed after a revision".into();
            parameters.push(query("since", "integer", "Revision cursor (default 0)"));
            parameters.push(query(
                "timeout",
                "integer",
                "Seconds to wait (default 30, at most 60)",
            ));
            responses.insert(
                "200".into(),
                json_response("Changed environments", reference("Changes")),
            );
            responses.insert("400".into(), error("Malformed parameter"));
        } else if path.ends_with("/document") {
            summary = "An environment's document by client key".into();
            responses.insert(
                "200".into(),
                json_response("The document", reference("EnvironmentDocument")),
            );
            responses.insert("304".into(), json!({"description": "Not modified"}));
            responses.insert("404".into(), error("No such environment"));
        } else {
            summary = "Every environment with its revision and server-side keys".into();
            responses.insert(
                "200".into(),
                json_response("Environments", reference("Changes")),
            );
        }
    } else if path.ends_with("/analytics/flags/") && route.method == "POST" {
        // What SDKs (and edges forwarding for them) report, by environment key.
        security = json!([{"EnvironmentKey": []}]);
        if path.starts_with("/api/v2/") {
            summary = "Report flag evaluations, one entry per feature and identity (v2)".into();
            request_body = Some(reference("SdkEvaluationsV2"));
            responses.insert("204".into(), json!({"description": "Counted"}));
        } else {
            summary = "Report flag evaluations per feature name (v1)".into();
            request_body = Some(reference("SdkEvaluationCounts"));
            responses.insert(
                "200".into(),
                json!({"description": "Counted (an empty body)"}),
            );
        }
        responses.insert(
            "400".into(),
            json_response("Not a JSON object, or malformed", reference("FieldErrors")),
        );
        responses.insert("403".into(), error("Missing or unknown environment key"));
        responses.insert("413".into(), error("Body too large"));
        responses.insert("415".into(), error("Not JSON"));
    } else if path == "/api/v1/edges/" {
        security = json!([{"AdminApiKey": []}]);
        summary =
            "The edge fleet: each edge's latest report against core's current revisions".into();
        parameters.push(query(
            "seen_within",
            "integer",
            "Seconds: edges heard from within (default 900)",
        ));
        parameters.push(query(
            "stale_after",
            "integer",
            "Seconds of silence after which an edge is stale (default 60)",
        ));
        parameters.push(query(
            "environment",
            "string",
            "Only edges serving this client key",
        ));
        responses.insert("200".into(), json_response("The edges", reference("Fleet")));
        responses.insert(
            "400".into(),
            json_response("Invalid input", reference("FieldErrors")),
        );
        responses.insert("401".into(), error("Missing or invalid admin key"));
    } else if path.starts_with("/api/v1/analytics/") {
        security = json!([{"AdminApiKey": []}]);
        summary = if path.contains("flags") {
            "Flag evaluations per feature per bucket".into()
        } else {
            "SDK API calls per resource per bucket".into()
        };
        parameters.push(json!({"name": "environment", "in": "query", "required": true, "schema": {"type": "string"}}));
        parameters.push(query("feature", "string", "Only this feature"));
        parameters.push(query("resource", "string", "Only this resource"));
        parameters.push(query(
            "from",
            "string",
            "RFC 3339 start (default: 24 hours before to)",
        ));
        parameters.push(query(
            "to",
            "string",
            "RFC 3339 end, exclusive (default: now)",
        ));
        parameters.push(json!({"name": "bucket", "in": "query", "required": false, "schema": {"type": "string", "enum": ["1m", "15m", "1h"]}}));
        responses.insert(
            "200".into(),
            json_response("The series", reference("AnalyticsSeries")),
        );
        responses.insert("400".into(), error("Invalid parameters"));
        responses.insert("401".into(), error("Missing or invalid admin key"));
    } else {
        security = json!([{"AdminApiKey": []}]);
        let schema_ref = schema
            .map(reference)
            .unwrap_or_else(|| json!({"type": "object"}));
        responses.insert("401".into(), error("Missing or invalid admin key"));
        responses.insert("404".into(), error("Not found"));
        if path == "/api/v1/features/feature-segments/update-priorities/" {
            summary = "Set the priorities of several feature segments in one change".into();
            request_body = Some(json!({"type": "array", "maxItems": 1000, "items": {
                "type": "object", "required": ["id", "priority"],
                "properties": {"id": {"type": "integer", "format": "int64"}, "priority": {"type": "integer", "format": "int32"}}}}));
            responses.insert(
                "200".into(),
                json_response(
                    "The feature segments, by priority",
                    json!({"type": "array", "items": reference("FeatureSegment")}),
                ),
            );
            responses.insert("400".into(), error("Invalid input"));
        } else if path == "/api/v1/audit-log/" {
            summary = "What admins changed, newest first".into();
            for (name, kind, description) in [
                ("organisation", "integer", "Only this organisation"),
                ("project", "integer", "Only this project"),
                (
                    "environment",
                    "string",
                    "Only this environment (id or client key)",
                ),
                ("feature", "integer", "Only this feature"),
                (
                    "resource",
                    "string",
                    "Only this kind of object (feature, feature_state, segment, …)",
                ),
                ("action", "string", "created, updated or deleted"),
            ] {
                parameters.push(query(name, kind, description));
            }
        }
        if path == "/api/v1/environments/{api_key}/featurestates/" && route.method == "GET" {
            parameters.push(query("feature", "integer", "Only this feature's states"));
            parameters.push(query(
                "feature_segment",
                "integer",
                "Only this segment override's state",
            ));
            parameters.push(query("anyIdentity", "string", "Non-empty: the identity overrides instead of the environment's and segments' states"));
        }
        if path == "/api/v1/proxy-keys/" && route.method == "GET" {
            parameters.push(query(
                "organisation",
                "integer",
                "Only this organisation's keys",
            ));
        }
        match (route.method, is_item) {
            _ if path.ends_with("/update-priorities/") => {}
            ("GET", false) => {
                parameters.push(query("page", "integer", "1-based page"));
                parameters.push(query(
                    "page_size",
                    "integer",
                    "Rows per page (default 100, at most 1000)",
                ));
                responses.insert(
                    "200".into(),
                    json_response(
                        "A page",
                        json!({"allOf": [reference("Page"), {"type": "object", "properties": {"results": {"type": "array", "items": schema_ref}}}]}),
                    ),
                );
                responses.insert("400".into(), error("Malformed parameter"));
            }
            ("GET", true) => {
                responses.insert("200".into(), json_response("The object", schema_ref));
            }
            ("POST", _) => {
                request_body = Some(schema_ref.clone());
                responses.insert("201".into(), json_response("Created", schema_ref));
                responses.insert(
                    "400".into(),
                    json_response("Invalid input", reference("FieldErrors")),
                );
                responses.insert("403".into(), error("Not allowed"));
            }
            ("PUT" | "PATCH", _) => {
                request_body = Some(schema_ref.clone());
                responses.insert("200".into(), json_response("Updated", schema_ref));
                responses.insert(
                    "400".into(),
                    json_response("Invalid input", reference("FieldErrors")),
                );
            }
            ("DELETE", _) => {
                responses.insert("204".into(), json!({"description": "Deleted"}));
                responses.insert("400".into(), error("Cannot be deleted"));
            }
            _ => {}
        }
    }
    let tag = path
        .trim_start_matches("/api/v1/")
        .trim_start_matches("/api/v2/")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let mut op = json!({
        "summary": summary,
        "operationId": format!("{}_{}", route.method.to_lowercase(),
            path.trim_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
        "tags": [tag],
        "parameters": parameters,
        "responses": responses,
        "security": security,
    });
    if let Some(body) = request_body {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": body}}});
    }
    op
}

/// The edge fleet's answer (apart: `json!` nests only so deep).
fn fleet_schema() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    json!({"type": "object", "properties": {
            "count": {"type": "integer"}, "stale_after": {"type": "integer"},
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "edge_id": {"type": "string"}, "region": {"type": "string"}, "version": {"type": "string"},
                "reported_at": time, "last_seen": time, "seconds_since_seen": {"type": "integer"},
                "stale": {"type": "boolean"},
                "environments": {"type": "array", "items": {"type": "object", "properties": {
                    "environment_key": {"type": "string"}, "known": {"type": "boolean"},
                    "environment": {"type": "integer"}, "name": {"type": "string"},
                    "served_revision": {"type": "integer", "nullable": true},
                    "current_revision": {"type": "integer"}, "current": {"type": "boolean"},
                    "revisions_behind": {"type": "integer", "nullable": true},
                    "seconds_behind": {"type": "number", "nullable": true},
                    "confirmed_secs_ago": {"type": "integer"}}}}}}}}})
}

fn schemas() -> Value {
    let mut all = resource_schemas();
    all["Fleet"] = fleet_schema();
    all
}

fn resource_schemas() -> Value {
    let nullable_string = json!({"type": "string", "nullable": true});
    let value = json!({"nullable": true, "oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]});
    let id = json!({"type": "integer", "format": "int64"});
    let time = json!({"type": "string", "format": "date-time"});
    json!({
        "Error": {"type": "object", "properties": {"detail": {"type": "string"}}},
        "FieldErrors": {"type": "object", "additionalProperties": true,
            "description": "Field name → list of messages (nested objects for nested input)."},
        "Page": {"type": "object", "properties": {
            "count": {"type": "integer"}, "next": nullable_string, "previous": nullable_string,
            "results": {"type": "array", "items": {}}}},
        "Organisation": {"type": "object", "properties": {
            "id": id, "name": {"type": "string", "maxLength": 2000}, "persist_trait_data": {"type": "boolean"},
            "feature_analytics": {"type": "boolean"}, "stop_serving_flags": {"type": "boolean"},
            "created_date": time}},
        "AdminApiKey": {"type": "object", "properties": {
            "prefix": {"type": "string"}, "name": {"type": "string"}, "key": {"type": "string",
            "description": "Only in the creation response."}, "organisation": {"type": "integer", "nullable": true},
            "revoked": {"type": "boolean"}, "expiry_date": {"type": "string", "format": "date-time", "nullable": true},
            "created": time, "is_admin": {"type": "boolean"}}},
        "Project": {"type": "object", "properties": {
            "id": id, "name": {"type": "string"}, "organisation": id, "hide_disabled_flags": {"type": "boolean"},
            "enable_realtime_updates": {"type": "boolean"}, "created_date": time}},
        "Environment": {"type": "object", "properties": {
            "id": id, "name": {"type": "string"}, "description": nullable_string, "api_key": {"type": "string"},
            "project": id, "allow_client_traits": {"type": "boolean"}, "hide_sensitive_data": {"type": "boolean"},
            "hide_disabled_flags": {"type": "boolean", "nullable": true},
            "use_identity_composite_key_for_hashing": {"type": "boolean"},
            "use_identity_overrides_in_local_eval": {"type": "boolean"},
            "revision": {"type": "integer"}, "updated_at": time, "created_date": time}},
        "ServerKey": {"type": "object", "properties": {
            "id": id, "key": {"type": "string"}, "name": {"type": "string"}, "active": {"type": "boolean"},
            "expires_at": {"type": "string", "format": "date-time", "nullable": true}, "created_at": time}},
        "MultivariateOption": {"type": "object", "properties": {
            "id": id, "uuid": {"type": "string"}, "feature": id,
            "type": {"type": "string", "enum": ["unicode", "int", "bool"]},
            "string_value": nullable_string, "integer_value": {"type": "integer", "nullable": true},
            "boolean_value": {"type": "boolean", "nullable": true}, "value": value,
            "key": nullable_string, "default_percentage_allocation": {"type": "number", "minimum": 0, "maximum": 100}}},
        "Feature": {"type": "object", "properties": {
            "id": id, "name": {"type": "string", "maxLength": 2000},
            "type": {"type": "string", "enum": ["STANDARD", "MULTIVARIATE"]},
            "initial_value": value, "default_enabled": {"type": "boolean"}, "description": nullable_string,
            "is_server_key_only": {"type": "boolean"}, "project": id, "created_date": time,
            "multivariate_options": {"type": "array", "items": reference("MultivariateOption")}}},
        "Condition": {"type": "object", "properties": {
            "operator": {"type": "string", "enum": flagedge_engine::OPERATORS},
            "property": nullable_string, "value": nullable_string, "description": nullable_string}},
        "Rule": {"type": "object", "properties": {
            "type": {"type": "string", "enum": ["ALL", "ANY", "NONE"]},
            "rules": {"type": "array", "items": {"$ref": "#/components/schemas/Rule"}},
            "conditions": {"type": "array", "items": reference("Condition")}}},
        "Segment": {"type": "object", "properties": {
            "id": id, "name": {"type": "string"}, "description": nullable_string, "project": id,
            "rules": {"type": "array", "items": reference("Rule")}, "created_date": time}},
        "FeatureSegment": {"type": "object", "properties": {
            "id": id, "feature": id, "segment": id, "segment_name": {"type": "string"},
            "environment": id, "priority": {"type": "integer"}}},
        "FeatureState": {"type": "object", "properties": {
            "id": id, "feature": id, "environment": id, "feature_segment": {"type": "integer", "nullable": true},
            "identity": {"type": "integer", "nullable": true}, "enabled": {"type": "boolean"},
            "feature_state_value": value, "featurestate_uuid": {"type": "string"}, "updated_at": time,
            "multivariate_feature_state_values": {"type": "array", "items": {"type": "object", "properties": {
                "id": id, "multivariate_feature_option": id,
                "percentage_allocation": {"type": "number", "minimum": 0, "maximum": 100},
                "mv_fs_value_uuid": {"type": "string"}}}}}},
        "Identity": {"type": "object", "properties": {
            "id": id, "identifier": {"type": "string", "maxLength": 2000}, "identity_uuid": {"type": "string"},
            "environment": id, "created_date": time}},
        "AuditLogEntry": {"type": "object", "properties": {
            "id": id, "created_date": time, "author": {"type": "string"},
            "organisation": {"type": "integer", "nullable": true}, "project": {"type": "integer", "nullable": true},
            "environment": {"type": "integer", "nullable": true}, "feature": {"type": "integer", "nullable": true},
            "resource": {"type": "string"}, "resource_id": {"type": "integer", "nullable": true},
            "action": {"type": "string", "enum": ["created", "updated", "deleted"]},
            "before": {"type": "object", "nullable": true}, "after": {"type": "object", "nullable": true},
            "transaction": {"type": "integer"}}},
        "Trait": {"type": "object", "properties": {
            "id": id, "trait_key": {"type": "string", "maxLength": 200},
            "trait_value": {"oneOf": [{"type": "string", "maxLength": 2000}, {"type": "number"}, {"type": "boolean"}]},
            "value_type": {"type": "string"}, "created_date": time}},
        "EnvironmentDocument": {"type": "object", "description":
            "Flagsmith's environment document (api_key, project, feature_states, identity_overrides, …) plus revision and updated_at.",
            "properties": {"api_key": {"type": "string"}, "revision": {"type": "integer"}, "updated_at": time,
            "project": {"type": "object"}, "feature_states": {"type": "array", "items": {"type": "object"}},
            "identity_overrides": {"type": "array", "items": {"type": "object"}}}},
        "Changes": {"type": "object", "properties": {
            "revision": {"type": "integer"},
            "environments": {"type": "array", "items": {"type": "object", "properties": {
                "environment_key": {"type": "string"}, "revision": {"type": "integer"},
                "server_keys": {"type": "array", "items": {"type": "string"}}}}}}},
        "AnalyticsSeries": {"type": "object", "properties": {
            "environment": {"type": "string"}, "bucket": {"type": "string"}, "from": time, "to": time,
            "total": {"type": "integer"},
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "bucket_start": time, "feature_name": {"type": "string"}, "resource": {"type": "string"},
                "count": {"type": "integer"}}}}}},
    })
}

/// The proxy API's schemas (apart, to keep `json!` within its recursion limit).
fn proxy_schemas() -> Value {
    let id = json!({"type": "integer", "format": "int64"});
    let time = json!({"type": "string", "format": "date-time"});
    json!({
        "ProxyKey": {"type": "object", "properties": {
            "id": id, "name": {"type": "string", "maxLength": 2000}, "organisation": id,
            "prefix": {"type": "string"}, "revoked": {"type": "boolean"}, "created": time,
            "key": {"type": "string", "description": "`pk.<prefix>.<secret>`; only in the creation response."}}},
        "ProxyEnvironment": {"type": "object", "properties": {
            "id": id, "name": {"type": "string"}, "client_side_key": {"type": "string"},
            "server_side_keys": {"type": "array", "items": {"type": "object", "properties": {
                "key": {"type": "string"}, "active": {"type": "boolean"},
                "expires_at": {"type": "string", "format": "date-time", "nullable": true}}}},
            "updated_at": time, "project_id": id, "organisation_id": id}},
        "UsageRow": {"type": "object", "required": ["client_side_key", "resource", "count"], "properties": {
            "client_side_key": {"type": "string"},
            "resource": {"type": "string", "enum": super::proxy::RESOURCES},
            "count": {"type": "integer", "minimum": 0}}}
    })
}

/// The bodies SDKs report their evaluation counts in.
fn sdk_analytics_schemas() -> Value {
    let count = json!({"type": "integer", "format": "int64", "minimum": 0});
    json!({
        "SdkEvaluationCounts": {"type": "object", "additionalProperties": count,
            "description": "Feature name → evaluations since the last report. Entries whose count is not a \
                non-negative integer, or whose name is not a feature of the environment's project, are skipped."},
        "SdkEvaluationsV2": {"type": "object", "required": ["evaluations"], "properties": {
            "evaluations": {"type": "array", "items": {"type": "object",
                "required": ["feature_name", "count"], "properties": {
                    "feature_name": {"type": "string",
                        "description": "Not a feature of the environment's project: skipped."},
                    "count": count,
                    "identity_identifier": {"type": "string", "nullable": true},
                    "enabled_when_evaluated": {"type": "boolean"}}}}}},
    })
}

fn all_schemas() -> Value {
    let mut all = schemas();
    if let Value::Object(all) = &mut all {
        for more in [proxy_schemas(), sdk_analytics_schemas()] {
            if let Value::Object(more) = more {
                all.extend(more);
            }
        }
    }
    all
}

/// The OpenAPI document of `routes` (sorted).
pub fn document(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "flagedge-core",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The flagedge source of truth: an admin API shaped like Flagsmith's, environment documents, the change feed and analytics.",
        },
        "paths": paths,
        "components": {
            "schemas": all_schemas(),
            "securitySchemes": {
                "AdminApiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`Api-Key <key>`"},
                "SyncToken": {"type": "http", "scheme": "bearer"},
                "EnvironmentKey": {"type": "apiKey", "in": "header", "name": "X-Environment-Key"},
                "ProxyKey": {"type": "apiKey", "in": "header", "name": "X-Proxy-Key",
                    "description": "`pk.<prefix>.<secret>` (`POST /api/v1/proxy-keys/`)"},
            },
        },
    })
}
