//! Condition operators (SPEC §3.3), compiled once per document.
//!
//! Each operator's operand is parsed here in every form a request might need —
//! as Python's `bool`, `int`, `float` and semver cast it, as an `IN` set, as a
//! compiled regex — so that matching a context value is a comparison, never a
//! parse. The quirks are the reference engine's: any operand except "False" and
//! "false" casts to `True`; a float operand never equals an int trait; `IN`
//! never matches floats or booleans; `MODULO` is floored; `REGEX` is anchored at
//! the start only.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::python::{self, PyInt};
use crate::regex::PythonRegex;
use crate::semver::{SEMVER_SUFFIX, Version};
use crate::value::ContextValue;

/// A compiled operator with its operand.
#[derive(Debug)]
pub enum Operator {
    /// `EQUAL`, `NOT_EQUAL`, `GREATER_THAN(_INCLUSIVE)`, `LESS_THAN(_INCLUSIVE)`, `CONTAINS`.
    Typed(Comparison, TypedOperand),
    /// `NOT_CONTAINS`: the operand text is not a substring of a string value.
    NotContains(Box<str>),
    /// `REGEX`; `None` when the pattern cannot be used (never matches).
    Regex(Option<Arc<PythonRegex>>),
    /// `MODULO` with `divisor|remainder`; `None` when malformed (never matches).
    Modulo(Option<(f64, f64)>),
    /// `PERCENTAGE_SPLIT` with its threshold; `None` when malformed.
    PercentageSplit(Option<f64>),
    /// `IS_SET`.
    IsSet,
    /// `IS_NOT_SET`.
    IsNotSet,
    /// `IN`; `None` for a null operand (never matches).
    In(Option<InSet>),
    /// An operator this engine does not know: never matches, as in the reference.
    Unknown,
}

/// The comparison of a typed operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `EQUAL`
    Equal,
    /// `NOT_EQUAL`
    NotEqual,
    /// `GREATER_THAN`
    GreaterThan,
    /// `GREATER_THAN_INCLUSIVE`
    GreaterThanInclusive,
    /// `LESS_THAN`
    LessThan,
    /// `LESS_THAN_INCLUSIVE`
    LessThanInclusive,
    /// `CONTAINS`
    Contains,
}

/// An operand pre-cast to every type a context value may have.
#[derive(Debug)]
pub struct TypedOperand {
    text: Box<str>,
    as_bool: bool,
    as_int: Option<PyInt>,
    as_float: Option<f64>,
    /// Present when the text ends in `:semver`: the version before the suffix, if
    /// valid. Boxed: rare, and large enough to double every condition's size.
    semver: Option<Box<SemverOperand>>,
}

#[derive(Debug)]
struct SemverOperand {
    version: Option<Version>,
    text: Box<str>,
}

/// The members of an `IN` list, as strings.
#[derive(Debug)]
pub enum InSet {
    /// Few members: a linear scan beats hashing.
    Small(Vec<Box<str>>),
    /// Many members.
    Large(HashSet<Box<str>>),
}

impl InSet {
    fn new(members: Vec<String>) -> InSet {
        if members.len() <= 8 {
            InSet::Small(members.into_iter().map(Into::into).collect())
        } else {
            InSet::Large(members.into_iter().map(Into::into).collect())
        }
    }

    /// Whether `text` is a member.
    pub fn contains(&self, text: &str) -> bool {
        match self {
            InSet::Small(members) => members.iter().any(|m| &**m == text),
            InSet::Large(members) => members.contains(text),
        }
    }

    /// The members, for indexing and explanations.
    pub fn members(&self) -> Vec<&str> {
        match self {
            InSet::Small(members) => members.iter().map(|m| &**m).collect(),
            InSet::Large(members) => members.iter().map(|m| &**m).collect(),
        }
    }
}

/// The operand as Python's `str()` would give it; `None` for JSON null.
fn operand_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        other => Some(python::json_str(other)),
    }
}

/// The name of every segment condition operator (SPEC §3.3): the one list of
/// them in flagedge. The parser below, the synthetic generators and the core's
/// validation all read it.
///
/// The order is fixed: seeded generators choose by index, so reordering would
/// change every synthetic document a seed produces.
pub const OPERATORS: &[&str] = &{
    let mut names = [""; OperatorName::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = OperatorName::ALL[i].as_str();
        i += 1;
    }
    names
};

/// An operator as documents name it, before its operand is compiled.
///
/// A new operator is a variant here, an entry in `ALL` and a name in `as_str`;
/// `Operator::compile` then does not build until it says what the operator does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OperatorName {
    Equal,
    NotEqual,
    GreaterThan,
    GreaterThanInclusive,
    LessThan,
    LessThanInclusive,
    Contains,
    NotContains,
    Regex,
    Modulo,
    In,
    IsSet,
    IsNotSet,
    PercentageSplit,
}

