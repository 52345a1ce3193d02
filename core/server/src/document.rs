//! Environment documents built from the database: Flagsmith's format (SPEC §2)
//! as `flagedge_engine::document::EnvironmentDocument` models it, plus
//! flagedge's `revision` and `updated_at` (ISO 8601, UTC, microseconds).
//!
//! All reads happen in one repeatable-read transaction, so a document is one
//! consistent snapshot and its revision names exactly that content. Ids:
//! every feature state's `django_id` is its row id (the multivariate hashing
//! seed) and its `featurestate_uuid` the row's UUID; segment overrides carry
//! `feature_segment.priority`; environment defaults and identity overrides
//! carry `"feature_segment": null` as Flagsmith writes them.
//!
//! **Pages.** Flagsmith pages large identity-override sets (SPEC §8.1): every
//! page repeats the environment and carries the next slice of
//! `identity_overrides`. The body is written once per revision, and while it is
//! written the byte range of every override is noted ([`OverrideLayout`]), so a
//! page is three copies out of the cached body — never a rebuild or a re-parse.
//! Overrides are in identifier order (byte order), which is what page cursors
//! key on: "the overrides after identifier X" means the same thing in every
//! revision, so a client paging through a change sees no identity twice.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use chrono::{DateTime, Utc};
use flagedge_engine::context::RuleType;
use flagedge_engine::document::{
    Condition, EnvironmentDocument, Feature, FeatureSegment, FeatureState, IdentityOverride,
    MultivariateOption, MultivariateValue, Organisation, Project, Rule, Segment,
};
use flagedge_engine::timestamp::Timestamp;
use serde_json::Value;
use sqlx::PgPool;

use crate::rules;

/// A built document and what the HTTP layer needs to serve it.
#[derive(Debug)]
pub struct BuiltDocument {
    /// The environment's id.
    pub environment_id: i64,
    /// Its client key.
    pub api_key: String,
    /// The revision the content is at.
    pub revision: u64,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The JSON body.
    pub body: Vec<u8>,
    /// Where the identity overrides sit in `body`.
    pub overrides: OverrideLayout,
}

/// The `identity_overrides` array inside a built body: its brackets and, in
/// order, each override's identifier and byte range.
#[derive(Debug, Default)]
pub struct OverrideLayout {
    /// Offsets of the array's `[` and `]`; `None` when the body has no array.
    brackets: Option<(usize, usize)>,
    /// Identifiers in ascending (byte) order, each with its override's bytes.
    items: Vec<(Box<str>, Range<usize>)>,
}

/// One page of a document: the body and, when more overrides follow, the
/// identifier of the last one on this page (the next page's cursor).
#[derive(Debug)]
pub struct DocumentPage<'a> {
    /// The JSON body: the whole environment with this page's overrides.
    pub body: Vec<u8>,
    /// The cursor of the next page, if there is one.
    pub next: Option<&'a str>,
}

impl BuiltDocument {
    /// How many identity overrides the document carries.
    pub fn override_count(&self) -> usize {
        self.overrides.items.len()
    }

    /// The page of at most `size` overrides (every one left when `size` is 0)
    /// whose identifiers sort after `after` (from the first when `None`). The
    /// other fields are the document's, byte for byte.
    pub fn page(&self, after: Option<&str>, size: usize) -> DocumentPage<'_> {
        let items = &self.overrides.items;
        let start = after.map_or(0, |after| items.partition_point(|(id, _)| &**id <= after));
        let end = if size == 0 {
            items.len()
        } else {
            start.saturating_add(size).min(items.len())
        };
        let Some((open, close)) = self.overrides.brackets else {
            return DocumentPage {
                body: self.body.clone(),
                next: None,
            };
        };
        let slice = match (
            items.get(start),
            end.checked_sub(1).and_then(|l| items.get(l)),
        ) {
            (Some((_, first)), Some((_, last))) if start < end => first.start..last.end,
            _ => close..close,
        };
        let mut body = Vec::with_capacity(open + 1 + slice.len() + (self.body.len() - close));
        body.extend_from_slice(&self.body[..=open]);
        body.extend_from_slice(&self.body[slice]);
        body.extend_from_slice(&self.body[close..]);
        let next = if end < items.len() && end > start {
            items.get(end - 1).map(|(id, _)| &**id)
        } else {
            None
        };
        DocumentPage { body, next }
    }
}

