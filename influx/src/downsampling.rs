//! Setting up the store on InfluxDB 1.x: the database, Flagsmith's buckets as
//! retention policies, and continuous queries that sum raw points into the
//! downsampled ones (what Flagsmith's Flux tasks do on 2.x). Each step is
//! skipped when already there, so every sync may run it at start.
//!
//! A continuous query sums a window once it ends, and again for a while after
//! (`RESAMPLE FOR`), so counts that arrive late — an edge's spooled batch after
//! an outage — are still added.

use crate::influxql::ident;
use crate::schema::{self, Counted};
use crate::{Influx, InfluxError};

/// What [`Influx::set_up`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SetUp {
    /// Whether the database was created.
    pub database_created: bool,
    /// Retention policies created.
    pub retention_policies: Vec<String>,
    /// Continuous queries created.
    pub continuous_queries: Vec<String>,
}

/// The windows kept downsampled, with how long late points are still added.
const WINDOWS: [(i64, &str, &str); 2] = [(15, "15m", "2h"), (60, "1h", "6h")];

impl Influx {
    /// `SELECT … INTO` summing `counted`'s raw points into `minutes`-long
    /// windows of the downsampled bucket (`condition`: a `WHERE` clause or "").
    pub fn downsample(&self, counted: Counted, minutes: i64, condition: &str) -> Option<String> {
        let (_, every, _) = WINDOWS.into_iter().find(|(m, ..)| *m == minutes)?;
        let downsampled = schema::downsampled(&self.settings.bucket, minutes)?;
        let measurement = counted.measurement();
        Some(format!(
            "SELECT sum({count}) AS {count} INTO {} FROM {} {condition} GROUP BY time({every}), *",
            self.target(&downsampled, measurement),
            self.target(&self.settings.bucket, measurement),
            count = ident(schema::REQUEST_COUNT),
        ))
    }

    /// The continuous query that runs [`Influx::downsample`]: its name and statement.
    pub fn continuous_query(&self, counted: Counted, minutes: i64) -> Option<(String, String)> {
        let (_, every, resample) = WINDOWS.into_iter().find(|(m, ..)| *m == minutes)?;
        let name = format!("flagedge_{}_{every}", counted.measurement());
        let statement = format!(
            "CREATE CONTINUOUS QUERY {} ON {} RESAMPLE FOR {resample} BEGIN {} END",
            ident(&name),
            ident(&self.settings.database),
            self.downsample(counted, minutes, "")?,
        );
        Some((name, statement))
    }

    /// Creates what is missing: the database, the raw bucket and, with
    /// `downsample`, the downsampled buckets and their continuous queries.
    pub async fn set_up(&self, downsample: bool) -> Result<SetUp, InfluxError> {
        let mut done = SetUp::default();
        let database = ident(&self.settings.database);
        let existing = match self.retention_policies().await {
            Ok(existing) => existing,
            Err(InfluxError::Query(e)) if e.contains("database not found") => {
                self.query(&format!("CREATE DATABASE {database}")).await?;
                done.database_created = true;
                self.retention_policies().await?
            }
            Err(e) => return Err(e),
        };
        let mut wanted = vec![self.settings.bucket.clone()];
        if downsample {
            wanted.extend(
                WINDOWS.iter().filter_map(|(minutes, ..)| {
                    schema::downsampled(&self.settings.bucket, *minutes)
                }),
            );
        }
        for name in wanted {
            if !existing.contains(&name) {
                self.query(&format!(
                    "CREATE RETENTION POLICY {} ON {database} DURATION INF REPLICATION 1",
                    ident(&name)
                ))
                .await?;
                done.retention_policies.push(name);
            }
        }
        if downsample {
            let present = self.continuous_queries().await?;
            for counted in [Counted::Evaluations, Counted::ApiCalls] {
                for (minutes, ..) in WINDOWS {
                    let Some((name, statement)) = self.continuous_query(counted, minutes) else {
                        continue;
                    };
                    if !present.contains(&name) {
                        self.query(&statement).await?;
                        done.continuous_queries.push(name);
                    }
                }
            }
        }
        Ok(done)
    }

    /// The names of the database's continuous queries.
    pub async fn continuous_queries(&self) -> Result<Vec<String>, InfluxError> {
        let answer = self.query("SHOW CONTINUOUS QUERIES").await?;
        Ok(answer
            .iter()
            .flatten()
            .filter(|series| series.name == self.settings.database)
            .flat_map(|series| series.texts("name"))
            .collect())
    }
}
