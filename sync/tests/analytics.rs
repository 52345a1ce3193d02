//! Evaluation counts from edges into the analytics store: exactly once, rolled
//! up, back-pressured, and not lost across a graceful restart of sync.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flagedge_sync::config::{AnalyticsStoreKind, Config, Options};
use flagedge_testkit::{Influx, Postgres};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

// Core's own migrations: the tables sync writes are the ones core reads.
const SCHEMA: [&str; 2] = [
    include_str!("../../core/server/migrations_analytics/1001_analytics.sql"),
    include_str!("../../core/server/migrations_analytics/1002_edge_reports.sql"),
];

fn analytics_database() -> String {
    let postgres = Postgres::shared();
    let url = postgres.database();
    for migration in SCHEMA {
        postgres.execute(&url, migration);
    }
    url
}

fn sync_options(bind: SocketAddr) -> Options {
    Options {
        bind: Some(bind),
        ingest_token: Some("ingest-token".into()),
        flush_interval_secs: Some(0.1),
        shutdown_grace_secs: Some(10.0),
        ..Options::default()
    }
}

/// sync started with `options`.
async fn start(options: Options) -> flagedge_sync::Sync {
    let config = Config::resolve(options).unwrap();
    flagedge_sync::start(config).await.unwrap()
}

/// Options for a sync on any port writing counts to the database at `url`.
fn writing_to(url: &str) -> Options {
    Options {
        analytics_database_url: Some(url.to_string()),
        ..sync_options("127.0.0.1:0".parse().unwrap())
    }
}

/// A batch POSTed with the ingest token.
async fn ingest(address: SocketAddr, body: Bytes) -> (u16, Value) {
    post(address, Some("ingest-token"), body).await
}

async fn post(address: SocketAddr, token: Option<&str>, body: Bytes) -> (u16, Value) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::post(format!("http://{address}/api/v1/analytics/batch"))
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn batch(id: &str, environment: &str, feature: &str, count: u64) -> Bytes {
    Bytes::from(
        json!({"batch_id": id, "edge_id": "edge-1", "created_at": "2026-11-22T10:07:30.000000+00:00",
               "environments": [{"environment_key": environment, "evaluations": {feature: count}, "api_calls": {"flags": 1}}]})
        .to_string(),
    )
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 20 s: {what}");
}

fn sum(url: &str, sql: &str) -> i64 {
    Postgres::shared()
        .query_value(url, sql)
        .parse()
        .unwrap_or(0)
}

