//! Edges reading what flagedge-sync publishes to S3 and DynamoDB, and keeping
//! identities in DynamoDB — against a real S3/DynamoDB stand-in (moto's server).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use flagedge_cloud::dynamo::{DocumentTable, create_tables};
use flagedge_cloud::manifest::Entry;
use flagedge_cloud::s3::S3Store;
use flagedge_cloud::testing::Moto;
use flagedge_options::PublishedArgs;
use http::StatusCode;
use serde_json::json;
use support::*;

/// An edge reading `published`, polling every 0.1 s.
fn reading(published: PublishedArgs) -> Options {
    Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        published,
        poll_interval_secs: Some(0.1),
        ..Options::default()
    }
}

async fn start_with(moto: &Moto, options: Options) -> flagedge_edge::Edge {
    let mut config = flagedge_edge::config::Config::resolve(options).unwrap();
    config.aws = moto.options();
    flagedge_edge::start(config, None).await.unwrap()
}

fn keys() -> BTreeMap<String, String> {
    BTreeMap::from([(SHOP_SERVER.to_string(), SHOP_CLIENT.to_string())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_follow_documents_published_to_s3() {
    let moto = Moto::start();
    let sdk = flagedge_cloud::aws::sdk_config(&moto.options()).await;
    let client = flagedge_cloud::aws::s3(&sdk);
    client
        .create_bucket()
        .bucket("published")
        .send()
        .await
        .unwrap();
    let store = S3Store::new(client, "published", "flagedge");
    let publish = |revision: u64, value: i64| {
        let store = store.clone();
        async move {
            store
                .put_document(
                    SHOP_CLIENT,
                    revision,
                    Bytes::from(shop_with(value, json!({"revision": revision})).to_string()),
                )
                .await
                .unwrap();
            store
                .update_manifest(|m| {
                    m.record(
                        SHOP_CLIENT,
                        Entry {
                            revision,
                            updated_at: None,
                        },
                    ) | m.set_server_keys(keys())
                })
                .await
                .unwrap();
        }
    };
    publish(1, 31).await;
    let edge = start_with(
        &moto,
        Options {
            // A change stream that is down: the poll (the safety net) still serves.
            push_url: Some(format!("http://{}/api/v1/changes", closed_port())),
            push_token: Some("token".into()),
            ..reading(PublishedArgs::s3("published"))
        },
    )
    .await;
    eventually(Duration::from_secs(10), || async {
        get(edge.address, "/ready", "").await.status == StatusCode::OK
    })
    .await;
    assert_eq!(max_cart_items(&edge).await, 31);
    assert_eq!(
        get(edge.address, "/api/v1/environment-document/", SHOP_SERVER)
            .await
            .status,
        StatusCode::OK,
        "server keys from the manifest"
    );
    publish(2, 32).await;
    eventually(Duration::from_secs(10), || async {
        max_cart_items(&edge).await == 32
    })
    .await;
    let metrics =
        String::from_utf8_lossy(&get(edge.address, "/metrics", "").await.body).into_owned();
    assert!(
        metrics.contains("flagedge_push_reconnects_total{feed=\"sync\"}")
            && metrics.contains("flagedge_push_connected{feed=\"sync\"} 0")
            && metrics
                .contains("flagedge_documents_fetched_total{source=\"s3\",reason=\"poll\"} 2"),
        "{metrics}"
    );
    edge.shutdown();
}

/// A manifest whose revision goes down (a store restored, a bogus revision taken
/// back) is followed: the document is fetched and the loader's order decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_moves_back_is_followed() {
    let moto = Moto::start();
    let sdk = flagedge_cloud::aws::sdk_config(&moto.options()).await;
    let client = flagedge_cloud::aws::s3(&sdk);
    client
        .create_bucket()
        .bucket("restored")
        .send()
        .await
        .unwrap();
    let store = S3Store::new(client, "restored", "flagedge");
    let set_manifest = |revision: u64| {
        let store = store.clone();
        async move {
            store
                .update_manifest(|m| {
                    m.environments.insert(
                        SHOP_CLIENT.to_string(),
                        Entry {
                            revision,
                            updated_at: None,
                        },
                    );
                    m.set_server_keys(keys());
                    true
                })
                .await
                .unwrap();
        }
    };
    store
        .put_document(
            SHOP_CLIENT,
            1,
            Bytes::from(shop_with(31, json!({"revision": 1})).to_string()),
        )
        .await
        .unwrap();
    set_manifest(1).await;
    let edge = start_with(&moto, reading(PublishedArgs::s3("restored"))).await;
    eventually(Duration::from_secs(10), || async {
        max_cart_items(&edge).await == 31
    })
    .await;
    // A bogus revision in the manifest: the same document is fetched, nothing changes.
    set_manifest(1000).await;
    let fetched = || async {
        let metrics =
            String::from_utf8_lossy(&get(edge.address, "/metrics", "").await.body).into_owned();
        metrics
            .lines()
            .find(|l| {
                l.starts_with("flagedge_documents_fetched_total{source=\"s3\",reason=\"poll\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    eventually(Duration::from_secs(10), || async { fetched().await >= 2 }).await;
    assert_eq!(max_cart_items(&edge).await, 31);
    // Taken back, and the next real revision published below it.
    store
        .put_document(
            SHOP_CLIENT,
            2,
            Bytes::from(shop_with(32, json!({"revision": 2})).to_string()),
        )
        .await
        .unwrap();
    set_manifest(2).await;
    eventually(Duration::from_secs(10), || async {
        max_cart_items(&edge).await == 32
    })
    .await;
    edge.shutdown();
}

/// A local port nothing listens on.
fn closed_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_follow_documents_published_to_dynamodb() {
    let moto = Moto::start();
    let sdk = flagedge_cloud::aws::sdk_config(&moto.options()).await;
    let dynamodb = flagedge_cloud::aws::dynamodb(&sdk);
    create_tables(&dynamodb, "environments", None)
        .await
        .unwrap();
    let table = DocumentTable::new(dynamodb, "environments", None);
    let publish = |revision: u64, value: i64| {
        let table = table.clone();
        async move {
            table
                .put_document(
                    shop_with(value, json!({"revision": revision}))
                        .as_object()
                        .unwrap(),
                )
                .await
                .unwrap();
            table
                .record(
                    SHOP_CLIENT,
                    &Entry {
                        revision,
                        updated_at: None,
                    },
                )
                .await
                .unwrap();
            table.set_server_keys(&keys()).await.unwrap();
        }
    };
    publish(5, 51).await;
    let edge = start_with(&moto, reading(PublishedArgs::dynamodb("environments"))).await;
    eventually(Duration::from_secs(10), || async {
        max_cart_items(&edge).await == 51
    })
    .await;
    assert_eq!(
        get(edge.address, "/api/v1/environment-document/", SHOP_SERVER)
            .await
            .status,
        StatusCode::OK
    );
    publish(6, 52).await;
    eventually(Duration::from_secs(10), || async {
        max_cart_items(&edge).await == 52
    })
    .await;
    edge.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_are_kept_in_dynamodb_for_every_edge() {
    let moto = Moto::start();
    let sdk = flagedge_cloud::aws::sdk_config(&moto.options()).await;
    create_tables(
        &flagedge_cloud::aws::dynamodb(&sdk),
        "unused",
        Some("identities"),
    )
    .await
    .unwrap();
    let options = || Options {
        identity_store: Some(flagedge_edge::config::IdentityStoreKind::Dynamodb),
        identity_table: Some("identities".into()),
        ..file_options(&shop_dir("dynamo-identities"))
    };
    let first = start_with(&moto, options()).await;
    let reply = post_json(
        first.address,
        "/api/v1/identities/",
        SHOP_CLIENT,
        &json!({"identifier": "erin", "traits": [
            {"trait_key": "plan", "trait_value": "pro"},
            {"trait_key": "seen", "trait_value": "today", "transient": true}
        ]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // The same edge answers from its cache at once.
    let cached = shop_identity(first.address, "erin").await;
    assert_eq!(
        cached["traits"],
        json!([{"trait_key": "plan", "trait_value": "pro"}])
    );
    // Another edge, with an empty cache, reads what the first one wrote.
    let second = start_with(&moto, options()).await;
    eventually(Duration::from_secs(10), || async {
        shop_identity(second.address, "erin").await["traits"]
            == json!([{"trait_key": "plan", "trait_value": "pro"}])
    })
    .await;
    let flags = shop_identity(second.address, "erin").await;
    let checkout = flags["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"]["name"] == "new_checkout")
        .unwrap()
        .clone();
    assert_eq!(
        checkout["feature_state_value"], "v2",
        "evaluated with the stored trait"
    );
    first.shutdown();
    second.shutdown();
}