#[derive(sqlx::FromRow)]
struct EnvironmentRow {
    id: i64,
    api_key: String,
    name: String,
    allow_client_traits: bool,
    hide_sensitive_data: bool,
    hide_disabled_flags: Option<bool>,
    use_identity_composite_key_for_hashing: bool,
    use_identity_overrides_in_local_eval: bool,
    revision: i64,
    updated_at: DateTime<Utc>,
    project_id: i64,
    project_name: String,
    project_hide_disabled_flags: bool,
    enable_realtime_updates: bool,
    organisation_id: i64,
    organisation_name: String,
    feature_analytics: bool,
    stop_serving_flags: bool,
    persist_trait_data: bool,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    id: i64,
    feature_id: i64,
    feature_name: String,
    feature_type: String,
    enabled: bool,
    feature_state_value: Value,
    featurestate_uuid: uuid::Uuid,
    segment_id: Option<i64>,
    priority: Option<i32>,
    identifier: Option<String>,
}

#[derive(sqlx::FromRow)]
struct MvRow {
    id: i64,
    feature_state_id: i64,
    percentage_allocation: f64,
    mv_fs_value_uuid: uuid::Uuid,
    option_id: i64,
    value: Value,
    key: Option<String>,
}

/// Converts a database timestamp to the engine's.
pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp(at.timestamp_micros())
}

fn rule(stored: &rules::Rule) -> Rule {
    Rule {
        rule_type: match stored.kind.as_str() {
            "ANY" => RuleType::Any,
            "NONE" => RuleType::None,
            _ => RuleType::All,
        },
        rules: stored.rules.iter().map(rule).collect(),
        conditions: stored
            .conditions
            .iter()
            .map(|c| Condition {
                operator: c.operator.clone(),
                value: c.value.clone().unwrap_or(Value::Null),
                property_: c.property.clone(),
            })
            .collect(),
    }
}

/// Builds the document of one environment; `None` if it does not exist.
pub async fn build(db: &PgPool, environment_id: i64) -> Result<Option<BuiltDocument>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let environment: Option<EnvironmentRow> = sqlx::query_as(
        "SELECT e.id, e.api_key, e.name, e.allow_client_traits, e.hide_sensitive_data, \
         e.hide_disabled_flags, e.use_identity_composite_key_for_hashing, \
         e.use_identity_overrides_in_local_eval, e.revision, e.updated_at, \
         p.id AS project_id, p.name AS project_name, p.hide_disabled_flags AS project_hide_disabled_flags, \
         p.enable_realtime_updates, o.id AS organisation_id, o.name AS organisation_name, \
         o.feature_analytics, o.stop_serving_flags, o.persist_trait_data \
         FROM environments e JOIN projects p ON p.id = e.project_id \
         JOIN organisations o ON o.id = p.organisation_id WHERE e.id = $1",
    )
    .bind(environment_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(env) = environment else {
        return Ok(None);
    };
    let segment_rows: Vec<(i64, String, Value)> =
        sqlx::query_as("SELECT id, name, rules FROM segments WHERE project_id = $1 ORDER BY id")
            .bind(env.project_id)
            .fetch_all(&mut *tx)
            .await?;
    let server_key_only: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM features WHERE project_id = $1 AND is_server_key_only ORDER BY id",
    )
    .bind(env.project_id)
    .fetch_all(&mut *tx)
    .await?;
    let states: Vec<StateRow> = sqlx::query_as(
        "SELECT fs.id, fs.feature_id, f.name AS feature_name, f.type AS feature_type, fs.enabled, \
         fs.feature_state_value, fs.featurestate_uuid, seg.segment_id, seg.priority, i.identifier \
         FROM feature_states fs JOIN features f ON f.id = fs.feature_id \
         LEFT JOIN feature_segments seg ON seg.id = fs.feature_segment_id \
         LEFT JOIN identities i ON i.id = fs.identity_id \
         WHERE fs.environment_id = $1 AND ($2 OR fs.identity_id IS NULL) \
         ORDER BY f.id, fs.id",
    )
    .bind(env.id)
    .bind(env.use_identity_overrides_in_local_eval)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<i64> = states.iter().map(|s| s.id).collect();
    let mv_rows: Vec<MvRow> = sqlx::query_as(
        "SELECT v.id, v.feature_state_id, v.percentage_allocation, v.mv_fs_value_uuid, \
         o.id AS option_id, o.value, o.key FROM mv_feature_state_values v \
         JOIN mv_options o ON o.id = v.mv_option_id WHERE v.feature_state_id = ANY($1) ORDER BY v.id",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut mv: HashMap<i64, Vec<MultivariateValue>> = HashMap::new();
    for row in mv_rows {
        mv.entry(row.feature_state_id)
            .or_default()
            .push(MultivariateValue {
                id: Some(row.id),
                mv_fs_value_uuid: Some(row.mv_fs_value_uuid.to_string()),
                percentage_allocation: serde_json::Number::from_f64(row.percentage_allocation)
                    .unwrap_or_else(|| serde_json::Number::from(0)),
                multivariate_feature_option: MultivariateOption {
                    id: Some(row.option_id),
                    value: row.value,
                    key: row.key,
                },
            });
    }
    let mut defaults = Vec::new();
    let mut by_segment: HashMap<i64, Vec<FeatureState>> = HashMap::new();
    let mut by_identity: BTreeMap<String, Vec<FeatureState>> = BTreeMap::new();
    for row in states {
        let state = FeatureState {
            feature: Feature {
                id: row.feature_id,
                name: row.feature_name,
                feature_type: Some(row.feature_type),
            },
            enabled: row.enabled,
            feature_state_value: row.feature_state_value,
            django_id: Some(row.id),
            featurestate_uuid: Some(row.featurestate_uuid.to_string()),
            feature_segment: row.segment_id.map(|_| FeatureSegment {
                priority: row.priority.map(f64::from),
            }),
            multivariate_feature_state_values: mv.remove(&row.id).unwrap_or_default(),
        };
        match (row.segment_id, row.identifier) {
            (Some(segment), _) => by_segment.entry(segment).or_default().push(state),
            (None, Some(identifier)) => by_identity.entry(identifier).or_default().push(state),
            (None, None) => defaults.push(state),
        }
    }
    let segments = segment_rows
        .into_iter()
        .map(|(id, name, rules)| {
            let stored: Vec<rules::Rule> = serde_json::from_value(rules).unwrap_or_default();
            Segment {
                id,
                name,
                rules: stored.iter().map(rule).collect(),
                feature_states: by_segment.remove(&id).unwrap_or_default(),
            }
        })
        .collect();
    let updated_at = timestamp(env.updated_at);
    let document = EnvironmentDocument {
        id: env.id,
        api_key: env.api_key.clone(),
        name: env.name,
        updated_at: Some(updated_at.to_iso8601()),
        revision: Some(u64::try_from(env.revision).unwrap_or(0)),
        allow_client_traits: env.allow_client_traits,
        hide_sensitive_data: env.hide_sensitive_data,
        hide_disabled_flags: env.hide_disabled_flags,
        use_identity_composite_key_for_hashing: env.use_identity_composite_key_for_hashing,
        use_identity_overrides_in_local_eval: env.use_identity_overrides_in_local_eval,
        project: Project {
            id: env.project_id,
            name: env.project_name,
            organisation: Some(Organisation {
                id: env.organisation_id,
                name: env.organisation_name,
                feature_analytics: env.feature_analytics,
                stop_serving_flags: env.stop_serving_flags,
                persist_trait_data: env.persist_trait_data,
            }),
            hide_disabled_flags: env.project_hide_disabled_flags,
            enable_realtime_updates: env.enable_realtime_updates,
            server_key_only_feature_ids: server_key_only.into_iter().map(|(id,)| id).collect(),
            segments,
        },
        feature_states: defaults,
        identity_overrides: by_identity
            .into_iter()
            .map(|(identifier, identity_features)| IdentityOverride {
                identifier,
                identity_features,
            })
            .collect(),
    };
    let (body, overrides) = serialize(&document)?;
    Ok(Some(BuiltDocument {
        environment_id: env.id,
        api_key: env.api_key,
        revision: u64::try_from(env.revision).unwrap_or(0),
        updated_at,
        body,
        overrides,
    }))
}

