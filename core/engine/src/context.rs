//! Evaluation contexts: the input model of Flagsmith's engine.
//!
//! This is the shape of `sdk/evaluation-context.json` and of the `context`
//! objects in Flagsmith's engine-test-data. Documents are mapped into the same
//! model (see [`crate::mapping`]), so one compiler and one evaluator serve both.
//! Maps keep their input order: segment order decides override ties.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ParseError;

/// A full evaluation context: environment, optional identity, features, segments.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct EvaluationContext {
    /// The environment being evaluated.
    pub environment: EnvironmentContext,
    /// The identity, if any; environment flags are evaluated without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityContext>,
    /// Segments in evaluation order, keyed by segment key.
    #[serde(default)]
    pub segments: OrderedMap<SegmentContext>,
    /// Features (environment defaults), keyed by feature name.
    #[serde(default)]
    pub features: OrderedMap<FeatureContext>,
}

/// The environment's key and name.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct EnvironmentContext {
    /// The client-side environment key.
    pub key: String,
    /// The environment's display name.
    pub name: String,
}

/// The identity being evaluated.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct IdentityContext {
    /// The identifier the SDK sent.
    pub identifier: String,
    /// The hashing key; when absent the engine uses `<environment key>_<identifier>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Trait values by trait key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub traits: OrderedMap<Value>,
}

/// A segment: rules that must all match, and the overrides it applies.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct SegmentContext {
    /// The key hashed by percentage splits (a Flagsmith segment's id as text).
    pub key: String,
    /// The segment's name, reported in results and reasons.
    pub name: String,
    /// Top-level rules; all must match, and a segment without rules never matches.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<SegmentRule>,
    /// Feature states this segment applies when it matches.
    #[serde(default, deserialize_with = "null_as_default")]
    pub overrides: Vec<FeatureContext>,
    /// Opaque metadata echoed in results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// How a rule combines its conditions and sub-rules.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum RuleType {
    /// Every condition and every sub-rule.
    #[serde(rename = "ALL")]
    All,
    /// At least one condition and at least one sub-rule.
    #[serde(rename = "ANY")]
    Any,
    /// No condition and no sub-rule.
    #[serde(rename = "NONE")]
    None,
}

/// A rule: conditions and nested rules combined by the rule's type.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SegmentRule {
    /// The combinator.
    #[serde(rename = "type")]
    pub rule_type: RuleType,
    /// Conditions on context values.
    #[serde(default, deserialize_with = "null_as_default")]
    pub conditions: Vec<SegmentCondition>,
    /// Nested rules, combined with the same type.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<SegmentRule>,
}

/// A condition on one context value.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SegmentCondition {
    /// A trait key, or a JSONPath starting with `$.`; empty for legacy splits.
    #[serde(default, deserialize_with = "null_as_default")]
    pub property: String,
    /// The operator name; an unknown one never matches.
    pub operator: String,
    /// The operand: a string, or a list for `IN`; null only for `IS_SET`-style operators.
    #[serde(default)]
    pub value: Value,
}

/// A feature state: an environment default, or a segment or identity override.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct FeatureContext {
    /// The key hashed to pick a variant (a feature state's id as text).
    pub key: String,
    /// The feature name.
    pub name: String,
    /// Whether the feature is on.
    pub enabled: bool,
    /// The value (any JSON).
    #[serde(default)]
    pub value: Value,
    /// Multivariate options, if any.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub variants: Vec<FeatureVariant>,
    /// Override priority: lower is stronger; absent is weakest.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_priority"
    )]
    pub priority: Option<f64>,
    /// Opaque metadata echoed in results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// One multivariate option with its share of identities.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct FeatureVariant {
    /// A stable key for the option, reported as the result's `variant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The option's value.
    #[serde(default)]
    pub value: Value,
    /// Percentage of identities (0..=100); kept as written so reasons print it as Python would.
    pub weight: serde_json::Number,
    /// Sort order: lower goes first. Document ids, or UUIDs as 128-bit integers.
    pub priority: VariantPriority,
}

/// A variant's sort key. Flagsmith uses a multivariate value's id, or the
/// 128-bit integer of its UUID, so plain 64-bit integers are not enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VariantPriority(pub i128, pub u128);

impl VariantPriority {
    /// A non-negative priority of any size up to 128 bits.
    pub fn from_u128(value: u128) -> VariantPriority {
        VariantPriority(i128::try_from(value).unwrap_or(i128::MAX), value)
    }

    /// A (possibly negative) 64-bit priority.
    pub fn from_i64(value: i64) -> VariantPriority {
        VariantPriority(i128::from(value), 0)
    }
}

impl Serialize for VariantPriority {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(self.0) {
            Ok(small) => serializer.serialize_i64(small),
            // JSON numbers past 64 bits are not portable: written as the nearest float.
            Err(_) => serializer.serialize_f64(self.1 as f64),
        }
    }
}

