//! The proxy API (SPEC §8.2), for edge proxies holding a proxy key
//! (`X-Proxy-Key: pk.…`, see [`super::proxy_keys`]); a missing, unknown or
//! revoked key is 403, and so is every other kind of key.
//!
//! - `GET /api/v1/proxy/config/` → every environment of the key's
//!   organisation: `[{"id", "name", "client_side_key", "server_side_keys":
//!   [{"key", "active", "expires_at"}], "updated_at", "project_id",
//!   "organisation_id"}]`. Every server-side key is listed, inactive and expired
//!   ones too, with what the proxy needs to judge them itself.
//! - `POST /api/v1/proxy/usage/` with `Idempotency-Key: <uuid>` and
//!   `[{"client_side_key", "resource", "count"}]` (at most 1000 rows) → 204.
//!   Counts go into `analytics_api_calls` at the 1-minute, 15-minute and 1-hour
//!   buckets of the moment they arrive ([`crate::counts`]), as flagedge-sync
//!   writes edges' counts, so `GET /api/v1/analytics/usage/` reads them. The idempotency key is
//!   recorded in `analytics_batches` (`proxy-usage:<proxy key id>:<key>`) in the
//!   same transaction: a retry with the same key is answered 204 and counts
//!   nothing again. Bad rows are 400 with field errors per row (`"[3]":
//!   {"resource": [...]}`), which the proxy treats as final.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use utoipa::ToSchema;

use super::doc::{Doc, Security};
use super::format::{iso_time, iso_time_opt};
use super::routes::Routes;
use crate::auth::ProxyCaller;
use crate::counts::{self, Table, Tally};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::ListBody;
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    let config_doc = Doc::new("The proxy key's organisation: environments and their keys")
        .security(Security::ProxyKey)
        .answers_list::<ProxyEnvironment>("Every environment of the organisation");
    let usage_doc =
        Doc::new("Report API usage counted by a proxy (idempotent per Idempotency-Key)")
            .security(Security::ProxyKey)
            .header(
                "Idempotency-Key",
                true,
                "A UUID per report; a retry with the same key is not counted again.",
            )
            .body_list::<UsageRow>(USAGE_ROWS_MAX)
            .empty(204, "Recorded")
            .invalid()
            .fails(413, "Body too large")
            .fails(415, "Not JSON");
    routes
        .get("/api/v1/proxy/config/", config_doc, config)
        .post("/api/v1/proxy/usage/", usage_doc, usage)
}

/// An environment as a proxy sees it.
#[derive(Serialize, Debug, ToSchema)]
pub struct ProxyEnvironment {
    /// The environment's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its client-side key.
    pub client_side_key: String,
    /// Every server-side key, in creation order.
    pub server_side_keys: Vec<ProxyServerKey>,
    /// When what it serves last changed.
    #[serde(serialize_with = "iso_time")]
    pub updated_at: DateTime<Utc>,
    /// Its project.
    pub project_id: i64,
    /// Its project's organisation.
    pub organisation_id: i64,
}

/// A server-side key; valid while `active` and not past `expires_at`.
#[derive(Serialize, Debug, ToSchema)]
pub struct ProxyServerKey {
    /// The key (`ser.…`).
    pub key: String,
    /// False once revoked.
    pub active: bool,
    /// When it stops working, or null.
    #[serde(serialize_with = "iso_time_opt")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ConfigRow {
    id: i64,
    name: String,
    api_key: String,
    updated_at: DateTime<Utc>,
    project_id: i64,
    organisation_id: i64,
    key: Option<String>,
    active: Option<bool>,
    expires_at: Option<DateTime<Utc>>,
}

async fn config(
    State(state): State<AppState>,
    caller: ProxyCaller,
) -> ApiResult<Json<Vec<ProxyEnvironment>>> {
    // One statement, so environments and keys are one snapshot.
    let rows: Vec<ConfigRow> = sqlx::query_as(
        "SELECT e.id, e.name, e.api_key, e.updated_at, e.project_id, p.organisation_id, \
         k.key, k.active, k.expires_at \
         FROM environments e JOIN projects p ON p.id = e.project_id \
         LEFT JOIN server_keys k ON k.environment_id = e.id \
         WHERE p.organisation_id = $1 ORDER BY e.id, k.id",
    )
    .bind(caller.organisation)
    .fetch_all(&state.db)
    .await?;
    let mut environments: Vec<ProxyEnvironment> = Vec::new();
    for row in rows {
        let key = row.key.map(|key| ProxyServerKey {
            key,
            active: row.active.unwrap_or(false),
            expires_at: row.expires_at,
        });
        match environments.last_mut() {
            Some(last) if last.id == row.id => last.server_side_keys.extend(key),
            _ => environments.push(ProxyEnvironment {
                id: row.id,
                name: row.name,
                client_side_key: row.api_key,
                server_side_keys: key.into_iter().collect(),
                updated_at: row.updated_at,
                project_id: row.project_id,
                organisation_id: row.organisation_id,
            }),
        }
    }
    Ok(Json(environments))
}

/// Most rows in one usage report.
pub const USAGE_ROWS_MAX: usize = 1000;
/// The resources a proxy counts.
pub const RESOURCES: [&str; 3] = ["flags", "identities", "environment-document"];
/// The header that makes a report safe to retry.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Longest idempotency key (a UUID is 36).
pub const IDEMPOTENCY_KEY_MAX: usize = 200;

/// A usage row (read field by field from JSON, so each field's error is
/// DRF's; this type is what a valid row holds).
#[derive(ToSchema)]
struct UsageRow {
    client_side_key: String,
    /// flags, identities or environment-document.
    #[schema(value_type = String, schema_with = resources)]
    resource: &'static str,
    #[schema(minimum = 0)]
    count: i64,
}

