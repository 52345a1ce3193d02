//! Analytics kept in InfluxDB, end to end with real parts: SDK calls to an edge
//! reading core are counted by the edge, shipped to flagedge-sync, written as
//! Flagsmith's `feature_evaluation` / `api_call` points (with the ids and names
//! the edge reported), and read back by core's analytics API and fleet — the
//! numbers that were sent. Counts SDKs report themselves go from core to
//! InfluxDB too.

mod support;

use std::time::{Duration, Instant};

use flagedge_core::server;
use flagedge_core::state::InfluxStore;
use flagedge_edge::config::{Config, Options};
use flagedge_influx::{Influx, Settings};
use hyper::StatusCode;
use serde_json::{Value, json};
use support::visitor::{Visitor, text};
use support::{Core, test_settings};

fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Totals per name of an analytics read over the last and next hour.
async fn totals(core: &Core, path: &str, key: &str, bucket: &str, column: &str) -> Value {
    let now = chrono::Utc::now();
    let r = core
        .get(&format!(
            "{path}?environment={key}&bucket={bucket}&from={}&to={}",
            at(now - chrono::Duration::hours(1)),
            at(now + chrono::Duration::hours(1)),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let mut totals = serde_json::Map::new();
    for row in r.json["results"].as_array().unwrap() {
        let name = row[column].as_str().unwrap().to_string();
        let sum = totals.get(&name).and_then(Value::as_i64).unwrap_or(0);
        totals.insert(name, json!(sum + row["count"].as_i64().unwrap()));
    }
    Value::Object(totals)
}

async fn eventually(core: &Core, path: &str, key: &str, bucket: &str, column: &str, want: Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Value::Null;
    while Instant::now() < deadline {
        seen = totals(core, path, key, bucket, column).await;
        if seen == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{path} {bucket}: {seen} (wanted {want})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_and_the_fleet_travel_through_influxdb() {
    let influx_server = flagedge_testkit::Influx::start();
    let settings = Settings {
        url: influx_server.url.clone(),
        database: "flagsmith".into(),
        bucket: "default".into(),
        token: None,
    };
    let influx = Influx::new(settings.clone());

    let sync = flagedge_sync::start(
        flagedge_sync::config::Config::resolve(flagedge_sync::config::Options {
            bind: Some("127.0.0.1:0".parse().unwrap()),
            ingest_token: Some("ingest-token".into()),
            flush_interval_secs: Some(0.1),
            analytics_store: Some(flagedge_sync::config::AnalyticsStoreKind::Influxdb),
            influxdb_url: Some(settings.url.clone()),
            influxdb_database: Some(settings.database.clone()),
            ..Default::default()
        })
        .unwrap(),
    )
    .await
    .unwrap();
    let core = Core::start_configured(server::Settings {
        influx: Some(InfluxStore {
            influx: influx.clone(),
            host_tag: "core.example".into(),
        }),
        ..test_settings()
    })
    .await;
    let (project, key) = core.project_with_environment().await;
    core.create_features_on(project, &["banner", "checkout"])
        .await;
    let server_key = core.server_key(&key).await;
    let config = Config::resolve(Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        api_url: Some(format!("{}/api/v1/", core.base)),
        environment_key_pairs: Some(vec![format!("{server_key}={key}").parse().unwrap()]),
        poll_interval_secs: Some(0.2),
        analytics_url: Some(format!("http://{}/api/v1/analytics/batch", sync.address)),
        analytics_token: Some("ingest-token".into()),
        analytics_interval_secs: Some(0.2),
        edge_region: Some("eu-test".into()),
        shutdown_grace_secs: Some(1.0),
        ..Options::default()
    })
    .unwrap();
    let edge = flagedge_edge::start(config, None).await.unwrap();
    let client = Core::attach_ready(edge.address).await;

    // 7 flag requests (each evaluates both features) and 3 identity requests.
    for _ in 0..7 {
        let r = client
            .get_with("/api/v1/flags/", "x-environment-key", &key)
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    for i in 0..3 {
        let r = client
            .get_with(
                &format!("/api/v1/identities/?identifier=user-{i}"),
                "x-environment-key",
                &key,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let series = [
        (
            "/api/v1/analytics/flags/",
            "feature_name",
            json!({"banner": 10, "checkout": 10}),
        ),
        (
            "/api/v1/analytics/usage/",
            "resource",
            json!({"flags": 7, "identities": 3}),
        ),
    ];
    for bucket in ["1m", "15m", "1h"] {
        for (path, name, expected) in &series {
            eventually(&core, path, &key, bucket, name, expected.clone()).await;
        }
    }

    // The points are Flagsmith's, tagged with the ids and names the edge reported.
    let environment_id = core.get(&format!("/api/v1/environments/{key}/")).await.json["id"]
        .as_i64()
        .unwrap();
    let answer = influx
        .query(&format!(
            "SELECT sum(request_count) FROM \"flagsmith\".\"default\".\"feature_evaluation\" \
             WHERE environment_id = '{environment_id}' AND feature_id = 'banner'; \
             SHOW TAG VALUES FROM \"flagsmith\".\"default\".\"api_call\" WITH KEY IN (\"organisation\", \"project\", \"environment\", \"host\")"
        ))
        .await
        .unwrap();
    assert_eq!(answer[0][0].values[0][1], 10);
    let tags: Vec<(String, String)> = answer[1][0]
        .values
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().into(),
                row[1].as_str().unwrap().into(),
            )
        })
        .collect();
    let organisation = core
        .get(&format!("/api/v1/organisations/{}/", core.organisation))
        .await;
    let project_name = core.get(&format!("/api/v1/projects/{project}/")).await.json["name"].clone();
    assert!(
        tags.contains(&(
            "organisation".into(),
            format!(
                "{}-{}",
                core.organisation,
                organisation.json["name"].as_str().unwrap()
            )
        )),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("project".into(), project_name.as_str().unwrap().into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("host".into(), "flagedge".into())),
        "{tags:?}"
    );

    // Counts SDKs report themselves, taken by core: into InfluxDB as well.
    let r = core
        .post_with(
            "/api/v1/analytics/flags/",
            "x-environment-key",
            &key,
            br#"{"banner": 5}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    eventually(
        &core,
        "/api/v1/analytics/flags/",
        &key,
        "1m",
        "feature_name",
        json!({"banner": 15, "checkout": 10}),
    )
    .await;

    // The console's Usage page reads the same API: its tables hold these numbers.
    let mut visitor = Visitor::new(&core);
    visitor.sign_in(&core.admin_key).await;
    for period in ["hour", "day", "month"] {
        let page = visitor
            .get(&format!("/environments/{key}/usage?period={period}"))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let html = text(&page);
        // Each chart's table: series names in its head, their totals in its foot.
        let mut shown = serde_json::Map::new();
        for figure in html.split("<figure").skip(1) {
            let head = &figure[figure.find("<thead>").unwrap()..figure.find("</thead>").unwrap()];
            let names = head
                .split("<th>")
                .skip(2)
                .map(|c| c.split('<').next().unwrap());
            let foot = &figure[figure.find("<tfoot>").unwrap()..];
            let totals = foot
                .split("data-total=\"")
                .skip(1)
                .map(|c| c.split('"').next().unwrap().parse::<i64>().unwrap());
            for (name, total) in names.zip(totals) {
                shown.insert(name.to_string(), json!(total));
            }
        }
        assert_eq!(
            Value::Object(shown),
            json!({"banner": 15, "checkout": 10, "flags": 7, "identities": 3}),
            "{period}"
        );
    }

    // The fleet, from the edge's reports in InfluxDB.
    let fleet = core.get("/api/v1/edges/").await;
    assert_eq!(fleet.status, StatusCode::OK, "{}", fleet.json);
    assert_eq!(fleet.json["count"], 1, "{}", fleet.json);
    let edge_json = &fleet.json["results"][0];
    assert_eq!(edge_json["region"], "eu-test");
    assert_eq!(edge_json["stale"], false);
    assert_eq!(
        edge_json["environments"][0]["environment_key"],
        key.as_str()
    );
    assert_eq!(edge_json["environments"][0]["current"], true, "{edge_json}");

    edge.shutdown();
    tokio::time::timeout(Duration::from_secs(10), edge.wait())
        .await
        .unwrap();
    sync.shutdown();
    sync.wait().await;
}

/// InfluxDB down: the read API says 503 with a JSON body, and /ready says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_influxdb_is_a_503() {
    let core = Core::start_configured(server::Settings {
        influx: Some(InfluxStore {
            influx: Influx::new(Settings {
                url: "http://127.0.0.1:9".into(),
                database: "flagsmith".into(),
                bucket: "default".into(),
                token: None,
            }),
            host_tag: "core.example".into(),
        }),
        ..test_settings()
    })
    .await;
    let (_, key) = core.project_with_environment().await;
    let r = core
        .get(&format!(
            "/api/v1/analytics/flags/?environment={key}&bucket=15m"
        ))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.json);
    assert_eq!(r.json["detail"], "Service unavailable.");
    let ready = core.get("/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json["reason"], "analytics store unreachable");
}