impl<'de> Deserialize<'de> for VariantPriority {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Number::deserialize(deserializer)? {
            n if n.as_i64().is_some() => Ok(VariantPriority::from_i64(n.as_i64().unwrap_or(0))),
            n if n.as_u64().is_some() => Ok(VariantPriority::from_u128(u128::from(
                n.as_u64().unwrap_or(0),
            ))),
            n => {
                // Integers beyond 64 bits arrive as floats: keep their order.
                let f = n.as_f64().unwrap_or(0.0);
                if f < 0.0 {
                    Ok(VariantPriority(f as i128, 0))
                } else {
                    Ok(VariantPriority::from_u128(f as u128))
                }
            }
        }
    }
}

fn serialize_priority<S: serde::Serializer>(
    priority: &Option<f64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match priority {
        Some(p) if p.is_finite() && p.fract() == 0.0 && p.abs() < 9.0e15 => {
            s.serialize_i64(*p as i64)
        }
        Some(p) if p.is_finite() => s.serialize_f64(*p),
        // JSON has no infinities; the weakest/strongest priorities are written as null.
        _ => s.serialize_none(),
    }
}

/// A JSON object kept in input order, as Python's dicts keep it.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderedMap<T>(pub Vec<(String, T)>);

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<T> OrderedMap<T> {
    /// Looks an entry up by key (linear; used off the hot path).
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Iterates the entries in order.
    pub fn iter(&self) -> impl Iterator<Item = &(String, T)> {
        self.0.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Inserts or replaces, keeping the first position of a key (as Python's dict does).
    pub fn insert(&mut self, key: String, value: T) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl<T: Serialize> Serialize for OrderedMap<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = OrderedMap(Vec::with_capacity(access.size_hint().unwrap_or(0)));
                while let Some((key, value)) = access.next_entry::<String, T>()? {
                    map.insert(key, value);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_any(OrderedVisitor(std::marker::PhantomData))
    }
}

/// Deserializes JSON `null` as the type's default (Python code reads `x or []`).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Removes `//` and `/* */` comments outside strings, so JSONC test files parse.
/// Comments are replaced by spaces to keep error positions right.
pub fn strip_json_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            if b == b'"' {
                in_string = false;
            }
            i += 1;
        } else if b == b'"' {
            in_string = true;
            out.push(b);
            i += 1;
        } else if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            let end = text[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |e| i + 2 + e + 2);
            while i < end {
                out.push(if bytes[i] == b'\n' { b'\n' } else { b' ' });
                i += 1;
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    // Only ASCII bytes were replaced, so the text stays valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Parses JSON (comments allowed) into `T`, naming the JSON path of any error.
pub(crate) fn parse_json_with_path<T: for<'de> Deserialize<'de>>(
    text: &str,
) -> Result<T, ParseError> {
    let cleaned = strip_json_comments(text);
    let mut deserializer = serde_json::Deserializer::from_str(&cleaned);
    let value =
        serde_path_to_error::deserialize(&mut deserializer).map_err(ParseError::from_path_error)?;
    deserializer
        .end()
        .map_err(|e| ParseError::new("$".to_string(), &e))?;
    Ok(value)
}

impl EvaluationContext {
    /// Parses a context (JSON, `//` comments allowed).
    pub fn parse(text: &str) -> Result<EvaluationContext, ParseError> {
        parse_json_with_path(text)
    }
}

/// An engine-test-data file: a context and the result Flagsmith's engine gives.
#[derive(Clone, Debug, Deserialize)]
pub struct TestCase {
    /// The input.
    pub context: EvaluationContext,
    /// The expected output, as JSON.
    pub result: Value,
}

impl TestCase {
    /// Parses an engine-test-data file (JSON or JSONC).
    pub fn parse(text: &str) -> Result<TestCase, ParseError> {
        parse_json_with_path(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_outside_strings() {
        let text = "// header\n{\"a\": \"//not a comment\", /* inline */ \"b\": 1}";
        let value: Value = serde_json::from_str(&strip_json_comments(text)).unwrap();
        assert_eq!(value["a"], "//not a comment");
        assert_eq!(value["b"], 1);
    }

    #[test]
    fn maps_keep_input_order() {
        let ctx = EvaluationContext::parse(
            r#"{"environment":{"key":"k","name":"n"},"segments":{
                "9":{"key":"9","name":"b","rules":[]},"1":{"key":"1","name":"a","rules":[]}}}"#,
        )
        .unwrap();
        let names: Vec<_> = ctx.segments.iter().map(|(_, s)| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
    }

    #[test]
    fn errors_name_the_json_path() {
        let err = EvaluationContext::parse(
            r#"{"environment":{"key":"k","name":"n"},"features":{"f":{"key":"1","name":"f","enabled":"yes"}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.path, "features.f.enabled");
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
