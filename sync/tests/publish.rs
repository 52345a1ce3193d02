//! Documents from core to S3 and DynamoDB: published on change, healed by
//! reconcile when a change is missed, never older over newer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flagedge_cloud::dynamo::DocumentTable;
use flagedge_cloud::s3::{ManifestPoll, S3Store};
use flagedge_cloud::testing::Moto;
use flagedge_options::PublishedArgs;
use flagedge_sync::config::{Config, Options};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// A fake flagedge-core: environments with revisions, the change feed (with an
/// option to "lose" notifications), the environments list and documents.
#[derive(Default)]
struct FakeCore {
    documents: HashMap<String, Value>,
    server_keys: HashMap<String, Vec<String>>,
    quiet_feed: bool,
}

impl FakeCore {
    /// The highest revision of any document (0 with none), as core's feed reports it.
    fn revision(&self) -> u64 {
        let revisions = self.documents.values();
        revisions
            .map(|d| d["revision"].as_u64().unwrap())
            .max()
            .unwrap_or(0)
    }
}

fn document(key: &str, revision: u64, value: &str) -> Value {
    json!({
        "id": 1, "api_key": key, "name": "Production", "revision": revision,
        "updated_at": "2026-11-22T09:00:00.000000+00:00",
        "project": {"id": 1, "name": "P", "segments": [], "hide_disabled_flags": false,
                    "organisation": {"id": 1, "name": "O", "persist_trait_data": true}},
        "feature_states": [{"feature": {"id": 1, "name": "banner", "type": "STANDARD"}, "enabled": true,
                            "feature_state_value": value, "django_id": 10, "multivariate_feature_state_values": []}],
        "identity_overrides": []
    })
}