/// Serialises a document, writing `"feature_segment": null` where the engine's
/// model leaves it out, so the JSON reads as Flagsmith's does, and notes where
/// each identity override lands.
///
/// The top-level object is written entry by entry exactly as serde_json's
/// compact writer would (`{"k":v,"k2":v2}`), so the body is byte-identical
/// to `serde_json::to_vec` of the same value (a test checks).
fn serialize(document: &EnvironmentDocument) -> Result<(Vec<u8>, OverrideLayout), sqlx::Error> {
    let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    let mut value = serde_json::to_value(document).map_err(decode)?;
    let fill = |states: Option<&mut Value>| {
        if let Some(Value::Array(states)) = states {
            for state in states {
                if let Value::Object(map) = state {
                    map.entry("feature_segment").or_insert(Value::Null);
                }
            }
        }
    };
    fill(value.get_mut("feature_states"));
    if let Some(Value::Array(overrides)) = value.get_mut("identity_overrides") {
        for o in overrides {
            fill(o.get_mut("identity_features"));
        }
    }
    let Value::Object(map) = value else {
        // A struct always serialises to an object; anything else is written whole.
        return Ok((
            serde_json::to_vec(&value).map_err(decode)?,
            OverrideLayout::default(),
        ));
    };
    let mut out = Vec::new();
    let mut layout = OverrideLayout::default();
    out.push(b'{');
    for (i, (key, field)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key).map_err(decode)?;
        out.push(b':');
        match field {
            Value::Array(items) if key == "identity_overrides" => {
                let open = out.len();
                out.push(b'[');
                for (j, item) in items.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    let start = out.len();
                    serde_json::to_writer(&mut out, item).map_err(decode)?;
                    let identifier = item.get("identifier").and_then(Value::as_str);
                    layout
                        .items
                        .push((identifier.unwrap_or_default().into(), start..out.len()));
                }
                layout.brackets = Some((open, out.len()));
                out.push(b']');
            }
            other => serde_json::to_writer(&mut out, other).map_err(decode)?,
        }
    }
    out.push(b'}');
    Ok((out, layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(identifiers: &[&str]) -> EnvironmentDocument {
        let overrides: Vec<Value> = identifiers
            .iter()
            .map(|id| {
                serde_json::json!({"identifier": id, "identity_features": [{
                    "feature": {"id": 1, "name": "f", "type": "STANDARD"}, "enabled": true,
                    "feature_state_value": format!("v-{id}"), "django_id": 7,
                    "multivariate_feature_state_values": []}]})
            })
            .collect();
        let json = serde_json::json!({
            "id": 3, "api_key": "k", "name": "e \"quoted\" ünï", "revision": 9,
            "updated_at": "2025-01-01T00:00:00.000000+00:00",
            "project": {"id": 1, "name": "p", "segments": [], "hide_disabled_flags": false,
                "organisation": {"id": 1, "name": "o", "feature_analytics": false,
                    "stop_serving_flags": false, "persist_trait_data": true}},
            "feature_states": [{"feature": {"id": 1, "name": "f"}, "enabled": false,
                "feature_state_value": 1.5, "django_id": 1, "multivariate_feature_state_values": []}],
            "identity_overrides": overrides,
        });
        EnvironmentDocument::parse(&serde_json::to_vec(&json).unwrap()).unwrap()
    }

    fn built(identifiers: &[&str]) -> BuiltDocument {
        let (body, overrides) = serialize(&document(identifiers)).unwrap();
        BuiltDocument {
            environment_id: 3,
            api_key: "k".into(),
            revision: 9,
            updated_at: Timestamp(0),
            body,
            overrides,
        }
    }

    /// What the body was before pages existed: serde_json's compact writer.
    fn plain(document: &EnvironmentDocument) -> Vec<u8> {
        let mut value = serde_json::to_value(document).unwrap();
        for state in value["feature_states"].as_array_mut().unwrap() {
            state
                .as_object_mut()
                .unwrap()
                .entry("feature_segment")
                .or_insert(Value::Null);
        }
        for o in value["identity_overrides"].as_array_mut().unwrap() {
            for state in o["identity_features"].as_array_mut().unwrap() {
                state
                    .as_object_mut()
                    .unwrap()
                    .entry("feature_segment")
                    .or_insert(Value::Null);
            }
        }
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn the_body_is_serde_jsons_own() {
        for ids in [&[][..], &["a"][..], &["a", "b", "c"][..]] {
            let doc = document(ids);
            assert_eq!(serialize(&doc).unwrap().0, plain(&doc), "{ids:?}");
        }
    }

    #[test]
    fn pages_slice_the_overrides_and_keep_everything_else() {
        let ids = ["a", "b", "c", "d", "e", "f", "g"];
        let doc = built(&ids);
        assert_eq!(doc.override_count(), 7);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = doc.page(cursor.as_deref(), 3);
            let value: Value = serde_json::from_slice(&page.body).unwrap();
            let mut whole: Value = serde_json::from_slice(&doc.body).unwrap();
            let overrides = value["identity_overrides"].as_array().unwrap().clone();
            assert!(overrides.len() <= 3);
            seen.extend(
                overrides
                    .iter()
                    .map(|o| o["identifier"].as_str().unwrap().to_string()),
            );
            // Everything but the overrides is the whole document's.
            whole["identity_overrides"] = Value::Array(overrides);
            assert_eq!(value, whole);
            pages += 1;
            match page.next {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ids);
        // All at once, or a page size that covers them: the whole body.
        assert_eq!(doc.page(None, 0).body, doc.body);
        assert_eq!(doc.page(None, 7).body, doc.body);
        assert!(doc.page(None, 7).next.is_none());
        // Past the end: no overrides; a cursor between identifiers continues after it.
        let tail: Value = serde_json::from_slice(&doc.page(Some("zz"), 3).body).unwrap();
        assert_eq!(tail["identity_overrides"], serde_json::json!([]));
        let mid: Value = serde_json::from_slice(&doc.page(Some("bb"), 2).body).unwrap();
        assert_eq!(mid["identity_overrides"][0]["identifier"], "c");
        // No overrides at all.
        let empty = built(&[]);
        assert_eq!(empty.page(None, 3).body, empty.body);
        assert_eq!(empty.page(Some("a"), 3).body, empty.body);
    }
}
