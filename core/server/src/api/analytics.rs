//! The analytics read API (admin keys): what was counted into the analytics
//! tables — by flagedge-sync for edges, by core itself for proxies' usage
//! reports and SDKs' own evaluation counts ([`crate::counts`]) — over a period,
//! in 1-minute, 15-minute or 1-hour buckets.
//!
//! - `GET /api/v1/analytics/flags/?environment=<client key>[&feature=<name>]&from=&to=&bucket=`
//!   → evaluations per feature per bucket;
//! - `GET /api/v1/analytics/usage/?environment=<client key>[&resource=<name>]&from=&to=&bucket=`
//!   → SDK API calls per resource (flags, identities, traits,
//!   environment-document) per bucket.
//!
//! `from`/`to` are RFC 3339 (default: the last 24 hours; `to` exclusive);
//! `bucket` defaults to `1h`. Buckets without counts are absent, not zero.
//!
//! With `--analytics-store influxdb` the same answers come from InfluxDB
//! (`flagedge_influx::read`): Flagsmith's `feature_evaluation` / `api_call`
//! points of the environment (by id, or by client key), summed per window.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::format::{iso, parse_time};
use super::lookup::environment_ref;
use super::routes::Routes;
use crate::auth::Admin;
use flagedge_influx::read::{CountQuery, Environment};

use crate::counts::{BUCKETS, Table};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add("/api/v1/analytics/flags/", &["GET"], get(flags))
        .add("/api/v1/analytics/usage/", &["GET"], get(usage))
}

/// The most buckets one query may span.
pub const BUCKETS_MAX: i64 = 20_000;

#[derive(Deserialize)]
struct Params {
    environment: Option<String>,
    feature: Option<String>,
    resource: Option<String>,
    from: Option<String>,
    to: Option<String>,
    bucket: Option<String>,
}

struct Period {
    environment: String,
    environment_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: &'static str,
    minutes: i64,
}

async fn period(state: &AppState, admin: &Admin, params: &Params) -> ApiResult<Period> {
    let Some(key) = params.environment.as_deref().filter(|k| !k.is_empty()) else {
        return Err(ApiError::field("environment", "This field is required."));
    };
    let asked = params.bucket.as_deref().unwrap_or("1h");
    let Some((bucket, minutes)) = BUCKETS.into_iter().find(|(size, _)| *size == asked) else {
        return Err(ApiError::field("bucket", "Must be one of 1m, 15m, 1h."));
    };
    let to = match params.to.as_deref() {
        Some(t) => parse_time("to", t)?,
        None => Utc::now(),
    };
    let from = match params.from.as_deref() {
        Some(f) => parse_time("from", f)?,
        None => to - Duration::hours(24),
    };
    if from >= to {
        return Err(ApiError::field("from", "Must be before to."));
    }
    if (to - from).num_minutes() / minutes > BUCKETS_MAX {
        return Err(ApiError::field(
            "from",
            format!("The period spans more than {BUCKETS_MAX} buckets; use a larger bucket."),
        ));
    }
    // The environment must exist and be the admin's (the analytics database
    // may be another one, so this is checked against core's).
    let environment = environment_ref(&state.db, admin, key)
        .await
        .map_err(|e| match e {
            ApiError::NotFound => ApiError::field("environment", "No such environment."),
            other => other,
        })?;
    Ok(Period {
        environment: environment.api_key,
        environment_id: environment.id,
        from,
        to,
        bucket,
        minutes,
    })
}

async fn series(
    state: &AppState,
    period: &Period,
    table: Table,
    filter: Option<&str>,
) -> ApiResult<Vec<Value>> {
    if let Some(store) = &state.influx {
        let counts = store
            .influx
            .counts(
                &CountQuery {
                    counted: table.counted(),
                    environment: Environment {
                        id: period.environment_id,
                        key: &period.environment,
                    },
                    name: filter,
                    from: period.from,
                    to: period.to,
                    minutes: period.minutes,
                },
                Utc::now(),
            )
            .await?;
        let column = table.column();
        return Ok(counts
            .into_iter()
            .map(|c| json!({"bucket_start": iso(c.start), column: c.name, "count": c.count}))
            .collect());
    }
    let (table, column) = (table.name(), table.column());
    // Table and column names are constants of `Table`, never input.
    let rows: Vec<(DateTime<Utc>, String, i64)> = sqlx::query_as(&format!(
        "SELECT bucket_start, {column}, count FROM {table} \
         WHERE environment_key = $1 AND bucket_size = $2 AND bucket_start >= $3 AND bucket_start < $4 \
         AND ($5::text IS NULL OR {column} = $5) ORDER BY bucket_start, {column}"
    ))
    .bind(&period.environment)
    .bind(period.bucket)
    .bind(period.from)
    .bind(period.to)
    .bind(filter)
    .fetch_all(&state.analytics)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(start, name, count)| json!({"bucket_start": iso(start), column: name, "count": count}))
        .collect())
}

fn body(period: &Period, results: Vec<Value>) -> Json<Value> {
    // Saturating: counts come from clients, and rows may each be near the limit.
    let total = results
        .iter()
        .filter_map(|r| r["count"].as_i64())
        .fold(0_i64, i64::saturating_add);
    Json(json!({
        "environment": period.environment,
        "bucket": period.bucket,
        "from": iso(period.from),
        "to": iso(period.to),
        "total": total,
        "results": results,
    }))
}

async fn flags(
    State(state): State<AppState>,
    admin: Admin,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let period = period(&state, &admin, &params).await?;
    let results = series(
        &state,
        &period,
        Table::FlagEvaluations,
        params.feature.as_deref(),
    )
    .await?;
    Ok(body(&period, results))
}

async fn usage(
    State(state): State<AppState>,
    admin: Admin,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let period = period(&state, &admin, &params).await?;
    let results = series(&state, &period, Table::ApiCalls, params.resource.as_deref()).await?;
    Ok(body(&period, results))
}