async fn start_core(core: Arc<Mutex<FakeCore>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let core = Arc::clone(&core);
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let core = Arc::clone(&core);
                    async move {
                        assert_eq!(
                            request.headers().get("authorization").unwrap(),
                            "Bearer core-token"
                        );
                        let path = request.uri().path().to_string();
                        let query = request.uri().query().unwrap_or_default().to_string();
                        let body = if path == "/api/v1/edge/changes" {
                            let since: u64 = query
                                .split('&')
                                .find_map(|p| p.strip_prefix("since="))
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(0);
                            // Long-poll briefly, like core's LISTEN-driven feed.
                            for _ in 0..20 {
                                let changed = {
                                    let core = core.lock().unwrap();
                                    !core.quiet_feed
                                        && core
                                            .documents
                                            .values()
                                            .any(|d| d["revision"].as_u64().unwrap() > since)
                                };
                                if changed {
                                    break;
                                }
                                tokio::time::sleep(Duration::from_millis(25)).await;
                            }
                            let core = core.lock().unwrap();
                            let changed: Vec<Value> = if core.quiet_feed {
                                Vec::new()
                            } else {
                                core.documents
                                    .values()
                                    .filter(|d| d["revision"].as_u64().unwrap() > since)
                                    .map(|d| json!({"environment_key": d["api_key"], "revision": d["revision"]}))
                                    .collect()
                            };
                            let max = core.revision();
                            json!({"revision": max.max(since), "environments": changed})
                        } else if path == "/api/v1/edge/environments" {
                            let core = core.lock().unwrap();
                            let environments: Vec<Value> = core
                                .documents
                                .values()
                                .map(|d| {
                                    let key = d["api_key"].as_str().unwrap();
                                    json!({"environment_key": key, "revision": d["revision"], "server_keys": core.server_keys.get(key).cloned().unwrap_or_default()})
                                })
                                .collect();
                            let max = core.revision();
                            json!({"revision": max, "environments": environments})
                        } else if let Some(key) = path
                            .strip_prefix("/api/v1/edge/environments/")
                            .and_then(|p| p.strip_suffix("/document"))
                        {
                            core.lock()
                                .unwrap()
                                .documents
                                .get(key)
                                .cloned()
                                .unwrap_or(Value::Null)
                        } else {
                            Value::Null
                        };
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(
                            body.to_string(),
                        ))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{address}")
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 15 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_reach_s3_and_dynamodb_and_missed_changes_heal() {
    let moto = Moto::start();
    let core = Arc::new(Mutex::new(FakeCore::default()));
    {
        let mut c = core.lock().unwrap();
        c.documents
            .insert("env-a".into(), document("env-a", 3, "one"));
        c.documents
            .insert("env-b".into(), document("env-b", 4, "one"));
        c.server_keys
            .insert("env-a".into(), vec!["ser.a-key".into()]);
    }
    let core_url = start_core(Arc::clone(&core)).await;
    let mut config = Config::resolve(Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        core_url: Some(core_url),
        core_token: Some("core-token".into()),
        reconcile_interval_secs: Some(1.0),
        changes_timeout_secs: Some(1),
        published: PublishedArgs {
            s3_bucket: Some("documents".into()),
            dynamodb_table: Some("flagedge_environments".into()),
            ..PublishedArgs::default()
        },
        create_resources: Some(true),
        ..Options::default()
    })
    .unwrap();
    config.aws = moto.options();
    let sync = flagedge_sync::start(config).await.unwrap();

    let sdk = flagedge_cloud::aws::sdk_config(&moto.options()).await;
    let s3 = S3Store::new(flagedge_cloud::aws::s3(&sdk), "documents", "flagedge");
    let dynamo = DocumentTable::new(
        flagedge_cloud::aws::dynamodb(&sdk),
        "flagedge_environments",
        None,
    );
    let value_in = |bytes: Bytes| -> String {
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        document["feature_states"][0]["feature_state_value"]
            .as_str()
            .unwrap()
            .to_string()
    };

    eventually("both environments in S3 and DynamoDB", || async {
        matches!(s3.poll_manifest(None).await, Ok(ManifestPoll::Changed(m, _)) if m.environments.len() == 2 && m.server_keys.get("ser.a-key").map(String::as_str) == Some("env-a"))
            && dynamo.get_manifest().await.is_ok_and(|m| m.environments.len() == 2)
    })
    .await;
    assert_eq!(value_in(s3.get_document("env-a").await.unwrap()), "one");
    assert_eq!(value_in(dynamo.get_document("env-b").await.unwrap()), "one");

    // A change announced on the feed.
    core.lock()
        .unwrap()
        .documents
        .insert("env-a".into(), document("env-a", 7, "two"));
    eventually("the change in both sinks", || async {
        s3.get_document("env-a").await.map(value_in).ok().as_deref() == Some("two")
            && dynamo
                .get_document("env-a")
                .await
                .map(value_in)
                .ok()
                .as_deref()
                == Some("two")
    })
    .await;

    // A change whose notification is lost: the reconcile picks it up.
    {
        let mut c = core.lock().unwrap();
        c.quiet_feed = true;
        c.documents
            .insert("env-b".into(), document("env-b", 9, "three"));
    }
    eventually("the reconcile heals the missed change", || async {
        s3.get_document("env-b").await.map(value_in).ok().as_deref() == Some("three")
            && dynamo
                .get_manifest()
                .await
                .is_ok_and(|m| m.environments["env-b"].revision == 9)
    })
    .await;

    // A replay of an old revision by another writer changes nothing.
    assert_eq!(
        s3.put_document(
            "env-b",
            4,
            Bytes::from(document("env-b", 4, "old").to_string())
        )
        .await
        .unwrap(),
        flagedge_cloud::Written::Stale
    );
    let stale = document("env-b", 4, "old");
    assert_eq!(
        dynamo
            .put_document(stale.as_object().unwrap())
            .await
            .unwrap(),
        flagedge_cloud::Written::Stale
    );
    assert_eq!(
        value_in(dynamo.get_document("env-b").await.unwrap()),
        "three"
    );
    sync.shutdown();
    sync.wait().await;
}

