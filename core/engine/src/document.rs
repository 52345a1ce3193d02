//! Flagsmith environment documents (SPEC §2): the unit that flows from core to edges.
//!
//! The model follows what Flagsmith's API exports from `/api/v1/environment-document/`.
//! Unknown fields are ignored, so documents from newer Flagsmith versions load;
//! every field evaluation depends on is typed, so a malformed one is rejected
//! with its JSON path. `revision` is flagedge's own addition: a per-environment
//! counter that orders documents more finely than `updated_at`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::{RuleType, null_as_default};
use crate::error::ParseError;
use crate::timestamp::Timestamp;

/// An environment document.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct EnvironmentDocument {
    /// Flagsmith's environment id.
    #[serde(default)]
    pub id: i64,
    /// The client-side environment key.
    pub api_key: String,
    /// The environment's name (readable by `$.environment.name` conditions).
    #[serde(default)]
    pub name: String,
    /// When the environment last changed (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// flagedge's monotonically increasing revision of this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Whether client-side keys may set traits.
    #[serde(default = "yes")]
    pub allow_client_traits: bool,
    /// Whether identity responses hide traits.
    #[serde(default)]
    pub hide_sensitive_data: bool,
    /// Hide disabled flags; `null` defers to the project setting.
    #[serde(default)]
    pub hide_disabled_flags: Option<bool>,
    /// Hash identities by `<environment key>_<identifier>` (the default for new environments).
    #[serde(default = "yes")]
    pub use_identity_composite_key_for_hashing: bool,
    /// Whether `identity_overrides` is filled for local evaluation.
    #[serde(default)]
    pub use_identity_overrides_in_local_eval: bool,
    /// The project: segments and project-wide settings.
    pub project: Project,
    /// The environment default of every feature.
    #[serde(default, deserialize_with = "null_as_default")]
    pub feature_states: Vec<FeatureState>,
    /// Per-identity overrides carried in the document.
    #[serde(default, deserialize_with = "null_as_default")]
    pub identity_overrides: Vec<IdentityOverride>,
}

fn yes() -> bool {
    true
}

/// The project an environment belongs to.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Project {
    /// Flagsmith's project id.
    #[serde(default)]
    pub id: i64,
    /// The project's name.
    #[serde(default)]
    pub name: String,
    /// The owning organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<Organisation>,
    /// Hide disabled flags, unless the environment says otherwise.
    #[serde(default)]
    pub hide_disabled_flags: bool,
    /// Whether SDKs may subscribe to realtime updates.
    #[serde(default)]
    pub enable_realtime_updates: bool,
    /// Features that client-side keys never see.
    #[serde(default, deserialize_with = "null_as_default")]
    pub server_key_only_feature_ids: Vec<i64>,
    /// Segments, in evaluation order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub segments: Vec<Segment>,
}

/// The organisation that owns the project.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Organisation {
    /// Flagsmith's organisation id.
    #[serde(default)]
    pub id: i64,
    /// The organisation's name.
    #[serde(default)]
    pub name: String,
    /// Whether flag analytics are collected.
    #[serde(default)]
    pub feature_analytics: bool,
    /// When true, no flags are served at all.
    #[serde(default)]
    pub stop_serving_flags: bool,
    /// Whether identities' traits are stored.
    #[serde(default = "yes")]
    pub persist_trait_data: bool,
}

/// A feature as feature states refer to it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Feature {
    /// Flagsmith's feature id.
    pub id: i64,
    /// The feature's name: the key SDKs look flags up by.
    pub name: String,
    /// `STANDARD` or `MULTIVARIATE`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub feature_type: Option<String>,
}

/// A feature state: a value and on/off for one feature in one scope.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct FeatureState {
    /// The feature.
    pub feature: Feature,
    /// On or off.
    pub enabled: bool,
    /// The value: string, integer, boolean or null.
    #[serde(default)]
    pub feature_state_value: Value,
    /// The state's id (or, from newer cores, its multivariate hashing seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub django_id: Option<i64>,
    /// The state's UUID, hashed when `django_id` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub featurestate_uuid: Option<String>,
    /// Present on segment overrides: their priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_segment: Option<FeatureSegment>,
    /// Multivariate options with their allocations.
    #[serde(default, deserialize_with = "null_as_default")]
    pub multivariate_feature_state_values: Vec<MultivariateValue>,
}

/// A segment override's link to its segment.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct FeatureSegment {
    /// Lower is stronger; null is weakest.
    #[serde(default)]
    pub priority: Option<f64>,
}

/// One multivariate option's allocation in a feature state.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct MultivariateValue {
    /// The allocation's id (its sort key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The allocation's UUID (its sort key when `id` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mv_fs_value_uuid: Option<String>,
    /// Percentage of identities that get this option.
    pub percentage_allocation: serde_json::Number,
    /// The option.
    pub multivariate_feature_option: MultivariateOption,
}

/// A multivariate option.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct MultivariateOption {
    /// The option's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The option's value.
    #[serde(default)]
    pub value: Value,
    /// A stable key, reported as the evaluated `variant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A segment of the project.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Segment {
    /// Flagsmith's segment id; its text is the percentage-split hash key.
    pub id: i64,
    /// The segment's name.
    pub name: String,
    /// The rules; all must match.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<Rule>,
    /// The overrides the segment applies.
    #[serde(default, deserialize_with = "null_as_default")]
    pub feature_states: Vec<FeatureState>,
}

/// A rule in a segment.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Rule {
    /// ALL, ANY or NONE.
    #[serde(rename = "type")]
    pub rule_type: RuleType,
    /// Nested rules.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<Rule>,
    /// Conditions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub conditions: Vec<Condition>,
}

