//! Environment documents: the SDK endpoint (keys, validators, 304s), the edge
//! endpoint, the document's shape, and an end-to-end evaluation by
//! flagedge-engine of a project built through the admin API.

mod support;

use flagedge_engine::{CompiledEnvironment, EnvironmentDocument, Identity, KeyKind};
use hyper::{Method, StatusCode};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use support::Core;

async fn document(core: &Core, key: &str, extra: &[(&str, &str)]) -> support::Reply {
    let mut headers = vec![("x-environment-key", key)];
    headers.extend_from_slice(extra);
    core.request(Method::GET, "/api/v1/environment-document/", &headers, None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_endpoint_keys_validators_and_304s() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    core.create(
        &format!("/api/v1/projects/{project}/features/"),
        json!({"name": "banner", "initial_value": "hi", "default_enabled": true}),
    )
    .await;
    let server = core.server_key(&key).await;

    let ok = document(&core, &server, &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    let revision = ok.json["revision"].as_u64().unwrap();
    assert_eq!(ok.header("etag").unwrap(), format!("\"{revision}\""));
    let last_modified = ok.header("last-modified").unwrap().to_string();
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");
    let epoch: f64 = ok
        .header("x-flagsmith-document-updated-at")
        .unwrap()
        .parse()
        .unwrap();
    let updated_at = ok.json["updated_at"].as_str().unwrap();
    // ISO 8601, UTC, microseconds.
    assert_eq!(
        updated_at.len(),
        "2025-11-16T13:28:31.244331+00:00".len(),
        "{updated_at}"
    );
    assert!(updated_at.ends_with("+00:00"));
    let parsed = flagedge_engine::Timestamp::parse_iso8601(updated_at).unwrap();
    assert!((parsed.epoch_seconds_f64() - epoch).abs() < 1e-5);
    assert_eq!(ok.json["api_key"], key.as_str());

    // Conditional requests.
    let etag = format!("\"{revision}\"");
    let r = document(&core, &server, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.bytes.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = document(&core, &server, &[("if-none-match", "\"1\", W/\"nope\"")]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = document(&core, &server, &[("if-modified-since", &last_modified)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = document(
        &core,
        &server,
        &[("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = document(&core, &server, &[("if-modified-since", "garbage")]).await;
    assert_eq!(r.status, StatusCode::OK);

    // A change moves the revision and the ETag; the old ETag no longer matches.
    let states = core
        .get(&format!("/api/v1/environments/{key}/featurestates/"))
        .await
        .json;
    core.patch(
        &format!(
            "/api/v1/environments/{key}/featurestates/{}/",
            states["results"][0]["id"]
        ),
        json!({"feature_state_value": "changed"}),
    )
    .await;
    let r = document(&core, &server, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json["revision"].as_u64().unwrap() > revision);
    assert_eq!(
        r.json["feature_states"][0]["feature_state_value"],
        "changed"
    );

    // Key kinds.
    for bad in [key.as_str(), "ser.unknown", "", "ser."] {
        let r = document(&core, bad, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad:?}");
        assert!(r.json["detail"].is_string());
    }
    let r = core
        .request(Method::GET, "/api/v1/environment-document/", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The edge endpoint: same document by client key, sync token or admin key.
    let path = format!("/api/v1/edge/environments/{key}/document");
    let r = core.sync(&path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["api_key"], key.as_str());
    let etag = r.header("etag").unwrap().to_string();
    let r = core
        .request(
            Method::GET,
            &path,
            &[
                ("authorization", &format!("Bearer {}", support::SYNC_TOKEN)),
                ("if-none-match", &etag),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(core.get(&path).await.status, StatusCode::OK);
    assert_eq!(
        core.request(Method::GET, &path, &[], None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let wrong = core.get_with(&path, "authorization", "Bearer wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        core.sync("/api/v1/edge/environments/nope/document")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

fn md5_percentage(ids: &[&str]) -> f64 {
    // Flagsmith's hash, written out independently of the engine.
    let mut iterations = 1;
    loop {
        let text = std::iter::repeat_n(ids.join(","), iterations)
            .collect::<Vec<_>>()
            .join(",");
        let digest: [u8; 16] = Md5::digest(text.as_bytes()).into();
        let n = u128::from_be_bytes(digest) % 9999;
        if n != 9998 {
            return n as f64 / 9998.0 * 100.0;
        }
        iterations += 1;
    }
}

/// What Flagsmith's engine picks for a multivariate state (SPEC §3.5).
fn expected_variant(state: &Value, identity_key: &str) -> Value {
    let key = state["django_id"].as_i64().unwrap().to_string();
    let pct = md5_percentage(&[&key, identity_key]);
    let mut variants: Vec<&Value> = state["multivariate_feature_state_values"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    variants.sort_by_key(|v| v["id"].as_i64().unwrap());
    let mut start = 0.0;
    for v in variants {
        let limit = start + v["percentage_allocation"].as_f64().unwrap();
        if start <= pct && pct < limit {
            return v["multivariate_feature_option"]["value"].clone();
        }
        start = limit;
    }
    state["feature_state_value"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_documents_evaluate_as_flagsmith_would() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    let env = core.get(&format!("/api/v1/environments/{key}/")).await.json;
    let features = format!("/api/v1/projects/{project}/features/");
    let banner = core
        .create(
            &features,
            json!({"name": "banner", "initial_value": "default", "default_enabled": true}),
        )
        .await;
    let checkout = core
        .create(
            &features,
            json!({"name": "checkout", "initial_value": "control", "default_enabled": true,
                   "multivariate_options": [
                       {"value": "v1", "key": "first", "default_percentage_allocation": 50},
                       {"value": "v2", "default_percentage_allocation": 50}]}),
        )
        .await;
    let secret = core
        .create(
            &features,
            json!({"name": "secret", "default_enabled": true, "is_server_key_only": true}),
        )
        .await;
    let pro = core
        .create(
            &format!("/api/v1/projects/{project}/segments/"),
            json!({"name": "pro", "rules": [{"type": "ALL", "rules": [{"type": "ANY", "conditions": [
                {"operator": "EQUAL", "property": "plan", "value": "pro"},
                {"operator": "IN", "property": "plan", "value": "enterprise,business"}]}]}]}),
        )
        .await;
    let link = core
        .create(
            "/api/v1/features/feature-segments/",
            json!({"feature": banner["id"], "segment": pro["id"], "environment": env["id"], "priority": 0}),
        )
        .await;
    core.create(
        &format!("/api/v1/environments/{key}/featurestates/"),
        json!({"feature_segment": link["id"], "enabled": true, "feature_state_value": "pro banner"}),
    )
    .await;
    let vip = core.create_identity(&key, "vip").await;
    core.create(
        &format!(
            "/api/v1/environments/{key}/identities/{}/featurestates/",
            vip["id"]
        ),
        json!({"feature": banner["id"], "enabled": false, "feature_state_value": "vip banner"}),
    )
    .await;
    let server = core.server_key(&key).await;

    // Without use_identity_overrides_in_local_eval, no identity overrides.
    let doc = document(&core, &server, &[]).await;
    assert_eq!(doc.json["identity_overrides"], json!([]));
    core.patch(
        &format!("/api/v1/environments/{key}/"),
        json!({"use_identity_overrides_in_local_eval": true}),
    )
    .await;
    let doc = document(&core, &server, &[]).await;
    assert_eq!(doc.status, StatusCode::OK);
    let json = &doc.json;

    // The shape: Flagsmith's fields, ids, UUIDs, feature_segment null on defaults.
    assert_eq!(json["project"]["id"], project);
    assert_eq!(json["project"]["organisation"]["id"], core.organisation);
    assert_eq!(
        json["project"]["server_key_only_feature_ids"],
        json!([secret["id"]])
    );
    assert_eq!(json["use_identity_composite_key_for_hashing"], true);
    assert_eq!(json["feature_states"].as_array().unwrap().len(), 3);
    for state in json["feature_states"].as_array().unwrap() {
        assert!(state["feature_segment"].is_null());
        assert!(state["django_id"].is_i64());
        assert_eq!(state["featurestate_uuid"].as_str().unwrap().len(), 36);
    }
    let mv_state = json["feature_states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["feature"]["name"] == "checkout")
        .unwrap()
        .clone();
    assert_eq!(mv_state["feature"]["type"], "MULTIVARIATE");
    assert_eq!(
        mv_state["multivariate_feature_state_values"][0]["percentage_allocation"],
        50.0
    );
    assert_eq!(
        mv_state["multivariate_feature_state_values"][0]["multivariate_feature_option"]["key"],
        "first"
    );
    let segment = &json["project"]["segments"][0];
    assert_eq!(
        segment["rules"][0]["rules"][0]["conditions"][0]["property_"],
        "plan"
    );
    assert_eq!(
        segment["feature_states"][0]["feature_segment"]["priority"],
        0.0
    );
    assert_eq!(json["identity_overrides"][0]["identifier"], "vip");
    assert!(json["identity_overrides"][0]["identity_features"][0]["feature_segment"].is_null());
    let _ = checkout;

    // It parses and compiles in the engine.
    let parsed = EnvironmentDocument::parse(&doc.bytes).expect("the engine parses core's document");
    assert_eq!(parsed.revision, json["revision"].as_u64());
    let compiled = CompiledEnvironment::from_document(&parsed).expect("the engine compiles it");

    let flags = |identifier: &str, traits: Vec<(String, Value)>| {
        let identity = Identity {
            identifier,
            key: None,
            traits: &traits,
        };
        let evaluation = compiled.evaluate(Some(&identity));
        let mut body = Vec::new();
        evaluation.write_flags_json(&compiled, KeyKind::Server, &mut body);
        let list: Value = serde_json::from_slice(&body).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["feature"]["name"].as_str().unwrap().to_string(),
                    (f["enabled"].clone(), f["feature_state_value"].clone()),
                )
            })
            .collect::<std::collections::HashMap<_, _>>()
    };
    // Segment override.
    let alice = flags("alice", vec![("plan".into(), json!("pro"))]);
    assert_eq!(alice["banner"], (json!(true), json!("pro banner")));
    let carol = flags("carol", vec![("plan".into(), json!("business"))]);
    assert_eq!(carol["banner"], (json!(true), json!("pro banner")));
    let bob = flags("bob", vec![("plan".into(), json!("free"))]);
    assert_eq!(bob["banner"], (json!(true), json!("default")));
    // Identity override beats the segment.
    let vip = flags("vip", vec![("plan".into(), json!("pro"))]);
    assert_eq!(vip["banner"], (json!(false), json!("vip banner")));
    // Multivariate split, as Flagsmith's hash puts each identity.
    let mut seen = std::collections::HashSet::new();
    for i in 0..40 {
        let identifier = format!("user-{i}");
        let got = flags(&identifier, vec![]);
        let want = expected_variant(&mv_state, &format!("{key}_{identifier}"));
        assert_eq!(got["checkout"].1, want, "{identifier}");
        seen.insert(want.to_string());
    }
    assert!(
        seen.contains("\"v1\"") && seen.contains("\"v2\""),
        "{seen:?}"
    );
    // Client keys do not see server-key-only features.
    let client = compiled.environment_flags_json(KeyKind::Client);
    assert!(!String::from_utf8_lossy(client).contains("\"secret\""));
    let server_flags = compiled.environment_flags_json(KeyKind::Server);
    assert!(String::from_utf8_lossy(server_flags).contains("\"secret\""));
}
