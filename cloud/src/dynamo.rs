//! Documents, the manifest and identities in DynamoDB.
//!
//! Documents: one item per environment, keyed by `api_key` (the client-side
//! key), in the shape Flagsmith's own environments table uses (the document's
//! fields as attributes) plus `revision`. An item over DynamoDB's 400 KB limit is
//! stored as Flagsmith stores it: `compressed: true`, with `project` and
//! `feature_states` (and, if needed, `identity_overrides`) as gzip-compressed JSON
//! binaries. One that is still too big goes to S3, the item keeping a pointer
//! (`document_s3_key`) — never dropped. Writes are conditional on the stored
//! revision being older. A manifest item (`api_key = "__flagedge_manifest__"`)
//! lists revisions and server-side keys; readers poll that one item.
//!
//! Identities: items keyed by `composite_key = <client key>_<identifier>`, with
//! `identity_traits` as Flagsmith's SaaS edge stores them.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::attribute::{from_attribute, item_size, to_attribute, to_item};
use crate::manifest::{Entry, Manifest};
use crate::s3::S3Store;
use crate::{CloudError, Written};

/// The key of the manifest item.
pub const MANIFEST_KEY: &str = "__flagedge_manifest__";
/// Items stay below this (DynamoDB's limit is 409,600 bytes; keep headroom).
pub const ITEM_LIMIT: usize = 400_000;
/// Document parts compressed (in this order) when an item is too big.
const COMPRESSIBLE: [&str; 3] = ["project", "feature_states", "identity_overrides"];

/// Operations whose condition expression can fail.
trait ConditionalWrite {
    fn is_condition_failure(&self) -> bool;
}

impl ConditionalWrite for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn is_condition_failure(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionalWrite for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn is_condition_failure(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

/// Whether a write was refused by its condition (not a fault: a newer revision is there).
fn condition_failed<E: ConditionalWrite>(error: &aws_sdk_dynamodb::error::SdkError<E>) -> bool {
    error
        .as_service_error()
        .is_some_and(ConditionalWrite::is_condition_failure)
}

/// A revision-conditional write's outcome: a failed condition means a newer revision is stored.
fn written<T, E>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
) -> Result<Written, CloudError>
where
    E: ConditionalWrite + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(Written::Stored),
        Err(error) if condition_failed(&error) => Ok(Written::Stale),
        Err(error) => Err(dynamo_error(error)),
    }
}

fn dynamo_error<E: std::error::Error + 'static>(
    error: aws_sdk_dynamodb::error::SdkError<E>,
) -> CloudError {
    CloudError::dynamodb(aws_sdk_dynamodb::error::DisplayErrorContext(error))
}

/// JSON with object keys sorted, as Flagsmith's `json_gzip` writes it.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn gzip_json(value: &Value) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(
        serde_json::to_string(&sorted(value))
            .unwrap_or_default()
            .as_bytes(),
    );
    encoder.finish().unwrap_or_default()
}

fn gunzip_json(bytes: &[u8]) -> Result<Value, CloudError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| CloudError::Format {
            what: "compressed document part",
            message: e.to_string(),
        })?;
    serde_json::from_str(&text).map_err(|e| CloudError::Format {
        what: "compressed document part",
        message: e.to_string(),
    })
}

/// The environments table.
#[derive(Clone, Debug)]
pub struct DocumentTable {
    client: Client,
    table: String,
    overflow: Option<S3Store>,
}