/// A condition in a rule (`property_` with Flagsmith's trailing underscore).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Condition {
    /// The operator name.
    pub operator: String,
    /// The operand as text (null for IS_SET / IS_NOT_SET).
    #[serde(default)]
    pub value: Value,
    /// The trait key or JSONPath; null for legacy percentage splits.
    #[serde(default)]
    pub property_: Option<String>,
}

/// Overrides for one identity.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct IdentityOverride {
    /// The identity's identifier.
    pub identifier: String,
    /// Its feature states (at most one per feature).
    #[serde(default, deserialize_with = "null_as_default")]
    pub identity_features: Vec<FeatureState>,
}

impl EnvironmentDocument {
    /// Parses a document, naming the JSON path of the first error.
    pub fn parse(bytes: &[u8]) -> Result<EnvironmentDocument, ParseError> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let document: EnvironmentDocument = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(ParseError::from_path_error)?;
        deserializer
            .end()
            .map_err(|e| ParseError::new("$".to_string(), &e))?;
        document.validate()?;
        Ok(document)
    }

    /// Checks what serde cannot: values that must be present for evaluation.
    fn validate(&self) -> Result<(), ParseError> {
        if let Some(updated_at) = &self.updated_at
            && Timestamp::parse_iso8601(updated_at).is_none()
        {
            return Err(ParseError::invalid(
                "updated_at",
                "not an ISO 8601 date-time",
            ));
        }
        let check_states = |states: &[FeatureState], at: &str| -> Result<(), ParseError> {
            for (i, state) in states.iter().enumerate() {
                state
                    .hash_key()
                    .map_err(|m| ParseError::invalid(format!("{at}[{i}]"), m))?;
                for (j, mv) in state.multivariate_feature_state_values.iter().enumerate() {
                    mv.sort_key().map_err(|m| {
                        ParseError::invalid(
                            format!("{at}[{i}].multivariate_feature_state_values[{j}]"),
                            m,
                        )
                    })?;
                }
            }
            Ok(())
        };
        check_states(&self.feature_states, "feature_states")?;
        for (i, segment) in self.project.segments.iter().enumerate() {
            check_states(
                &segment.feature_states,
                &format!("project.segments[{i}].feature_states"),
            )?;
        }
        Ok(())
    }

    /// The parsed `updated_at`, if the document has one.
    pub fn updated_at(&self) -> Option<Timestamp> {
        self.updated_at
            .as_deref()
            .and_then(Timestamp::parse_iso8601)
    }

    /// Whether disabled flags are hidden: the environment's setting, else the project's.
    pub fn hides_disabled_flags(&self) -> bool {
        self.hide_disabled_flags
            .unwrap_or(self.project.hide_disabled_flags)
    }
}

impl FeatureState {
    /// The text hashed for variants: `django_id` unless absent or zero, else the UUID.
    pub fn hash_key(&self) -> Result<String, &'static str> {
        match (self.django_id, &self.featurestate_uuid) {
            (Some(id), _) if id != 0 => Ok(id.to_string()),
            (_, Some(uuid)) => Ok(uuid.clone()),
            _ => Err("a feature state needs a django_id or a featurestate_uuid"),
        }
    }
}

impl MultivariateValue {
    /// The variant's sort key: its id unless absent or zero, else its UUID as an integer.
    pub fn sort_key(&self) -> Result<crate::context::VariantPriority, &'static str> {
        match (self.id, &self.mv_fs_value_uuid) {
            (Some(id), _) if id != 0 => Ok(crate::context::VariantPriority::from_i64(id)),
            (_, Some(uuid)) => parse_uuid_int(uuid)
                .map(crate::context::VariantPriority::from_u128)
                .ok_or("mv_fs_value_uuid is not a UUID"),
            _ => Err("a multivariate value needs an id or an mv_fs_value_uuid"),
        }
    }
}

/// Parses a UUID as Python's `uuid.UUID(text).int` does: braces, `urn:uuid:` and
/// hyphens are dropped, and exactly 32 hex digits must remain.
fn parse_uuid_int(text: &str) -> Option<u128> {
    let trimmed = text
        .trim_start_matches("urn:")
        .trim_start_matches("uuid:")
        .trim_matches(|c| c == '{' || c == '}');
    let hex: String = trimmed.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ints_match_python() {
        // uuid.UUID("0b02ce41-9965-4c61-8b96-c8d76e3d4a27").int
        assert_eq!(
            parse_uuid_int("0b02ce41-9965-4c61-8b96-c8d76e3d4a27"),
            Some(0x0b02ce4199654c618b96c8d76e3d4a27)
        );
        assert_eq!(
            parse_uuid_int("{0B02CE41-9965-4C61-8B96-C8D76E3D4A27}"),
            Some(0x0b02ce4199654c618b96c8d76e3d4a27)
        );
        assert_eq!(parse_uuid_int("not-a-uuid"), None);
    }

    #[test]
    fn malformed_documents_name_the_path() {
        let err = EnvironmentDocument::parse(
            br#"{"api_key":"k","project":{"segments":[{"id":1,"name":"s","rules":[{"type":"SOME"}]}]}}"#,
        )
        .unwrap_err();
        assert_eq!(err.path, "project.segments[0].rules[0].type");
        let err = EnvironmentDocument::parse(
            br#"{"api_key":"k","project":{},"feature_states":[{"feature":{"id":1,"name":"f"},"enabled":true}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.path, "feature_states[0]");
        let err =
            EnvironmentDocument::parse(br#"{"api_key":"k","project":{}} trailing"#).unwrap_err();
        assert_eq!(err.path, "$");
    }
}
