//! Documents in S3: `<prefix>/environments/<client key>.json` and
//! `<prefix>/manifest.json`.
//!
//! Both are written compare-and-swap (conditional PUT with `If-Match`, or
//! `If-None-Match: *` for a new object): a document object carries its revision
//! in metadata and is only replaced by a newer one; the manifest is re-read and
//! merged when another writer got there first. So two syncs, or a replay, never
//! put an older document over a newer one. Readers poll the manifest with
//! `If-None-Match` and fetch only changed documents.
//!
//! A writer remembers the ETag and revision of each object it wrote, so its next
//! write of that object is one conditional PUT (`If-Match` that ETag) instead of
//! a HEAD and a PUT; if someone else wrote in between, the PUT fails its
//! precondition and the write starts over from a HEAD.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::manifest::Manifest;
use crate::{CloudError, Written};

const REVISION_METADATA: &str = "flagedge-revision";
const CONFLICT_RETRIES: usize = 8;

/// A bucket and prefix holding published documents.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    /// Object key → (ETag, revision) of what this writer last stored there.
    written: Arc<Mutex<HashMap<String, (String, u64)>>>,
}

/// A conditional write lost its race (S3 does not model this error: its code and
/// status say it). A write `If-Match` an object someone deleted meanwhile is
/// answered 404 `NoSuchKey`: the race is lost the same way (the store was emptied
/// or recreated), and the write starts over from what is there. A missing bucket
/// (404 `NoSuchBucket`) is an error, not a race.
fn is_precondition_failure<E: ProvideErrorMetadata>(
    error: &aws_sdk_s3::error::SdkError<E>,
) -> bool {
    let code = error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code);
    error
        .raw_response()
        .is_some_and(|r| r.status().as_u16() == 412)
        || matches!(code, Some("PreconditionFailed" | "NoSuchKey"))
}

/// After a lost compare-and-swap: wait a random time, longer each attempt (up
/// to 2^attempt ms, at most 128 ms), so writers racing in step fall out of step.
async fn back_off(attempt: usize) {
    use std::hash::{BuildHasher, Hasher};
    // A fresh RandomState is randomly keyed: random bits without a dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let ceiling_ms = 1u64 << attempt.min(7);
    tokio::time::sleep(std::time::Duration::from_micros(
        random % (ceiling_ms * 1000),
    ))
    .await;
}

/// The object is not there.
fn is_missing(error: &aws_sdk_s3::error::SdkError<GetObjectError>) -> bool {
    is_not_found(error)
        || error
            .as_service_error()
            .is_some_and(GetObjectError::is_no_such_key)
}

fn is_not_found<E: std::fmt::Debug>(error: &aws_sdk_s3::error::SdkError<E>) -> bool {
    error
        .raw_response()
        .is_some_and(|r| r.status().as_u16() == 404)
}

impl S3Store {
    /// A store in `bucket` under `prefix` (no leading or trailing slash needed).
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> S3Store {
        let prefix = prefix.into().trim_matches('/').to_string();
        S3Store {
            client,
            bucket: bucket.into(),
            prefix,
            written: Arc::default(),
        }
    }

    fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    /// The object key of an environment's document.
    pub fn document_key(&self, client_key: &str) -> String {
        self.key(&format!("environments/{client_key}.json"))
    }

    /// The object key of the manifest.
    pub fn manifest_key(&self) -> String {
        self.key("manifest.json")
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Writes a document unless the stored one is this revision or newer.
    pub async fn put_document(
        &self,
        client_key: &str,
        revision: u64,
        document: Bytes,
    ) -> Result<Written, CloudError> {
        self.put_revisioned(&self.document_key(client_key), revision, document)
            .await
    }

    /// Writes an object carrying a revision, compare-and-swap.
    pub async fn put_revisioned(
        &self,
        key: &str,
        revision: u64,
        body: Bytes,
    ) -> Result<Written, CloudError> {
        let remembered = self
            .written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned();
        if let Some((etag, stored)) = remembered {
            if stored >= revision {
                return Ok(Written::Stale);
            }
            // What this writer stored last, if no one has written since.
            if self.put_if(key, revision, &body, Some(&etag)).await? {
                return Ok(Written::Stored);
            }
        }
        for attempt in 0..CONFLICT_RETRIES {
            let current = match self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(head) => {
                    let stored = head
                        .metadata()
                        .and_then(|m| m.get(REVISION_METADATA))
                        .and_then(|r| r.parse::<u64>().ok())
                        .unwrap_or(0);
                    if stored >= revision {
                        return Ok(Written::Stale);
                    }
                    head.e_tag().map(str::to_string)
                }
                Err(error) if is_not_found(&error) => None,
                Err(error) => {
                    return Err(CloudError::s3(aws_sdk_s3::error::DisplayErrorContext(
                        error,
                    )));
                }
            };
            if self
                .put_if(key, revision, &body, current.as_deref())
                .await?
            {
                return Ok(Written::Stored);
            }
            back_off(attempt).await;
        }
        Err(CloudError::Contention(key.to_string()))
    }

