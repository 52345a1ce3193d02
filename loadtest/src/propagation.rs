//! `propagation`: how long a change made through flagedge-core's admin API
//! takes to be served by each edge.
//!
//! `setup` makes a project, an environment, a server-side key and one string
//! feature through the admin API (edges need the keys before they start).
//! `measure` then sets the feature's value to `v1`, `v2`, … one change at a
//! time; from just before each PATCH is sent, every edge's `/api/v1/flags/` is
//! polled on a kept-alive connection until it serves the new value. The next
//! change waits for every edge plus a random pause, so changes do not fall in
//! step with the edges' poll intervals.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::client::{Target, fetch};

/// What `setup` made: everything `measure` and the edges need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    pub client_key: String,
    pub server_key: String,
    pub feature: String,
    pub feature_state_id: i64,
}

/// An edge to watch: a name for the report and its base URL.
#[derive(Debug, Clone)]
pub struct Edge {
    pub name: String,
    pub url: String,
}

impl std::str::FromStr for Edge {
    type Err = String;

    /// `name=http://host:port`
    fn from_str(text: &str) -> Result<Edge, String> {
        let (name, url) = text
            .split_once('=')
            .ok_or_else(|| format!("expected name=URL, got {text:?}"))?;
        if name.is_empty() {
            return Err(format!("the edge in {text:?} has no name"));
        }
        Target::parse(url).map_err(|e| format!("{url}: {e}"))?;
        Ok(Edge {
            name: name.to_string(),
            url: url.trim_end_matches('/').to_string(),
        })
    }
}

/// Options of `measure`.
#[derive(Debug, Clone)]
pub struct Options {
    pub core: String,
    pub admin_key: String,
    pub setup: Setup,
    pub edges: Vec<Edge>,
    pub changes: usize,
    /// Longest a change may take to reach an edge before it counts as lost.
    pub timeout: Duration,
    /// Pause between an edge's polls.
    pub poll_every: Duration,
    /// Upper bound of the random pause between changes.
    pub max_pause: Duration,
}

/// One edge's propagation times.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeReport {
    pub name: String,
    pub url: String,
    pub changes: usize,
    /// Changes the edge never served within the timeout.
    pub lost: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The result of `measure`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub changes: usize,
    /// Mean time of the admin API's PATCH itself.
    pub write_mean_ms: f64,
    pub edges: Vec<EdgeReport>,
}

impl Report {
    /// True when every edge served every change.
    pub fn complete(&self) -> bool {
        self.edges.iter().all(|e| e.lost == 0)
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "{} changes; admin PATCH mean {:.2} ms\n{:<12} {:>9} {:>9} {:>9} {:>9} {:>6}\n",
            self.changes,
            self.write_mean_ms,
            "edge",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "lost"
        );
        for e in &self.edges {
            out.push_str(&format!(
                "{:<12} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>6}\n",
                e.name, e.p50_ms, e.p90_ms, e.p99_ms, e.max_ms, e.lost
            ));
        }
        out
    }
}

async fn admin(
    core: &str,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let url = format!("{}/api/v1/{path}", core.trim_end_matches('/'));
    let headers = [("Authorization".to_string(), format!("Api-Key {key}"))];
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let (status, bytes) = fetch(&url, method.clone(), &headers, body)
        .await
        .with_context(|| format!("{method} {url}"))?;
    if !status.is_success() {
        bail!(
            "{method} {url}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{method} {url}: not JSON"))
}

fn field<'v>(value: &'v Value, name: &str) -> anyhow::Result<&'v Value> {
    match value.get(name) {
        Some(v) if !v.is_null() => Ok(v),
        _ => bail!("the response has no {name:?}: {value}"),
    }
}

/// Makes the project, environment, server-side key and feature to change.
pub async fn setup(core: &str, admin_key: &str, feature: &str) -> anyhow::Result<Setup> {
    let organisations = admin(core, admin_key, Method::GET, "organisations/", None).await?;
    let organisation = field(&organisations, "results")?
        .get(0)
        .and_then(|o| o.get("id"))
        .cloned()
        .context("the admin key sees no organisation (run `flagedge-core init`)")?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let project = admin(
        core,
        admin_key,
        Method::POST,
        "projects/",
        Some(json!({"name": format!("propagation-{stamp}"), "organisation": organisation})),
    )
    .await?;
    let project_id = field(&project, "id")?.clone();
    let environment = admin(
        core,
        admin_key,
        Method::POST,
        "environments/",
        Some(json!({"name": "propagation", "project": project_id})),
    )
    .await?;
    let client_key = field(&environment, "api_key")?
        .as_str()
        .context("api_key is not a string")?
        .to_string();
    let created = admin(
        core,
        admin_key,
        Method::POST,
        &format!("projects/{project_id}/features/"),
        Some(json!({"name": feature, "initial_value": "v0", "default_enabled": true})),
    )
    .await?;
    let feature_id = field(&created, "id")?.clone();
    let server = admin(
        core,
        admin_key,
        Method::POST,
        &format!("environments/{client_key}/api-keys/"),
        Some(json!({"name": "propagation"})),
    )
    .await?;
    let server_key = field(&server, "key")?
        .as_str()
        .context("key is not a string")?
        .to_string();
    let states = admin(
        core,
        admin_key,
        Method::GET,
        &format!("environments/{client_key}/featurestates/?feature={feature_id}"),
        None,
    )
    .await?;
    let feature_state_id = field(&states, "results")?
        .get(0)
        .and_then(|s| s.get("id"))
        .and_then(Value::as_i64)
        .context("the new feature has no state in the environment")?;
    Ok(Setup {
        client_key,
        server_key,
        feature: feature.to_string(),
        feature_state_id,
    })
}

