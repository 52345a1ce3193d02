//! The analytics read API over rows written the way flagedge-sync writes them,
//! in the main database and in a separate analytics database.

mod support;

use hyper::StatusCode;
use serde_json::json;
use support::Core;

async fn seed(core: &Core, key: &str) {
    for (table, column, name, size, start, count) in [
        (
            "analytics_flag_evaluations",
            "feature_name",
            "banner",
            "15m",
            "2025-01-01T10:00:00Z",
            5,
        ),
        (
            "analytics_flag_evaluations",
            "feature_name",
            "banner",
            "15m",
            "2025-01-01T10:15:00Z",
            7,
        ),
        (
            "analytics_flag_evaluations",
            "feature_name",
            "checkout",
            "15m",
            "2025-01-01T10:15:00Z",
            2,
        ),
        (
            "analytics_flag_evaluations",
            "feature_name",
            "banner",
            "1h",
            "2025-01-01T10:00:00Z",
            12,
        ),
        (
            "analytics_flag_evaluations",
            "feature_name",
            "checkout",
            "1h",
            "2025-01-01T10:00:00Z",
            2,
        ),
        (
            "analytics_flag_evaluations",
            "feature_name",
            "banner",
            "1h",
            "2025-01-02T10:00:00Z",
            99,
        ),
        (
            "analytics_api_calls",
            "resource",
            "flags",
            "1h",
            "2025-01-01T10:00:00Z",
            40,
        ),
        (
            "analytics_api_calls",
            "resource",
            "identities",
            "1h",
            "2025-01-01T10:00:00Z",
            4,
        ),
        (
            "analytics_api_calls",
            "resource",
            "flags",
            "15m",
            "2025-01-01T10:30:00Z",
            40,
        ),
    ] {
        sqlx::query(&format!(
            "INSERT INTO {table} (environment_key, {column}, bucket_size, bucket_start, count) \
             VALUES ($1, $2, $3, $4::timestamptz, $5)"
        ))
        .bind(key)
        .bind(name)
        .bind(size)
        .bind(start)
        .bind(count as i64)
        .execute(&core.analytics)
        .await
        .unwrap();
    }
    // Another environment's counts never leak in.
    sqlx::query(
        "INSERT INTO analytics_flag_evaluations VALUES ('someone-else', 'banner', '1h', '2025-01-01T10:00:00Z', 1000)",
    )
    .execute(&core.analytics)
    .await
    .unwrap();
}

async fn check_reads(core: &Core) {
    let (_, key) = core.project_with_environment().await;
    seed(core, &key).await;
    let period = "from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z";
    let r = core
        .get(&format!(
            "/api/v1/analytics/flags/?environment={key}&{period}&bucket=15m"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(
        r.json["results"],
        json!([
            {"bucket_start": "2025-01-01T10:00:00.000000+00:00", "feature_name": "banner", "count": 5},
            {"bucket_start": "2025-01-01T10:15:00.000000+00:00", "feature_name": "banner", "count": 7},
            {"bucket_start": "2025-01-01T10:15:00.000000+00:00", "feature_name": "checkout", "count": 2},
        ])
    );
    assert_eq!(r.json["total"], 14);
    assert_eq!(r.json["bucket"], "15m");
    let r = core
        .get(&format!(
            "/api/v1/analytics/flags/?environment={key}&feature=banner&{period}&bucket=1h"
        ))
        .await;
    assert_eq!(
        r.json["results"],
        json!([{"bucket_start": "2025-01-01T10:00:00.000000+00:00", "feature_name": "banner", "count": 12}])
    );
    let r = core
        .get(&format!(
            "/api/v1/analytics/usage/?environment={key}&{period}"
        ))
        .await;
    assert_eq!(r.json["bucket"], "1h");
    assert_eq!(r.json["total"], 44);
    assert_eq!(r.json["results"][0]["resource"], "flags");
    let r = core
        .get(&format!(
            "/api/v1/analytics/usage/?environment={key}&resource=flags&{period}&bucket=15m"
        ))
        .await;
    assert_eq!(
        r.json["results"],
        json!([{"bucket_start": "2025-01-01T10:30:00.000000+00:00", "resource": "flags", "count": 40}])
    );

    // Bad input is 400; unknown environments too; no key is 401.
    for query in [
        period.to_string(),
        format!("environment={key}&bucket=5m"),
        format!("environment={key}&from=yesterday"),
        format!("environment={key}&from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z"),
        format!("environment={key}&from=2000-01-01T00:00:00Z&to=2025-01-01T00:00:00Z&bucket=1m"),
        format!("environment=unknown&{period}"),
    ] {
        let r = core.get(&format!("/api/v1/analytics/flags/?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.json);
    }
    let r = core
        .request(
            hyper::Method::GET,
            &format!("/api/v1/analytics/flags/?environment={key}"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_in_the_main_database() {
    let core = Core::start().await;
    check_reads(&core).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_in_their_own_database() {
    let main = support::database().await;
    let analytics = support::database().await;
    let core = Core::start_with(&main, Some(&analytics)).await;
    check_reads(&core).await;
    // The tables live only in the analytics database.
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'analytics_%'",
    )
    .fetch_one(&core.db)
    .await
    .unwrap();
    assert_eq!(n, 0);
    let ready = core.request(hyper::Method::GET, "/ready", &[], None).await;
    assert_eq!(ready.status, StatusCode::OK);
}
