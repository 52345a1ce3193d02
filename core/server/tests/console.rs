//! The console over HTTP against real PostgreSQL: sessions, CSRF, every route
//! guarded, writes going through the admin API (and into the audit log),
//! user text escaped, mistakes answered as pages with their reasons.

mod support;

use flagedge_core::console::route_list;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::visitor::{Visitor, hidden, text};
use support::{Core, Reply};

fn location(reply: &Reply) -> &str {
    reply.header("location").unwrap_or("")
}

/// A route with its parameters filled in.
/// Asserts `reply` is a 400 page that gives `reason`.
fn refused_saying(reply: &Reply, reason: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", text(reply));
    assert!(text(reply).contains(reason), "{}", text(reply));
}

fn concrete(path: &str, key: &str) -> String {
    let mut path = path.replace("{key}", key).replace("{kind}", "server");
    for parameter in ["{id}", "{option}", "{link}", "{trait_id}", "{state_id}"] {
        path = path.replace(parameter, "1");
    }
    assert!(!path.contains('{'), "a parameter left in {path}");
    path
}

#[tokio::test]
async fn every_console_route_without_a_session_goes_to_sign_in() {
    let core = Core::start().await;
    let (_, key) = core.project_with_environment().await;
    let mut anonymous = Visitor::new(&core);
    let routes: Vec<_> = route_list().into_iter().filter(|r| r.signed_in).collect();
    assert!(
        routes.len() >= 30,
        "the route list shrank: {}",
        routes.len()
    );
    for route in routes {
        let (method, path) = (route.method, concrete(route.path, &key));
        let reply = match method {
            "GET" => anonymous.get(&path).await,
            _ => anonymous.post(&path, &[("name", "x")]).await,
        };
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{method} {path}");
        assert!(
            location(&reply).starts_with("/sign-in"),
            "{method} {path} → {}",
            location(&reply)
        );
    }
    // A page asked for comes back after signing in.
    let reply = anonymous.get(&format!("/environments/{key}/keys")).await;
    assert_eq!(
        location(&reply),
        format!("/sign-in?next=%2Fenvironments%2F{key}%2Fkeys")
    );
    // Not a page at all: a page saying so, not JSON; the API keeps its JSON 404.
    let missing = anonymous.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(text(&missing).contains("There is no page here."));
    let api_missing = anonymous.get("/api/v1/no-such-thing/").await;
    assert_eq!(api_missing.status, StatusCode::NOT_FOUND);
    assert_eq!(api_missing.json["detail"], "Not found.");
    // Nothing was written by any of it.
    let (audited,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM audit_log WHERE resource = 'feature'")
            .fetch_one(&core.db)
            .await
            .unwrap();
    assert_eq!(audited, 0);
}

#[tokio::test]
async fn sign_in_sets_a_strict_cookie_and_sign_out_or_revocation_ends_the_session() {
    let core = Core::start().await;
    let mut visitor = Visitor::new(&core);

    // The sign-in page says how to get a key.
    let form = visitor.get("/sign-in").await;
    assert!(text(&form).contains("Admin key"));
    assert!(text(&form).contains("flagedge-core init"));
    assert!(
        form.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );

    let wrong = visitor.sign_in("abc.def").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(text(&wrong).contains("not valid"));

    // A form that did not come from the sign-in page (no double-submit cookie).
    let mut stranger = Visitor::new(&core);
    let forged = stranger
        .post(
            "/sign-in",
            &[("sign_in", "made-up"), ("key", &core.admin_key)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let signed_in = visitor.sign_in(&core.admin_key).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        text(&signed_in)
    );
    let cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("flagedge_session="))
        .expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    // The id is random and only its hash is stored.
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    assert!(id.len() >= 40);
    let (stored,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM console_sessions WHERE id_hash = $1")
            .bind(sha256(&id))
            .fetch_one(&core.db)
            .await
            .unwrap();
    assert_eq!(stored, 1);
    let home = visitor.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(text(&home).contains("Acme"));

    // Behind TLS (as a proxy reports it) the cookie is Secure.
    let mut secure = Visitor::new(&core);
    let form = core
        .get_with("/sign-in", "x-forwarded-proto", "https")
        .await;
    secure.keep_cookies(&form);
    let token = hidden(&text(&form), "sign_in");
    let body = serde_urlencoded::to_string([
        ("sign_in", token.as_str()),
        ("key", core.admin_key.as_str()),
    ])
    .unwrap();
    let cookie_header = secure.cookie_header();
    let reply = core
        .request(
            Method::POST,
            "/sign-in",
            &[
                ("cookie", &cookie_header),
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-forwarded-proto", "https"),
            ],
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.header("set-cookie").unwrap().contains("; Secure"));

    // Sign out needs the CSRF token, then ends the session.
    let refused = visitor.post("/sign-out", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let token = visitor.csrf("/").await;
    let out = visitor.post("/sign-out", &[("csrf", &token)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/sign-in");
    let mut replay = Visitor::new(&core);
    replay.cookies.push(("flagedge_session".into(), id));
    assert_eq!(replay.get("/").await.status, StatusCode::SEE_OTHER);

    // A key revoked (here: through the API) ends its sessions at once.
    let made = core.create_admin_key("ops").await;
    let ops_key = made["key"].as_str().unwrap().to_string();
    let mut ops = Visitor::new(&core);
    assert_eq!(ops.sign_in(&ops_key).await.status, StatusCode::SEE_OTHER);
    assert_eq!(ops.get("/").await.status, StatusCode::OK);
    let prefix = made["prefix"].as_str().unwrap();
    core.patch(
        &format!(
            "/api/v1/organisations/{}/master-api-keys/{prefix}/",
            core.organisation
        ),
        json!({"revoked": true}),
    )
    .await;
    assert_eq!(ops.get("/").await.status, StatusCode::SEE_OTHER);
}

fn sha256(text: &str) -> Vec<u8> {
    flagedge_core::keys::hash(text)
}

#[tokio::test]
async fn every_state_changing_route_refuses_a_missing_or_wrong_csrf_token() {
    let core = Core::start().await;
    let (_, key) = core.project_with_environment().await;
    let mut visitor = Visitor::new(&core);
    visitor.sign_in(&core.admin_key).await;
    let revision = core.revision(&key).await;
    let posts: Vec<_> = route_list()
        .into_iter()
        .filter(|r| r.signed_in && r.method == "POST")
        .collect();
    for route in &posts {
        let path = concrete(route.path, &key);
        for fields in [vec![("name", "x")], vec![("name", "x"), ("csrf", "forged")]] {
            let reply = visitor.post(&path, &fields).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "POST {path}");
            assert!(text(&reply).contains("CSRF"), "{path}: {}", text(&reply));
        }
    }
    assert_eq!(
        core.revision(&key).await,
        revision,
        "a refused form changed something"
    );
    // With the token, nonsense in every field is a page with a reason, never a 5xx.
    let csrf = visitor.csrf("/").await;
    let garbage = "\u{0}<x>'\"%;{}[]9999999999999999999999";
    for route in &posts {
        if route.path == "/sign-out" {
            continue;
        }
        let path = concrete(route.path, &key);
        let fields: Vec<(&str, &str)> = [
            "name",
            "value",
            "kind",
            "segment",
            "feature",
            "organisation",
            "default_percentage_allocation",
            "direction",
            "type@0",
            "operator@0/0",
            "weight_1",
            "trait_key",
            "identifier",
            "description",
        ]
        .into_iter()
        .map(|field| (field, garbage))
        .chain([
            ("csrf", csrf.as_str()),
            ("value_type", "number"),
            ("action", "save"),
        ])
        .collect();
        let reply = visitor.post(&path, &fields).await;
        assert!(
            !reply.status.is_server_error(),
            "POST {path}: {}: {}",
            reply.status,
            text(&reply)
        );
        assert!(
            !text(&reply).is_empty() || reply.status.is_redirection(),
            "POST {path}: an empty answer"
        );
    }
}

/// The environment's own state of the feature named `name`.
async fn state_of(core: &Core, key: &str, project: i64, name: &str) -> Value {
    let features = core
        .get(&format!(
            "/api/v1/projects/{project}/features/?search={name}"
        ))
        .await;
    let feature = features.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no feature {name}"));
    let states = core
        .get(&format!(
            "/api/v1/environments/{key}/featurestates/?feature={}",
            feature["id"]
        ))
        .await;
    states.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["feature_segment"].is_null())
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn console_writes_go_through_the_api_and_into_the_audit_log() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    let mut visitor = Visitor::new(&core);
    visitor.sign_in(&core.admin_key).await;
    let features = format!("/environments/{key}/features");
    let csrf = visitor.csrf(&features).await;

    // Create: the value is typed (a number stays a number).
    let revision = core.revision(&key).await;
    let created = visitor
        .post(
            &features,
            &[
                ("csrf", &csrf),
                ("name", "max_items"),
                ("value_type", "number"),
                ("value", "25"),
                ("description", "cart size"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", text(&created));
    let page = location(&created).to_string();
    assert!(core.revision(&key).await > revision);
    let state = state_of(&core, &key, project, "max_items").await;
    assert_eq!(state["feature_state_value"], json!(25));
    assert_eq!(state["enabled"], json!(false));

    // Toggle on: the checkbox's form says what it wants (posting twice keeps it on).
    let feature_id = page.rsplit('/').next().unwrap().to_string();
    for _ in 0..2 {
        let toggled = visitor
            .post(
                &format!("{page}/toggle"),
                &[
                    ("csrf", &csrf),
                    ("back", &features),
                    ("enabled", "false"),
                    ("enabled", "true"),
                ],
            )
            .await;
        assert_eq!(toggled.status, StatusCode::SEE_OTHER);
        assert_eq!(
            location(&toggled),
            format!("{features}#feature-{feature_id}")
        );
    }
    assert_eq!(
        state_of(&core, &key, project, "max_items").await["enabled"],
        json!(true)
    );

    // The value, as text, boolean, JSON; a bad number is an error beside the field.
    for (kind, value, expected) in [
        ("text", "blue", json!("blue")),
        ("boolean", "false", json!(false)),
        ("json", "{\"a\": [1]}", json!("{\"a\": [1]}")),
    ] {
        let saved = visitor
            .post(
                &format!("{page}/state"),
                &[
                    ("csrf", &csrf),
                    ("enabled", "false"),
                    ("enabled", "true"),
                    ("value_type", kind),
                    ("value", value),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", text(&saved));
        assert_eq!(
            state_of(&core, &key, project, "max_items").await["feature_state_value"],
            expected
        );
    }
    let bad = visitor
        .post(
            &format!("{page}/state"),
            &[("csrf", &csrf), ("value_type", "number"), ("value", "ten")],
        )
        .await;
    refused_saying(&bad, "&quot;ten&quot; is not a number.");

    // The page shows the feature, its value and its history.
    let shown = visitor.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK);
    let html = text(&shown);
    assert!(html.contains("max_items") && html.contains("cart size"));

    // Every write is in the audit log with the key's name, never its secret.
    let log = core
        .get(&format!(
            "/api/v1/audit-log/?environment={key}&resource=feature_state&action=updated"
        ))
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.json);
    let entries = log.json["results"].as_array().unwrap();
    // One toggle and three values: the repeated toggle changed nothing, so it is no entry.
    assert_eq!(entries.len(), 4, "{}", log.json);
    assert!(
        entries
            .iter()
            .all(|e| e["author"] == "test" && e["action"] == "updated")
    );
    let latest = &entries[0];
    assert_eq!(
        latest["after"]["feature_state_value"],
        json!("{\"a\": [1]}")
    );
    assert_eq!(latest["before"]["feature_state_value"], json!(false));
    assert!(
        !log.bytes
            .windows(core.admin_key.len())
            .any(|w| w == core.admin_key.as_bytes())
    );
    let by_feature = core
        .get(&format!(
            "/api/v1/audit-log/?feature={feature_id}&action=created"
        ))
        .await;
    assert!(
        by_feature.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource"] == "feature")
    );
    assert_eq!(
        core.get("/api/v1/audit-log/?action=renamed").await.status,
        StatusCode::BAD_REQUEST
    );
    let history = visitor.get(&format!("/environments/{key}/history")).await;
    assert!(text(&history).contains("feature_state_value"));

    // Writes through the API directly are audited too; SDK identify calls are not.
    let server_key = core.server_key(&key).await;
    let made: (i64,) =
        sqlx::query_as("SELECT count(*) FROM audit_log WHERE resource = 'server_key'")
            .fetch_one(&core.db)
            .await
            .unwrap();
    assert_eq!(made.0, 1);
    let key_logged: (i64,) =
        sqlx::query_as("SELECT count(*) FROM audit_log WHERE after::text LIKE '%' || $1 || '%'")
            .bind(&server_key)
            .fetch_one(&core.db)
            .await
            .unwrap();
    assert_eq!(
        key_logged.0, 0,
        "a server-side key's secret reached the audit log"
    );
    let identify = core
        .post_with("/api/v1/identities/", "x-environment-key", &key, serde_json::to_vec(&json!({"identifier": "alice", "traits": [{"trait_key": "plan", "trait_value": "pro"}]})).unwrap())
        .await;
    assert!(
        identify.status.is_success() || identify.status == StatusCode::NOT_FOUND,
        "{}",
        identify.status
    );
    let sdk: (i64,) =
        sqlx::query_as("SELECT count(*) FROM audit_log WHERE resource IN ('identity', 'trait')")
            .fetch_one(&core.db)
            .await
            .unwrap();
    assert_eq!(sdk.0, 0);

    // Delete asks first, then deletes.
    let confirm = visitor.get(&format!("{page}/delete")).await;
    assert!(text(&confirm).contains("cannot be undone"));
    let deleted = visitor
        .post(&format!("{page}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let gone = core
        .get(&format!(
            "/api/v1/projects/{project}/features/{feature_id}/"
        ))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn names_and_values_are_escaped_and_mistakes_are_pages_with_reasons() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    core.create(
        &format!("/api/v1/projects/{project}/features/"),
        json!({"name": "<script>alert(1)</script>", "initial_value": "<img src=x onerror=alert(2)>", "description": "\"quoted\" & <b>bold</b>"}),
    )
    .await;
    let mut visitor = Visitor::new(&core);
    visitor.sign_in(&core.admin_key).await;
    let list = visitor.get(&format!("/environments/{key}/features")).await;
    let html = text(&list);
    assert!(!html.contains("<script>alert"), "unescaped name");
    assert!(!html.contains("<img src=x"), "unescaped value");
    assert!(!html.contains("<b>bold"), "unescaped description");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));

    let csrf = hidden(&html, "csrf");
    let features = format!("/environments/{key}/features");
    // A duplicate name: the API's message beside the field, 400, the form kept.
    let duplicate = visitor
        .post(
            &features,
            &[
                ("csrf", &csrf),
                ("name", "<script>alert(1)</script>"),
                ("value_type", "text"),
                ("value", ""),
            ],
        )
        .await;
    refused_saying(&duplicate, "already exists");

    // Multivariate weights over 100 % are refused with the field's error.
    let created = visitor
        .post(
            &features,
            &[
                ("csrf", &csrf),
                ("name", "colour"),
                ("value_type", "text"),
                ("value", "red"),
            ],
        )
        .await;
    let page = location(&created).to_string();
    for value in ["green", "blue"] {
        let added = visitor
            .post(
                &format!("{page}/options"),
                &[
                    ("csrf", &csrf),
                    ("option_value_type", "text"),
                    ("option_value", value),
                    ("default_percentage_allocation", "30"),
                ],
            )
            .await;
        assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", text(&added));
    }
    let shown = text(&visitor.get(&page).await);
    let weights: Vec<String> = shown
        .match_indices("name=\"weight_")
        .map(|(at, _)| shown[at + 13..].split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(weights.len(), 2, "{shown}");
    let over = visitor
        .post(
            &format!("{page}/state"),
            &[
                ("csrf", &csrf),
                ("value_type", "text"),
                ("value", "red"),
                (&format!("weight_{}", weights[0]), "60"),
                (&format!("weight_{}", weights[1]), "50"),
            ],
        )
        .await;
    refused_saying(&over, "at most 100");

    // A segment whose regex does not compile: the engine's reason beside the value.
    let segments = format!("/environments/{key}/segments");
    let refused = visitor
        .post(
            &segments,
            &[
                ("csrf", &csrf),
                ("name", "broken"),
                ("type@0", "ALL"),
                ("type@0.0", "ANY"),
                ("property@0.0/0", "email"),
                ("operator@0.0/0", "REGEX"),
                ("value@0.0/0", "(unclosed"),
                ("action", "save"),
            ],
        )
        .await;
    refused_saying(&refused, "Not a valid regular expression");
    // Editing the tree re-renders without saving; saving a good one creates it.
    let grown = visitor
        .post(
            &segments,
            &[
                ("csrf", &csrf),
                ("name", "pro"),
                ("type@0", "ALL"),
                ("property@0/0", "plan"),
                ("operator@0/0", "EQUAL"),
                ("value@0/0", "pro"),
                ("action", "add-rule@0"),
            ],
        )
        .await;
    assert_eq!(grown.status, StatusCode::OK);
    assert!(text(&grown).contains("name=\"type@0.0\""));
    let saved = visitor
        .post(
            &segments,
            &[
                ("csrf", &csrf),
                ("name", "pro"),
                ("type@0", "ALL"),
                ("property@0/0", "plan"),
                ("operator@0/0", "EQUAL"),
                ("value@0/0", "pro"),
                ("type@0.0", "NONE"),
                ("property@0.0/0", "version"),
                ("operator@0.0/0", "IS_SET"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", text(&saved));
    let stored = core
        .get(&format!("/api/v1/projects/{project}/segments/"))
        .await;
    let rules = &stored.json["results"][0]["rules"];
    assert_eq!(rules[0]["conditions"][0]["value"], "pro");
    assert_eq!(rules[0]["rules"][0]["type"], "NONE");
    assert_eq!(rules[0]["rules"][0]["conditions"][0]["operator"], "IS_SET");

    // Pages of things that are not there are 404 pages, not 5xx.
    for path in [
        format!("/environments/{key}/features/999999"),
        "/environments/no-such-key/features".to_string(),
        format!("/environments/{key}/segments/999999"),
        format!("/environments/{key}/identities/999999"),
    ] {
        let reply = visitor.get(&path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(text(&reply).contains("<h1>404"), "{path}");
    }
}

#[tokio::test]
async fn test_an_identity_explains_and_usage_shows_what_was_counted() {
    let core = Core::start().await;
    let (project, key) = core.project_with_environment().await;
    let feature = core
        .create(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": "banner", "initial_value": "plain"}),
        )
        .await;
    let segment = core
        .create(
            &format!("/api/v1/projects/{project}/segments/"),
            json!({"name": "gold", "rules": [{"type": "ALL", "rules": [], "conditions": [
                {"operator": "EQUAL", "property": "plan", "value": "gold"}]}]}),
        )
        .await;
    let environment = core.get(&format!("/api/v1/environments/{key}/")).await.json;
    let link = core
        .create(
            "/api/v1/features/feature-segments/",
            json!({"feature": feature["id"], "segment": segment["id"], "environment": environment["id"]}),
        )
        .await;
    core.create(
        &format!("/api/v1/environments/{key}/featurestates/"),
        json!({"feature_segment": link["id"], "enabled": true, "feature_state_value": "shiny"}),
    )
    .await;
    let mut visitor = Visitor::new(&core);
    visitor.sign_in(&core.admin_key).await;

    let explained = visitor
        .get(&format!(
            "/environments/{key}/explain?identifier=alice&traits=plan%3Dgold%0Aage%3D42"
        ))
        .await;
    assert_eq!(explained.status, StatusCode::OK);
    let html = text(&explained);
    assert!(html.contains("shiny"), "{html}");
    assert!(html.contains("gold (key"), "{html}");
    assert!(
        html.contains("✓ plan EQUAL &quot;gold&quot; — read &quot;gold&quot; (string)"),
        "{html}"
    );
    let other = text(
        &visitor
            .get(&format!(
                "/environments/{key}/explain?identifier=bob&traits=plan%3Dfree"
            ))
            .await,
    );
    assert!(
        other.contains("✗ plan EQUAL") && !other.contains(">shiny<"),
        "{other}"
    );
    let bad = visitor
        .get(&format!(
            "/environments/{key}/explain?identifier=x&traits=no-equals-sign"
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(text(&bad).contains("Not key=value"));

    // Evaluations an SDK reported (v1) appear on the usage page, summed.
    for _ in 0..2 {
        let reply = core
            .post_with(
                "/api/v1/analytics/flags/",
                "x-environment-key",
                &key,
                serde_json::to_vec(&json!({"banner": 5})).unwrap(),
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.status);
    }
    let usage = visitor.get(&format!("/environments/{key}/usage")).await;
    assert_eq!(usage.status, StatusCode::OK);
    let html = text(&usage);
    assert!(html.contains("data-total=\"10\""), "{html}");
    assert!(
        html.contains("<th>banner</th>"),
        "the series is named: {html}"
    );
    assert!(
        html.contains("No SDK API calls in the last hour."),
        "{html}"
    );
    assert!(html.contains("<desc>"), "the chart describes itself");
    for period in ["day", "month"] {
        let reply = visitor
            .get(&format!("/environments/{key}/usage?period={period}"))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(text(&reply).contains("data-total=\"10\""), "{period}");
    }
    let one = text(
        &visitor
            .get(&format!("/environments/{key}/usage?feature=banner"))
            .await,
    );
    assert!(one.contains("data-total=\"10\""));
    let none = text(
        &visitor
            .get(&format!("/environments/{key}/usage?feature=other"))
            .await,
    );
    assert!(none.contains("No flag evaluations in the last hour."));
    assert_eq!(
        visitor
            .get(&format!("/environments/{key}/usage?period=year"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn the_fleet_compares_each_edges_report_with_the_current_revisions() {
    let core = Core::start().await;
    let (_, key) = core.project_with_environment().await;
    let current = core.revision(&key).await;
    // Reports as flagedge-sync writes them (sync's own test covers that write).
    for (edge, region, served, seen_ago) in [
        ("edge-a", "eu", current, 1),
        ("edge-b", "us", current - 1, 2),
        ("edge-c", "ap", current, 120),
    ] {
        sqlx::query(
            "INSERT INTO edge_reports (edge_id, region, version, reported_at, received_at, environments) \
             VALUES ($1, $2, '0.1.0', now(), now() - make_interval(secs => $4), $3)",
        )
        .bind(edge)
        .bind(region)
        .bind(json!([
            {"environment_key": key, "revision": served, "updated_at": "2026-01-01T00:00:00.000000+00:00", "confirmed_secs_ago": 1},
            {"environment_key": "someone-elses", "revision": 3, "confirmed_secs_ago": 1}
        ]))
        .bind(seen_ago as f64)
        .execute(&core.analytics)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO edge_reports (edge_id, region, version, reported_at, received_at, environments) \
         VALUES ('edge-gone', 'eu', '0.1.0', now(), now() - interval '2 hours', '[]')",
    )
    .execute(&core.analytics)
    .await
    .unwrap();

    let fleet = core.get("/api/v1/edges/").await;
    assert_eq!(fleet.status, StatusCode::OK, "{}", fleet.json);
    let edges = fleet.json["results"].as_array().unwrap();
    let names: Vec<&str> = edges
        .iter()
        .map(|e| e["edge_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["edge-c", "edge-a", "edge-b"],
        "seen within 15 minutes, by region"
    );
    let ours = |edge: &Value| {
        edge["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["environment_key"] == key.as_str())
            .cloned()
            .unwrap()
    };
    assert_eq!(ours(&edges[1])["current"], true);
    assert_eq!(ours(&edges[2])["current"], false);
    assert_eq!(ours(&edges[2])["revisions_behind"], 1);
    assert_eq!(edges[0]["stale"], true, "silent for 120 s");
    assert_eq!(edges[1]["stale"], false);
    // The instance-wide key sees the environment core does not know, marked so.
    assert!(
        edges[1]["environments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["known"] == false)
    );
    let narrow = core
        .get("/api/v1/edges/?stale_after=600&seen_within=60")
        .await;
    assert_eq!(narrow.json["count"], 2);
    assert!(
        narrow.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["stale"] == false)
    );
    assert_eq!(
        core.get("/api/v1/edges/?stale_after=0").await.status,
        StatusCode::BAD_REQUEST
    );

    // A key limited to another organisation sees none of these edges.
    let other = core.other_organisation().await;
    let limited = core
        .create(
            &format!("/api/v1/organisations/{other}/master-api-keys/"),
            json!({"name": "other"}),
        )
        .await;
    let theirs = core
        .request(
            Method::GET,
            "/api/v1/edges/",
            &[(
                "authorization",
                &format!("Api-Key {}", limited["key"].as_str().unwrap()),
            )],
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert_eq!(theirs.json["count"], 0, "{}", theirs.json);

    // The console: the fleet page, and the environment's summary.
    let mut visitor = Visitor::new(&core);
    visitor.sign_in(&core.admin_key).await;
    let page = text(&visitor.get("/fleet").await);
    assert!(page.contains("edge-a") && page.contains("edge-b") && page.contains("edge-c"));
    assert!(page.contains("behind 1 revision"), "{page}");
    assert!(page.contains("stale"), "{page}");
    let features = text(&visitor.get(&format!("/environments/{key}/features")).await);
    assert!(
        features.contains("<strong>1</strong> of 2 serve its current revision"),
        "{features}"
    );
}
