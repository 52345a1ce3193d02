//! Revisions and the change feed: which writes bump which environments, the
//! NOTIFY, and the long-poll (wakes on a write, times out empty without one).

mod support;

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;
use sqlx::postgres::PgListener;
use support::Core;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_bump_revisions_of_what_they_change() {
    let core = Core::start().await;
    let (project, a) = core.project_with_environment().await;
    let b = core.create_environment(project, "Staging").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, other) = core.project_with_environment().await;
    let mut listener = PgListener::connect_with(&core.db).await.unwrap();
    listener.listen("flagedge_changes").await.unwrap();

    let before = (
        core.revision(&a).await,
        core.revision(&b).await,
        core.revision(&other).await,
    );
    // A project-level write bumps every environment of the project, no other.
    let feature = core
        .create(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": "f"}),
        )
        .await;
    let after = (
        core.revision(&a).await,
        core.revision(&b).await,
        core.revision(&other).await,
    );
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "{before:?} {after:?}"
    );
    assert_eq!(after.2, before.2);
    // The NOTIFY carries the highest revision of the write.
    let note = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(note.payload().parse::<i64>().unwrap(), after.0.max(after.1));

    // Environment-level writes bump only that environment.
    let step = |key: String| {
        let core = &core;
        async move { core.revision(&key).await }
    };
    let mut last_a = step(a.clone()).await;
    let mut last_b = step(b.clone()).await;
    let states = core
        .get(&format!("/api/v1/environments/{a}/featurestates/"))
        .await
        .json;
    let writes: Vec<(&str, String, serde_json::Value)> = vec![
        (
            "PATCH",
            format!(
                "/api/v1/environments/{a}/featurestates/{}/",
                states["results"][0]["id"]
            ),
            json!({"enabled": true}),
        ),
        (
            "PATCH",
            format!("/api/v1/environments/{a}/"),
            json!({"hide_disabled_flags": true}),
        ),
        (
            "POST",
            format!("/api/v1/environments/{a}/api-keys/"),
            json!({"name": "k"}),
        ),
    ];
    for (method, path, body) in writes {
        let r = core.admin(method.parse().unwrap(), &path, Some(body)).await;
        assert!(r.status.is_success(), "{path}: {}", r.json);
        let (now_a, now_b) = (step(a.clone()).await, step(b.clone()).await);
        assert!(now_a > last_a, "{method} {path} bumps its environment");
        assert_eq!(now_b, last_b, "{method} {path} leaves others alone");
        last_a = now_a;
        last_b = now_b;
    }
    // Identity overrides bump; traits do not.
    let identity = core.create_identity(&a, "u").await;
    let r0 = step(a.clone()).await;
    core.create(
        &format!(
            "/api/v1/environments/{a}/identities/{}/traits/",
            identity["id"]
        ),
        json!({"trait_key": "k", "trait_value": 1}),
    )
    .await;
    assert_eq!(step(a.clone()).await, r0, "traits are not in documents");
    core.create(
        &format!(
            "/api/v1/environments/{a}/identities/{}/featurestates/",
            identity["id"]
        ),
        json!({"feature": feature["id"], "enabled": true}),
    )
    .await;
    assert!(step(a.clone()).await > r0);
    // Project and organisation settings bump every environment beneath.
    let (ra, rb, ro) = (
        step(a.clone()).await,
        step(b.clone()).await,
        step(other.clone()).await,
    );
    core.patch(
        &format!("/api/v1/projects/{project}/"),
        json!({"hide_disabled_flags": true}),
    )
    .await;
    assert!(step(a.clone()).await > ra && step(b.clone()).await > rb);
    assert_eq!(step(other.clone()).await, ro);
    core.patch(
        &format!("/api/v1/organisations/{}/", core.organisation),
        json!({"stop_serving_flags": true}),
    )
    .await;
    assert!(step(other.clone()).await > ro);
    // A failed write bumps nothing.
    let r = step(a.clone()).await;
    let bad = core
        .post(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": "f"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(step(a.clone()).await, r);
    // updated_at moves forward with the revision.
    let doc1 = core
        .sync(&format!("/api/v1/edge/environments/{a}/document"))
        .await
        .json;
    core.patch(
        &format!("/api/v1/environments/{a}/"),
        json!({"name": "Renamed"}),
    )
    .await;
    let doc2 = core
        .sync(&format!("/api/v1/edge/environments/{a}/document"))
        .await
        .json;
    assert!(doc2["revision"].as_u64() > doc1["revision"].as_u64());
    assert!(doc2["updated_at"].as_str() > doc1["updated_at"].as_str());
    assert_eq!(doc2["name"], "Renamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_feed_long_polls_and_lists_environments() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    let server = core.server_key(&key).await;
    let (_, other) = core.project_with_environment().await;

    // Full listing: every environment, its revision and active server keys.
    let all = core.sync("/api/v1/edge/environments").await;
    assert_eq!(all.status, StatusCode::OK);
    let envs = all.json["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 2);
    let mine = envs
        .iter()
        .find(|e| e["environment_key"] == key.as_str())
        .unwrap();
    assert_eq!(mine["server_keys"], json!([server]));
    let theirs = envs
        .iter()
        .find(|e| e["environment_key"] == other.as_str())
        .unwrap();
    // No active key: left out, as the shared contract (flagedge_cloud::changes) writes it.
    assert!(theirs.get("server_keys").is_none(), "{theirs}");
    let top = all.json["revision"].as_u64().unwrap();
    assert!(envs.iter().all(|e| e["revision"].as_u64().unwrap() <= top));
    assert_eq!(
        core.get("/api/v1/edge/environments").await.status,
        StatusCode::OK,
        "admin keys work"
    );
    assert_eq!(
        core.request(Method::GET, "/api/v1/edge/environments", &[], None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Since 0: everything, at once.
    let r = core.sync("/api/v1/edge/changes?since=0&timeout=5").await;
    assert_eq!(r.json["environments"].as_array().unwrap().len(), 2);
    assert_eq!(r.json["revision"].as_u64().unwrap(), top);

    // Nothing changes: the poll times out with an empty list.
    let started = Instant::now();
    let r = core
        .sync(&format!("/api/v1/edge/changes?since={top}&timeout=1"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.json["environments"], json!([]));
    assert_eq!(r.json["revision"].as_u64().unwrap(), top);

    // A write wakes a waiting poll, which lists just that environment.
    let poll = {
        let base = core.base.clone();
        let path = format!("/api/v1/edge/changes?since={top}&timeout=30");
        tokio::spawn(async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<http_body_util::Full<bytes::Bytes>>();
            let request = hyper::Request::get(format!("{base}{path}"))
                .header("authorization", format!("Bearer {}", support::SYNC_TOKEN))
                .body(http_body_util::Full::default())
                .unwrap();
            let response = client.request(request).await.unwrap();
            use http_body_util::BodyExt;
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (
                Instant::now(),
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let wrote = Instant::now();
    core.patch(
        &format!("/api/v1/environments/{key}/"),
        json!({"allow_client_traits": false}),
    )
    .await;
    let (woke, body) = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .unwrap()
        .unwrap();
    let latency = woke.saturating_duration_since(wrote);
    eprintln!("change feed woke {latency:?} after the write was sent");
    assert!(
        latency < Duration::from_secs(4),
        "woken by NOTIFY, not the fallback poll: {latency:?}"
    );
    let changed = body["environments"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{body}");
    assert_eq!(changed[0]["environment_key"], key.as_str());
    assert!(body["revision"].as_u64().unwrap() > top);
    assert_eq!(changed[0]["revision"], body["revision"]);

    // A project-wide write lists every environment of the project.
    let cursor = body["revision"].as_u64().unwrap();
    core.create_environment(project, "Staging").await;
    core.create(
        &format!("/api/v1/projects/{project}/segments/"),
        json!({"name": "s"}),
    )
    .await;
    let r = core
        .sync(&format!("/api/v1/edge/changes?since={cursor}&timeout=5"))
        .await;
    assert_eq!(
        r.json["environments"].as_array().unwrap().len(),
        2,
        "{}",
        r.json
    );

    // Deleting an environment still moves the overall revision.
    let before = core.sync("/api/v1/edge/environments").await.json["revision"]
        .as_u64()
        .unwrap();
    core.delete(&format!("/api/v1/environments/{other}/")).await;
    let after = core.sync("/api/v1/edge/environments").await.json;
    assert!(after["revision"].as_u64().unwrap() > before);
    assert_eq!(after["environments"].as_array().unwrap().len(), 2);

    // Bad parameters are 400s; timeouts are capped.
    for query in ["since=-1", "timeout=x"] {
        let path = format!("/api/v1/edge/changes?{query}");
        assert_eq!(
            core.sync(&path).await.status,
            StatusCode::BAD_REQUEST,
            "{query}"
        );
    }
}

/// What an edge reading core directly holds opens the feed, scoped: a
/// server-side key sees its environment, a proxy key its organisation; a
/// client-side key (public) opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_follow_the_change_feed_with_their_own_keys() {
    let core = Core::start().await;
    let (_, key) = core.project_with_environment().await;
    let server = core.server_key(&key).await;
    let (_, other) = core.project_with_environment().await;
    let proxy = core.proxy_key().await;
    let feed = |headers: Vec<(&'static str, String)>, since: u64| {
        let core = &core;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            core.request(
                Method::GET,
                &format!("/api/v1/edge/changes?since={since}&timeout=5"),
                &headers,
                None,
            )
            .await
        }
    };
    let keys_of = |reply: &support::Reply| -> Vec<String> {
        reply.json["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["environment_key"].as_str().unwrap().to_string())
            .collect()
    };

    let by_server_key = feed(vec![("x-environment-key", server.clone())], 0).await;
    assert_eq!(
        by_server_key.status,
        StatusCode::OK,
        "{}",
        by_server_key.json
    );
    assert_eq!(keys_of(&by_server_key), vec![key.clone()]);
    let by_proxy_key = feed(vec![("x-proxy-key", proxy.clone())], 0).await;
    assert_eq!(by_proxy_key.status, StatusCode::OK, "{}", by_proxy_key.json);
    let mut both = keys_of(&by_proxy_key);
    both.sort();
    let mut expected = vec![key.clone(), other.clone()];
    expected.sort();
    assert_eq!(both, expected);

    // A change elsewhere does not wake a server key's feed; one to its environment does.
    let cursor = by_server_key.json["revision"].as_u64().unwrap();
    core.patch(
        &format!("/api/v1/environments/{other}/"),
        json!({"name": "Elsewhere"}),
    )
    .await;
    let quiet = core
        .get_with(
            &format!("/api/v1/edge/changes?since={cursor}&timeout=1"),
            "x-environment-key",
            &server,
        )
        .await;
    assert_eq!(quiet.json["environments"], json!([]), "{}", quiet.json);
    core.patch(
        &format!("/api/v1/environments/{key}/"),
        json!({"name": "Here"}),
    )
    .await;
    let woke = feed(vec![("x-environment-key", server.clone())], cursor).await;
    assert_eq!(keys_of(&woke), vec![key.clone()]);

    for (header, value, status) in [
        ("x-environment-key", key.clone(), StatusCode::FORBIDDEN),
        (
            "x-environment-key",
            "ser.not-a-key".to_string(),
            StatusCode::FORBIDDEN,
        ),
        (
            "x-proxy-key",
            "pk.nope.nope".to_string(),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let refused = feed(vec![(header, value.clone())], 0).await;
        assert_eq!(refused.status, status, "{header}: {value}");
        assert!(refused.json["detail"].is_string(), "{}", refused.json);
    }
    assert_eq!(feed(vec![], 0).await.status, StatusCode::UNAUTHORIZED);
}