impl OperatorName {
    /// Every operator, in declaration order.
    const ALL: [OperatorName; 14] = [
        OperatorName::Equal,
        OperatorName::NotEqual,
        OperatorName::GreaterThan,
        OperatorName::GreaterThanInclusive,
        OperatorName::LessThan,
        OperatorName::LessThanInclusive,
        OperatorName::Contains,
        OperatorName::NotContains,
        OperatorName::Regex,
        OperatorName::Modulo,
        OperatorName::In,
        OperatorName::IsSet,
        OperatorName::IsNotSet,
        OperatorName::PercentageSplit,
    ];

    /// The name documents spell it with.
    const fn as_str(self) -> &'static str {
        match self {
            OperatorName::Equal => "EQUAL",
            OperatorName::NotEqual => "NOT_EQUAL",
            OperatorName::GreaterThan => "GREATER_THAN",
            OperatorName::GreaterThanInclusive => "GREATER_THAN_INCLUSIVE",
            OperatorName::LessThan => "LESS_THAN",
            OperatorName::LessThanInclusive => "LESS_THAN_INCLUSIVE",
            OperatorName::Contains => "CONTAINS",
            OperatorName::NotContains => "NOT_CONTAINS",
            OperatorName::Regex => "REGEX",
            OperatorName::Modulo => "MODULO",
            OperatorName::In => "IN",
            OperatorName::IsSet => "IS_SET",
            OperatorName::IsNotSet => "IS_NOT_SET",
            OperatorName::PercentageSplit => "PERCENTAGE_SPLIT",
        }
    }

    /// The operator a document names; `None` for a name this engine does not know.
    fn parse(name: &str) -> Option<OperatorName> {
        OperatorName::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

// `ALL` holds each variant once, in declaration order.
const _: () = {
    let mut i = 0;
    while i < OperatorName::ALL.len() {
        assert!(OperatorName::ALL[i] as usize == i);
        i += 1;
    }
};

impl Operator {
    /// Compiles an operator name and operand.
    pub fn compile(operator: &str, operand: &Value) -> Operator {
        let Some(name) = OperatorName::parse(operator) else {
            return Operator::Unknown;
        };
        // Python's str(None) is "None": that is what a null operand compares as.
        let text = || operand_text(operand).unwrap_or_else(|| "None".to_string());
        let typed = |comparison| Operator::Typed(comparison, TypedOperand::new(text()));
        match name {
            OperatorName::Equal => typed(Comparison::Equal),
            OperatorName::NotEqual => typed(Comparison::NotEqual),
            OperatorName::GreaterThan => typed(Comparison::GreaterThan),
            OperatorName::GreaterThanInclusive => typed(Comparison::GreaterThanInclusive),
            OperatorName::LessThan => typed(Comparison::LessThan),
            OperatorName::LessThanInclusive => typed(Comparison::LessThanInclusive),
            OperatorName::Contains => typed(Comparison::Contains),
            OperatorName::NotContains => Operator::NotContains(text().into()),
            OperatorName::Regex => Operator::Regex(PythonRegex::shared(&text())),
            OperatorName::Modulo => Operator::Modulo(parse_modulo(operand)),
            OperatorName::PercentageSplit => Operator::PercentageSplit(
                operand_text(operand).and_then(|t| python::parse_float(&t)),
            ),
            OperatorName::IsSet => Operator::IsSet,
            OperatorName::IsNotSet => Operator::IsNotSet,
            OperatorName::In => Operator::In(in_members(operand).map(InSet::new)),
        }
    }

    /// Whether the operator matches a (non-null) context value.
    /// `IS_SET`, `IS_NOT_SET`, `IN` and splits are decided by the caller, which
    /// knows about null values and hash keys.
    pub fn matches_value(&self, value: &ContextValue<'_>) -> bool {
        match self {
            Operator::Typed(comparison, operand) => operand.compare(*comparison, value),
            Operator::NotContains(needle) => {
                matches!(value, ContextValue::Str(s) if !s.contains(&**needle))
            }
            Operator::Regex(Some(regex)) => regex.matches_start(&value.to_python_str()),
            Operator::Modulo(Some((divisor, remainder))) => {
                let dividend = match value {
                    ContextValue::Bool(b) => f64::from(u8::from(*b)),
                    ContextValue::Int(i) => i.to_f64(),
                    ContextValue::Float(f) => *f,
                    ContextValue::Str(_) => return false,
                };
                python::float_mod(dividend, *divisor) == Some(*remainder)
            }
            Operator::In(Some(set)) => match value {
                ContextValue::Str(s) => set.contains(s),
                // Integers are compared as text; floats and booleans never match.
                ContextValue::Int(i) => set.contains(&i.to_string()),
                ContextValue::Float(_) | ContextValue::Bool(_) => false,
            },
            Operator::IsSet => true,
            _ => false,
        }
    }
}

impl TypedOperand {
    fn new(text: String) -> TypedOperand {
        let semver = text.strip_suffix(SEMVER_SUFFIX).map(|version| {
            Box::new(SemverOperand {
                version: Version::parse(version),
                text: version.into(),
            })
        });
        TypedOperand {
            as_bool: text != "False" && text != "false",
            as_int: python::parse_int(&text),
            as_float: python::parse_float(&text),
            semver,
            text: text.into(),
        }
    }

    /// Casts the operand to the value's type and compares, as the reference's
    /// `_context_value_typed` does; a failed cast is a non-match.
    fn compare(&self, comparison: Comparison, value: &ContextValue<'_>) -> bool {
        let ordering = match value {
            ContextValue::Str(s) => {
                if let Some(semver) = &self.semver {
                    let Some(version) = Version::parse(s) else {
                        return false;
                    };
                    if comparison == Comparison::Contains {
                        return version.has_component(&semver.text);
                    }
                    let Some(operand) = &semver.version else {
                        return false;
                    };
                    Some(version.cmp(operand))
                } else if comparison == Comparison::Contains {
                    return s.contains(&*self.text);
                } else {
                    Some((**s).cmp(&*self.text))
                }
            }
            _ if comparison == Comparison::Contains => return false,
            ContextValue::Bool(b) => Some(b.cmp(&self.as_bool)),
            ContextValue::Int(i) => match &self.as_int {
                Some(operand) => Some(i.cmp(operand)),
                None => return false,
            },
            ContextValue::Float(f) => match self.as_float {
                Some(operand) => f.partial_cmp(&operand),
                None => return false,
            },
        };
        match (comparison, ordering) {
            // NaN: every comparison is false except `!=`.
            (Comparison::NotEqual, None) => true,
            (_, None) => false,
            (Comparison::Equal, Some(o)) => o == Ordering::Equal,
            (Comparison::NotEqual, Some(o)) => o != Ordering::Equal,
            (Comparison::GreaterThan, Some(o)) => o == Ordering::Greater,
            (Comparison::GreaterThanInclusive, Some(o)) => o != Ordering::Less,
            (Comparison::LessThan, Some(o)) => o == Ordering::Less,
            (Comparison::LessThanInclusive, Some(o)) => o != Ordering::Greater,
            (Comparison::Contains, Some(_)) => false,
        }
    }
}

/// `divisor|remainder`, both floats; anything else never matches.
fn parse_modulo(operand: &Value) -> Option<(f64, f64)> {
    let text = operand.as_str()?;
    let (divisor, remainder) = text.split_once('|')?;
    if remainder.contains('|') {
        return None;
    }
    let divisor = python::parse_float(divisor)?;
    if divisor == 0.0 {
        // Python raises ZeroDivisionError; here it is a non-match.
        return None;
    }
    Some((divisor, python::parse_float(remainder)?))
}

/// The members of an `IN` operand: a JSON list, a JSON array in a string, or
/// comma-separated text (the fallback when bracketed text is not valid JSON).
fn in_members(operand: &Value) -> Option<Vec<String>> {
    match operand {
        Value::Null => None,
        Value::Array(items) => Some(items.iter().map(python::json_str).collect()),
        Value::String(text) => {
            if text.starts_with('[')
                && let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text)
            {
                return Some(items.iter().map(python::json_str).collect());
            }
            Some(text.split(',').map(str::to_string).collect())
        }
        other => Some(vec![python::json_str(other)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::coerce_str;
    use serde_json::json;

    fn check(operator: &str, operand: Value, value: ContextValue<'_>) -> bool {
        Operator::compile(operator, &operand).matches_value(&value)
    }

    #[test]
    fn every_listed_operator_is_known() {
        for (i, name) in OPERATORS.iter().enumerate() {
            assert!(
                !matches!(Operator::compile(name, &json!("1")), Operator::Unknown),
                "{name}"
            );
            assert!(!OPERATORS[..i].contains(name), "{name} listed twice");
        }
        assert_eq!(OPERATORS.len(), 14);
        assert!(matches!(
            Operator::compile("equal", &json!("1")),
            Operator::Unknown
        ));
        assert!(matches!(
            Operator::compile("STARTS_WITH", &json!("1")),
            Operator::Unknown
        ));
    }

    #[test]
    fn bool_cast_quirk() {
        // Any operand except "False"/"false" is True.
        assert!(check("EQUAL", json!("1"), ContextValue::Bool(true)));
        assert!(check("EQUAL", json!("foo"), ContextValue::Bool(true)));
        assert!(check("EQUAL", json!("false"), ContextValue::Bool(false)));
        assert!(!check("EQUAL", json!("False"), ContextValue::Bool(true)));
        assert!(!check("CONTAINS", json!("True"), ContextValue::Bool(true)));
    }

    #[test]
    fn typed_casts() {
        assert!(check("EQUAL", json!("21"), coerce_str("21")));
        assert!(
            !check("EQUAL", json!("21.0"), coerce_str("21")),
            "float operand on an int value"
        );
        assert!(check("EQUAL", json!("21.0"), coerce_str("21.0")));
        assert!(check("GREATER_THAN", json!("1_000"), coerce_str("1001")));
        assert!(check("LESS_THAN", json!("b"), coerce_str("a")));
        assert!(check("CONTAINS", json!("ell"), coerce_str("hello")));
        assert!(
            !check("CONTAINS", json!("1"), coerce_str("12")),
            "ints have no substrings"
        );
        assert!(check(
            "NOT_EQUAL",
            json!("nan"),
            ContextValue::Float(f64::NAN)
        ));
    }

    #[test]
    fn not_contains_only_for_strings() {
        assert!(check("NOT_CONTAINS", json!("x"), coerce_str("abc")));
        assert!(!check("NOT_CONTAINS", json!("b"), coerce_str("abc")));
        assert!(!check("NOT_CONTAINS", json!("x"), coerce_str("12")));
    }

    #[test]
    fn regex_is_start_anchored() {
        assert!(check("REGEX", json!("[a-z]+"), coerce_str("abc1")));
        assert!(!check("REGEX", json!("c1"), coerce_str("abc1")));
        assert!(check("REGEX", json!("Tr"), ContextValue::Bool(true)));
        assert!(check("REGEX", json!(r"\d+\.0"), ContextValue::Float(2.0)));
        assert!(!check("REGEX", json!("("), coerce_str("(")));
    }

    #[test]
    fn modulo_is_floored() {
        assert!(check("MODULO", json!("2|0"), coerce_str("4")));
        assert!(check("MODULO", json!("3|2"), coerce_str("-7")));
        assert!(check("MODULO", json!("2|0"), ContextValue::Bool(false)));
        assert!(check("MODULO", json!("2.5|0.5"), ContextValue::Float(3.0)));
        assert!(!check("MODULO", json!("0|0"), coerce_str("4")));
        assert!(!check("MODULO", json!("2"), coerce_str("4")));
        assert!(!check("MODULO", json!("a|b"), coerce_str("4")));
        assert!(!check("MODULO", json!("2|0"), coerce_str("four")));
    }

    #[test]
    fn in_lists() {
        assert!(check("IN", json!("a,b,c"), coerce_str("b")));
        assert!(!check("IN", json!("a, b"), coerce_str("b")), "no trimming");
        assert!(check("IN", json!("1,2,3"), coerce_str("2")));
        assert!(check("IN", json!("[\"x\", 2]"), coerce_str("2")));
        assert!(
            check("IN", json!("[not json,2]"), coerce_str("2]")),
            "CSV fallback"
        );
        assert!(check("IN", json!(["a", 1]), coerce_str("1")));
        assert!(
            !check("IN", json!("1.5"), coerce_str("1.5")),
            "floats never match"
        );
        assert!(
            !check("IN", json!("True"), ContextValue::Bool(true)),
            "booleans never match"
        );
        assert!(
            !check("IN", json!("007"), coerce_str("007")),
            "007 is coerced to 7"
        );
        assert!(!check("IN", json!(null), coerce_str("None")));
    }

    #[test]
    fn semver_comparisons() {
        assert!(check(
            "GREATER_THAN",
            json!("1.0.0:semver"),
            coerce_str("1.0.1")
        ));
        assert!(check(
            "LESS_THAN",
            json!("1.0.0:semver"),
            coerce_str("1.0.0-beta")
        ));
        assert!(check(
            "EQUAL",
            json!("1.0.0:semver"),
            coerce_str("1.0.0+build")
        ));
        assert!(
            !check("EQUAL", json!("1.0:semver"), coerce_str("1.0.0")),
            "invalid operand"
        );
        assert!(
            !check("EQUAL", json!("1.0.0:semver"), coerce_str("1.0")),
            "1.0 is a float"
        );
        assert!(check(
            "CONTAINS",
            json!("beta:semver"),
            coerce_str("1.0.0-beta")
        ));
        assert!(!check(
            "NOT_EQUAL",
            json!("1.0.0:semver"),
            coerce_str("abc")
        ));
    }
}