impl DocumentTable {
    /// A table; `overflow` receives documents too big even when compressed.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        overflow: Option<S3Store>,
    ) -> DocumentTable {
        DocumentTable {
            client,
            table: table.into(),
            overflow,
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Builds the item for a document: plain, compressed, or a pointer.
    async fn item_for(
        &self,
        document: &Map<String, Value>,
        client_key: &str,
        revision: u64,
    ) -> Result<HashMap<String, AttributeValue>, CloudError> {
        let mut item = to_item(document);
        if item_size(&item) <= ITEM_LIMIT {
            return Ok(item);
        }
        item.insert("compressed".into(), AttributeValue::Bool(true));
        for part in COMPRESSIBLE {
            if let Some(value) = document.get(part) {
                item.insert(part.into(), AttributeValue::B(Blob::new(gzip_json(value))));
            }
            if item_size(&item) <= ITEM_LIMIT {
                return Ok(item);
            }
        }
        let overflow = self.overflow.as_ref().ok_or_else(|| CloudError::Format {
            what: "document",
            message: format!("{client_key}: larger than a DynamoDB item even compressed, and no S3 overflow bucket is configured"),
        })?;
        let key = format!("overflow/{client_key}.json");
        let body = Bytes::from(serde_json::to_vec(document).unwrap_or_default());
        overflow.put_revisioned(&key, revision, body).await?;
        let mut pointer = HashMap::new();
        for field in ["api_key", "revision", "updated_at", "name"] {
            if let Some(value) = document.get(field) {
                pointer.insert(field.to_string(), to_attribute(value));
            }
        }
        pointer.insert("document_s3_key".into(), AttributeValue::S(key));
        Ok(pointer)
    }

    /// Stores a document (with `api_key` and `revision`) unless the stored one is as new.
    pub async fn put_document(&self, document: &Map<String, Value>) -> Result<Written, CloudError> {
        let missing = |name: &str| CloudError::Format {
            what: "document",
            message: format!("no {name}"),
        };
        let client_key = document.get("api_key").and_then(Value::as_str);
        let client_key = client_key.ok_or_else(|| missing("api_key"))?;
        let revision = document.get("revision").and_then(Value::as_u64);
        let revision = revision.ok_or_else(|| missing("revision"))?;
        let item = self.item_for(document, client_key, revision).await?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(api_key) OR revision < :revision")
            .expression_attribute_values(":revision", AttributeValue::N(revision.to_string()))
            .send()
            .await;
        written(result)
    }

    /// The item whose `api_key` is `key`, read consistently (a publisher
    /// reads what it wrote).
    async fn item(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, CloudError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("api_key", AttributeValue::S(key.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error)?;
        Ok(output.item)
    }

    /// Reads a document back as JSON bytes (decompressing, or following the pointer).
    pub async fn get_document(&self, client_key: &str) -> Result<Bytes, CloudError> {
        let item = self
            .item(client_key)
            .await?
            .ok_or_else(|| CloudError::NotFound(client_key.to_string()))?;
        if let Some(AttributeValue::S(key)) = item.get("document_s3_key") {
            let overflow = self.overflow.as_ref().ok_or_else(|| CloudError::Format {
                what: "document",
                message: format!("{client_key} is stored in S3, and no S3 bucket is configured"),
            })?;
            return overflow.get(key).await;
        }
        let mut document = Map::new();
        for (name, attribute) in &item {
            if name == "compressed" {
                continue;
            }
            let value = match attribute {
                AttributeValue::B(blob) => gunzip_json(blob.as_ref())?,
                other => from_attribute(other)?,
            };
            document.insert(name.clone(), value);
        }
        Ok(Bytes::from(
            serde_json::to_vec(&Value::Object(document)).unwrap_or_default(),
        ))
    }

    async fn ensure_manifest(&self) -> Result<(), CloudError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("api_key", AttributeValue::S(MANIFEST_KEY.into()))
            .item("environments", AttributeValue::M(HashMap::new()))
            .item("server_keys", AttributeValue::M(HashMap::new()))
            .condition_expression("attribute_not_exists(api_key)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if condition_failed(&error) => Ok(()),
            Err(error) => Err(dynamo_error(error)),
        }
    }

    /// Records a published revision in the manifest item (only forward).
    pub async fn record(&self, client_key: &str, entry: &Entry) -> Result<Written, CloudError> {
        self.ensure_manifest().await?;
        let value = to_attribute(&serde_json::to_value(entry).unwrap_or_default());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("api_key", AttributeValue::S(MANIFEST_KEY.into()))
            .update_expression("SET environments.#k = :entry")
            .condition_expression(
                "attribute_not_exists(environments.#k) OR environments.#k.revision < :revision",
            )
            .expression_attribute_names("#k", client_key)
            .expression_attribute_values(":entry", value)
            .expression_attribute_values(":revision", AttributeValue::N(entry.revision.to_string()))
            .send()
            .await;
        written(result)
    }

    /// Replaces the server-side keys in the manifest item.
    pub async fn set_server_keys(&self, keys: &BTreeMap<String, String>) -> Result<(), CloudError> {
        self.ensure_manifest().await?;
        let map = keys
            .iter()
            .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
            .collect();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("api_key", AttributeValue::S(MANIFEST_KEY.into()))
            .update_expression("SET server_keys = :keys")
            .expression_attribute_values(":keys", AttributeValue::M(map))
            .send()
            .await
            .map_err(dynamo_error)?;
        Ok(())
    }

    /// The manifest item (an empty manifest when there is none yet).
    pub async fn get_manifest(&self) -> Result<Manifest, CloudError> {
        let Some(item) = self.item(MANIFEST_KEY).await? else {
            return Ok(Manifest::default());
        };
        let mut object = Map::new();
        for field in ["environments", "server_keys"] {
            if let Some(attribute) = item.get(field) {
                object.insert(field.into(), from_attribute(attribute)?);
            }
        }
        serde_json::from_value(Value::Object(object)).map_err(|e| CloudError::Format {
            what: "manifest item",
            message: e.to_string(),
        })
    }
}

/// One identity's stored data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdentityRecord {
    /// The environment's client-side key.
    pub environment_key: String,
    /// The identifier.
    pub identifier: String,
    /// Traits, in order.
    pub traits: Vec<(String, Value)>,
    /// Other attributes kept as they were (identity overrides written by others).
    pub extra: HashMap<String, AttributeValue>,
}