/// A kept-alive HTTP/1.1 connection, reopened after an error.
struct KeptAlive {
    target: Target,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl KeptAlive {
    fn new(target: Target) -> KeptAlive {
        KeptAlive {
            target,
            sender: None,
        }
    }

    /// GET `path` (with its query) with `headers`: the status and body, or None on an error.
    async fn get(
        &mut self,
        path: &str,
        headers: &[(String, String)],
    ) -> Option<(StatusCode, Bytes)> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.target.address).await.ok()?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut()?;
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::HOST, self.target.host().clone());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = match sender
            .send_request(request.body(Full::new(Bytes::new())).ok()?)
            .await
        {
            Ok(r) => r,
            Err(_) => {
                self.sender = None;
                return None;
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    }
}

/// Polls one edge's `/flags/` on a kept-alive connection.
struct Poller {
    connection: KeptAlive,
    path: String,
    headers: Vec<(String, String)>,
    feature: String,
}

impl Poller {
    fn new(edge: &Edge, setup: &Setup) -> anyhow::Result<Poller> {
        let target = Target::parse(&edge.url)?;
        let path = format!("{}/api/v1/flags/", target.base_path());
        Ok(Poller {
            connection: KeptAlive::new(target),
            path,
            headers: vec![("X-Environment-Key".into(), setup.client_key.clone())],
            feature: setup.feature.clone(),
        })
    }

    /// The feature's value as the edge serves it now (None: not served, or an error).
    async fn value(&mut self) -> Option<Value> {
        match self.connection.get(&self.path, &self.headers).await? {
            (StatusCode::OK, body) => feature_value(&body, &self.feature),
            _ => None,
        }
    }
}

/// The `feature_state_value` of the named feature in a `/flags/` response.
pub fn feature_value(body: &[u8], feature: &str) -> Option<Value> {
    let flags: Vec<Value> = serde_json::from_slice(body).ok()?;
    flags
        .into_iter()
        .find(|f| f["feature"]["name"] == feature)
        .map(|mut f| f["feature_state_value"].take())
}

