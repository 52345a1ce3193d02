//! The published formats against a real S3/DynamoDB stand-in (moto's server).

use std::collections::BTreeMap;

use bytes::Bytes;
use flagedge_cloud::dynamo::{DocumentTable, IdentityRecord, IdentityTable, create_tables};
use flagedge_cloud::manifest::{Entry, Manifest};
use flagedge_cloud::s3::{ManifestPoll, S3Store};
use flagedge_cloud::testing::Moto;
use flagedge_cloud::{Written, aws};
use serde_json::{Value, json};

/// Another writer of the same bucket (its own memory of what it wrote).
async fn s3_writer(moto: &Moto, bucket: &str) -> S3Store {
    let config = aws::sdk_config(&moto.options()).await;
    S3Store::new(aws::s3(&config), bucket, "flagedge")
}

async fn s3_store(moto: &Moto, bucket: &str) -> S3Store {
    let config = aws::sdk_config(&moto.options()).await;
    let client = aws::s3(&config);
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket");
    S3Store::new(client, bucket, "flagedge")
}

/// A document body naming its revision.
fn doc(revision: u64) -> Bytes {
    Bytes::from(format!("{{\"r\":{revision}}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_documents_only_move_forward() {
    let moto = Moto::start();
    let store = s3_store(&moto, "docs").await;
    // A revision is stored once; an older or the same one again is stale.
    for (revision, written) in [
        (5, Written::Stored),
        (4, Written::Stale),
        (5, Written::Stale),
    ] {
        let outcome = store.put_document("env1", revision, doc(revision)).await;
        assert_eq!(outcome.unwrap(), written, "revision {revision}");
    }
    assert_eq!(&store.get_document("env1").await.unwrap()[..], b"{\"r\":5}");
    assert_eq!(
        store.document_key("env1"),
        "flagedge/environments/env1.json"
    );

    // A writer whose memory of the object is out of date (someone wrote since)
    // neither regresses it nor fails to move it forward.
    let other = s3_writer(&moto, "docs").await;
    let writes = [
        (&store, 50, Written::Stored, 50),
        (&other, 60, Written::Stored, 60),
        (&store, 55, Written::Stale, 60),
        (&store, 70, Written::Stored, 70),
        (&other, 65, Written::Stale, 70),
    ];
    for (writer, revision, written, stored) in writes {
        let outcome = writer.put_document("env3", revision, doc(revision)).await;
        assert_eq!(outcome.unwrap(), written, "revision {revision}");
        let body = store.get_document("env3").await.unwrap();
        assert_eq!(body, doc(stored), "after revision {revision}");
    }

    // Two writers racing with interleaved revisions: the newest always wins.
    let (a, b) = (
        s3_writer(&moto, "docs").await,
        s3_writer(&moto, "docs").await,
    );
    let odd = tokio::spawn(async move {
        for r in (7..40).step_by(2) {
            a.put_document("env2", r, doc(r)).await.unwrap();
        }
    });
    let even = tokio::spawn(async move {
        for r in (6..=38u32).rev().step_by(2).map(u64::from) {
            b.put_document("env2", r, doc(r)).await.unwrap();
        }
    });
    odd.await.unwrap();
    even.await.unwrap();
    assert_eq!(
        &store.get_document("env2").await.unwrap()[..],
        b"{\"r\":39}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_manifest_is_merged_and_polled_by_etag() {
    let moto = Moto::start();
    let store = s3_store(&moto, "manifest").await;
    assert!(matches!(
        store.poll_manifest(None).await.unwrap(),
        ManifestPoll::Missing
    ));
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .update_manifest(|m| {
                        m.record(
                            &format!("env{i}"),
                            Entry {
                                revision: 10 + i,
                                updated_at: None,
                            },
                        )
                    })
                    .await
                    .unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let ManifestPoll::Changed(manifest, etag) = store.poll_manifest(None).await.unwrap() else {
        panic!("manifest expected")
    };
    assert_eq!(
        manifest.environments.len(),
        6,
        "concurrent writers all recorded"
    );
    assert!(matches!(
        store.poll_manifest(Some(&etag)).await.unwrap(),
        ManifestPoll::Unchanged
    ));
    // An older revision changes nothing (and writes nothing).
    store
        .update_manifest(|m| {
            m.record(
                "env0",
                Entry {
                    revision: 1,
                    updated_at: None,
                },
            )
        })
        .await
        .unwrap();
    assert!(matches!(
        store.poll_manifest(Some(&etag)).await.unwrap(),
        ManifestPoll::Unchanged
    ));
    store
        .update_manifest(|m| {
            m.set_server_keys(BTreeMap::from([("ser.x".to_string(), "env0".to_string())]))
        })
        .await
        .unwrap();
    let ManifestPoll::Changed(updated, _) = store.poll_manifest(Some(&etag)).await.unwrap() else {
        panic!("changed")
    };
    assert_eq!(updated.server_keys["ser.x"], "env0");
    assert_eq!(updated.changed_since(&Manifest::default()).count(), 6);
}

fn document(
    key: &str,
    revision: u64,
    filler: usize,
    random: bool,
) -> serde_json::Map<String, Value> {
    let text = if random {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        (0..filler)
            .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
            .collect()
    } else {
        "x".repeat(filler)
    };
    json!({
        "api_key": key, "revision": revision, "name": "Production", "updated_at": "2026-11-22T09:00:00+00:00",
        "project": {"id": 1, "name": "P", "segments": [], "hide_disabled_flags": false},
        "feature_states": [{"feature": {"id": 1, "name": "f", "type": "STANDARD"}, "enabled": true,
                            "feature_state_value": text, "django_id": 1, "multivariate_feature_state_values": []}],
        "identity_overrides": []
    })
    .as_object()
    .cloned()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_documents_compress_or_overflow_never_drop() {
    let moto = Moto::start();
    let config = aws::sdk_config(&moto.options()).await;
    let client = aws::dynamodb(&config);
    create_tables(
        &client,
        "flagedge_environments",
        Some("flagedge_identities"),
    )
    .await
    .unwrap();
    let overflow = s3_store(&moto, "overflow").await;
    let table = DocumentTable::new(client.clone(), "flagedge_environments", Some(overflow));

    let small = document("small", 3, 10, false);
    assert_eq!(table.put_document(&small).await.unwrap(), Written::Stored);
    assert_eq!(
        table
            .put_document(&document("small", 2, 10, false))
            .await
            .unwrap(),
        Written::Stale
    );
    let back: Value = serde_json::from_slice(&table.get_document("small").await.unwrap()).unwrap();
    assert_eq!(back, Value::Object(small));

    // 600 KB that compresses well: stored compressed, as Flagsmith does.
    let large = document("large", 1, 600_000, false);
    table.put_document(&large).await.unwrap();
    let raw = client
        .get_item()
        .table_name("flagedge_environments")
        .key(
            "api_key",
            aws_sdk_dynamodb::types::AttributeValue::S("large".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        raw.get("compressed"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::Bool(true))
    );
    let back: Value = serde_json::from_slice(&table.get_document("large").await.unwrap()).unwrap();
    assert_eq!(back, Value::Object(large));

    // 600 KB of noise does not compress below the limit: S3, behind a pointer.
    let noise = document("noise", 1, 600_000, true);
    table.put_document(&noise).await.unwrap();
    let back: Value = serde_json::from_slice(&table.get_document("noise").await.unwrap()).unwrap();
    assert_eq!(back, Value::Object(noise));

    // The manifest item only moves forward.
    assert_eq!(
        table
            .record(
                "small",
                &Entry {
                    revision: 3,
                    updated_at: None
                }
            )
            .await
            .unwrap(),
        Written::Stored
    );
    assert_eq!(
        table
            .record(
                "small",
                &Entry {
                    revision: 2,
                    updated_at: None
                }
            )
            .await
            .unwrap(),
        Written::Stale
    );
    table
        .set_server_keys(&BTreeMap::from([(
            "ser.s".to_string(),
            "small".to_string(),
        )]))
        .await
        .unwrap();
    let manifest = table.get_manifest().await.unwrap();
    assert_eq!(manifest.environments["small"].revision, 3);
    assert_eq!(manifest.server_keys["ser.s"], "small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_identities_in_batches() {
    let moto = Moto::start();
    let config = aws::sdk_config(&moto.options()).await;
    let client = aws::dynamodb(&config);
    create_tables(&client, "docs", Some("identities"))
        .await
        .unwrap();
    let table = IdentityTable::new(client, "identities");
    let records: Vec<IdentityRecord> = (0..60)
        .map(|i| IdentityRecord {
            environment_key: "env".into(),
            identifier: format!("user-{i}"),
            traits: vec![
                ("plan".into(), json!("pro")),
                ("age".into(), json!(i)),
                ("ratio".into(), json!(0.5)),
            ],
            ..IdentityRecord::default()
        })
        .collect();
    table.put_batch(&records).await.unwrap();
    let stored = table.get("env", "user-42").await.unwrap().unwrap();
    assert_eq!(stored.traits, records[42].traits);
    assert!(table.get("env", "nobody").await.unwrap().is_none());
}

/// A writer whose memory outlived the objects (a store emptied or recreated)
/// writes again: S3 answers its `If-Match` with 404 `NoSuchKey`, a lost race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_writes_survive_an_emptied_bucket() {
    let moto = Moto::start();
    let store = s3_store(&moto, "emptied").await;
    store
        .put_document("env1", 1, Bytes::from_static(b"{\"r\":1}"))
        .await
        .unwrap();
    store
        .update_manifest(|m| {
            m.record(
                "env1",
                Entry {
                    revision: 1,
                    updated_at: None,
                },
            )
        })
        .await
        .unwrap();
    let client = aws::s3(&aws::sdk_config(&moto.options()).await);
    for key in ["flagedge/environments/env1.json", "flagedge/manifest.json"] {
        client
            .delete_object()
            .bucket("emptied")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .put_document("env1", 2, Bytes::from_static(b"{\"r\":2}"))
            .await
            .unwrap(),
        Written::Stored
    );
    store
        .update_manifest(|m| {
            m.record(
                "env1",
                Entry {
                    revision: 2,
                    updated_at: None,
                },
            )
        })
        .await
        .unwrap();
    assert_eq!(&store.get_document("env1").await.unwrap()[..], b"{\"r\":2}");
    match store.poll_manifest(None).await.unwrap() {
        ManifestPoll::Changed(manifest, _) => assert_eq!(manifest.environments["env1"].revision, 2),
        _ => panic!("no manifest"),
    }
}
