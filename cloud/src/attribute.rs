//! JSON ⇄ DynamoDB attribute values. Numbers travel as DynamoDB numbers (decimal
//! text), as Flagsmith stores them; binary values are not JSON and are handled
//! by the caller (compressed document parts).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

use crate::CloudError;

/// A JSON value as an attribute value.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// A JSON object as an item.
pub fn to_item(object: &Map<String, Value>) -> HashMap<String, AttributeValue> {
    object
        .iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect()
}

fn number(text: &str) -> Result<Value, CloudError> {
    let parsed: Result<Number, _> = if let Ok(i) = text.parse::<i64>() {
        Ok(i.into())
    } else if let Ok(u) = text.parse::<u64>() {
        Ok(u.into())
    } else {
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .ok_or(())
    };
    parsed.map(Value::Number).map_err(|_| CloudError::Format {
        what: "number",
        message: text.to_string(),
    })
}

/// An attribute value as JSON (binary values are refused).
pub fn from_attribute(attribute: &AttributeValue) -> Result<Value, CloudError> {
    Ok(match attribute {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => number(n)?,
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(items) => {
            Value::Array(items.iter().map(from_attribute).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
                .collect::<Result<_, CloudError>>()?,
        ),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => {
            Value::Array(items.iter().map(|n| number(n)).collect::<Result<_, _>>()?)
        }
        other => {
            return Err(CloudError::Format {
                what: "attribute",
                message: format!("unexpected attribute {other:?}"),
            });
        }
    })
}

/// The size DynamoDB charges for an attribute value, in bytes (its documented
/// rules: names and strings by UTF-8 length, numbers by significant digits, one
/// byte for booleans and nulls, three bytes of overhead per list or map entry).
pub fn attribute_size(attribute: &AttributeValue) -> usize {
    match attribute {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => {
            n.trim_start_matches('-')
                .trim_start_matches('0')
                .len()
                .div_ceil(2)
                + 1
        }
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + attribute_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + attribute_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        AttributeValue::Ns(items) => items.iter().map(|n| n.len()).sum(),
        _ => 0,
    }
}

/// The size of an item.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + attribute_size(v)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips() {
        let value =
            json!({"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "big": 18446744073709551615u64});
        let back = from_attribute(&to_attribute(&value)).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn sizes_grow_with_content() {
        let small = to_item(json!({"k": "v"}).as_object().unwrap());
        let large = to_item(json!({"k": "v".repeat(1000)}).as_object().unwrap());
        assert_eq!(item_size(&small), 2);
        assert_eq!(item_size(&large), 1001);
    }
}
