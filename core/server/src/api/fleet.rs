//! `GET /api/v1/edges/`: the edge fleet. Edges report with every batch they
//! ship to flagedge-sync (region, version, and per environment the revision and
//! `updated_at` they serve and how long since their source confirmed it); sync
//! keeps each edge's latest report in `edge_reports` (analytics database; or
//! `flagedge_edge` points when analytics are kept in InfluxDB). Here
//! each report is compared with core's current revisions: an environment is
//! current, or behind by so many revisions and seconds; an edge not heard from
//! for `stale_after` seconds is stale.
//!
//! Query: `seen_within` (seconds, default 900: older reports are left out),
//! `stale_after` (seconds, default 60), `environment` (a client key: only edges
//! serving it). An admin key limited to an organisation sees that
//! organisation's environments only, and edges serving none of them not at all.

use std::collections::HashMap;

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::doc::Doc;
use super::format::iso_time;
use super::routes::Routes;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Query, from_text};

pub(super) fn routes(routes: Routes) -> Routes {
    let doc =
        Doc::new("The edge fleet: each edge's latest report against core's current revisions")
            .query::<Filter>()
            .answers::<Fleet>(200, "The edges")
            .invalid();
    routes.get(PATH, doc, list)
}

/// The edges heard from, each with what it serves.
#[derive(Serialize, ToSchema)]
struct Fleet {
    count: usize,
    /// Seconds of silence after which an edge is stale.
    stale_after: i64,
    results: Vec<Edge>,
}

/// One edge's latest report.
#[derive(Serialize, ToSchema)]
#[schema(as = FleetEdge)]
struct Edge {
    edge_id: String,
    region: String,
    version: String,
    #[serde(serialize_with = "iso_time")]
    reported_at: DateTime<Utc>,
    #[serde(serialize_with = "iso_time")]
    last_seen: DateTime<Utc>,
    seconds_since_seen: i64,
    stale: bool,
    environments: Vec<ServedEnvironment>,
}

/// An environment as one edge serves it.
#[derive(Serialize, ToSchema)]
struct ServedEnvironment {
    environment_key: String,
    /// Whether core knows the key (the rest is absent when not).
    known: bool,
    #[serde(flatten)]
    current: Option<AgainstCore>,
    served_revision: Option<i64>,
    /// Seconds since the edge last confirmed its copy with its source.
    confirmed_secs_ago: u64,
}

/// An environment core knows, against what an edge serves.
#[derive(Serialize, ToSchema)]
struct AgainstCore {
    environment: i64,
    name: String,
    current_revision: i64,
    current: bool,
    revisions_behind: Option<i64>,
    /// From the served document's `updated_at` to core's.
    seconds_behind: Option<f64>,
}

/// Where the fleet is served.
pub const PATH: &str = "/api/v1/edges/";

/// Reports older than this many seconds are left out unless asked.
pub const SEEN_WITHIN_DEFAULT: i64 = 900;
/// An edge silent for this many seconds is stale unless asked.
pub const STALE_AFTER_DEFAULT: i64 = 60;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Filter {
    /// Seconds: edges heard from within (default 900).
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    seen_within: Option<i64>,
    /// Seconds of silence after which an edge is stale (default 60).
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    stale_after: Option<i64>,
    /// Only edges serving this client key.
    environment: Option<String>,
}

/// One environment an edge reported.
#[derive(Deserialize)]
struct Served {
    environment_key: String,
    #[serde(default)]
    revision: Option<i64>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    confirmed_secs_ago: u64,
}

type ReportRow = (String, String, String, DateTime<Utc>, DateTime<Utc>, Value);

/// Core's view of an environment: id, name, organisation, revision, updated_at.
type Current = (i64, String, i64, i64, DateTime<Utc>);