/// Counts come from edges: sums past what the tables hold saturate, in the
/// aggregator and in PostgreSQL, instead of wrapping or failing the write
/// (which would hold every later count of the bucket back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sums_too_large_to_store_saturate() {
    let url = analytics_database();
    let sync = start(writing_to(&url)).await;
    let big = "SELECT coalesce(sum(count), 0) FROM analytics_flag_evaluations \
               WHERE feature_name = 'big' AND bucket_size = '1m'";
    for (id, count) in [("s-1", u64::MAX), ("s-2", 5)] {
        assert_eq!(
            ingest(sync.address, batch(id, "env", "big", count)).await.0,
            202
        );
        eventually("a batch written", || sum(&url, big) == i64::MAX).await;
    }
    // A write that adds to the full bucket also carries another feature's
    // count: it lands only if the statement does not fail.
    assert_eq!(
        ingest(sync.address, batch("s-3", "env", "big", 1)).await.0,
        202
    );
    assert_eq!(
        ingest(sync.address, batch("s-4", "env", "small", 1))
            .await
            .0,
        202
    );
    let small = "SELECT coalesce(sum(count), 0) FROM analytics_flag_evaluations \
                 WHERE feature_name = 'small' AND bucket_size = '1m'";
    eventually("later counts written", || sum(&url, small) == 1).await;
    assert_eq!(sum(&url, big), i64::MAX);
    sync.shutdown();
    sync.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_written_once_and_rolled_up() {
    let url = analytics_database();
    let sync = start(writing_to(&url)).await;
    assert_eq!(
        ingest(sync.address, batch("b-1", "env", "banner", 5))
            .await
            .0,
        202
    );
    assert_eq!(
        ingest(sync.address, batch("b-1", "env", "banner", 5)).await,
        (200, json!({"status": "duplicate"}))
    );
    assert_eq!(
        ingest(sync.address, batch("b-2", "env", "banner", 7))
            .await
            .0,
        202
    );
    eventually("counts written", || sum(&url, "SELECT coalesce(sum(count), 0) FROM analytics_flag_evaluations WHERE bucket_size = '1m'") == 12).await;
    for (size, start) in [
        ("1m", "2026-11-22 10:07:00+00"),
        ("15m", "2026-11-22 10:00:00+00"),
        ("1h", "2026-11-22 10:00:00+00"),
    ] {
        let count = sum(
            &url,
            &format!(
                "SELECT count FROM analytics_flag_evaluations WHERE feature_name = 'banner' AND bucket_size = '{size}' AND bucket_start = '{start}'"
            ),
        );
        assert_eq!(count, 12, "{size} bucket");
    }
    assert_eq!(
        sum(
            &url,
            "SELECT sum(count) FROM analytics_api_calls WHERE resource = 'flags' AND bucket_size = '1h'"
        ),
        2
    );
    assert_eq!(sum(&url, "SELECT count(*) FROM analytics_batches"), 2);
    sync.shutdown();
    sync.wait().await;

    // A new process still recognises a batch it recorded before.
    let again = start(writing_to(&url)).await;
    assert_eq!(
        ingest(again.address, batch("b-2", "env", "banner", 7))
            .await
            .1["status"],
        "duplicate"
    );
    again.shutdown();
    again.wait().await;
    assert_eq!(
        sum(
            &url,
            "SELECT sum(count) FROM analytics_flag_evaluations WHERE bucket_size = '1m'"
        ),
        12
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_authenticated_and_validated() {
    let sync = start(Options {
        max_batch_bytes: Some(1024),
        ..sync_options("127.0.0.1:0".parse().unwrap())
    })
    .await;
    assert_eq!(
        post(sync.address, None, batch("x", "e", "f", 1)).await.0,
        401
    );
    assert_eq!(
        post(sync.address, Some("wrong-token!"), batch("x", "e", "f", 1))
            .await
            .0,
        401
    );
    assert_eq!(
        ingest(sync.address, Bytes::from_static(b"{nope")).await.0,
        400
    );
    assert_eq!(
        ingest(
            sync.address,
            Bytes::from(json!({"batch_id": "", "environments": []}).to_string())
        )
        .await
        .0,
        400
    );
    assert_eq!(
        ingest(sync.address, Bytes::from(vec![b' '; 2048])).await.0,
        413
    );
    sync.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_store_pushes_back_instead_of_dropping() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = Options {
        analytics_store: Some(AnalyticsStoreKind::Postgres),
        analytics_database_url: Some(format!("postgres://postgres@127.0.0.1:{closed}/nowhere")),
        max_pending_keys: Some(3),
        shutdown_grace_secs: Some(0.5),
        ..sync_options("127.0.0.1:0".parse().unwrap())
    };
    // The store cannot even say whether a batch was seen: ingest answers 503.
    let sync = start(options).await;
    let (status, body) = ingest(sync.address, batch("p-1", "e", "f", 1)).await;
    assert_eq!(status, 503, "{body}");
    sync.shutdown();
    sync.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_reach_influxdb() {
    let influx = Influx::start();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let query = |q: &str| {
        http::Request::post(format!(
            "{}/query?q={}",
            influx.url,
            q.replace(' ', "%20").replace('"', "%22")
        ))
        .body(Full::default())
        .unwrap()
    };
    let options = Options {
        analytics_store: Some(AnalyticsStoreKind::Influxdb),
        influxdb_url: Some(influx.url.clone()),
        ..sync_options("127.0.0.1:0".parse().unwrap())
    };
    let sync = start(options).await;
    for (id, count) in [("i-1", 4), ("i-2", 6), ("i-1", 4)] {
        ingest(sync.address, batch(id, "env", "banner", count)).await;
    }
    let mut total = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && total != 10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let response = client
            .request(query("SELECT sum(request_count) FROM flagedge.\"default\".feature_evaluation WHERE feature_id = 'banner'"))
            .await
            .unwrap();
        let body: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        total = body["results"][0]["series"][0]["values"][0][1]
            .as_i64()
            .unwrap_or(0);
    }
    assert_eq!(total, 10, "4 + 6, the retried batch counted once");
    sync.shutdown();
    sync.wait().await;
}

/// N edges × M requests through the real path (edge counters → edge HTTP sink →
/// sync ingest → PostgreSQL) arrive exactly, with a graceful restart of sync in
/// the middle (edges keep and retry what sync could not take).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_evaluation_is_lost_across_a_sync_restart() {
    const EDGES: usize = 3;
    const REQUESTS: usize = 120;
    let url = analytics_database();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sync_address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start_sync = || {
        let url = url.clone();
        async move {
            start(Options {
                analytics_database_url: Some(url),
                ..sync_options(sync_address)
            })
            .await
        }
    };
    let mut sync = start_sync().await;

    let documents = std::env::temp_dir().join(format!("flagedge-noloss-{}", std::process::id()));
    std::fs::create_dir_all(&documents).unwrap();
    std::fs::write(
        documents.join("shop.json"),
        include_str!("../../examples/environments/shop.json"),
    )
    .unwrap();
    let mut edges = Vec::new();
    for _ in 0..EDGES {
        let config = flagedge_edge::config::Config::resolve(flagedge_edge::config::Options {
            bind: Some("127.0.0.1:0".parse().unwrap()),
            documents_dir: Some(documents.clone()),
            analytics_url: Some(format!("http://{sync_address}/api/v1/analytics/batch")),
            analytics_token: Some("ingest-token".into()),
            analytics_interval_secs: Some(0.1),
            shutdown_grace_secs: Some(2.0),
            ..flagedge_edge::config::Options::default()
        })
        .unwrap();
        edges.push(flagedge_edge::start(config, None).await.unwrap());
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    for round in 0..REQUESTS {
        if round == REQUESTS / 2 {
            // Restart sync gracefully while the edges keep counting and shipping.
            sync.shutdown();
            sync.wait().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            sync = start_sync().await;
        }
        for edge in &edges {
            let request = http::Request::get(format!("http://{}/api/v1/flags/", edge.address))
                .header("x-environment-key", "demo-shop-client-key")
                .body(Full::default())
                .unwrap();
            assert_eq!(client.request(request).await.unwrap().status(), 200);
        }
    }
    for edge in edges {
        edge.shutdown();
        edge.wait().await;
    }
    sync.shutdown();
    sync.wait().await;
    let expected = (EDGES * REQUESTS) as i64;
    for feature in ["new_checkout", "banner_text", "max_cart_items", "dark_mode"] {
        let counted = sum(
            &url,
            &format!(
                "SELECT coalesce(sum(count), 0) FROM analytics_flag_evaluations WHERE feature_name = '{feature}' AND bucket_size = '1m'"
            ),
        );
        assert_eq!(counted, expected, "{feature}");
    }
    let never_served = sum(
        &url,
        "SELECT coalesce(sum(count), 0) FROM analytics_flag_evaluations WHERE feature_name = 'payment_provider_secret_route'",
    );
    assert_eq!(
        never_served, 0,
        "server-key-only flags are not served to client keys"
    );
    assert_eq!(
        sum(
            &url,
            "SELECT sum(count) FROM analytics_api_calls WHERE resource = 'flags' AND bucket_size = '1h'"
        ),
        expected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_edges_latest_report_is_kept_for_the_fleet_view() {
    let url = analytics_database();
    let sync = start(writing_to(&url)).await;
    let report = |id: &str, at: &str, revision: u64| {
        Bytes::from(
            json!({"batch_id": id, "edge_id": "edge-r", "created_at": at, "environments": [],
                   "edge": {"region": "eu-west", "version": "9.9.9", "environments": [
                       {"environment_key": "env", "revision": revision, "updated_at": "2026-11-22T10:00:00.000000+00:00", "confirmed_secs_ago": 3}]}})
            .to_string(),
        )
    };
    // A report alone (no counts) is accepted; a later one replaces it; an older
    // one arriving late (a retry) does not.
    for (id, at, revision) in [
        ("r-1", "2026-11-22T10:00:00.000000+00:00", 5),
        ("r-2", "2026-11-22T10:00:10.000000+00:00", 6),
    ] {
        assert_eq!(
            post(sync.address, Some("ingest-token"), report(id, at, revision))
                .await
                .0,
            202
        );
    }
    eventually("the newest report", || {
        sum(&url, "SELECT coalesce(max((environments->0->>'revision')::bigint), 0) FROM edge_reports WHERE edge_id = 'edge-r'") == 6
    })
    .await;
    assert_eq!(
        ingest(
            sync.address,
            report("r-0", "2026-11-22T09:59:00.000000+00:00", 4)
        )
        .await
        .0,
        202
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        Postgres::shared().query_value(&url, "SELECT region || ' ' || version || ' ' || (environments->0->>'revision') FROM edge_reports"),
        "eu-west 9.9.9 6"
    );
    assert_eq!(sum(&url, "SELECT count(*) FROM edge_reports"), 1);
}

/// `--journal-dir`: batches acknowledged but not yet written survive a crash
/// (the aggregator dropped without its final write, as `kill -9` leaves it), and
/// a generation written just before the crash, whose file was not yet deleted,
/// is not counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journaled_batches_survive_a_crash_and_count_once() {
    use flagedge_cloud::counts::Batch;
    use flagedge_sync::aggregate::{Accepted, Aggregator};
    use flagedge_sync::journal::Journal;
    use flagedge_sync::store::postgres::PostgresStore;
    use std::sync::Arc;

    let url = analytics_database();
    let dir = std::env::temp_dir().join(format!("flagedge-sync-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let parsed = |id: &str, count: u64| -> Batch {
        serde_json::from_slice(&batch(id, "journal-env", "probe", count)).unwrap()
    };
    let aggregator = |left_expected: usize| {
        let store = Arc::new(PostgresStore::connect(&url).unwrap());
        let (journal, left) = Journal::open(&dir).unwrap();
        assert_eq!(left.len(), left_expected);
        (
            Arc::new(Aggregator::new(store, 1_000_000, 1_000_000).with_journal(journal)),
            left,
        )
    };

    let (first, _) = aggregator(0);
    assert_eq!(first.ingest(parsed("j-1", 5)).await, Ok(Accepted::Counted));
    // A generation written to the store; its file deleted as it should be.
    first.cut(false);
    first.write_queued().await.unwrap();
    assert_eq!(first.ingest(parsed("j-2", 7)).await, Ok(Accepted::Counted));
    assert_eq!(first.ingest(parsed("j-3", 11)).await, Ok(Accepted::Counted));
    // Written, but the process dies before the file is deleted: put it back.
    let written_but_kept = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = std::fs::read(&written_but_kept).unwrap();
    first.cut(false);
    first.write_queued().await.unwrap();
    std::fs::write(&written_but_kept, kept).unwrap();
    assert_eq!(first.ingest(parsed("j-4", 13)).await, Ok(Accepted::Counted));
    let stored = || {
        sum(
            &url,
            "SELECT coalesce(sum(count), 0) FROM analytics_flag_evaluations WHERE environment_key = 'journal-env' AND bucket_size = '1m'",
        )
    };
    assert_eq!(stored(), 5 + 7 + 11);
    drop(first); // the crash: j-4 was acknowledged and never written

    let (second, left) = aggregator(2);
    second.recover(left).await;
    second.cut(false);
    second.write_queued().await.unwrap();
    assert_eq!(
        stored(),
        5 + 7 + 11 + 13,
        "j-4 recovered, j-2 and j-3 not counted twice"
    );
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1, "only the open generation's file is left");
    std::fs::remove_dir_all(&dir).unwrap();
}