fn resources() -> utoipa::openapi::schema::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(RESOURCES))
        .build()
}

fn usage_row(item: &Value) -> Result<UsageRow, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Value::Object(fields) = item else {
        errors.add("non_field_errors", "Expected an object.");
        return Err(errors);
    };
    let client_side_key = match fields.get("client_side_key") {
        None | Some(Value::Null) => {
            errors.add("client_side_key", "This field is required.");
            None
        }
        Some(Value::String(key)) if key.is_empty() => {
            errors.add("client_side_key", "This field may not be blank.");
            None
        }
        Some(Value::String(key)) => Some(key.clone()),
        Some(_) => {
            errors.add("client_side_key", "Not a valid string.");
            None
        }
    };
    let resource = match fields.get("resource") {
        None | Some(Value::Null) => {
            errors.add("resource", "This field is required.");
            None
        }
        Some(Value::String(name)) => {
            let found = RESOURCES.iter().copied().find(|r| r == name);
            if found.is_none() {
                errors.add(
                    "resource",
                    format!("\"{name}\" is not a valid choice (flags, identities, environment-document)."),
                );
            }
            found
        }
        Some(_) => {
            errors.add(
                "resource",
                "Must be one of flags, identities, environment-document.",
            );
            None
        }
    };
    let count = match fields.get("count") {
        None | Some(Value::Null) => {
            errors.add("count", "This field is required.");
            None
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(count) if count >= 0 => Some(count),
            Some(_) => {
                errors.add("count", "Ensure this value is greater than or equal to 0.");
                None
            }
            None if n.is_u64() => {
                errors.add("count", "Must fit in 64 bits.");
                None
            }
            None => {
                errors.add("count", "A valid integer is required.");
                None
            }
        },
        Some(_) => {
            errors.add("count", "A valid integer is required.");
            None
        }
    };
    match (client_side_key, resource, count) {
        (Some(client_side_key), Some(resource), Some(count)) if errors.is_empty() => Ok(UsageRow {
            client_side_key,
            resource,
            count,
        }),
        _ => Err(errors),
    }
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let key = headers
        .get(IDEMPOTENCY_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest("The Idempotency-Key header (a UUID) is required.".into())
        })?;
    if key.len() > IDEMPOTENCY_KEY_MAX {
        return Err(ApiError::BadRequest(format!(
            "The Idempotency-Key header may have at most {IDEMPOTENCY_KEY_MAX} characters."
        )));
    }
    Ok(key.to_string())
}

/// The rows, validated against the organisation's environments: every bad row
/// is reported under `[<index>]`.
async fn validated(
    state: &AppState,
    organisation: i64,
    items: &[Value],
) -> ApiResult<Vec<UsageRow>> {
    if items.len() > USAGE_ROWS_MAX {
        return Err(ApiError::field(
            "non_field_errors",
            format!("Ensure this list has no more than {USAGE_ROWS_MAX} elements."),
        ));
    }
    let parsed: Vec<Result<UsageRow, FieldErrors>> = items.iter().map(usage_row).collect();
    // Text PostgreSQL cannot hold (NUL) names no environment either.
    let wanted: Vec<&str> = parsed
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.client_side_key.as_str())
        .filter(|k| !k.contains('\0'))
        .collect::<HashSet<&str>>()
        .into_iter()
        .collect();
    let known: Vec<(String,)> = sqlx::query_as(
        "SELECT e.api_key FROM environments e JOIN projects p ON p.id = e.project_id \
         WHERE p.organisation_id = $1 AND e.api_key = ANY($2)",
    )
    .bind(organisation)
    .bind(&wanted)
    .fetch_all(&state.db)
    .await?;
    let known: HashSet<String> = known.into_iter().map(|(k,)| k).collect();
    let mut errors = FieldErrors::new();
    let mut rows = Vec::with_capacity(parsed.len());
    for (i, row) in parsed.into_iter().enumerate() {
        let row = row.and_then(|row| {
            if known.contains(&row.client_side_key) {
                Ok(row)
            } else {
                let mut errors = FieldErrors::new();
                errors.add(
                    "client_side_key",
                    "No environment with this key in the proxy key's organisation.",
                );
                Err(errors)
            }
        });
        match row {
            Ok(row) => rows.push(row),
            Err(row_errors) => errors.add_nested(format!("[{i}]"), row_errors.into_value()),
        }
    }
    errors.check()?;
    Ok(rows)
}

async fn usage(
    State(state): State<AppState>,
    caller: ProxyCaller,
    headers: HeaderMap,
    body: Result<ListBody, ApiError>,
) -> ApiResult<StatusCode> {
    let key = idempotency_key(&headers)?;
    let ListBody(items) = body?;
    let rows = validated(&state, caller.organisation, &items).await?;

    let mut tally = Tally::new();
    for row in rows {
        tally.add(&row.client_side_key, row.resource, row.count);
    }

    let mut tx = state.analytics.begin().await?;
    let recorded = sqlx::query(
        "INSERT INTO analytics_batches (batch_id, edge_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(format!("proxy-usage:{}:{key}", caller.key_id))
    .bind(format!("proxy-key:{}", caller.key_id))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if recorded == 0 {
        // Seen before (a retry): its counts are in already.
        tx.rollback().await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    // InfluxDB has no transaction to join: its write goes first, so a failure
    // rolls the idempotency record back and the proxy's retry is counted.
    match &state.influx {
        Some(store) => {
            counts::add_to_influx(&state.db, store, Table::ApiCalls, Utc::now(), tally).await?
        }
        None => counts::add(&mut *tx, Table::ApiCalls, Utc::now(), tally).await?,
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
