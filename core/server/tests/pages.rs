//! Paged environment documents (SPEC §8.1): `GET /api/v1/environment-document/`
//! with more identity overrides than `--document-page-size` is served in
//! pages linked by `Link: <…?page_id=identity_override:<env id>:<cursor>>;
//! rel="next"`; every override exactly once, every other field identical; bad
//! or foreign page ids are 4xx; unpaged bodies are serde_json's compact
//! output, byte for byte, as before pages existed.

mod support;

use std::collections::BTreeSet;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Core, Reply};

/// The identifiers: byte order differs from insertion order, and some carry
/// characters a URL would need escaped.
const IDENTIFIERS: [&str; 7] = [
    "zoe",
    "alice",
    "bob:1",
    "ünïcödé",
    "carol smith",
    "dave/&?=#",
    "Eve",
];

struct Fixture {
    client_key: String,
    server_key: String,
    environment_id: i64,
}

/// An environment whose document carries one identity override per identifier.
async fn fixture(core: &Core, identifiers: &[&str]) -> Fixture {
    let (project, client_key) = core.project_with_environment().await;
    let feature = core
        .create(
            &format!("/api/v1/projects/{project}/features/"),
            json!({"name": "banner", "initial_value": "default", "default_enabled": true}),
        )
        .await;
    let env = core
        .patch(
            &format!("/api/v1/environments/{client_key}/"),
            json!({"use_identity_overrides_in_local_eval": true}),
        )
        .await;
    assert_eq!(env.status, StatusCode::OK, "{}", env.json);
    core.create_overridden_identities(&client_key, &feature["id"], identifiers)
        .await;
    let server_key = core.server_key(&client_key).await;
    Fixture {
        environment_id: env.json["id"].as_i64().unwrap(),
        client_key,
        server_key,
    }
}

async fn get(core: &Core, path: &str, key: &str, extra: &[(&str, &str)]) -> Reply {
    let mut headers = vec![("x-environment-key", key)];
    headers.extend_from_slice(extra);
    core.request(Method::GET, path, &headers, None).await
}

/// The path in `Link: <path>; rel="next"`.
fn next_link(reply: &Reply) -> Option<String> {
    let link = reply.header("link")?;
    let (target, params) = link.split_once(';').expect("Link has parameters");
    assert_eq!(params.trim(), "rel=\"next\"", "{link}");
    Some(
        target
            .trim()
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .expect("<target>")
            .to_string(),
    )
}

