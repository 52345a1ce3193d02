//! Against a real InfluxDB 1.x: setting up Flagsmith's buckets, writing in its
//! shape, and reading windows back from downsampled sums and raw points.

use chrono::{DateTime, Duration, TimeZone, Utc};
use flagedge_influx::read::{CountQuery, EdgeRecord, Environment};
use flagedge_influx::{Counted, EnvironmentTags, Influx, Settings};
use flagedge_testkit::Influx as Server;

fn client(server: &Server) -> Influx {
    Influx::new(Settings {
        url: server.url.clone(),
        database: "flagsmith".into(),
        bucket: "default".into(),
        token: None,
    })
}

fn tags() -> EnvironmentTags {
    EnvironmentTags {
        key: "client-key".into(),
        id: 7,
        name: "Production".into(),
        project_id: 2,
        project: "Shop".into(),
        organisation_id: 1,
        organisation: "Acme Inc".into(),
    }
}

fn ns(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap()
}

#[tokio::test]
async fn set_up_creates_flagsmiths_buckets_once() {
    let server = Server::start();
    let influx = client(&server);
    let first = influx.set_up(true).await.unwrap();
    assert!(first.database_created);
    assert_eq!(
        first.retention_policies,
        [
            "default",
            "default_downsampled_15m",
            "default_downsampled_1h"
        ]
    );
    assert_eq!(first.continuous_queries.len(), 4);
    let mut present = influx.continuous_queries().await.unwrap();
    present.sort();
    assert_eq!(
        present,
        [
            "flagedge_api_call_15m",
            "flagedge_api_call_1h",
            "flagedge_feature_evaluation_15m",
            "flagedge_feature_evaluation_1h"
        ]
    );
    // A second sync finds everything there.
    assert_eq!(influx.set_up(true).await.unwrap(), Default::default());
    // Without downsampling only the raw bucket is needed.
    let bare = Influx::new(Settings {
        database: "bare".into(),
        ..influx.settings().clone()
    });
    assert_eq!(
        bare.set_up(false).await.unwrap().retention_policies,
        ["default"]
    );
}

#[tokio::test]
async fn counts_come_back_per_window_from_downsampled_sums_and_raw_points() {
    let server = Server::start();
    let influx = client(&server);
    influx.set_up(true).await.unwrap();
    let now = Utc::now();
    let hour = |h: i64| {
        Utc.timestamp_opt((now.timestamp() / 3600 - h) * 3600, 0)
            .unwrap()
    };
    // Three hours ago: raw points, then summed the way the continuous query does.
    let old = hour(3);
    let mut points = vec![
        tags().evaluations("banner", 2, ns(old) + 1),
        tags().evaluations("banner", 3, ns(old + Duration::minutes(20))),
        tags().evaluations("checkout", 4, ns(old + Duration::minutes(20)) + 1),
        tags().api_calls("flags", "edge.example", 5, ns(old)),
        // Another environment's counts are not ours.
        EnvironmentTags {
            key: "other".into(),
            id: 8,
            ..tags()
        }
        .evaluations("banner", 100, ns(old)),
    ];
    // A point only the key names (an edge that did not know the id).
    points.push(
        EnvironmentTags {
            key: "client-key".into(),
            ..EnvironmentTags::default()
        }
        .evaluations("banner", 10, ns(old) + 2),
    );
    // A point as Flagsmith itself writes it (no flagedge tag): found by id.
    points.push(flagedge_influx::Point {
        measurement: "feature_evaluation",
        tags: vec![
            ("feature_id", "banner".into()),
            ("environment_id", "7".into()),
        ],
        fields: vec![("request_count", flagedge_influx::line::Field::Integer(20))],
        time_ns: ns(old) + 3,
    });
    influx.write(&points).await.unwrap();
    for counted in [Counted::Evaluations, Counted::ApiCalls] {
        let statement = influx
            .downsample(
                counted,
                15,
                &format!(
                    "WHERE time >= {}s AND time < {}s",
                    old.timestamp(),
                    hour(2).timestamp()
                ),
            )
            .unwrap();
        influx.query(&statement).await.unwrap();
    }
    // A late raw point, not summed yet: the 15-minute read of that old window
    // shows the downsampled sum, so it cannot be reading raw points there.
    influx
        .write(&[tags().evaluations("banner", 1000, ns(old + Duration::minutes(1)))])
        .await
        .unwrap();
    // Now: raw points only (the current window is not summed yet).
    influx
        .write(&[tags().evaluations("banner", 6, ns(now) - 1000)])
        .await
        .unwrap();

    let query = |name: Option<&'static str>, minutes| CountQuery {
        counted: Counted::Evaluations,
        environment: Environment {
            id: 7,
            key: "client-key",
        },
        name,
        from: hour(4),
        to: now + Duration::minutes(1),
        minutes,
    };
    let counts = influx.counts(&query(None, 15), now).await.unwrap();
    let seen: Vec<(i64, &str, i64)> = counts
        .iter()
        .map(|c| ((c.start - old).num_minutes(), c.name.as_str(), c.count))
        .collect();
    let current = (now.timestamp() / 900 * 900 - old.timestamp()) / 60;
    assert_eq!(
        seen,
        [
            (0, "banner", 32),
            (15, "banner", 3),
            (15, "checkout", 4),
            (current, "banner", 6)
        ]
    );
    let banner = influx
        .counts(&query(Some("banner"), 15), now)
        .await
        .unwrap();
    assert_eq!(banner.iter().map(|c| c.count).sum::<i64>(), 41);
    // 1-minute windows come from raw points only, the late one included.
    let minutes = influx.counts(&query(Some("banner"), 1), now).await.unwrap();
    assert_eq!(
        minutes.iter().map(|c| c.count).collect::<Vec<_>>(),
        [32, 1000, 3, 6]
    );

    let calls = influx
        .counts(
            &CountQuery {
                counted: Counted::ApiCalls,
                ..query(None, 15)
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].name.as_str(), calls[0].count), ("flags", 5));
}

#[tokio::test]
async fn the_latest_report_of_each_edge_comes_back() {
    let server = Server::start();
    let influx = client(&server);
    influx.set_up(false).await.unwrap();
    let now = Utc::now();
    let record = |edge: &str, region: &str, ago: i64| EdgeRecord {
        edge_id: edge.into(),
        region: region.into(),
        version: "0.1.0".into(),
        reported_at: now - Duration::seconds(ago),
        received_at: now - Duration::seconds(ago),
        environments: serde_json::json!([{"environment_key": "k", "revision": ago}]),
    };
    influx
        .write_edges(&[record("a", "eu", 30), record("b", "us", 20)])
        .await
        .unwrap();
    influx.write_edges(&[record("a", "eu", 10)]).await.unwrap();
    let edges = influx.edges(60).await.unwrap();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0], record("a", "eu", 10));
    assert_eq!(edges[1].edge_id, "b");
    // Older than asked: left out.
    assert_eq!(influx.edges(15).await.unwrap().len(), 1);
}
