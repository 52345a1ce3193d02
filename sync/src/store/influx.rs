//! InfluxDB in Flagsmith's shape (`flagedge-influx`): counts become
//! `feature_evaluation` and `api_call` points tagged with the environment's
//! ids and names, which edges report with their batches (remembered here
//! across writes), and each edge's report a `flagedge_edge` point.
//!
//! A point is stamped inside the minute its counts fell in, at the write's
//! offset into a minute: a later write for the same series and minute lands on
//! another nanosecond, so the two add up instead of one replacing the other.
//! Batch ids are remembered in memory only (InfluxDB has no transactions to
//! record them with the counts).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use flagedge_cloud::counts::ServedDocument;
use flagedge_influx::read::EdgeRecord;
use flagedge_influx::{EnvironmentTags, Influx, Point};

use super::{BoxFuture, Store, StoreError, Totals};

/// The InfluxDB store.
pub struct InfluxStore {
    influx: Influx,
    host_tag: String,
    /// Environment tags by client key, as edges last reported them.
    tags: Mutex<HashMap<String, EnvironmentTags>>,
}

/// Creates the database and buckets that are missing, retrying until InfluxDB
/// answers (writes before then fail and are retried by the aggregator).
pub async fn set_up(
    influx: Influx,
    downsampling: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match influx.set_up(downsampling).await {
            Ok(done) => {
                tracing::info!(?done, "InfluxDB ready");
                return;
            }
            Err(error) => tracing::warn!(%error, "setting up InfluxDB; retrying in 5 s"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn tags_of(served: &ServedDocument) -> Option<EnvironmentTags> {
    let names = served.names.as_ref()?;
    Some(EnvironmentTags {
        key: served.environment_key.clone(),
        id: names.id,
        name: names.name.clone(),
        project_id: names.project_id,
        project: names.project.clone(),
        organisation_id: names.organisation_id,
        organisation: names.organisation.clone(),
    })
}

const MINUTE_NS: i64 = 60_000_000_000;

impl InfluxStore {
    /// A store writing through `influx`, tagging API calls with `host_tag`.
    pub fn new(influx: Influx, host_tag: String) -> InfluxStore {
        InfluxStore {
            influx,
            host_tag,
            tags: Mutex::new(HashMap::new()),
        }
    }

    /// The points for a generation's counts, stamped at `offset_ns` into their minutes.
    pub fn points(&self, totals: &Totals, offset_ns: i64) -> Vec<Point> {
        let mut known = self.tags.lock().unwrap_or_else(|e| e.into_inner());
        for report in &totals.reports {
            for served in &report.report.environments {
                if let Some(tags) = tags_of(served) {
                    known.insert(tags.key.clone(), tags);
                }
            }
        }
        let tags = |key: &str| {
            known.get(key).cloned().unwrap_or_else(|| EnvironmentTags {
                key: key.to_string(),
                ..EnvironmentTags::default()
            })
        };
        let time = |minute: i64| minute.saturating_mul(MINUTE_NS).saturating_add(offset_ns);
        let count = |n: &u64| i64::try_from(*n).unwrap_or(i64::MAX);
        let mut points = Vec::with_capacity(totals.evaluations.len() + totals.api_calls.len());
        for ((environment, feature, minute), n) in &totals.evaluations {
            points.push(tags(environment).evaluations(feature, count(n), time(*minute)));
        }
        for ((environment, resource, minute), n) in &totals.api_calls {
            points.push(tags(environment).api_calls(
                resource,
                &self.host_tag,
                count(n),
                time(*minute),
            ));
        }
        points
    }
}

fn store_error(error: flagedge_influx::InfluxError) -> StoreError {
    StoreError(error.to_string())
}

impl Store for InfluxStore {
    fn batch_recorded<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(false) })
    }

    fn write<'a>(&'a self, totals: &'a Totals) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let offset = i64::try_from(now % MINUTE_NS as u128).unwrap_or(0);
            let points = self.points(totals, offset);
            self.influx.write(&points).await.map_err(store_error)?;
            let received_at = Utc::now();
            let records: Vec<EdgeRecord> = totals
                .reports
                .iter()
                .map(|state| EdgeRecord {
                    edge_id: state.edge_id.clone(),
                    region: state.report.region.clone(),
                    version: state.report.version.clone(),
                    reported_at: state
                        .reported_at
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map_or(received_at, |t| t.with_timezone(&Utc)),
                    received_at,
                    environments: serde_json::to_value(&state.report.environments)
                        .unwrap_or_default(),
                })
                .collect();
            self.influx.write_edges(&records).await.map_err(store_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use flagedge_cloud::counts::{EdgeReport, EnvironmentNames};
    use flagedge_influx::line::body;

    use super::*;
    use crate::store::EdgeState;

    #[test]
    fn counts_are_tagged_with_the_names_edges_reported() {
        let store = InfluxStore::new(
            Influx::new(flagedge_influx::Settings {
                url: "http://127.0.0.1:1".into(),
                database: "d".into(),
                bucket: "default".into(),
                token: None,
            }),
            "edge.example".into(),
        );
        let served = ServedDocument {
            environment_key: "ck".into(),
            revision: Some(3),
            updated_at: None,
            confirmed_secs_ago: 0,
            names: Some(EnvironmentNames {
                id: 7,
                name: "Prod".into(),
                project_id: 2,
                project: "Shop".into(),
                organisation_id: 1,
                organisation: "Acme".into(),
            }),
        };
        let totals = Totals {
            evaluations: vec![(("ck".into(), "banner".into(), 2), 5)],
            api_calls: vec![(("unknown".into(), "flags".into(), 1), 2)],
            batches: vec![],
            reports: vec![EdgeState {
                edge_id: "e".into(),
                reported_at: None,
                report: EdgeReport {
                    region: "eu".into(),
                    version: "1".into(),
                    environments: vec![served],
                },
            }],
        };
        assert_eq!(
            body(&store.points(&totals, 9)),
            format!(
                "feature_evaluation,feature_id=banner,environment_id=7,environment_key=ck request_count=5i {}\n\
                 api_call,resource=flags,host=edge.example,environment_key=unknown request_count=2i {}\n",
                2 * MINUTE_NS + 9,
                MINUTE_NS + 9
            )
        );
        // Remembered for later generations without reports.
        let later = Totals {
            evaluations: vec![(("ck".into(), "banner".into(), 3), 1)],
            ..Totals::default()
        };
        assert!(body(&store.points(&later, 0)).contains("environment_id=7"));
    }
}
