//! The admin API over HTTP against a real PostgreSQL: CRUD, validation and
//! auth for every resource family.

mod support;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::Core;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_organisation_scoping() {
    let core = Core::start().await;
    // Missing, malformed and unknown credentials are 401.
    let none = core
        .request(Method::GET, "/api/v1/projects/", &[], None)
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(none.json["detail"].is_string());
    for auth in [
        "Api-Key nope",
        "Api-Key abcdefgh.wrong",
        "Bearer x",
        "Basic Zm9vOmJhcg==",
    ] {
        let r = core
            .get_with("/api/v1/projects/", "authorization", auth)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}");
    }
    // A right prefix with a wrong secret is still 401.
    let prefix = core.admin_key.split('.').next().unwrap();
    let forged = format!("Api-Key {prefix}.{}", "x".repeat(32));
    let r = core
        .get_with("/api/v1/projects/", "authorization", &forged)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // The init key is instance-wide: it creates organisations.
    let other_id = core.other_organisation().await;
    let (project, _) = core.project_in(other_id, "Theirs", "Theirs").await;
    // An organisation key sees its organisation only.
    let key = core.create_admin_key("ci").await;
    let scoped = format!("Api-Key {}", key["key"].as_str().unwrap());
    assert!(key["prefix"].is_string());
    let as_scoped = core.as_key(scoped.clone());
    let list = as_scoped.get("/api/v1/organisations/").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json["count"], 1);
    assert_eq!(list.json["results"][0]["id"], core.organisation);
    let hidden = as_scoped
        .get(&format!("/api/v1/organisations/{other_id}/"))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let hidden = as_scoped.get(&format!("/api/v1/projects/{project}/")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let projects = as_scoped.get("/api/v1/projects/").await;
    assert_eq!(projects.json["count"], 0);
    let denied = as_scoped
        .post("/api/v1/organisations/", json!({"name": "Mine"}))
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let denied = as_scoped
        .post(
            "/api/v1/projects/",
            json!({"name": "x", "organisation": other_id}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::BAD_REQUEST);
    // A scoped key creates projects in its own organisation by default.
    let own = as_scoped
        .post("/api/v1/projects/", json!({"name": "Ours"}))
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.json);
    assert_eq!(own.json["organisation"], core.organisation);

    // Keys are listed by prefix, never with the secret; revoking takes effect.
    let keys = core
        .get(&format!(
            "/api/v1/organisations/{}/master-api-keys/",
            core.organisation
        ))
        .await;
    assert_eq!(keys.json["count"], 1);
    assert!(keys.json["results"][0].get("key").is_none());
    let path = format!(
        "/api/v1/organisations/{}/master-api-keys/{}/",
        core.organisation,
        key["prefix"].as_str().unwrap()
    );
    assert_eq!(
        core.patch(&path, json!({"revoked": true})).await.status,
        StatusCode::OK
    );
    let revoked = as_scoped.get("/api/v1/projects/").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    core.delete_is_gone(&path).await;
    // Only a hash is stored.
    let (hash,): (Vec<u8>,) = sqlx::query_as("SELECT key_hash FROM admin_api_keys LIMIT 1")
        .fetch_one(&core.db)
        .await
        .unwrap();
    assert_eq!(hash.len(), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisations_and_projects_crud_validation_and_pagination() {
    let core = Core::start().await;
    // Validation: required, blank, too long, wrong type, not an object, bad JSON.
    let r = core.post("/api/v1/organisations/", json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json, json!({"name": ["This field is required."]}));
    let r = core
        .post("/api/v1/organisations/", json!({"name": "  "}))
        .await;
    assert_eq!(r.json["name"][0], "This field may not be blank.");
    let r = core
        .post("/api/v1/organisations/", json!({"name": "x".repeat(2001)}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["name"][0].as_str().unwrap().contains("2000"));
    let r = core
        .post("/api/v1/organisations/", json!({"name": 7}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["name"].is_array());
    let r = core.post("/api/v1/organisations/", json!([1, 2])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["non_field_errors"].is_array());
    let auth = format!("Api-Key {}", core.admin_key);
    let r = core
        .post_with(
            "/api/v1/organisations/",
            "authorization",
            &auth,
            b"{nope".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let big = serde_json::to_vec(&json!({"name": "x".repeat(100_000)})).unwrap();
    let r = core
        .post_with("/api/v1/organisations/", "authorization", &auth, big)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = core
        .request(
            Method::POST,
            "/api/v1/organisations/",
            &[("authorization", &auth), ("content-type", "text/plain")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Create, paginate, read, update (PUT needs the required fields), delete.
    for i in 0..3 {
        core.create(
            "/api/v1/organisations/",
            json!({"name": format!("Org {i}")}),
        )
        .await;
    }
    let page = core.get("/api/v1/organisations/?page_size=2").await;
    assert_eq!(page.json["count"], 4);
    assert_eq!(page.json["results"].as_array().unwrap().len(), 2);
    assert!(page.json["next"].as_str().unwrap().contains("page=2"));
    assert!(page.json["previous"].is_null());
    let page2 = core.get("/api/v1/organisations/?page_size=2&page=2").await;
    assert_eq!(page2.json["results"].as_array().unwrap().len(), 2);
    assert!(page2.json["next"].is_null());
    assert!(page2.json["previous"].as_str().unwrap().contains("page=1"));
    for (query, status) in [
        ("page=9", StatusCode::NOT_FOUND),
        ("page=x", StatusCode::BAD_REQUEST),
    ] {
        let path = format!("/api/v1/organisations/?{query}");
        assert_eq!(core.get(&path).await.status, status, "{query}");
    }

    let org = core
        .create("/api/v1/organisations/", json!({"name": "Temp"}))
        .await;
    let path = format!("/api/v1/organisations/{}/", org["id"]);
    assert_eq!(core.get(&path).await.json["name"], "Temp");
    assert_eq!(
        core.put(&path, json!({"stop_serving_flags": true}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = core
        .put(
            &path,
            json!({"name": "Renamed", "persist_trait_data": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["persist_trait_data"], false);
    let r = core.patch(&path, json!({"feature_analytics": true})).await;
    assert_eq!(r.json["name"], "Renamed");
    assert_eq!(r.json["feature_analytics"], true);
    // Without a trailing slash too.
    assert_eq!(
        core.get(path.trim_end_matches('/')).await.status,
        StatusCode::OK
    );

    // Projects.
    let r = core.post("/api/v1/projects/", json!({"name": "P"})).await;
    assert_eq!(r.json["organisation"][0], "This field is required.");
    let r = core
        .post(
            "/api/v1/projects/",
            json!({"name": "P", "organisation": 999999}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let project = core
        .create(
            "/api/v1/projects/",
            json!({"name": "P", "organisation": org["id"], "hide_disabled_flags": true}),
        )
        .await;
    assert_eq!(project["hide_disabled_flags"], true);
    let ppath = format!("/api/v1/projects/{}/", project["id"]);
    let r = core
        .patch(
            &ppath,
            json!({"name": "Q", "enable_realtime_updates": true}),
        )
        .await;
    assert_eq!(r.json["name"], "Q");
    assert_eq!(r.json["enable_realtime_updates"], true);
    let listed = core
        .get(&format!("/api/v1/projects/?organisation={}", org["id"]))
        .await;
    assert_eq!(listed.json["count"], 1);
    // Unknown and malformed ids are 404; wrong methods 405.
    assert_eq!(
        core.get("/api/v1/projects/123456/").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        core.get("/api/v1/projects/abc/").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        core.get("/api/v1/projects/99999999999999999999999/")
            .await
            .json["detail"],
        "Not found."
    );
    assert_eq!(
        core.admin(Method::POST, &ppath, Some(json!({})))
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        core.get("/api/v1/nothing/").await.status,
        StatusCode::NOT_FOUND
    );
    // Deleting the organisation deletes its projects.
    core.delete_is_gone(&path).await;
    assert_eq!(core.get(&ppath).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_and_server_keys() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    assert_eq!(key.len(), 22);
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
    let path = format!("/api/v1/environments/{key}/");
    let env = core.get(&path).await.json;
    assert_eq!(env["use_identity_composite_key_for_hashing"], true);
    assert_eq!(env["allow_client_traits"], true);
    assert!(env["hide_disabled_flags"].is_null());
    let r = core
        .patch(
            &path,
            json!({"hide_disabled_flags": true, "use_identity_overrides_in_local_eval": true}),
        )
        .await;
    assert_eq!(r.json["hide_disabled_flags"], true);
    let r = core
        .patch(&path, json!({"hide_disabled_flags": null}))
        .await;
    assert!(r.json["hide_disabled_flags"].is_null());
    assert_eq!(r.json["use_identity_overrides_in_local_eval"], true);
    let r = core.put(&path, json!({"description": "no name"})).await;
    assert_eq!(r.json["name"][0], "This field is required.");
    let r = core
        .post(
            "/api/v1/environments/",
            json!({"name": "X", "project": 424242}),
        )
        .await;
    assert_eq!(r.json["project"][0], "Invalid pk - object does not exist.");
    let r = core
        .post(
            "/api/v1/environments/",
            json!({"name": "X", "allow_client_traits": "yes", "project": project}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["allow_client_traits"].is_array());
    let listed = core
        .get(&format!("/api/v1/environments/?project={project}"))
        .await;
    assert_eq!(listed.json["count"], 1);
    assert_eq!(
        core.get("/api/v1/environments/nope/").await.status,
        StatusCode::NOT_FOUND
    );

    // Server-side keys.
    let keys = format!("/api/v1/environments/{key}/api-keys/");
    assert_eq!(
        core.post(&keys, json!({})).await.json["name"][0],
        "This field is required."
    );
    let server = core.create(&keys, json!({"name": "backend"})).await;
    let secret = server["key"].as_str().unwrap();
    assert!(secret.starts_with("ser.") && secret.len() == 26);
    assert_eq!(server["active"], true);
    let doc = |k: String| {
        let core = &core;
        async move {
            core.get_with("/api/v1/environment-document/", "x-environment-key", &k)
                .await
                .status
        }
    };
    assert_eq!(doc(secret.to_string()).await, StatusCode::OK);
    let kpath = format!("{keys}{}/", server["id"]);
    let r = core.patch(&kpath, json!({"active": false})).await;
    assert_eq!(r.json["active"], false);
    assert_eq!(doc(secret.to_string()).await, StatusCode::FORBIDDEN);
    core.patch(
        &kpath,
        json!({"active": true, "expires_at": "2000-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(doc(secret.to_string()).await, StatusCode::FORBIDDEN);
    let r = core.patch(&kpath, json!({"expires_at": "tomorrow"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    core.patch(&kpath, json!({"expires_at": null})).await;
    assert_eq!(doc(secret.to_string()).await, StatusCode::OK);
    assert_eq!(core.get(&keys).await.json["count"], 1);
    assert_eq!(core.delete(&kpath).await.status, StatusCode::NO_CONTENT);
    assert_eq!(doc(secret.to_string()).await, StatusCode::FORBIDDEN);
    assert_eq!(core.get(&kpath).await.status, StatusCode::NOT_FOUND);

    core.delete_is_gone(&path).await;
}

async fn count(core: &Core, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&core.db).await.unwrap();
    n
}

/// How many rows of `table` belong to feature `feature`.
async fn rows_of_feature(core: &Core, table: &str, feature: i64) -> i64 {
    count(
        core,
        &format!("SELECT count(*) FROM {table} WHERE feature_id = {feature}"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_and_multivariate_options() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    let second = core.create_environment(project, "Staging").await;
    let features = format!("/api/v1/projects/{project}/features/");
    let banner = core
        .create(
            &features,
            json!({"name": "banner", "initial_value": "hello", "default_enabled": true}),
        )
        .await;
    assert_eq!(banner["type"], "STANDARD");
    // A default state in every environment, with the feature's defaults.
    for env in [key.as_str(), second["api_key"].as_str().unwrap()] {
        let states = core
            .get(&format!(
                "/api/v1/environments/{env}/featurestates/?feature={}",
                banner["id"]
            ))
            .await;
        assert_eq!(states.json["count"], 1, "{env}");
        assert_eq!(states.json["results"][0]["enabled"], true);
        assert_eq!(states.json["results"][0]["feature_state_value"], "hello");
    }
    // An environment created later gets states for existing features.
    let third = core.create_environment(project, "Dev").await;
    let states = core
        .get(&format!(
            "/api/v1/environments/{}/featurestates/",
            third["api_key"].as_str().unwrap()
        ))
        .await;
    assert_eq!(states.json["count"], 1);

    // Validation.
    let r = core.post(&features, json!({"name": "BANNER"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["name"][0]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    let r = core
        .post(&features, json!({"name": "x", "type": "SOMETIMES"}))
        .await;
    assert!(r.json["type"].is_array());
    let r = core
        .post(&features, json!({"name": "x", "initial_value": {"a": 1}}))
        .await;
    assert!(r.json["initial_value"].is_array());
    let r = core
        .post(
            &features,
            json!({"name": "x", "initial_value": "v".repeat(20_001)}),
        )
        .await;
    assert!(r.json["initial_value"].is_array());
    let r = core
        .post(&features, json!({"name": "f".repeat(2001)}))
        .await;
    assert!(r.json["name"].is_array());
    assert_eq!(
        core.post("/api/v1/projects/999/features/", json!({"name": "x"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Multivariate: inline options, allocations in every environment default.
    let mv = core
        .create(
            &features,
            json!({"name": "checkout", "initial_value": "control", "multivariate_options": [
                {"type": "unicode", "string_value": "v1", "default_percentage_allocation": 30},
                {"value": 2, "key": "two", "default_percentage_allocation": 20}
            ]}),
        )
        .await;
    assert_eq!(mv["type"], "MULTIVARIATE");
    assert_eq!(mv["multivariate_options"].as_array().unwrap().len(), 2);
    assert_eq!(mv["multivariate_options"][1]["type"], "int");
    assert_eq!(mv["multivariate_options"][1]["integer_value"], 2);
    let state = core
        .get(&format!(
            "/api/v1/environments/{key}/featurestates/?feature={}",
            mv["id"]
        ))
        .await
        .json["results"][0]
        .clone();
    assert_eq!(
        state["multivariate_feature_state_values"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let options = format!("{features}{}/mv-options/", mv["id"]);
    let r = core
        .post(
            &options,
            json!({"value": "v3", "default_percentage_allocation": 60}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    let r = core
        .post(
            &options,
            json!({"value": "v3", "default_percentage_allocation": 101}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = core
        .post(&options, json!({"default_percentage_allocation": 10}))
        .await;
    assert!(r.json["value"].is_array());
    let v3 = core
        .create(
            &options,
            json!({"boolean_value": true, "type": "bool", "default_percentage_allocation": 10}),
        )
        .await;
    assert_eq!(v3["value"], true);
    assert_eq!(core.get(&options).await.json["count"], 3);
    let opath = format!("{options}{}/", v3["id"]);
    let r = core
        .patch(&opath, json!({"value": "v3", "key": "three"}))
        .await;
    assert_eq!(r.json["string_value"], "v3");
    assert_eq!(r.json["key"], "three");
    core.delete_is_gone(&opath).await;

    // Update and delete features.
    let fpath = format!("{features}{}/", banner["id"]);
    let r = core
        .patch(
            &fpath,
            json!({"description": "top banner", "is_server_key_only": true}),
        )
        .await;
    assert_eq!(r.json["is_server_key_only"], true);
    assert_eq!(
        core.patch(&fpath, json!({"name": "Checkout"})).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = core.put(&fpath, json!({"name": "banner2"})).await;
    assert_eq!(r.json["name"], "banner2");
    assert_eq!(
        core.get(&format!("{features}?search=BANN")).await.json["count"],
        1
    );
    let mpath = format!("{features}{}/", mv["id"]);
    core.delete_is_gone(&mpath).await;
    let feature_id = mv["id"].as_i64().unwrap();
    assert_eq!(
        rows_of_feature(&core, "feature_states", feature_id).await,
        0
    );
    assert_eq!(rows_of_feature(&core, "mv_options", feature_id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_with_every_operator() {
    let core = Core::start().await;
    let (project, _) = core.project_with_environment().await;
    let segments = format!("/api/v1/projects/{project}/segments/");
    let conditions: Vec<Value> = [
        ("EQUAL", Some("plan"), Some(json!("pro"))),
        ("NOT_EQUAL", Some("plan"), Some(json!("free"))),
        ("GREATER_THAN", Some("age"), Some(json!(18))),
        ("GREATER_THAN_INCLUSIVE", Some("age"), Some(json!("18"))),
        ("LESS_THAN", Some("version"), Some(json!("2.0.0:semver"))),
        ("LESS_THAN_INCLUSIVE", Some("age"), Some(json!("99"))),
        ("CONTAINS", Some("email"), Some(json!("@acme"))),
        ("NOT_CONTAINS", Some("email"), Some(json!("@spam"))),
        ("REGEX", Some("email"), Some(json!(".*@acme\\.com$"))),
        ("MODULO", Some("id"), Some(json!("2|0"))),
        ("PERCENTAGE_SPLIT", None, Some(json!("50"))),
        ("IS_SET", Some("plan"), None),
        ("IS_NOT_SET", Some("banned"), None),
        ("IN", Some("country"), Some(json!("gb,fr,de"))),
        ("IN", Some("$.identity.identifier"), Some(json!(["a", "b"]))),
    ]
    .into_iter()
    .map(|(op, p, v)| json!({"operator": op, "property": p, "value": v}))
    .collect();
    let segment = core
        .create(
            &segments,
            json!({"name": "everyone", "rules": [{"type": "ALL", "rules": [
                {"type": "ANY", "conditions": conditions, "rules": [
                    {"type": "NONE", "conditions": [{"operator": "EQUAL", "property_": "x", "value": "y"}], "rules": []}
                ]}
            ], "conditions": []}]}),
        )
        .await;
    let stored = &segment["rules"][0]["rules"][0]["conditions"];
    assert_eq!(stored.as_array().unwrap().len(), 15);
    assert_eq!(stored[2]["value"], "18", "numbers are stored as text");
    assert_eq!(
        stored[14]["value"], "[\"a\",\"b\"]",
        "IN lists as JSON text"
    );
    assert_eq!(
        segment["rules"][0]["rules"][0]["rules"][0]["conditions"][0]["property"],
        "x"
    );

    // Errors are shaped like the input.
    let r = core
        .post(
            &segments,
            json!({"name": "bad", "rules": [{"type": "ALL", "conditions": [
                {"operator": "EQUAL", "property": "a", "value": "b"},
                {"operator": "LIKE", "property": "a", "value": "b"}
            ]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["rules"][0]["conditions"][1]["operator"].is_array(),
        "{}",
        r.json
    );
    for (condition, field) in [
        (json!({"operator": "EQUAL", "value": "b"}), "property"),
        (json!({"operator": "EQUAL", "property": "a"}), "value"),
        (
            json!({"operator": "PERCENTAGE_SPLIT", "value": "150"}),
            "value",
        ),
        (
            json!({"operator": "MODULO", "property": "a", "value": "2"}),
            "value",
        ),
        (
            json!({"operator": "MODULO", "property": "a", "value": "0|1"}),
            "value",
        ),
        (
            json!({"operator": "REGEX", "property": "a", "value": "(unclosed"}),
            "value",
        ),
        (
            json!({"operator": "EQUAL", "property": "a", "value": "v".repeat(1001)}),
            "value",
        ),
        (
            json!({"operator": "EQUAL", "property": "p".repeat(1001), "value": "v"}),
            "property",
        ),
        (
            json!({"operator": "EQUAL", "property": "a", "value": {"x": 1}}),
            "value",
        ),
    ] {
        let r = core
            .post(
                &segments,
                json!({"name": "bad", "rules": [{"type": "ALL", "conditions": [condition]}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{condition}");
        assert!(
            r.json["rules"][0]["conditions"][0][field].is_array(),
            "{condition}: {}",
            r.json
        );
    }
    let r = core
        .post(
            &segments,
            json!({"name": "bad", "rules": [{"type": "SOME"}]}),
        )
        .await;
    assert!(r.json["rules"][0]["type"].is_array());
    let mut deep = json!({"type": "ALL", "conditions": [{"operator": "IS_SET", "property": "a"}]});
    for _ in 0..8 {
        deep = json!({"type": "ALL", "rules": [deep]});
    }
    let r = core
        .post(&segments, json!({"name": "deep", "rules": [deep]}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = core.post(&segments, json!({"name": "everyone"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );

    let path = format!("{segments}{}/", segment["id"]);
    let r = core
        .patch(&path, json!({"rules": [{"type": "ANY", "conditions": [{"operator": "IS_SET", "property": "plan"}]}]}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["rules"][0]["type"], "ANY");
    assert_eq!(r.json["name"], "everyone");
    let r = core.put(&path, json!({"rules": []})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(core.get(&segments).await.json["count"], 1);
    core.delete_is_gone(&path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_states_segment_and_identity_overrides() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    let env_id = core.get(&format!("/api/v1/environments/{key}/")).await.json["id"].clone();
    let feature = core
        .create(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": "banner"}),
        )
        .await;
    let segment = core
        .create(
            &format!("/api/v1/projects/{project}/segments/"),
            json!({"name": "pro", "rules": [{"type": "ALL", "conditions": [{"operator": "EQUAL", "property": "plan", "value": "pro"}]}]}),
        )
        .await;
    let states = format!("/api/v1/environments/{key}/featurestates/");
    let default = core.get(&states).await.json["results"][0].clone();
    let dpath = format!("{states}{}/", default["id"]);
    let r = core
        .patch(&dpath, json!({"enabled": true, "feature_state_value": 42}))
        .await;
    assert_eq!(r.json["feature_state_value"], 42);
    let r = core
        .patch(
            &dpath,
            json!({"feature_state_value": {"type": "unicode", "string_value": "typed"}}),
        )
        .await;
    assert_eq!(r.json["feature_state_value"], "typed");
    assert_eq!(r.json["enabled"], true);
    let r = core
        .patch(&dpath, json!({"feature_state_value": 1.5}))
        .await;
    assert_eq!(
        r.json["feature_state_value"], "1.5",
        "floats are kept as text"
    );
    assert_eq!(
        core.put(&dpath, json!({"feature_state_value": 1}))
            .await
            .json["enabled"][0],
        "This field is required."
    );
    assert_eq!(
        core.patch(&dpath, json!({"feature_state_value": [1]}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(core.delete(&dpath).await.status, StatusCode::BAD_REQUEST);

    // Segment override: feature segment, then its state.
    let links = "/api/v1/features/feature-segments/";
    let r = core
        .post(
            links,
            json!({"feature": feature["id"], "segment": segment["id"]}),
        )
        .await;
    assert_eq!(r.json["environment"][0], "This field is required.");
    let r = core
        .post(
            links,
            json!({"feature": feature["id"], "segment": 424242, "environment": env_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let link = core
        .create(links, json!({"feature": feature["id"], "segment": segment["id"], "environment": env_id, "priority": 1}))
        .await;
    assert_eq!(link["segment_name"], "pro");
    let r = core
        .post(
            links,
            json!({"feature": feature["id"], "segment": segment["id"], "environment": env_id}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a second link for the same triple"
    );
    let lpath = format!("{links}{}/", link["id"]);
    assert_eq!(
        core.patch(&lpath, json!({"priority": 0})).await.json["priority"],
        0
    );
    assert_eq!(
        core.patch(&lpath, json!({"segment": 999})).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        core.get(&format!("{links}?environment={env_id}"))
            .await
            .json["count"],
        1
    );
    let r = core.post(&states, json!({"enabled": true})).await;
    assert!(r.json["feature_segment"].is_array());
    let over = core
        .create(
            &states,
            json!({"feature_segment": link["id"], "enabled": true, "feature_state_value": "pro!"}),
        )
        .await;
    assert_eq!(over["feature_segment"], link["id"]);
    let r = core
        .post(
            &states,
            json!({"feature_segment": link["id"], "enabled": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        core.get(&format!("{states}?feature_segment={}", link["id"]))
            .await
            .json["count"],
        1
    );

    // Identities, traits, identity overrides.
    let identities = format!("/api/v1/environments/{key}/identities/");
    assert_eq!(
        core.post(&identities, json!({})).await.json["identifier"][0],
        "This field is required."
    );
    assert!(
        core.post(&identities, json!({"identifier": "i".repeat(2001)}))
            .await
            .json["identifier"]
            .is_array()
    );
    let alice = core
        .create(&identities, json!({"identifier": "alice"}))
        .await;
    assert_eq!(
        core.post(&identities, json!({"identifier": "alice"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        core.get(&format!("{identities}?q=ali")).await.json["count"],
        1
    );
    let ipath = format!("{identities}{}/", alice["id"]);
    let traits = format!("{ipath}traits/");
    let t = core
        .create(&traits, json!({"trait_key": "plan", "trait_value": "pro"}))
        .await;
    assert_eq!(t["value_type"], "unicode");
    assert!(
        core.post(
            &traits,
            json!({"trait_key": "k".repeat(201), "trait_value": 1})
        )
        .await
        .json["trait_key"]
            .is_array()
    );
    assert!(
        core.post(
            &traits,
            json!({"trait_key": "long", "trait_value": "v".repeat(2001)})
        )
        .await
        .json["trait_value"]
            .is_array()
    );
    assert!(
        core.post(
            &traits,
            json!({"trait_key": "obj", "trait_value": {"a": 1}})
        )
        .await
        .json["trait_value"]
            .is_array()
    );
    assert_eq!(
        core.post(&traits, json!({"trait_key": "plan", "trait_value": 1}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let tpath = format!("{traits}{}/", t["id"]);
    let r = core.patch(&tpath, json!({"trait_value": 7})).await;
    assert_eq!(r.json["trait_value"], 7);
    assert_eq!(r.json["value_type"], "int");
    assert_eq!(core.get(&traits).await.json["count"], 1);
    assert_eq!(core.delete(&tpath).await.status, StatusCode::NO_CONTENT);

    let overrides = format!("{ipath}featurestates/");
    assert!(core.post(&overrides, json!({"enabled": true})).await.json["feature"].is_array());
    let o = core
        .create(
            &overrides,
            json!({"feature": feature["id"], "enabled": true, "feature_state_value": "just alice"}),
        )
        .await;
    assert_eq!(o["identity"], alice["id"]);
    assert_eq!(
        core.post(&overrides, json!({"feature": feature["id"]}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let opath = format!("{overrides}{}/", o["id"]);
    assert_eq!(
        core.patch(&opath, json!({"enabled": false})).await.json["enabled"],
        false
    );
    assert_eq!(core.get(&overrides).await.json["count"], 1);
    // Identity overrides are not environment feature states.
    assert_eq!(
        core.get(&format!("{states}{}/", o["id"])).await.status,
        StatusCode::NOT_FOUND
    );

    // Deleting the feature removes its states and overrides.
    let feature_id = feature["id"].as_i64().unwrap();
    assert_eq!(
        rows_of_feature(&core, "feature_states", feature_id).await,
        3
    );
    assert_eq!(
        core.delete(&format!(
            "/api/v1/projects/{project}/features/{feature_id}/"
        ))
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        rows_of_feature(&core, "feature_states", feature_id).await,
        0
    );
    assert_eq!(
        rows_of_feature(&core, "feature_segments", feature_id).await,
        0
    );
    assert_eq!(core.get(&opath).await.status, StatusCode::NOT_FOUND);
    core.delete_is_gone(&ipath).await;
}
