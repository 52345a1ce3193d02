//! Proxy keys (SPEC §8.2): the admin resource (`/api/v1/proxy-keys/`), who may
//! read `/api/v1/proxy/config/` and what it lists, and usage reports
//! (`/api/v1/proxy/usage/`) counted once per Idempotency-Key and readable
//! through core's analytics API.

mod support;

use chrono::{Duration, Utc};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Core, Reply};

async fn proxy_key(core: &Core, organisation: i64) -> (i64, String) {
    let created = core
        .create(
            "/api/v1/proxy-keys/",
            json!({"name": "edge proxy", "organisation": organisation}),
        )
        .await;
    (
        created["id"].as_i64().unwrap(),
        created["key"].as_str().unwrap().to_string(),
    )
}

async fn config(core: &Core, headers: &[(&str, &str)]) -> Reply {
    core.request(Method::GET, "/api/v1/proxy/config/", headers, None)
        .await
}

async fn usage(core: &Core, key: &str, idempotency: Option<&str>, body: &Value) -> Reply {
    let mut headers = vec![("x-proxy-key", key)];
    if let Some(idempotency) = idempotency {
        headers.push(("idempotency-key", idempotency));
    }
    core.request(
        Method::POST,
        "/api/v1/proxy/usage/",
        &headers,
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_keys_crud_scoping_and_who_may_read_the_config() {
    let core = Core::start().await;
    let org = core.organisation;

    // Create: the key once, `pk.<prefix>.<secret>`; only a SHA-256 is stored.
    let created = core
        .create(
            "/api/v1/proxy-keys/",
            json!({"name": "edge", "organisation": org}),
        )
        .await;
    let key = created["key"].as_str().unwrap().to_string();
    let prefix = created["prefix"].as_str().unwrap();
    assert!(key.starts_with(&format!("pk.{prefix}.")), "{key}");
    assert_eq!(created["revoked"], false);
    assert_eq!(created["organisation"], org);
    assert_eq!(created["name"], "edge");
    let id = created["id"].as_i64().unwrap();
    let (hash, stored_prefix): (Vec<u8>, String) =
        sqlx::query_as("SELECT key_hash, prefix FROM proxy_keys WHERE id = $1")
            .bind(id)
            .fetch_one(&core.db)
            .await
            .unwrap();
    assert_eq!(hash.len(), 32);
    assert_eq!(stored_prefix, prefix);
    let (dump,): (String,) = sqlx::query_as("SELECT string_agg(p::text, ' ') FROM proxy_keys p")
        .fetch_one(&core.db)
        .await
        .unwrap();
    assert!(!dump.contains(&key), "the key is not stored");

    // Read: never the key again.
    let r = core.get(&format!("/api/v1/proxy-keys/{id}/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json.get("key").is_none());
    assert_eq!(r.json["prefix"], prefix);
    let r = core.get(&format!("/api/v1/proxy-keys/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "without the trailing slash");
    for missing in ["999999", "abc", "99999999999999999999"] {
        let r = core.get(&format!("/api/v1/proxy-keys/{missing}/")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(r.json["detail"], "Not found.");
    }

    // Validation.
    for (body, field) in [
        (json!({"organisation": org}), "name"),
        (json!({"name": "", "organisation": org}), "name"),
        (
            json!({"name": "x".repeat(2001), "organisation": org}),
            "name",
        ),
        (json!({"name": "n"}), "organisation"),
        (json!({"name": "n", "organisation": 999999}), "organisation"),
        (json!({"name": "n", "organisation": "one"}), "organisation"),
        (json!({"name": 5, "organisation": org}), "name"),
    ] {
        let r = core.post("/api/v1/proxy-keys/", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.json);
        assert!(r.json[field].is_array(), "{body}: {}", r.json);
    }

    // Lists: filtered by organisation, paginated.
    let other_org = core.other_organisation().await;
    let (theirs, _) = proxy_key(&core, other_org).await;
    proxy_key(&core, org).await;
    let all = core.get("/api/v1/proxy-keys/").await;
    assert_eq!(all.json["count"], 3);
    let ours = core
        .get(&format!("/api/v1/proxy-keys/?organisation={org}"))
        .await;
    assert_eq!(ours.json["count"], 2);
    assert!(
        ours.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["organisation"] == org && k.get("key").is_none())
    );
    let page = core
        .get(&format!(
            "/api/v1/proxy-keys/?organisation={org}&page_size=1"
        ))
        .await;
    assert_eq!(page.json["results"].as_array().unwrap().len(), 1);
    assert!(page.json["next"].as_str().unwrap().contains("page=2"));
    let r = core.get("/api/v1/proxy-keys/?page=9").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = core.get("/api/v1/proxy-keys/?organisation=x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // An organisation admin key sees and makes its organisation's keys only.
    let scoped = core
        .create(
            &format!("/api/v1/organisations/{org}/master-api-keys/"),
            json!({"name": "org admin"}),
        )
        .await;
    let scoped = format!("Api-Key {}", scoped["key"].as_str().unwrap());
    let as_scoped = core.as_key(scoped.clone());
    let r = as_scoped.get("/api/v1/proxy-keys/").await;
    assert_eq!(r.json["count"], 2);
    let r = as_scoped
        .get(&format!("/api/v1/proxy-keys/{theirs}/"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = as_scoped
        .delete(&format!("/api/v1/proxy-keys/{theirs}/"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = as_scoped
        .post(
            "/api/v1/proxy-keys/",
            json!({"name": "n", "organisation": other_org}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = as_scoped
        .post("/api/v1/proxy-keys/", json!({"name": "defaulted"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["organisation"], org);
    // No admin key: 401.
    let r = core
        .request(Method::GET, "/api/v1/proxy-keys/", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = core
        .post_with(
            "/api/v1/proxy-keys/",
            "authorization",
            &format!("Api-Key {key}"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a proxy key is no admin key"
    );

    // Who may read /proxy/config/: the proxy key, and nothing else.
    let (_, client_key) = core.project_with_environment().await;
    let server_key = core.server_key(&client_key).await;
    assert_eq!(
        config(&core, &[("x-proxy-key", &key)]).await.status,
        StatusCode::OK
    );
    let forged = format!("pk.{prefix}.{}", "x".repeat(32));
    let admin = core.admin_key.clone();
    let admin_header = format!("Api-Key {admin}");
    let bearer = format!("Bearer {}", support::SYNC_TOKEN);
    let refused: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("x-proxy-key", "")],
        vec![("x-proxy-key", "pk.")],
        vec![("x-proxy-key", &forged)],
        vec![("x-proxy-key", &client_key)],
        vec![("x-proxy-key", &server_key)],
        vec![("x-proxy-key", &admin)],
        vec![("authorization", &admin_header)],
        vec![("authorization", &bearer)],
        vec![("x-environment-key", &server_key)],
    ];
    for headers in &refused {
        let r = config(&core, headers).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(r.json["detail"].is_string(), "{headers:?}: {}", r.json);
        let r = usage(
            &core,
            headers.first().map_or("", |h| h.1),
            Some("k"),
            &json!([]),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{headers:?}");
    }

    // Revoke: DELETE → 204, the key stops working, the row says so.
    let r = core.delete(&format!("/api/v1/proxy-keys/{id}/")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = core.get(&format!("/api/v1/proxy-keys/{id}/")).await;
    assert_eq!(r.json["revoked"], true);
    let r = config(&core, &[("x-proxy-key", &key)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = usage(&core, &key, Some("after-revoke"), &json!([])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Deleting the organisation deletes its keys.
    let r = core
        .delete(&format!("/api/v1/organisations/{other_org}/"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = core.get(&format!("/api/v1/proxy-keys/{theirs}/")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_config_lists_every_environment_with_every_server_key() {
    let core = Core::start().await;
    let (project, production) = core.project_with_environment().await;
    let staging = core.create_environment(project, "Staging").await;
    let staging_key = staging["api_key"].as_str().unwrap().to_string();
    let keys = format!("/api/v1/environments/{production}/api-keys/");
    let active = core.create(&keys, json!({"name": "live"})).await;
    let inactive = core
        .create(&keys, json!({"name": "old", "active": false}))
        .await;
    let expired = core
        .create(
            &keys,
            json!({"name": "expired", "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    let later = (Utc::now() + Duration::days(30)).to_rfc3339();
    let expiring = core
        .create(&keys, json!({"name": "expiring", "expires_at": later}))
        .await;
    // Another organisation's environment is never listed.
    let other = core.other_organisation().await;
    core.project_in(other, "Theirs", "Theirs").await;

    let (_, key) = proxy_key(&core, core.organisation).await;
    let r = config(&core, &[("x-proxy-key", &key)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let environments = r.json.as_array().unwrap();
    assert_eq!(environments.len(), 2);
    let env = core
        .get(&format!("/api/v1/environments/{production}/"))
        .await
        .json;
    let expected = json!({
        "id": env["id"],
        "name": "Production",
        "client_side_key": production,
        "server_side_keys": [
            {"key": active["key"], "active": true, "expires_at": null},
            {"key": inactive["key"], "active": false, "expires_at": null},
            {"key": expired["key"], "active": true, "expires_at": "2020-01-01T00:00:00.000000+00:00"},
            {"key": expiring["key"], "active": true, "expires_at": expiring["expires_at"]},
        ],
        "updated_at": env["updated_at"],
        "project_id": project,
        "organisation_id": core.organisation,
    });
    assert_eq!(environments[0], expected);
    let updated_at = environments[0]["updated_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(updated_at).is_ok(),
        "{updated_at}"
    );
    assert_eq!(environments[1]["client_side_key"], staging_key.as_str());
    assert_eq!(environments[1]["server_side_keys"], json!([]));
    assert_eq!(environments[1]["name"], "Staging");

    // It follows changes: a revoked key says so, a deleted environment is gone.
    core.patch(
        &format!("{keys}{}/", active["id"]),
        json!({"active": false}),
    )
    .await;
    core.delete(&format!("/api/v1/environments/{staging_key}/"))
        .await;
    let r = config(&core, &[("x-proxy-key", &key)]).await;
    let environments = r.json.as_array().unwrap();
    assert_eq!(environments.len(), 1);
    assert_eq!(environments[0]["server_side_keys"][0]["active"], false);
    assert!(environments[0]["updated_at"].as_str() > Some(updated_at));
}

async fn usage_series(core: &Core, environment: &str, bucket: &str) -> Value {
    let from = (Utc::now() - Duration::hours(2)).to_rfc3339();
    let to = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let r = core
        .get(&format!(
            "/api/v1/analytics/usage/?environment={environment}&bucket={bucket}&from={}&to={}",
            from.replace('+', "%2B"),
            to.replace('+', "%2B")
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json
}

fn totals_by_resource(series: &Value) -> std::collections::BTreeMap<String, i64> {
    let mut totals = std::collections::BTreeMap::new();
    for row in series["results"].as_array().unwrap() {
        *totals
            .entry(row["resource"].as_str().unwrap().to_string())
            .or_default() += row["count"].as_i64().unwrap();
    }
    totals
}

async fn check_usage(core: &Core) {
    let (project, production) = core.project_with_environment().await;
    let staging = core.create_environment(project, "Staging").await;
    let staging = staging["api_key"].as_str().unwrap().to_string();
    let (_, key) = proxy_key(core, core.organisation).await;

    let report = json!([
        {"client_side_key": production, "resource": "flags", "count": 5},
        {"client_side_key": production, "resource": "identities", "count": 2},
        {"client_side_key": production, "resource": "flags", "count": 3},
        {"client_side_key": production, "resource": "environment-document", "count": 1},
        {"client_side_key": staging, "resource": "flags", "count": 0},
        {"client_side_key": staging, "resource": "identities", "count": 4, "extra": "ignored"},
    ]);
    let id = "6f1c1c1e-3c1a-4f43-9a3b-0d5a1e3d9b11";
    let r = usage(core, &key, Some(id), &report).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    assert!(r.bytes.is_empty());
    // The retry of the same report is answered alike and counts nothing.
    let r = usage(core, &key, Some(id), &report).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);

    for bucket in ["1m", "15m", "1h"] {
        let series = usage_series(core, &production, bucket).await;
        assert_eq!(series["total"], 11, "{bucket}: {series}");
        let totals = totals_by_resource(&series);
        assert_eq!(totals["flags"], 8, "{bucket}");
        assert_eq!(totals["identities"], 2, "{bucket}");
        assert_eq!(totals["environment-document"], 1, "{bucket}");
        let series = usage_series(core, &staging, bucket).await;
        assert_eq!(series["total"], 4, "{bucket}: {series}");
        assert_eq!(
            series["results"].as_array().unwrap().len(),
            1,
            "zero counts write no row"
        );
    }
    let (batches,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM analytics_batches WHERE batch_id LIKE 'proxy-usage:%'",
    )
    .fetch_one(&core.analytics)
    .await
    .unwrap();
    assert_eq!(batches, 1);

    // A new key is a new report, and another proxy key's report with the same
    // Idempotency-Key is its own.
    let (_, key2) = proxy_key(core, core.organisation).await;
    let one = json!([{"client_side_key": production, "resource": "flags", "count": 1}]);
    for (proxy, total) in [(&key, 12), (&key2, 13)] {
        let r = usage(core, proxy, Some("second"), &one).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(usage_series(core, &production, "1h").await["total"], total);
    }
    // An empty report is fine.
    let r = usage(core, &key, Some("empty"), &json!([])).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // No Idempotency-Key: 400, nothing counted.
    let one = json!([{"client_side_key": production, "resource": "flags", "count": 100}]);
    for idempotency in [None, Some(""), Some(" ")] {
        let r = usage(core, &key, idempotency, &one).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{idempotency:?}");
        assert!(r.json["detail"].is_string());
    }
    let long = "k".repeat(201);
    let r = usage(core, &key, Some(&long), &one).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Bad rows: 400 naming each, nothing counted, and the key not used up.
    let other = core.other_organisation().await;
    let (_, theirs) = core.project_in(other, "Theirs", "Theirs").await;
    let bad = json!([
        {"client_side_key": production, "resource": "flags", "count": 1},
        {"client_side_key": theirs, "resource": "flags", "count": 1},
        {"client_side_key": production, "resource": "traits", "count": 1},
        {"client_side_key": production, "resource": "flags", "count": -1},
        {"client_side_key": production, "resource": "flags", "count": 1.5},
        {"client_side_key": production, "resource": "flags", "count": 18446744073709551615_u64},
        {"client_side_key": production, "resource": "flags", "count": "3"},
        {"client_side_key": "unknown", "resource": "flags"},
        {"client_side_key": "nul\u{0}", "resource": 5, "count": 1},
        {"resource": "flags", "count": 1},
        "not an object",
        null,
    ]);
    let r = usage(core, &key, Some("bad"), &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let errors = r.json.as_object().unwrap();
    assert!(!errors.contains_key("[0]"), "{}", r.json);
    assert!(r.json["[1]"]["client_side_key"].is_array(), "{}", r.json);
    assert!(r.json["[2]"]["resource"].is_array(), "{}", r.json);
    for i in 3..=6 {
        assert!(
            r.json[format!("[{i}]")]["count"].is_array(),
            "{i}: {}",
            r.json
        );
    }
    assert!(r.json["[7]"]["count"].is_array(), "{}", r.json);
    assert!(
        r.json["[7]"]["client_side_key"].is_null(),
        "keys are looked up for otherwise valid rows only"
    );
    assert!(r.json["[8]"]["resource"].is_array(), "{}", r.json);
    assert!(r.json["[9]"]["client_side_key"].is_array(), "{}", r.json);
    assert!(r.json["[10]"]["non_field_errors"].is_array(), "{}", r.json);
    assert!(r.json["[11]"]["non_field_errors"].is_array(), "{}", r.json);
    assert_eq!(usage_series(core, &production, "1h").await["total"], 13);
    let r = usage(core, &key, Some("bad"), &one).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "a refused report uses no key"
    );
    assert_eq!(usage_series(core, &production, "1h").await["total"], 113);

    // At most 1000 rows.
    let row = json!({"client_side_key": production, "resource": "flags", "count": 1});
    let r = usage(
        core,
        &key,
        Some("1001"),
        &Value::Array(vec![row.clone(); 1001]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["non_field_errors"].is_array(), "{}", r.json);
    let r = usage(core, &key, Some("1000"), &Value::Array(vec![row; 1000])).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    assert_eq!(usage_series(core, &production, "1h").await["total"], 1113);

    // Not a list, not JSON, not application/json.
    for body in [
        json!({"client_side_key": production}),
        json!(null),
        json!(3),
    ] {
        let r = usage(core, &key, Some("shape"), &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.json["non_field_errors"].is_array(), "{body}: {}", r.json);
    }
    let headers = [("x-proxy-key", key.as_str()), ("idempotency-key", "x")];
    let r = core
        .request(
            Method::POST,
            "/api/v1/proxy/usage/",
            &headers,
            Some(b"[{".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["detail"].is_string());
    let r = core
        .request(
            Method::POST,
            "/api/v1/proxy/usage/",
            &[
                ("x-proxy-key", key.as_str()),
                ("idempotency-key", "x"),
                ("content-type", "text/plain"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = core
        .request(Method::GET, "/api/v1/proxy/usage/", &headers, None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(usage_series(core, &production, "1h").await["total"], 1113);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_counted_once_per_idempotency_key() {
    let core = Core::start_configured(flagedge_core::server::Settings {
        max_body_bytes: 1 << 20,
        ..support::test_settings()
    })
    .await;
    check_usage(&core).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_lands_in_a_separate_analytics_database() {
    let main = support::database().await;
    let analytics = support::database().await;
    let core = Core::start_full(
        &main,
        Some(&analytics),
        flagedge_core::server::Settings {
            max_body_bytes: 1 << 20,
            ..support::test_settings()
        },
    )
    .await;
    check_usage(&core).await;
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM analytics_api_calls")
        .fetch_one(&core.analytics)
        .await
        .unwrap();
    assert!(n > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_api_answers_bad_input_without_a_5xx() {
    let core = Core::start().await;
    let (_, production) = core.project_with_environment().await;
    let (_, key) = proxy_key(&core, core.organisation).await;
    let bodies: Vec<Option<Vec<u8>>> = vec![
        None,
        Some(b"".to_vec()),
        Some(b"{}".to_vec()),
        Some(b"[]".to_vec()),
        Some(b"[[]]".to_vec()),
        Some(b"null".to_vec()),
        Some(b"[{\"client_side_key\": \"\\u0000\", \"resource\": \"\\u0000\", \"count\": 1e400}]".to_vec()),
        Some(b"[{\"client_side_key\": null, \"resource\": [], \"count\": {}}]".to_vec()),
        Some(format!("[{{\"client_side_key\": \"{production}\", \"resource\": \"flags\", \"count\": 9223372036854775807}}, {{\"client_side_key\": \"{production}\", \"resource\": \"flags\", \"count\": 9223372036854775807}}]").into_bytes()),
        Some(vec![0xff, 0xfe]),
    ];
    let mut n = 0;
    for (i, body) in bodies.iter().enumerate() {
        for path in [
            "/api/v1/proxy/usage/",
            "/api/v1/proxy/config/",
            "/api/v1/proxy/usage",
        ] {
            for method in [Method::POST, Method::GET, Method::PUT, Method::DELETE] {
                let idempotency = format!("sweep-{i}-{n}");
                let r = core
                    .request(
                        method.clone(),
                        &format!("{path}?page=%00"),
                        &[("x-proxy-key", &key), ("idempotency-key", &idempotency)],
                        body.clone(),
                    )
                    .await;
                n += 1;
                assert!(
                    r.status.as_u16() < 500,
                    "{method} {path} {:?} → {} {}",
                    body.as_ref()
                        .map(|b| String::from_utf8_lossy(b).to_string()),
                    r.status,
                    r.json
                );
            }
        }
    }
    // The summed counts overflowed the bucket: refused (a 4xx the proxy keeps), not a 5xx.
    let huge = format!(
        "[{{\"client_side_key\": \"{production}\", \"resource\": \"flags\", \"count\": 9223372036854775807}}]"
    );
    for i in 0..2 {
        let r = core
            .request(
                Method::POST,
                "/api/v1/proxy/usage/",
                &[
                    ("x-proxy-key", &key),
                    ("idempotency-key", &format!("huge-{i}")),
                ],
                Some(huge.clone().into_bytes()),
            )
            .await;
        assert!(r.status.as_u16() < 500, "{} {}", r.status, r.json);
    }
    eprintln!("{n} requests, no 5xx");
}
