//! Input bounds, chosen to match Flagsmith's model limits so anything
//! Flagsmith accepts, flagedge accepts, and nothing larger reaches a document:
//!
//! | what | limit | Flagsmith |
//! |---|---|---|
//! | organisation, project, environment, feature, segment, key names | 2000 chars | `Feature.name` max_length 2000 |
//! | descriptions | 20 000 chars | text fields |
//! | string feature-state / option values | 20 000 chars | `FEATURE_STATE_VALUE_LIMIT` |
//! | identity identifiers | 2000 chars | `Identity.identifier` max_length 2000 |
//! | trait keys | 200 chars | `Trait.trait_key` max_length 200 |
//! | trait string values | 2000 chars | `TRAIT_STRING_VALUE_MAX_LENGTH` |
//! | condition properties and values | 1000 chars | `Condition.property`/`value` max_length 1000 |
//! | segment rules | depth 6, 500 conditions | (unbounded in Flagsmith) |
//! | multivariate allocations | 0..=100 each, ≤ 100 summed | same |

use serde_json::Value;

use crate::error::FieldErrors;

/// Longest name.
pub const NAME_MAX: usize = 2000;
/// Longest description.
pub const DESCRIPTION_MAX: usize = 20_000;
/// Longest string feature value.
pub const VALUE_MAX: usize = 20_000;
/// Longest identifier.
pub const IDENTIFIER_MAX: usize = 2000;
/// Longest trait key.
pub const TRAIT_KEY_MAX: usize = 200;
/// Longest trait string value.
pub const TRAIT_VALUE_MAX: usize = 2000;
/// Longest condition property or value.
pub const CONDITION_MAX: usize = 1000;
/// Deepest rule nesting.
pub const RULE_DEPTH_MAX: usize = 6;
/// Most conditions in one segment.
pub const CONDITIONS_MAX: usize = 500;

/// Checks a required name: present, not blank, bounded, no control characters.
pub fn name(errors: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) {
    match value {
        None => errors.add(field, "This field is required."),
        Some(v) => text(errors, field, v, max, false),
    }
}

/// Checks the `name` field of a resource (at most [`NAME_MAX`]): always when
/// the whole object is given (`full`: POST, PUT), else only if it is present
/// (PATCH leaves an absent name as it is).
pub fn resource_name(errors: &mut FieldErrors, value: Option<&str>, full: bool) {
    if full || value.is_some() {
        name(errors, "name", value, NAME_MAX);
    }
}

/// Checks a text value's length and characters; `blank_ok` allows "".
pub fn text(errors: &mut FieldErrors, field: &str, value: &str, max: usize, blank_ok: bool) {
    if !blank_ok && value.trim().is_empty() {
        errors.add(field, "This field may not be blank.");
    } else if value.chars().count() > max {
        errors.add(
            field,
            format!("Ensure this field has no more than {max} characters."),
        );
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        errors.add(field, "Control characters are not allowed.");
    }
}

/// Checks an optional description.
pub fn description(errors: &mut FieldErrors, value: Option<&str>) {
    if let Some(v) = value {
        text(errors, "description", v, DESCRIPTION_MAX, true);
    }
}

/// Normalises a feature value: string, integer, boolean or null; floats are
/// kept as their text (Flagsmith stores them as strings).
pub fn feature_value(errors: &mut FieldErrors, field: &str, value: &Value) -> Value {
    match value {
        Value::Null | Value::Bool(_) => value.clone(),
        Value::Number(n) if n.is_i64() => value.clone(),
        Value::Number(n) if n.is_u64() => {
            errors.add(field, "Integer values must fit in 64 bits.");
            Value::Null
        }
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => {
            if s.chars().count() > VALUE_MAX {
                errors.add(
                    field,
                    format!("Value too long: at most {VALUE_MAX} characters."),
                );
            }
            value.clone()
        }
        Value::Array(_) | Value::Object(_) => {
            errors.add(field, "Must be a string, integer, boolean or null.");
            Value::Null
        }
    }
}

/// Normalises a trait value: string (≤ 2000), number or boolean.
pub fn trait_value(errors: &mut FieldErrors, field: &str, value: &Value) -> Value {
    match value {
        Value::Bool(_) | Value::Number(_) => value.clone(),
        Value::String(s) => {
            if s.chars().count() > TRAIT_VALUE_MAX {
                errors.add(
                    field,
                    format!("Trait values may have at most {TRAIT_VALUE_MAX} characters."),
                );
            }
            value.clone()
        }
        Value::Null => {
            errors.add(field, "This field may not be null.");
            Value::Null
        }
        Value::Array(_) | Value::Object(_) => {
            errors.add(field, "Must be a string, number or boolean.");
            Value::Null
        }
    }
}

/// Checks a percentage allocation.
pub fn percentage(errors: &mut FieldErrors, field: &str, value: f64) {
    if !(0.0..=100.0).contains(&value) || value.is_nan() {
        errors.add(field, "Must be between 0 and 100.");
    }
}
