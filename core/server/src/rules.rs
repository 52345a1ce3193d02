//! A segment's rule tree as core stores it (a JSON column) and as the admin
//! API shows it: `{"type": "ALL", "rules": [...], "conditions": [{"operator",
//! "property", "value"}]}`. A leaf: `api/segments.rs` validates and writes it,
//! `document.rs` reads it into documents.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

fn one_of_texts(texts: &[&'static str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(texts.iter().copied()))
        .build()
}

fn rule_types() -> Object {
    one_of_texts(&["ALL", "ANY", "NONE"])
}

fn operators() -> Object {
    one_of_texts(flagedge_engine::OPERATORS)
}

/// A rule as stored (and as the API shows it).
#[derive(Deserialize, Serialize, Clone, Debug, ToSchema)]
pub struct Rule {
    /// ALL, ANY or NONE.
    #[serde(rename = "type")]
    #[schema(schema_with = rule_types)]
    pub kind: String,
    /// Nested rules.
    #[serde(default)]
    #[schema(no_recursion)]
    pub rules: Vec<Rule>,
    /// Conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A condition as stored.
#[derive(Deserialize, Serialize, Clone, Debug, ToSchema)]
pub struct Condition {
    /// One of [`flagedge_engine::OPERATORS`].
    #[schema(schema_with = operators)]
    pub operator: String,
    /// Trait key or JSONPath; null for legacy percentage splits.
    #[serde(default, alias = "property_")]
    pub property: Option<String>,
    /// The operand (text), null for IS_SET / IS_NOT_SET.
    #[serde(default)]
    pub value: Option<Value>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