/// Polls until the edge serves `want` or the deadline passes; the time since `start`.
async fn wait_for(
    poller: &mut Poller,
    want: &Value,
    start: Instant,
    timeout: Duration,
    poll_every: Duration,
) -> Option<Duration> {
    loop {
        if poller.value().await.as_ref() == Some(want) {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(poll_every).await;
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Makes the changes and times each edge; fails only when the setup is wrong
/// (an edge that never serves the starting value, an admin call refused).
pub async fn measure(options: &Options) -> anyhow::Result<Report> {
    ensure!(!options.edges.is_empty(), "no edge to watch (--edge)");
    ensure!(options.changes > 0, "--changes must be at least 1");
    let state_path = format!(
        "environments/{}/featurestates/{}/",
        options.setup.client_key, options.setup.feature_state_id
    );
    let mut pollers = options
        .edges
        .iter()
        .map(|e| Poller::new(e, &options.setup))
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Start from a known value every edge already serves.
    let baseline = json!(format!("base-{}", rand::thread_rng().r#gen::<u32>()));
    admin(
        &options.core,
        &options.admin_key,
        Method::PATCH,
        &state_path,
        Some(json!({"feature_state_value": baseline, "enabled": true})),
    )
    .await?;
    let warmup = Duration::from_secs(60).max(options.timeout);
    for (poller, edge) in pollers.iter_mut().zip(&options.edges) {
        let started = Instant::now();
        if wait_for(poller, &baseline, started, warmup, options.poll_every)
            .await
            .is_none()
        {
            bail!(
                "edge {} ({}) never served the starting value within {warmup:?}: is it configured with this environment's keys?",
                edge.name,
                edge.url
            );
        }
    }

    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); pollers.len()];
    let mut lost = vec![0usize; pollers.len()];
    let mut write_total = Duration::ZERO;
    for change in 1..=options.changes {
        let want = json!(format!("v{change}"));
        let start = Instant::now();
        admin(
            &options.core,
            &options.admin_key,
            Method::PATCH,
            &state_path,
            Some(json!({"feature_state_value": want})),
        )
        .await?;
        write_total += start.elapsed();
        // One task per edge, so every edge is watched at once; the pollers come back in order.
        let watches: Vec<_> = pollers
            .drain(..)
            .map(|mut poller| {
                let want = want.clone();
                let (timeout, every) = (options.timeout, options.poll_every);
                tokio::spawn(async move {
                    let took = wait_for(&mut poller, &want, start, timeout, every).await;
                    (poller, took)
                })
            })
            .collect();
        for (i, watch) in watches.into_iter().enumerate() {
            let (poller, took) = watch.await.context("an edge watch panicked")?;
            pollers.push(poller);
            match took {
                Some(took) => samples[i].push(took),
                None => lost[i] += 1,
            }
        }
        let pause = rand::thread_rng().gen_range(Duration::ZERO..=options.max_pause);
        tokio::time::sleep(pause).await;
    }

    let edges = options
        .edges
        .iter()
        .zip(samples.iter_mut())
        .zip(lost)
        .map(|((edge, times), lost)| {
            times.sort();
            let mean = if times.is_empty() {
                Duration::ZERO
            } else {
                times.iter().sum::<Duration>() / times.len() as u32
            };
            EdgeReport {
                name: edge.name.clone(),
                url: edge.url.clone(),
                changes: options.changes,
                lost,
                p50_ms: ms(percentile(times, 50.0)),
                p90_ms: ms(percentile(times, 90.0)),
                p99_ms: ms(percentile(times, 99.0)),
                max_ms: ms(times.last().copied().unwrap_or_default()),
                mean_ms: ms(mean),
            }
        })
        .collect();
    Ok(Report {
        changes: options.changes,
        write_mean_ms: ms(write_total / options.changes as u32),
        edges,
    })
}

/// Holds `count` followers of a change feed (core's `/api/v1/edge/changes` or
/// sync's `/api/v1/changes`), each long-polling as an edge does, until the
/// process is stopped: what a fleet of subscribed edges costs core and sync.
/// Each follower keeps its connection alive, as an edge's pooled client does.
pub async fn subscribe(
    url: &str,
    headers: &[(String, String)],
    count: usize,
) -> anyhow::Result<()> {
    let target = Target::parse(url)?;
    let uri: http::Uri = url.parse()?;
    let path = uri.path().to_string();
    let fixed = uri.query().map(|q| format!("{q}&")).unwrap_or_default();
    let mut followers = Vec::with_capacity(count);
    for _ in 0..count {
        let (mut connection, headers) = (KeptAlive::new(target.clone()), headers.to_vec());
        let (path, fixed) = (path.clone(), fixed.clone());
        followers.push(tokio::spawn(async move {
            let mut cursor: Option<(u64, Option<String>)> = None;
            loop {
                let query = match &cursor {
                    None => "timeout=30".to_string(),
                    Some((since, Some(epoch))) => format!("since={since}&epoch={epoch}&timeout=30"),
                    Some((since, None)) => format!("since={since}&timeout=30"),
                };
                match connection
                    .get(&format!("{path}?{fixed}{query}"), &headers)
                    .await
                {
                    Some((StatusCode::OK, body)) => {
                        let listing: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        cursor = listing["revision"].as_u64().map(|revision| {
                            (revision, listing["epoch"].as_str().map(str::to_string))
                        });
                    }
                    _ => {
                        cursor = None;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }));
    }
    // The followers never finish: hold them until the process is stopped.
    let _followers = followers;
    std::future::pending::<()>().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(100));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(198));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(200));
        assert_eq!(percentile(&samples[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn finds_the_feature_value_in_a_flags_response() {
        let body = br#"[{"feature":{"name":"a"},"feature_state_value":1},
                        {"feature":{"name":"b"},"feature_state_value":"v3"}]"#;
        assert_eq!(feature_value(body, "b"), Some(json!("v3")));
        assert_eq!(feature_value(body, "c"), None);
        assert_eq!(feature_value(b"{\"detail\":1}", "b"), None);
    }

    #[test]
    fn edges_are_name_equals_url() {
        let edge: Edge = "s3=http://127.0.0.1:8001/".parse().unwrap();
        assert_eq!(
            (edge.name.as_str(), edge.url.as_str()),
            ("s3", "http://127.0.0.1:8001")
        );
        assert!("http://127.0.0.1:8001".parse::<Edge>().is_err());
        assert!("=http://127.0.0.1:8001".parse::<Edge>().is_err());
        assert!("x=ftp://h".parse::<Edge>().is_err());
    }
}