    /// One conditional PUT of a revisioned object (`If-Match` the ETag, or
    /// `If-None-Match: *` for a new one). Returns false when it lost a race.
    async fn put_if(
        &self,
        key: &str,
        revision: u64,
        body: &Bytes,
        etag: Option<&str>,
    ) -> Result<bool, CloudError> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .metadata(REVISION_METADATA, revision.to_string())
            .body(ByteStream::from(body.clone()));
        put = match etag {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(output) => {
                if let Some(etag) = output.e_tag() {
                    self.written
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key.to_string(), (etag.to_string(), revision));
                }
                Ok(true)
            }
            Err(error) if is_precondition_failure(&error) => {
                self.written
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(key);
                Ok(false)
            }
            Err(error) => Err(CloudError::s3(aws_sdk_s3::error::DisplayErrorContext(
                error,
            ))),
        }
    }

    /// Applies `change` to the manifest (compare-and-swap, retried on conflict).
    /// `change` returns whether it changed anything; nothing is written if not.
    pub async fn update_manifest(
        &self,
        mut change: impl FnMut(&mut Manifest) -> bool,
    ) -> Result<(), CloudError> {
        let key = self.manifest_key();
        for attempt in 0..CONFLICT_RETRIES {
            let (mut manifest, etag) = match self.read_manifest().await? {
                Some((manifest, etag)) => (manifest, Some(etag)),
                None => (Manifest::default(), None),
            };
            if !change(&mut manifest) {
                return Ok(());
            }
            let body = serde_json::to_vec(&manifest).map_err(|e| CloudError::Format {
                what: "manifest",
                message: e.to_string(),
            })?;
            let mut put = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(body));
            put = match &etag {
                Some(etag) => put.if_match(etag),
                None => put.if_none_match("*"),
            };
            match put.send().await {
                Ok(_) => return Ok(()),
                Err(error) if is_precondition_failure(&error) => back_off(attempt).await,
                Err(error) => {
                    return Err(CloudError::s3(aws_sdk_s3::error::DisplayErrorContext(
                        error,
                    )));
                }
            }
        }
        Err(CloudError::Contention(key))
    }

    /// The manifest and its ETag; `Ok(None)` when there is none yet.
    async fn read_manifest(&self) -> Result<Option<(Manifest, String)>, CloudError> {
        Ok(match self.poll_manifest(None).await? {
            ManifestPoll::Changed(manifest, etag) => Some((manifest, etag)),
            // Without an ETag to compare, an answer is never "unchanged".
            ManifestPoll::Unchanged | ManifestPoll::Missing => None,
        })
    }

    /// Reads the manifest if it changed since `etag` (readers' cheap poll).
    /// `Ok(Poll::Unchanged)` when the ETag still matches.
    pub async fn poll_manifest(&self, etag: Option<&str>) -> Result<ManifestPoll, CloudError> {
        let mut get = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.manifest_key());
        if let Some(etag) = etag {
            get = get.if_none_match(etag);
        }
        match get.send().await {
            Ok(object) => {
                let etag = object.e_tag().unwrap_or_default().to_string();
                let bytes = object
                    .body
                    .collect()
                    .await
                    .map_err(CloudError::s3)?
                    .into_bytes();
                let manifest = serde_json::from_slice(&bytes).map_err(|e| CloudError::Format {
                    what: "manifest",
                    message: e.to_string(),
                })?;
                Ok(ManifestPoll::Changed(manifest, etag))
            }
            Err(error)
                if error
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 304) =>
            {
                Ok(ManifestPoll::Unchanged)
            }
            Err(error) if is_missing(&error) => Ok(ManifestPoll::Missing),
            Err(error) => Err(CloudError::s3(aws_sdk_s3::error::DisplayErrorContext(
                error,
            ))),
        }
    }

    /// An object's bytes.
    pub async fn get(&self, key: &str) -> Result<Bytes, CloudError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => Ok(object
                .body
                .collect()
                .await
                .map_err(CloudError::s3)?
                .into_bytes()),
            Err(error) if is_missing(&error) => Err(CloudError::NotFound(key.to_string())),
            Err(error) => Err(CloudError::s3(aws_sdk_s3::error::DisplayErrorContext(
                error,
            ))),
        }
    }

    /// An environment's document.
    pub async fn get_document(&self, client_key: &str) -> Result<Bytes, CloudError> {
        self.get(&self.document_key(client_key)).await
    }
}

/// The result of polling the manifest.
#[derive(Debug)]
pub enum ManifestPoll {
    /// It changed: the new manifest and its ETag.
    Changed(Manifest, String),
    /// Same ETag as last time.
    Unchanged,
    /// Nothing published yet.
    Missing,
}
