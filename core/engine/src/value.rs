//! Context values: what a segment condition compares against.
//!
//! Flagsmith coerces every value a condition reads (a trait, a JSONPath result)
//! with `map_any_value_to_context_value`: strings that look like integers or
//! decimals become numbers, so the trait `"21"` behaves exactly like `21`.

use std::borrow::Cow;

use serde_json::Value;

use crate::python::{self, PyInt};

/// A coerced scalar, typed as the reference engine types it.
#[derive(Clone, Debug, PartialEq)]
pub enum ContextValue<'a> {
    /// A boolean (never coerced from a string).
    Bool(bool),
    /// An integer, from a JSON integer or an integer-looking string.
    Int(PyInt),
    /// A float, from a JSON float or a decimal-looking string.
    Float(f64),
    /// Any other string.
    Str(Cow<'a, str>),
}

impl<'a> ContextValue<'a> {
    /// Coerces a JSON value; `None` for JSON null.
    pub fn from_json(value: &'a Value) -> Option<ContextValue<'a>> {
        match value {
            Value::Null => None,
            Value::Bool(b) => Some(ContextValue::Bool(*b)),
            Value::Number(n) => Some(number_value(n)),
            Value::String(s) => Some(coerce_str(s)),
            // Not a context value type: the reference engine stringifies it.
            other => Some(ContextValue::Str(python::json_str(other).into())),
        }
    }

    /// Python's `str(value)`: what is hashed and regex-matched.
    pub fn to_python_str(&self) -> Cow<'_, str> {
        match self {
            ContextValue::Bool(true) => "True".into(),
            ContextValue::Bool(false) => "False".into(),
            ContextValue::Int(i) => i.to_string().into(),
            ContextValue::Float(f) => python::float_repr(*f).into(),
            ContextValue::Str(s) => Cow::Borrowed(s),
        }
    }

    /// Detaches the value from the data it borrows.
    pub fn into_owned(self) -> ContextValue<'static> {
        match self {
            ContextValue::Bool(b) => ContextValue::Bool(b),
            ContextValue::Int(i) => ContextValue::Int(i),
            ContextValue::Float(f) => ContextValue::Float(f),
            ContextValue::Str(s) => ContextValue::Str(Cow::Owned(s.into_owned())),
        }
    }
}

fn number_value(n: &serde_json::Number) -> ContextValue<'static> {
    if let Some(i) = n.as_i64() {
        ContextValue::Int(PyInt::Small(i))
    } else if let Some(u) = n.as_u64() {
        ContextValue::Int(python::parse_int(&u.to_string()).unwrap_or(PyInt::Small(0)))
    } else {
        ContextValue::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Coerces a string: `-?[0-9]+` becomes an int, `-?[0-9]+\.[0-9]+` a float.
pub fn coerce_str(s: &str) -> ContextValue<'_> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if all_digits(digits) {
        if let Some(i) = python::parse_int(s) {
            return ContextValue::Int(i);
        }
    } else if let Some((int_part, frac_part)) = digits.split_once('.')
        && all_digits(int_part)
        && all_digits(frac_part)
        && let Ok(f) = s.parse::<f64>()
    {
        return ContextValue::Float(f);
    }
    ContextValue::Str(Cow::Borrowed(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_strings_become_numbers() {
        assert_eq!(coerce_str("21"), ContextValue::Int(PyInt::Small(21)));
        assert_eq!(coerce_str("-007"), ContextValue::Int(PyInt::Small(-7)));
        assert_eq!(coerce_str("1.50"), ContextValue::Float(1.5));
        assert_eq!(coerce_str("1."), ContextValue::Str("1.".into()));
        assert_eq!(coerce_str("+1"), ContextValue::Str("+1".into()));
        assert_eq!(coerce_str(" 1"), ContextValue::Str(" 1".into()));
        assert_eq!(coerce_str("1e5"), ContextValue::Str("1e5".into()));
        assert_eq!(coerce_str("-"), ContextValue::Str("-".into()));
    }

    #[test]
    fn python_str_of_values() {
        assert_eq!(ContextValue::Bool(true).to_python_str(), "True");
        assert_eq!(coerce_str("007").to_python_str(), "7");
        assert_eq!(ContextValue::Float(2.0).to_python_str(), "2.0");
    }
}
