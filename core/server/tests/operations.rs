//! The OpenAPI document against the router, a no-5xx sweep of every route
//! with bad input, health and readiness, and the binary itself (`init`,
//! `migrate`, `serve`, SIGTERM).

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flagedge_core::api::route_list;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::Core;

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#/")?;
    path.split('/').try_fold(doc, |node, key| node.get(key))
}

fn check_refs(doc: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                assert!(resolve(doc, r).is_some(), "dangling $ref {r}");
            }
            map.values().for_each(|v| check_refs(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_and_is_well_formed() {
    let core = Core::start().await;
    let r = core
        .request(Method::GET, "/api/v1/openapi.json", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let routes: BTreeSet<(String, String)> = route_list()
        .into_iter()
        .map(|r| (r.method.to_lowercase(), r.path.to_string()))
        .collect();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    assert_eq!(routes, documented);
    // Every resource family is there.
    for must in [
        "/api/v1/organisations/",
        "/api/v1/projects/{project_id}/features/{feature_id}/mv-options/{id}/",
        "/api/v1/environments/{api_key}/api-keys/",
        "/api/v1/environments/{api_key}/identities/{id}/featurestates/{state_id}/",
        "/api/v1/features/feature-segments/",
        "/api/v1/edge/changes",
        "/api/v1/environment-document/",
        "/api/v1/analytics/usage/",
        "/api/v1/proxy-keys/",
        "/api/v1/proxy-keys/{id}/",
        "/api/v1/proxy/config/",
        "/api/v1/proxy/usage/",
    ] {
        assert!(paths.contains_key(must), "{must}");
    }
    let mut operation_ids = BTreeSet::new();
    for (path, ops) in paths {
        let params: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                !op["responses"].as_object().unwrap().is_empty(),
                "{method} {path}"
            );
            assert!(operation_ids.insert(op["operationId"].as_str().unwrap().to_string()));
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(params, declared, "{method} {path}");
        }
    }
    check_refs(&doc, &doc);
    // Pages and the proxy API are described: the page_id parameter and the
    // Link header, the proxy key's security scheme, the usage body's bound.
    let sdk = &paths["/api/v1/environment-document/"]["get"];
    assert!(
        sdk["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "page_id" && p["in"] == "query")
    );
    assert!(sdk["responses"]["200"]["headers"]["Link"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["ProxyKey"]["name"],
        "X-Proxy-Key"
    );
    let usage = &paths["/api/v1/proxy/usage/"]["post"];
    assert_eq!(usage["security"], json!([{"ProxyKey": []}]));
    assert_eq!(
        usage["requestBody"]["content"]["application/json"]["schema"]["maxItems"],
        1000
    );
    assert!(usage["responses"]["204"].is_object());
    assert!(
        usage["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["required"] == true)
    );
    assert!(doc["components"]["schemas"]["ProxyEnvironment"].is_object());
}

/// A project with an environment (its client key), a multivariate feature and an identity.
async fn fixtures(core: &Core) -> (i64, String, Value, Value) {
    let (project, key) = core.project_with_environment().await;
    let feature = core
        .create(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": "f", "multivariate_options": [{"value": "a"}]}),
        )
        .await;
    let identity = core.create_identity(&key, "u").await;
    (project, key, feature, identity)
}

/// The schemas are derived from the types the handlers answer with: an answer
/// has exactly the fields its schema declares (no more, none missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_exactly_the_fields_of_their_schemas() {
    let core = Core::start().await;
    let doc = core
        .request(Method::GET, "/api/v1/openapi.json", &[], None)
        .await
        .json;
    let (project, key, feature, identity) = fixtures(&core).await;
    let fields = |schema: &str| -> BTreeSet<String> {
        doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has properties"))
            .keys()
            .cloned()
            .collect()
    };
    let keys = |answer: &Value| -> BTreeSet<String> {
        answer.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&feature), fields("Feature"));
    assert_eq!(
        keys(&feature["multivariate_options"][0]),
        fields("MultivariateOption")
    );
    assert_eq!(keys(&identity), fields("Identity"));
    let project_answer = core.get(&format!("/api/v1/projects/{project}/")).await.json;
    assert_eq!(keys(&project_answer), fields("Project"));
    let states = core
        .get(&format!("/api/v1/environments/{key}/featurestates/"))
        .await
        .json;
    assert_eq!(keys(&states["results"][0]), fields("FeatureState"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_answers_bad_input_with_a_5xx() {
    let core = Core::start().await;
    let (project, key, feature, identity) = fixtures(&core).await;
    let real = |name: &str| -> String {
        match name {
            "api_key" | "environment_key" => key.clone(),
            "project_id" => project.to_string(),
            "feature_id" => feature["id"].to_string(),
            "id" => identity["id"].to_string(),
            "prefix" => "nope".into(),
            _ => "1".into(),
        }
    };
    let bodies: Vec<Option<Vec<u8>>> = vec![
        None,
        Some(b"{}".to_vec()),
        Some(b"[]".to_vec()),
        Some(b"null".to_vec()),
        Some(b"{\"name\": null, \"project\": \"x\", \"organisation\": -1}".to_vec()),
        Some(b"{\"name\": \"n\", \"feature\": 9223372036854775807, \"segment\": -5, \"environment\": 0, \"priority\": 99999999999}".to_vec()),
        Some(b"{\"rules\": [{\"type\": \"ALL\", \"rules\": null, \"conditions\": [{}]}], \"name\": \"x\"}".to_vec()),
        Some(b"{\"multivariate_feature_state_values\": [{\"multivariate_feature_option\": 123456, \"percentage_allocation\": 50}], \"enabled\": true}".to_vec()),
        Some(b"{\"trait_key\": \"\\u0000\", \"trait_value\": 1e400}".to_vec()),
        Some(vec![0xff, 0xfe]),
    ];
    let auth = format!("Api-Key {}", core.admin_key);
    let mut requests = 0;
    for route in route_list() {
        for substitute in [true, false] {
            let path: String = route
                .path
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) if substitute => real(name),
                        Some(_) => "99999999999999999999".to_string(),
                        None => s.to_string(),
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            for body in &bodies {
                let method: Method = route.method.parse().unwrap();
                if method == Method::DELETE && substitute {
                    continue; // keep the fixtures for the other routes
                }
                let query = if route.path.contains("analytics") || route.path.contains("changes") {
                    "?environment=x&from=bad&since=-3&timeout=0&page=0"
                } else {
                    "?page=-1&page_size=0"
                };
                // Text PostgreSQL cannot store (NUL) in every filter a list reads.
                let nul = "?environment=%00x&feature=%00&resource=%00&q=%00&search=%00&feature_segment=%00";
                let query = if body.is_none() { nul } else { query };
                let r = core
                    .request(
                        method.clone(),
                        &format!("{path}{query}"),
                        &[("authorization", &auth), ("x-environment-key", "ser.x")],
                        body.clone(),
                    )
                    .await;
                requests += 1;
                assert!(
                    r.status.as_u16() < 500,
                    "{method} {path}{query} {:?} → {} {}",
                    body.as_ref()
                        .map(|b| String::from_utf8_lossy(b).to_string()),
                    r.status,
                    r.json
                );
            }
        }
    }
    eprintln!("{requests} bad requests, no 5xx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let core = Core::start().await;
    let r = core.request(Method::GET, "/health", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = core.request(Method::GET, "/ready", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "ok");

    // A database without migrations is not ready.
    let url = support::database().await;
    let db = flagedge_core::db::connect(&url, 2).unwrap();
    let settings = flagedge_core::server::Settings {
        max_body_bytes: 1024,
        grace: Duration::from_secs(1),
        ..Default::default()
    };
    let server = flagedge_core::server::Server::bind(
        db.clone(),
        db,
        "127.0.0.1:0".parse().unwrap(),
        &settings,
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let probe = Core::attach(format!("http://{addr}"));
    assert_eq!(
        probe.request(Method::GET, "/ready", &[], None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        probe
            .request(Method::GET, "/health", &[], None)
            .await
            .status,
        StatusCode::OK
    );
    // Without a sync token configured, bearer tokens are refused.
    let r = probe
        .get_with("/api/v1/edge/environments", "authorization", "Bearer ")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_inits_migrates_serves_and_stops_on_sigterm() {
    let url = support::database().await;
    let bin = env!("CARGO_BIN_EXE_flagedge-core");
    // A command of the binary on the test database, which must succeed.
    let run = |args: &[&str]| {
        let output = Command::new(bin)
            .args(args)
            .env("DATABASE_URL", &url)
            .output();
        let output = output.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        output
    };
    run(&["migrate"]);
    let init = run(&["init", "--organisation-name", "First"]);
    let stdout = String::from_utf8_lossy(&init.stdout);
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("admin API key: "))
        .expect("init prints the key")
        .to_string();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::env::temp_dir().join(format!("flagedge-core-{}-{port}.log", std::process::id()));
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("DATABASE_URL", &url)
        .env("FLAGEDGE_SYNC_TOKEN", "secret-token-value")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let core = Core::attach(format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let auth = format!("Api-Key {key}");
    let r = core
        .get_with("/api/v1/organisations/", "authorization", &auth)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["results"][0]["name"], "First");
    let r = core
        .get_with(
            "/api/v1/edge/environments",
            "authorization",
            "Bearer secret-token-value",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A long-poll in flight must not hold up shutdown.
    let poller = {
        let base = core.base.clone();
        tokio::spawn(async move {
            Core::attach(base)
                .get_with(
                    "/api/v1/edge/changes?since=999999&timeout=60",
                    "authorization",
                    "Bearer secret-token-value",
                )
                .await
                .status
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert_eq!(poller.await.unwrap(), StatusCode::OK);
    assert!(stopping.elapsed() < Duration::from_secs(10));
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.lines().any(|l| l.starts_with('{')),
        "JSON logs: {logs}"
    );
    assert!(!logs.contains("secret-token-value"), "no secrets in logs");
    assert!(!logs.contains(&key));
    let _ = std::fs::remove_file(&log);
}