impl IdentityRecord {
    /// `<client key>_<identifier>`.
    pub fn composite_key(&self) -> String {
        format!("{}_{}", self.environment_key, self.identifier)
    }

    fn to_item(&self) -> HashMap<String, AttributeValue> {
        let mut item = self.extra.clone();
        item.insert(
            "composite_key".into(),
            AttributeValue::S(self.composite_key()),
        );
        item.insert(
            "identifier".into(),
            AttributeValue::S(self.identifier.clone()),
        );
        item.insert(
            "environment_api_key".into(),
            AttributeValue::S(self.environment_key.clone()),
        );
        let traits = self
            .traits
            .iter()
            .map(|(k, v)| {
                AttributeValue::M(HashMap::from([
                    ("trait_key".to_string(), AttributeValue::S(k.clone())),
                    ("trait_value".to_string(), to_attribute(v)),
                ]))
            })
            .collect();
        item.insert("identity_traits".into(), AttributeValue::L(traits));
        item.entry("identity_features".into())
            .or_insert_with(|| AttributeValue::L(Vec::new()));
        item
    }

    fn from_item(
        environment_key: &str,
        identifier: &str,
        mut item: HashMap<String, AttributeValue>,
    ) -> Result<IdentityRecord, CloudError> {
        let mut traits = Vec::new();
        if let Some(AttributeValue::L(list)) = item.remove("identity_traits") {
            for entry in list {
                let AttributeValue::M(map) = entry else {
                    continue;
                };
                let Some(AttributeValue::S(key)) = map.get("trait_key") else {
                    continue;
                };
                let value = map
                    .get("trait_value")
                    .map(from_attribute)
                    .transpose()?
                    .unwrap_or(Value::Null);
                traits.push((key.clone(), value));
            }
        }
        for field in ["composite_key", "identifier", "environment_api_key"] {
            item.remove(field);
        }
        Ok(IdentityRecord {
            environment_key: environment_key.into(),
            identifier: identifier.into(),
            traits,
            extra: item,
        })
    }
}

/// The identities table.
#[derive(Clone, Debug)]
pub struct IdentityTable {
    client: Client,
    table: String,
}

impl IdentityTable {
    /// A table.
    pub fn new(client: Client, table: impl Into<String>) -> IdentityTable {
        IdentityTable {
            client,
            table: table.into(),
        }
    }

    /// An identity, if stored.
    pub async fn get(
        &self,
        environment_key: &str,
        identifier: &str,
    ) -> Result<Option<IdentityRecord>, CloudError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                "composite_key",
                AttributeValue::S(format!("{environment_key}_{identifier}")),
            )
            .send()
            .await
            .map_err(dynamo_error)?;
        output
            .item
            .map(|item| IdentityRecord::from_item(environment_key, identifier, item))
            .transpose()
    }

    /// Writes identities in batches of 25 (DynamoDB's limit), retrying what
    /// DynamoDB leaves unprocessed, with backoff.
    pub async fn put_batch(&self, records: &[IdentityRecord]) -> Result<(), CloudError> {
        for chunk in records.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|record| {
                    let put = PutRequest::builder()
                        .set_item(Some(record.to_item()))
                        .build()
                        .map_err(CloudError::dynamodb)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, CloudError>>()?;
            let mut attempt = 0;
            while !requests.is_empty() {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(dynamo_error)?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(CloudError::Contention(format!(
                            "{} unprocessed identity writes",
                            requests.len()
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                }
            }
        }
        Ok(())
    }
}

/// Creates the tables flagedge uses if they do not exist (for local stand-ins
/// and first deployments without Terraform).
pub async fn create_tables(
    client: &Client,
    documents: &str,
    identities: Option<&str>,
) -> Result<(), CloudError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let mut tables = vec![(documents, "api_key")];
    if let Some(identities) = identities {
        tables.push((identities, "composite_key"));
    }
    for (table, key) in tables {
        let result = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(CloudError::dynamodb)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(CloudError::dynamodb)?,
            )
            .send()
            .await;
        // A table that already exists is what we wanted.
        if let Err(error) = result
            && !error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception())
        {
            return Err(dynamo_error(error));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_parts_round_trip_with_sorted_keys() {
        let value = serde_json::json!({"b": 1, "a": [{"z": true, "y": null}]});
        let packed = gzip_json(&value);
        let text = {
            let mut t = String::new();
            flate2::read::GzDecoder::new(&packed[..])
                .read_to_string(&mut t)
                .unwrap();
            t
        };
        assert_eq!(text, r#"{"a":[{"y":null,"z":true}],"b":1}"#);
        assert_eq!(gunzip_json(&packed).unwrap(), value);
    }
}