/// An edge's `/metrics` counter (summed over the labels that match `labels`).
async fn edge_counter(client: &http_client::Client, edge: &str, name: &str, labels: &str) -> f64 {
    let text = client.get_text(&format!("{edge}/metrics")).await;
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

mod http_client {
    use http_body_util::BodyExt;

    /// A small client for the edge's endpoints.
    pub struct Client(
        hyper_util::client::legacy::Client<
            hyper_util::client::legacy::connect::HttpConnector,
            http_body_util::Full<bytes::Bytes>,
        >,
    );

    impl Client {
        pub fn new() -> Client {
            Client(
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http(),
            )
        }

        pub async fn get(&self, url: &str, key: Option<&str>) -> (u16, String) {
            let mut request = http::Request::get(url);
            if let Some(key) = key {
                request = request.header("x-environment-key", key);
            }
            let response = self
                .0
                .request(request.body(Default::default()).unwrap())
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }

        pub async fn get_text(&self, url: &str) -> String {
            self.get(url, None).await.1
        }
    }
}

/// The store a push test publishes to and its edge reads.
#[derive(Clone, Copy, PartialEq)]
enum Store {
    S3,
    DynamoDb,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_reading_s3_are_pushed_what_sync_published() {
    pushed_through(Store::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_reading_dynamodb_are_pushed_what_sync_published() {
    pushed_through(Store::DynamoDb).await;
}

/// Push through sync: an edge reading `store`, polling only every 5 minutes,
/// serves each change as soon as sync has published it (sync's change stream);
/// while sync is down, nothing reaches it but the poll; when sync returns, the
/// edge reconnects, checks everything once (finding what another writer put in
/// the store meanwhile) and is pushed again; no document is fetched twice for
/// one revision.
///
/// The edge starts first: in one process the first metrics recorder installed is
/// everyone's, and the edge's `/metrics` is what this test reads.
async fn pushed_through(store: Store) {
    let (name, other) = match store {
        Store::S3 => ("s3", "dynamodb"),
        Store::DynamoDb => ("dynamodb", "s3"),
    };
    // Sync writes and the edge reads the same store.
    let published = match store {
        Store::S3 => PublishedArgs::s3("documents"),
        Store::DynamoDb => PublishedArgs::dynamodb("documents"),
    };
    let moto = Moto::start();
    let core = Arc::new(Mutex::new(FakeCore::default()));
    core.lock()
        .unwrap()
        .documents
        .insert("env-a".into(), document("env-a", 3, "one"));
    let core_url = start_core(Arc::clone(&core)).await;
    let sync_address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sync_config = || {
        let mut config = Config::resolve(Options {
            bind: Some(sync_address),
            core_url: Some(core_url.clone()),
            core_token: Some("core-token".into()),
            reconcile_interval_secs: Some(60.0),
            changes_timeout_secs: Some(1),
            published: published.clone(),
            create_resources: Some(true),
            ingest_token: Some("edge-token".into()),
            shutdown_grace_secs: Some(1.0),
            ..Options::default()
        })
        .unwrap();
        config.aws = moto.options();
        config
    };
    let mut edge_config = flagedge_edge::config::Config::resolve(flagedge_edge::config::Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        published: published.clone(),
        // The safety net only: anything sooner than this is push.
        poll_interval_secs: Some(300.0),
        push_url: Some(format!("http://{sync_address}/api/v1/changes")),
        push_token: Some("edge-token".into()),
        shutdown_grace_secs: Some(1.0),
        ..Default::default()
    })
    .unwrap();
    edge_config.aws = moto.options();
    let edge = flagedge_edge::start(edge_config, None).await.unwrap();
    let sync = flagedge_sync::start(sync_config()).await.unwrap();
    let sdk = flagedge_cloud::aws::sdk_config(&moto.options()).await;
    let s3 = S3Store::new(flagedge_cloud::aws::s3(&sdk), "documents", "flagedge");
    let dynamo = DocumentTable::new(flagedge_cloud::aws::dynamodb(&sdk), "documents", None);
    let base = format!("http://{}", edge.address);
    let client = http_client::Client::new();
    let serves = |want: &'static str| {
        let (client, base) = (&client, &base);
        move || async move {
            let (status, body) = client
                .get(&format!("{base}/api/v1/flags/"), Some("env-a"))
                .await;
            status == 200 && body.contains(&format!("\"{want}\""))
        }
    };
    let connected = || async {
        client
            .get_text(&format!("{base}/metrics"))
            .await
            .contains("flagedge_push_connected{feed=\"sync\"} 1")
    };
    // The stream refuses what it cannot answer.
    let stream = format!("http://{sync_address}/api/v1/changes");
    for (url, token, status) in [
        (format!("{stream}?store={name}"), None, 401),
        (format!("{stream}?store={name}"), Some("wrong"), 401),
        (stream.clone(), Some("edge-token"), 400),
        (format!("{stream}?store={other}"), Some("edge-token"), 400),
        (
            format!("{stream}?store={name}&since=x"),
            Some("edge-token"),
            400,
        ),
    ] {
        let mut request = http::Request::get(&url);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build_http::<Full<Bytes>>()
            .request(request.body(Full::default()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{url} with {token:?}");
    }
    eventually("the edge serves what sync first published", serves("one")).await;
    eventually("the edge follows sync's stream", connected).await;

    // Pushed: far sooner than the 300 s poll.
    let changed = Instant::now();
    core.lock()
        .unwrap()
        .documents
        .insert("env-a".into(), document("env-a", 5, "two"));
    eventually("the pushed change", serves("two")).await;
    eprintln!(
        "sync → {name} → edge (debug build): {:?}",
        changed.elapsed()
    );
    // Fetched because of the stream: by the push, or — when the change landed
    // before the edge's first answer after connecting was handled — by the one
    // full check that answer makes. Never by the 300 s poll.
    let pushed = edge_counter(
        &client,
        &base,
        "flagedge_documents_fetched_total",
        "reason=\"push\"",
    )
    .await
        + edge_counter(
            &client,
            &base,
            "flagedge_documents_fetched_total",
            "reason=\"reconnect\"",
        )
        .await;
    assert!(
        pushed >= 1.0,
        "{}",
        client.get_text(&format!("{base}/metrics")).await
    );

    // The stream cut: sync stopped, and another writer puts revision 6 in the store.
    let reconnects = edge_counter(
        &client,
        &base,
        "flagedge_push_reconnects_total",
        "feed=\"sync\"",
    )
    .await;
    sync.shutdown();
    sync.wait().await;
    let six = document("env-a", 6, "three");
    let entry = flagedge_cloud::manifest::Entry {
        revision: 6,
        updated_at: None,
    };
    match store {
        Store::S3 => {
            s3.put_document("env-a", 6, Bytes::from(six.to_string()))
                .await
                .unwrap();
            s3.update_manifest(|m| m.record("env-a", entry.clone()))
                .await
                .unwrap();
        }
        Store::DynamoDb => {
            dynamo.put_document(six.as_object().unwrap()).await.unwrap();
            dynamo.record("env-a", &entry).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        serves("two")().await,
        "nothing but the (300 s) poll could have brought it"
    );

    // Sync back: the edge reconnects, and its full check finds revision 6.
    let sync = flagedge_sync::start(sync_config()).await.unwrap();
    eventually(
        "the reconnect's full check found revision 6",
        serves("three"),
    )
    .await;
    assert!(
        edge_counter(
            &client,
            &base,
            "flagedge_push_reconnects_total",
            "feed=\"sync\""
        )
        .await
            > reconnects
    );
    eventually("the edge follows the new sync", connected).await;
    core.lock()
        .unwrap()
        .documents
        .insert("env-a".into(), document("env-a", 8, "four"));
    eventually("pushed after the reconnect", serves("four")).await;

    // One fetch per revision the edge loaded (3, 5, 6, 8): never twice.
    let fetched = edge_counter(&client, &base, "flagedge_documents_fetched_total", "").await;
    assert_eq!(fetched, 4.0, "documents fetched");

    edge.shutdown();
    tokio::time::timeout(Duration::from_secs(10), edge.wait())
        .await
        .unwrap();
    sync.shutdown();
    sync.wait().await;
}
