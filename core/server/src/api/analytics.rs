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
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::doc::Doc;
use super::format::{iso_time, parse_time};
use super::lookup::environment_ref;
use super::routes::Routes;
use crate::auth::{Admin, Caller};
use flagedge_influx::read::{CountQuery, Environment};

use crate::counts::{BUCKETS, Table};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

pub(super) fn routes(routes: Routes) -> Routes {
    let doc = |summary| {
        Doc::new(summary)
            .query::<Params>()
            .answers::<Series>(200, "The series")
            .fails(400, "Invalid parameters")
    };
    routes
        .get(
            "/api/v1/analytics/flags/",
            doc("Flag evaluations per feature per bucket"),
            flags,
        )
        .get(
            "/api/v1/analytics/usage/",
            doc("SDK API calls per resource per bucket"),
            usage,
        )
}

/// The counts of one period, in buckets.
#[derive(Serialize, ToSchema)]
#[schema(as = AnalyticsSeries)]
struct Series {
    /// The client-side key.
    environment: String,
    /// 1m, 15m or 1h.
    bucket: &'static str,
    #[serde(serialize_with = "iso_time")]
    from: DateTime<Utc>,
    #[serde(serialize_with = "iso_time")]
    to: DateTime<Utc>,
    /// The sum of the counts (saturating).
    total: i64,
    results: Vec<Bucket>,
}

/// One bucket's count of one feature (flags) or one resource (usage).
#[derive(Serialize, ToSchema)]
#[schema(as = AnalyticsBucket)]
struct Bucket {
    #[serde(serialize_with = "iso_time")]
    bucket_start: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    feature_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    count: i64,
}

impl Bucket {
    fn new(table: Table, bucket_start: DateTime<Utc>, name: String, count: i64) -> Bucket {
        let (feature_name, resource) = match table {
            Table::FlagEvaluations => (Some(name), None),
            Table::ApiCalls => (None, Some(name)),
        };
        Bucket {
            bucket_start,
            feature_name,
            resource,
            count,
        }
    }
}

/// The most buckets one query may span.
pub const BUCKETS_MAX: i64 = 20_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Params {
    /// The environment's client-side key (required).
    environment: Option<String>,
    /// Only this feature (flags).
    feature: Option<String>,
    /// Only this resource (usage).
    resource: Option<String>,
    /// RFC 3339 start (default: 24 hours before `to`).
    from: Option<String>,
    /// RFC 3339 end, exclusive (default: now).
    to: Option<String>,
    /// 1m, 15m or 1h (default 1h).
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
) -> ApiResult<Vec<Bucket>> {
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
        return Ok(counts
            .into_iter()
            .map(|c| Bucket::new(table, c.start, c.name, c.count))
            .collect());
    }
    let (name, column) = (table.name(), table.column());
    // Table and column names are constants of `Table`, never input.
    let rows: Vec<(DateTime<Utc>, String, i64)> = sqlx::query_as(&format!(
        "SELECT bucket_start, {column}, count FROM {name} \
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
        .map(|(start, name, count)| Bucket::new(table, start, name, count))
        .collect())
}

fn body(period: &Period, results: Vec<Bucket>) -> Json<Series> {
    // Saturating: counts come from clients, and rows may each be near the limit.
    let total = results
        .iter()
        .map(|r| r.count)
        .fold(0_i64, i64::saturating_add);
    Json(Series {
        environment: period.environment.clone(),
        bucket: period.bucket,
        from: period.from,
        to: period.to,
        total,
        results,
    })
}

async fn flags(
    Caller { state, admin }: Caller,
    Query(params): Query<Params>,
) -> ApiResult<Json<Series>> {
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
    Caller { state, admin }: Caller,
    Query(params): Query<Params>,
) -> ApiResult<Json<Series>> {
    let period = period(&state, &admin, &params).await?;
    let results = series(&state, &period, Table::ApiCalls, params.resource.as_deref()).await?;
    Ok(body(&period, results))
}
