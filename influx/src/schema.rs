//! Flagsmith's InfluxDB schema (its `app_analytics/track.py`), the one home of
//! the names: a user moving from Flagsmith keeps their buckets, queries and
//! downsampling.
//!
//! - `api_call`: field `request_count`; tags `resource`, `organisation`
//!   (`"{id}-{name}"`), `organisation_id`, `project`, `project_id`,
//!   `environment`, `environment_id`, `host`.
//! - `feature_evaluation`: field `request_count`; tags `feature_id` (which holds
//!   the feature's *name*) and `environment_id`.
//!
//! Flagsmith adds labels as further tags; flagedge adds one, `environment_key`
//! (the client-side key), so counts for an environment whose id an edge did not
//! report can still be found. Raw points go to the bucket (`default`), and
//! downsampled sums live in `{bucket}_downsampled_15m` and `…_1h`.
//!
//! flagedge's own measurement `flagedge_edge` keeps each edge's fleet report
//! (field `report`, JSON; tag `edge_id`).

use crate::line::{Field, Point};

/// Flagsmith's API-call measurement.
pub const API_CALL: &str = "api_call";
/// Flagsmith's feature-evaluation measurement.
pub const FEATURE_EVALUATION: &str = "feature_evaluation";
/// The counted field of both.
pub const REQUEST_COUNT: &str = "request_count";
/// The edge fleet's reports (flagedge's own).
pub const EDGE_REPORT: &str = "flagedge_edge";
/// Flagsmith's default bucket.
pub const BUCKET_DEFAULT: &str = "default";

/// What is counted: the measurement, and the tag naming what each count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Flag evaluations per feature name (`feature_evaluation`, tag `feature_id`).
    Evaluations,
    /// SDK API calls per resource (`api_call`, tag `resource`).
    ApiCalls,
}

impl Counted {
    /// Its measurement.
    pub fn measurement(self) -> &'static str {
        match self {
            Counted::Evaluations => FEATURE_EVALUATION,
            Counted::ApiCalls => API_CALL,
        }
    }

    /// The tag naming what a count is of.
    pub fn name_tag(self) -> &'static str {
        match self {
            Counted::Evaluations => "feature_id",
            Counted::ApiCalls => "resource",
        }
    }
}

/// The names Flagsmith tags an environment's counts with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvironmentTags {
    /// The client-side key (flagedge's tag).
    pub key: String,
    /// The environment's id (0 when unknown: the tag is then left out).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The project's id.
    pub project_id: i64,
    /// The project's name.
    pub project: String,
    /// The organisation's id.
    pub organisation_id: i64,
    /// The organisation's name.
    pub organisation: String,
}

/// An id as a tag: absent (empty) when unknown.
fn id_tag(id: i64) -> String {
    if id > 0 {
        id.to_string()
    } else {
        String::new()
    }
}

impl EnvironmentTags {
    /// Flagsmith's `Organisation.get_unique_slug()`: `"{id}-{name}"`.
    pub fn organisation_slug(&self) -> String {
        if self.organisation_id > 0 {
            format!("{}-{}", self.organisation_id, self.organisation)
        } else {
            String::new()
        }
    }

    /// A `feature_evaluation` point.
    pub fn evaluations(&self, feature: &str, count: i64, time_ns: i64) -> Point {
        Point {
            measurement: FEATURE_EVALUATION,
            tags: vec![
                ("feature_id", feature.to_string()),
                ("environment_id", id_tag(self.id)),
                ("environment_key", self.key.clone()),
            ],
            fields: vec![(REQUEST_COUNT, Field::Integer(count))],
            time_ns,
        }
    }

    /// An `api_call` point; `host` is the host the calls were made to.
    pub fn api_calls(&self, resource: &str, host: &str, count: i64, time_ns: i64) -> Point {
        Point {
            measurement: API_CALL,
            tags: vec![
                ("resource", resource.to_string()),
                ("organisation", self.organisation_slug()),
                ("organisation_id", id_tag(self.organisation_id)),
                ("project", self.project.clone()),
                ("project_id", id_tag(self.project_id)),
                ("environment", self.name.clone()),
                ("environment_id", id_tag(self.id)),
                ("host", host.to_string()),
                ("environment_key", self.key.clone()),
            ],
            fields: vec![(REQUEST_COUNT, Field::Integer(count))],
            time_ns,
        }
    }
}

/// An edge's report as a point (`report` is JSON, read back whole).
pub fn edge_report(edge_id: &str, report: &str, time_ns: i64) -> Point {
    Point {
        measurement: EDGE_REPORT,
        tags: vec![("edge_id", edge_id.to_string())],
        fields: vec![("report", Field::Text(report.to_string()))],
        time_ns,
    }
}

/// The bucket (retention policy) holding sums of `minutes`-long windows, if
/// Flagsmith's downsampling keeps one: `{bucket}_downsampled_15m` / `_1h`.
pub fn downsampled(bucket: &str, minutes: i64) -> Option<String> {
    match minutes {
        15 => Some(format!("{bucket}_downsampled_15m")),
        60 => Some(format!("{bucket}_downsampled_1h")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::body;

    fn tags() -> EnvironmentTags {
        EnvironmentTags {
            key: "ck".into(),
            id: 12,
            name: "Production".into(),
            project_id: 3,
            project: "Web app".into(),
            organisation_id: 1,
            organisation: "Acme".into(),
        }
    }

    #[test]
    fn points_carry_flagsmiths_tags() {
        assert_eq!(
            body(&[tags().api_calls("flags", "edge.example", 7, 5)]),
            "api_call,resource=flags,organisation=1-Acme,organisation_id=1,project=Web\\ app,project_id=3,\
             environment=Production,environment_id=12,host=edge.example,environment_key=ck request_count=7i 5\n"
        );
        assert_eq!(
            body(&[tags().evaluations("banner", 2, 5)]),
            "feature_evaluation,feature_id=banner,environment_id=12,environment_key=ck request_count=2i 5\n"
        );
    }

    #[test]
    fn unknown_ids_are_left_out() {
        let unknown = EnvironmentTags {
            key: "ck".into(),
            ..EnvironmentTags::default()
        };
        assert_eq!(
            body(&[unknown.evaluations("banner", 2, 5)]),
            "feature_evaluation,feature_id=banner,environment_key=ck request_count=2i 5\n"
        );
    }
}
