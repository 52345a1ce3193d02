//! The evaluation counts SDKs report (`POST /api/v1/analytics/flags/` and
//! `/api/v2/analytics/flags/`, SPEC §1.5) — directly or forwarded by an edge —
//! land in `analytics_flag_evaluations` and come back through the analytics
//! read API; unknown features and bad counts are skipped, bad keys are 403,
//! bodies that are not objects 400.

mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Core, Reply};

const V1: &str = "/api/v1/analytics/flags/";
const V2: &str = "/api/v2/analytics/flags/";
const INVALID_KEY: &str = "Invalid or missing Environment Key";

/// A project with features `banner`, `checkout` and `ghost`, an environment
/// and a server-side key for it: `(project id, client key, server key)`.
async fn fixture(core: &Core) -> (i64, String, String) {
    let (project, key) = core.project_with_environment().await;
    for name in ["banner", "checkout", "ghost"] {
        core.create(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": name}),
        )
        .await;
    }
    let server = core.server_key(&key).await;
    (project, key, server)
}

async fn report(core: &Core, path: &str, key: &str, body: &[u8]) -> Reply {
    core.post_with(path, "x-environment-key", key, body.to_vec())
        .await
}

fn query_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The analytics read API's evaluations over the last and next two hours, in
/// buckets of `bucket` size.
async fn flag_series(core: &Core, key: &str, bucket: &str) -> serde_json::Value {
    let now = Utc::now();
    let r = core
        .get(&format!(
            "/api/v1/analytics/flags/?environment={key}&bucket={bucket}&from={}&to={}",
            query_time(now - Duration::hours(2)),
            query_time(now + Duration::hours(2)),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json
}

/// Evaluations per feature over the last and next two hours, summed over the
/// series' buckets of `bucket` size, as the analytics read API returns them.
async fn evaluations(core: &Core, key: &str, bucket: &str) -> BTreeMap<String, i64> {
    let series = flag_series(core, key, bucket).await;
    let mut totals = BTreeMap::new();
    for row in series["results"].as_array().unwrap() {
        *totals
            .entry(row["feature_name"].as_str().unwrap().to_string())
            .or_insert(0) += row["count"].as_i64().unwrap();
    }
    assert_eq!(
        series["total"].as_i64().unwrap(),
        totals.values().sum::<i64>()
    );
    totals
}

fn totals(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// Every bucket size holds the same totals.
async fn assert_counted(core: &Core, key: &str, want: &[(&str, i64)]) {
    for bucket in ["1m", "15m", "1h"] {
        assert_eq!(
            evaluations(core, key, bucket).await,
            totals(want),
            "{bucket}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_counts_are_read_back_and_unknown_features_and_bad_counts_skipped() {
    let core = Core::start().await;
    let (_, key, server) = fixture(&core).await;
    // A feature of another project: not this environment's.
    let (other_project, _) = core.project_with_environment().await;
    core.create(
        &format!("/api/v1/projects/{other_project}/features/"),
        json!({"name": "elsewhere"}),
    )
    .await;

    let body = json!({
        "banner": 3,
        "checkout": 2,
        "nope": 5,
        "elsewhere": 6,
        "Banner": 1,
        "banner ": 1,
        "ghost": -1,
        "\u{0}": 1,
    });
    let r = report(&core, V1, &key, body.to_string().as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.bytes.is_empty(), "200 with an empty body");
    assert_counted(&core, &key, &[("banner", 3), ("checkout", 2)]).await;

    // Values that are not non-negative integers are skipped, the rest counted.
    for value in [
        "1.5",
        "1e3",
        "\"7\"",
        "true",
        "null",
        "{\"n\": 1}",
        "[1]",
        "99999999999999999999",
        "-5",
    ] {
        let body = format!(r#"{{"banner": {value}, "checkout": 1}}"#);
        let r = report(&core, V1, &key, body.as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.json);
    }
    assert_counted(&core, &key, &[("banner", 3), ("checkout", 11)]).await;

    // A server-side key counts for its environment; reports add up; the path
    // without the trailing slash is the same endpoint.
    let r = report(
        &core,
        "/api/v1/analytics/flags",
        &server,
        br#"{"banner": 4}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_counted(&core, &key, &[("banner", 7), ("checkout", 11)]).await;

    // Nothing that counts nothing: still 200.
    for body in [&b"{}"[..], br#"{"nope": 1, "banner": 0}"#] {
        let r = report(&core, V1, &key, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
    assert_counted(&core, &key, &[("banner", 7), ("checkout", 11)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_counts_are_read_back_and_malformed_bodies_are_400() {
    let core = Core::start().await;
    let (_, key, server) = fixture(&core).await;
    let body = json!({"evaluations": [
        {"feature_name": "banner", "identity_identifier": "alice", "enabled_when_evaluated": true, "count": 3},
        {"feature_name": "banner", "identity_identifier": null, "enabled_when_evaluated": false, "count": 2},
        {"feature_name": "checkout", "enabled_when_evaluated": true, "count": 1, "extra": "ignored"},
        {"feature_name": "nope", "identity_identifier": "bob", "enabled_when_evaluated": true, "count": 9},
        {"feature_name": "ghost", "identity_identifier": "bob", "enabled_when_evaluated": true, "count": 0},
    ]});
    let r = report(&core, V2, &key, body.to_string().as_bytes()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    assert!(r.bytes.is_empty());
    let r = report(
        &core,
        "/api/v2/analytics/flags",
        &server,
        br#"{"evaluations": [{"feature_name": "checkout", "identity_identifier": "u", "enabled_when_evaluated": true, "count": 4}]}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    let r = report(&core, V2, &key, br#"{"evaluations": []}"#).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    assert_counted(&core, &key, &[("banner", 5), ("checkout", 5)]).await;

    // Malformed: 400 with a JSON body naming what is wrong; nothing counted,
    // not even the well-formed entries beside a bad one.
    let good = r#"{"feature_name": "banner", "enabled_when_evaluated": true, "count": 1}"#;
    for (body, field) in [
        ("{}".to_string(), "evaluations"),
        (r#"{"evaluations": {}}"#.to_string(), "evaluations"),
        (r#"{"evaluations": null}"#.to_string(), "evaluations"),
        ("[]".to_string(), "non_field_errors"),
        (r#""banner""#.to_string(), "non_field_errors"),
        (
            format!(r#"{{"evaluations": [{good}, {{"count": 1}}]}}"#),
            "evaluations[1]",
        ),
        (
            format!(r#"{{"evaluations": [{good}, {{"feature_name": "banner"}}]}}"#),
            "evaluations[1]",
        ),
        (
            format!(r#"{{"evaluations": [{good}, {{"feature_name": "banner", "count": -1}}]}}"#),
            "evaluations[1].count",
        ),
        (
            format!(r#"{{"evaluations": [{good}, {{"feature_name": "banner", "count": "2"}}]}}"#),
            "evaluations[1].count",
        ),
        (
            format!(r#"{{"evaluations": [{good}, {{"feature_name": "banner", "count": 1.5}}]}}"#),
            "evaluations[1].count",
        ),
        (
            format!(r#"{{"evaluations": [{good}, {{"feature_name": 7, "count": 1}}]}}"#),
            "evaluations[1].feature_name",
        ),
        (
            format!(
                r#"{{"evaluations": [{good}, {{"feature_name": "banner", "count": 1, "identity_identifier": 5}}]}}"#
            ),
            "evaluations[1].identity_identifier",
        ),
        (
            format!(
                r#"{{"evaluations": [{good}, {{"feature_name": "banner", "count": 1, "enabled_when_evaluated": "yes"}}]}}"#
            ),
            "evaluations[1].enabled_when_evaluated",
        ),
    ] {
        let r = report(&core, V2, &key, body.as_bytes()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.json);
        // The field is named: as the key, or (a missing field, core's way)
        // in the message under its parent's key.
        assert!(
            r.json.is_object() && r.json.to_string().contains(field),
            "{body}: {}",
            r.json
        );
    }
    let r = report(&core, V2, &key, b"{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["detail"].is_string(), "{}", r.json);
    assert_counted(&core, &key, &[("banner", 5), ("checkout", 5)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_revoked_or_missing_keys_are_403_before_the_body_is_read() {
    let core = Core::start().await;
    let (_, key, server) = fixture(&core).await;
    let revoked = core.server_key(&key).await;
    let id: (i64,) = sqlx::query_as("SELECT id FROM server_keys WHERE key = $1")
        .bind(&revoked)
        .fetch_one(&core.db)
        .await
        .unwrap();
    let r = core
        .patch(
            &format!("/api/v1/environments/{key}/api-keys/{}/", id.0),
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let expired = core.server_key(&key).await;
    sqlx::query("UPDATE server_keys SET expires_at = now() - interval '1 minute' WHERE key = $1")
        .bind(&expired)
        .execute(&core.db)
        .await
        .unwrap();
    let admin_key = core.admin_key.clone();
    let unknown_server = format!("{server}x");
    let wrong_case = key.to_lowercase();
    let mut bad_keys = vec![
        "nope",
        "ser.nope",
        "ser.",
        revoked.as_str(),
        expired.as_str(),
        admin_key.as_str(),
        unknown_server.as_str(),
    ];
    if wrong_case != key {
        bad_keys.push(wrong_case.as_str());
    }
    for path in [V1, V2] {
        for bad in &bad_keys {
            for body in [&br#"{"banner": 1}"#[..], b"[]", b"{not json"] {
                let r = report(&core, path, bad, body).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} {bad}: {}", r.json);
                assert_eq!(r.json, json!({"detail": INVALID_KEY}));
            }
        }
        for headers in [vec![], vec![("x-environment-key", "")]] {
            let r = core
                .request(Method::POST, path, &headers, Some(b"{}".to_vec()))
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.json);
            assert_eq!(r.json, json!({"detail": INVALID_KEY}));
        }
    }
    // The admin API's key does not make a report either (and the read API
    // still wants it).
    let r = core
        .admin(Method::POST, V1, Some(json!({"banner": 1})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.json);
    assert_counted(&core, &key, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_body_that_is_not_an_object_is_400() {
    let core = Core::start().await;
    let (_, key, _) = fixture(&core).await;
    for body in [
        &b"[]"[..],
        br#"[{"banner": 1}]"#,
        b"3",
        br#""banner""#,
        b"null",
        b"true",
    ] {
        let r = report(&core, V1, &key, body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(
            r.json,
            json!({"non_field_errors": ["Expected a JSON object."]})
        );
    }
    for body in [&b"{not json"[..], b"", &[0xff, 0xfe]] {
        let r = report(&core, V1, &key, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.json["detail"].is_string(), "{}", r.json);
    }
    let r = core
        .request(
            Method::POST,
            V1,
            &[("x-environment-key", &key), ("content-type", "text/plain")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.json);
    assert_counted(&core, &key, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_go_to_the_analytics_database_in_the_buckets_of_their_minute() {
    let main = support::database().await;
    let analytics = support::database().await;
    let core = Core::start_with(&main, Some(&analytics)).await;
    let (_, key, server) = fixture(&core).await;
    let before = Utc::now();
    let r = report(&core, V1, &server, br#"{"banner": 2}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = report(
        &core,
        V2,
        &key,
        br#"{"evaluations": [{"feature_name": "banner", "identity_identifier": "u", "enabled_when_evaluated": true, "count": 3}]}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    let after = Utc::now();
    assert_counted(&core, &key, &[("banner", 5)]).await;

    // The rows: in the analytics database only, under the client key, one per
    // bucket size (two 1-minute rows if the reports straddled a minute),
    // each bucket aligned to its size and holding the minute of its report.
    let rows: Vec<(String, String, String, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT environment_key, feature_name, bucket_size, bucket_start, count \
         FROM analytics_flag_evaluations ORDER BY bucket_size, bucket_start",
    )
    .fetch_all(&core.analytics)
    .await
    .unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'analytics_%'",
    )
    .fetch_one(&core.db)
    .await
    .unwrap();
    assert_eq!(n, 0, "no analytics tables in the main database");
    for (size, minutes) in [("1m", 1), ("15m", 15), ("1h", 60)] {
        let of_size: Vec<_> = rows.iter().filter(|r| r.2 == size).collect();
        assert!(!of_size.is_empty(), "{size}: {rows:?}");
        assert_eq!(of_size.iter().map(|r| r.4).sum::<i64>(), 5, "{size}");
        let floor = |at: DateTime<Utc>| at.timestamp().div_euclid(60 * minutes) * 60 * minutes;
        for (environment, feature, _, start, _) in of_size {
            assert_eq!(environment, &key);
            assert_eq!(feature, "banner");
            let start = start.timestamp();
            assert_eq!(start % (60 * minutes), 0, "{size} aligned");
            assert!(
                floor(before) <= start && start <= floor(after),
                "{size}: {start} not within [{before}, {after}]"
            );
        }
    }
}

/// Odd bodies with a valid key never make a 5xx, and counts saturate rather
/// than overflow (in the tables and in the read API's total).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_body_makes_a_5xx_and_counts_saturate() {
    let core = Core::start().await;
    let (_, key, _) = fixture(&core).await;
    let long = "x".repeat(5000);
    let mut long_name = serde_json::Map::new();
    long_name.insert(long.clone(), json!(1));
    let bodies: Vec<Value> = vec![
        json!({"banner": i64::MAX, "checkout": i64::MAX}),
        json!({"banner": i64::MAX}),
        json!({"banner": u64::MAX}),
        json!({"banner": -0}),
        Value::Object(long_name),
        json!({"\u{0}banner": 1, "ban\u{0}ner": 2}),
        json!({"evaluations": [{"feature_name": "banner", "count": i64::MAX},
                               {"feature_name": "banner", "count": i64::MAX}]}),
        json!({"evaluations": [{"feature_name": "\u{0}", "count": 1}]}),
        json!({"evaluations": [{"feature_name": long, "count": 1, "identity_identifier": long}]}),
        json!({"evaluations": [{"feature_name": "banner", "count": u64::MAX}]}),
    ];
    for path in [V1, V2] {
        for body in &bodies {
            let r = report(&core, path, &key, body.to_string().as_bytes()).await;
            assert!(
                r.status.is_success() || r.status.is_client_error(),
                "{path} {body}: {} {}",
                r.status,
                r.json
            );
        }
    }
    let (max,): (i64,) = sqlx::query_as(
        "SELECT max(count) FROM analytics_flag_evaluations WHERE feature_name = 'banner'",
    )
    .fetch_one(&core.analytics)
    .await
    .unwrap();
    assert_eq!(max, i64::MAX);
    let series = flag_series(&core, &key, "1h").await;
    assert_eq!(series["total"], i64::MAX, "{series}");
}