fn identifiers(document: &Value) -> Vec<String> {
    document["identity_overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["identifier"].as_str().unwrap().to_string())
        .collect()
}

fn without_overrides(document: &Value) -> Value {
    let mut document = document.clone();
    document["identity_overrides"] = json!(null);
    document
}

/// Whether `bytes` are exactly what serde_json's compact writer makes of them,
/// as the whole body was before pages existed.
fn is_compact_serde_json(bytes: &[u8]) -> bool {
    let value: Value = serde_json::from_slice(bytes).unwrap();
    serde_json::to_vec(&value).unwrap() == bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_documents_are_served_in_linked_pages() {
    let core = Core::start_paged(3).await;
    let f = fixture(&core, &IDENTIFIERS).await;
    let path = "/api/v1/environment-document/";

    // Page one: the first three overrides, the validators and a Link.
    let first = get(&core, path, &f.server_key, &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert_eq!(first.header("content-type"), Some("application/json"));
    let etag = first
        .header("etag")
        .expect("page one has an ETag")
        .to_string();
    assert!(first.header("last-modified").is_some());
    assert_eq!(identifiers(&first.json).len(), 3);
    let link = next_link(&first).expect("page one links to page two");
    let prefix = format!(
        "/api/v1/environment-document/?page_id=identity_override:{}:",
        f.environment_id
    );
    assert!(link.starts_with(&prefix), "{link}");

    // Follow the links to the end.
    let mut pages = vec![first.json.clone()];
    let mut next = Some(link);
    while let Some(link) = next {
        let page = get(&core, &link, &f.server_key, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{link}: {}", page.json);
        assert_eq!(page.header("content-type"), Some("application/json"));
        assert!(page.header("etag").is_none(), "later pages carry no ETag");
        pages.push(page.json.clone());
        next = next_link(&page);
        assert!(pages.len() <= 10, "the links never end");
    }
    assert_eq!(pages.len(), 3);
    let sizes: Vec<usize> = pages.iter().map(|p| identifiers(p).len()).collect();
    assert_eq!(sizes, [3, 3, 1]);

    // Every override exactly once, in identifier (byte) order; everything else identical.
    let served: Vec<String> = pages.iter().flat_map(identifiers).collect();
    let mut expected: Vec<String> = IDENTIFIERS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(served, expected);
    for page in &pages {
        assert_eq!(without_overrides(page), without_overrides(&pages[0]));
        for o in page["identity_overrides"].as_array().unwrap() {
            assert_eq!(
                o["identity_features"][0]["feature_state_value"],
                format!("for {}", o["identifier"].as_str().unwrap())
            );
        }
    }
    // The pages merged are the whole document, as the edge endpoint serves it.
    let whole = core
        .sync(&format!(
            "/api/v1/edge/environments/{}/document",
            f.client_key
        ))
        .await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(
        whole.header("link").is_none(),
        "the edge endpoint never pages"
    );
    let mut merged = pages[0].clone();
    merged["identity_overrides"] = pages
        .iter()
        .flat_map(|p| p["identity_overrides"].as_array().unwrap().clone())
        .collect();
    assert_eq!(merged, whole.json);
    assert!(is_compact_serde_json(&whole.bytes));

    // Conditional requests: page one revalidates; later pages are served in full.
    let r = get(&core, path, &f.server_key, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.bytes.is_empty());
    let second = next_link(&first).unwrap();
    let r = get(&core, &second, &f.server_key, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(identifiers(&r.json), identifiers(&pages[1]));
    let last_modified = first.header("last-modified").unwrap().to_string();
    let r = get(
        &core,
        &second,
        &f.server_key,
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // A cursor stays meaningful across revisions: after a new override sorts
    // before it, page two still starts after page one's last identifier.
    let page_one_last = identifiers(&pages[0]).last().unwrap().clone();
    let identity = core
        .create(
            &format!("/api/v1/environments/{}/identities/", f.client_key),
            json!({"identifier": "AAA first"}),
        )
        .await;
    let features = core
        .get(&format!(
            "/api/v1/projects/{}/features/",
            pages[0]["project"]["id"]
        ))
        .await;
    core.create(
        &format!(
            "/api/v1/environments/{}/identities/{}/featurestates/",
            f.client_key, identity["id"]
        ),
        json!({"feature": features.json["results"][0]["id"], "enabled": false}),
    )
    .await;
    let r = get(&core, &second, &f.server_key, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json["revision"].as_u64() > pages[0]["revision"].as_u64());
    assert!(
        identifiers(&r.json)
            .iter()
            .all(|id| id.as_str() > page_one_last.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_foreign_page_ids_are_4xx_with_json_bodies() {
    let core = Core::start_paged(3).await;
    let f = fixture(&core, &IDENTIFIERS).await;
    let other = fixture(&core, &["x"]).await;
    let base = "/api/v1/environment-document/?page_id=";
    for (page_id, status) in [
        ("garbage".to_string(), StatusCode::BAD_REQUEST),
        ("identity_override:".to_string(), StatusCode::BAD_REQUEST),
        (
            format!("identity_override:{}", f.environment_id),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("identity_override:{}:", f.environment_id),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("identity_override:{}:zz", f.environment_id),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("identity_override:{}:abc", f.environment_id),
            StatusCode::BAD_REQUEST,
        ),
        // Hex of bytes that are not UTF-8.
        (
            format!("identity_override:{}:ff", f.environment_id),
            StatusCode::BAD_REQUEST,
        ),
        (
            "identity_override:x:61".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "identity_override:99999999999999999999:61".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        ("%ZZ".to_string(), StatusCode::BAD_REQUEST),
        (
            "identity_override:1%00:61".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        // Another environment's page, or one that never existed.
        (
            format!("identity_override:{}:61", other.environment_id),
            StatusCode::NOT_FOUND,
        ),
        ("identity_override:0:61".to_string(), StatusCode::NOT_FOUND),
        ("identity_override:-5:61".to_string(), StatusCode::NOT_FOUND),
    ] {
        let r = get(&core, &format!("{base}{page_id}"), &f.server_key, &[]).await;
        assert_eq!(r.status, status, "{page_id}: {}", r.json);
        assert!(r.json.is_object(), "{page_id}: a JSON body");
        if status == StatusCode::BAD_REQUEST && page_id != "%ZZ" {
            assert!(r.json["page_id"].is_array(), "{page_id}: {}", r.json);
        } else {
            assert!(r.json["detail"].is_string(), "{page_id}: {}", r.json);
        }
    }
    // The other environment's own key reads its own page; this key cannot.
    let own = format!("{base}identity_override:{}:61", other.environment_id);
    let r = get(&core, &own, &other.server_key, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(identifiers(&r.json), ["x"]);
    assert!(r.header("link").is_none());
    // Without a valid key, a page is 403 whatever the page_id.
    for key in ["", "ser.nope", f.client_key.as_str()] {
        let r = get(&core, &format!("{base}garbage"), key, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{key}");
        let r = get(&core, &own, key, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{key}");
    }
    // A cursor past the last identifier: the environment with no overrides.
    // (U+10FFFF, which sorts after every identifier.)
    let past = format!("{base}identity_override:{}:f48fbfbf", f.environment_id);
    let r = get(&core, &past, &f.server_key, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["identity_overrides"], json!([]));
    assert_eq!(r.json["api_key"], f.client_key.as_str());
    assert!(r.header("link").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_within_the_page_size_or_with_paging_off_are_whole() {
    for page_size in [0, 7, 1000] {
        let core = Core::start_paged(page_size).await;
        let f = fixture(&core, &IDENTIFIERS).await;
        let r = get(&core, "/api/v1/environment-document/", &f.server_key, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{page_size}");
        assert!(r.header("link").is_none(), "{page_size}");
        assert!(r.header("etag").is_some());
        assert_eq!(identifiers(&r.json).len(), 7);
        assert!(is_compact_serde_json(&r.bytes), "{page_size}");
        // Byte for byte the whole document the edge endpoint serves.
        let whole = core
            .sync(&format!(
                "/api/v1/edge/environments/{}/document",
                f.client_key
            ))
            .await;
        assert_eq!(r.bytes, whole.bytes, "{page_size}");
        // A page id still works: everything after the cursor, unlinked.
        let after_alice = format!(
            "/api/v1/environment-document/?page_id=identity_override:{}:{}",
            f.environment_id,
            "alice"
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let r = get(&core, &after_alice, &f.server_key, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        let rest: BTreeSet<String> = identifiers(&r.json).into_iter().collect();
        // "Eve" sorts before "alice" (byte order), the five others after.
        assert_eq!(rest.len(), 5, "{page_size}: {rest:?}");
        assert!(!rest.contains("alice") && !rest.contains("Eve"));
        assert!(r.header("link").is_none());
    }
    // One override over the page size: paged.
    let core = Core::start_paged(6).await;
    let f = fixture(&core, &IDENTIFIERS).await;
    let r = get(&core, "/api/v1/environment-document/", &f.server_key, &[]).await;
    assert!(r.header("link").is_some());
    assert_eq!(identifiers(&r.json).len(), 6);
}