async fn list(
    Caller { state, admin }: Caller,
    Query(filter): Query<Filter>,
) -> ApiResult<Json<Fleet>> {
    let seen_within = filter.seen_within.unwrap_or(SEEN_WITHIN_DEFAULT);
    let stale_after = filter.stale_after.unwrap_or(STALE_AFTER_DEFAULT);
    if seen_within <= 0 || stale_after <= 0 {
        return Err(ApiError::field(
            "seen_within",
            "seen_within and stale_after are positive numbers of seconds.",
        ));
    }
    let reports: Vec<ReportRow> = match &state.influx {
        Some(store) => store
            .influx
            .edges(seen_within)
            .await?
            .into_iter()
            .map(|r| {
                (
                    r.edge_id,
                    r.region,
                    r.version,
                    r.reported_at,
                    r.received_at,
                    r.environments,
                )
            })
            .collect(),
        None => {
            sqlx::query_as(
                "SELECT edge_id, region, version, reported_at, received_at, environments FROM edge_reports \
                 WHERE received_at > now() - make_interval(secs => $1) ORDER BY region, edge_id",
            )
            .bind(seen_within as f64)
            .fetch_all(&state.analytics)
            .await?
        }
    };
    let keys: Vec<String> = reports
        .iter()
        .filter_map(|r| serde_json::from_value::<Vec<Served>>(r.5.clone()).ok())
        .flatten()
        .map(|s| s.environment_key)
        .collect();
    let current: HashMap<String, Current> = sqlx::query_as::<_, (String, i64, String, i64, i64, DateTime<Utc>)>(
        "SELECT e.api_key, e.id, e.name, p.organisation_id, e.revision, e.updated_at FROM environments e \
         JOIN projects p ON p.id = e.project_id WHERE e.api_key = ANY($1)",
    )
    .bind(&keys)
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|(key, id, name, organisation, revision, updated_at)| {
        (key, (id, name, organisation, revision, updated_at))
    })
    .collect();
    let now = Utc::now();
    let mut results = Vec::new();
    for (edge_id, region, version, reported_at, received_at, environments) in reports {
        let served: Vec<Served> = serde_json::from_value(environments).unwrap_or_default();
        let mut shown = Vec::new();
        for served in served {
            let known = current.get(&served.environment_key);
            // Environments the admin may not see, or that core does not know, stay hidden
            // from limited keys; an unrestricted key sees unknown ones as such.
            match known {
                Some((_, _, organisation, _, _)) if !admin.may_see(*organisation) => continue,
                None if admin.organisation.is_some() => continue,
                _ => {}
            }
            shown.push(against_core(served, known));
        }
        if shown.is_empty() && admin.organisation.is_some() {
            continue;
        }
        if let Some(key) = filter.environment.as_deref()
            && !shown.iter().any(|e| e.environment_key == key)
        {
            continue;
        }
        let silent = (now - received_at).num_seconds().max(0);
        results.push(Edge {
            edge_id,
            region,
            version,
            reported_at,
            last_seen: received_at,
            seconds_since_seen: silent,
            stale: silent > stale_after,
            environments: shown,
        });
    }
    Ok(Json(Fleet {
        count: results.len(),
        stale_after,
        results,
    }))
}

fn against_core(served: Served, current: Option<&Current>) -> ServedEnvironment {
    let current = current.map(|(id, name, _, revision, updated_at)| {
        let behind = served.revision.map(|r| (revision - r).max(0));
        // Seconds behind: from the served document's updated_at to core's current one.
        let served_at = served
            .updated_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let seconds_behind = match (behind, served_at) {
            (Some(0), _) => Some(0.0),
            (_, Some(at)) => Some(((*updated_at - at).num_milliseconds().max(0)) as f64 / 1000.0),
            _ => None,
        };
        AgainstCore {
            environment: *id,
            name: name.clone(),
            current_revision: *revision,
            current: behind == Some(0),
            revisions_behind: behind,
            seconds_behind,
        }
    });
    ServedEnvironment {
        environment_key: served.environment_key,
        known: current.is_some(),
        current,
        served_revision: served.revision,
        confirmed_secs_ago: served.confirmed_secs_ago,
    }
}
