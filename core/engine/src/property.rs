//! What a condition reads: a trait, or a JSONPath into the evaluation context.
//!
//! The reference engine reads a property starting with `$.` by first looking for
//! a trait with that literal key, then evaluating it as an RFC 9535 JSONPath over
//! the whole context and taking the first result (objects and arrays count as
//! nothing). A property that is not valid JSONPath is just a trait key.
//!
//! Everything that can be decided per document is decided here, once:
//! paths into the environment, features or segments become constants; paths into
//! the identity or into another flag (`$.flags.<name>…`, a flag dependency) become
//! direct accessors; only non-singular queries (wildcards, filters, slices,
//! descendants) are left to a general JSONPath evaluator at request time.

use std::collections::HashMap;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::value::ContextValue;

/// A slot in the per-request table of trait values.
pub type TraitSlot = u16;

/// A compiled property.
#[derive(Debug)]
pub enum Property {
    /// A plain trait key.
    Trait(TraitSlot),
    /// A JSONPath, read after a trait with the literal property text as its key.
    Path {
        /// The slot of the trait named like the path.
        literal: TraitSlot,
        /// Where the path points.
        target: PathTarget,
    },
}

/// Where a valid JSONPath points.
#[derive(Debug)]
pub enum PathTarget {
    /// `$.identity.identifier`.
    IdentityIdentifier,
    /// `$.identity.key`: the given key, or `<environment key>_<identifier>`.
    IdentityKey,
    /// `$.identity.traits.<key>`.
    IdentityTrait(TraitSlot),
    /// A value fixed by the document (environment, features, segments), or
    /// nothing at all (an object, an array, a missing key).
    Constant(Option<ContextValue<'static>>),
    /// `$.flags.<name>` followed by steps into that flag's evaluated result.
    Flag {
        /// The feature's index, or `None` when the context has no such feature.
        feature: Option<u32>,
        /// Steps after the flag name (`enabled`, `value`, …).
        steps: Vec<Step>,
    },
    /// Any other query, evaluated over the materialised context.
    Query(Box<JsonPath>),
}

/// One step of a singular query.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// An object member.
    Name(String),
    /// An array element (negative counts from the end).
    Index(i64),
}

/// Interns trait keys into slots while a document compiles.
#[derive(Debug, Default)]
pub struct TraitSlots {
    slots: HashMap<Box<str>, TraitSlot>,
}

impl TraitSlots {
    /// The slot for `key`, allocating one if needed.
    pub fn slot(&mut self, key: &str) -> TraitSlot {
        let next = self.slots.len() as TraitSlot;
        *self.slots.entry(key.into()).or_insert(next)
    }

    /// The finished key → slot table.
    pub fn into_map(self) -> HashMap<Box<str>, TraitSlot> {
        self.slots
    }
}

/// What the compiler needs to resolve paths.
pub struct PathScope<'a> {
    /// The context as JSON without identity and flags, for constant paths.
    pub static_context: &'a Value,
    /// Feature index by name.
    pub features: &'a dyn Fn(&str) -> Option<u32>,
}

/// Compiles a condition's property.
///
/// Validity follows the JSONPath parser the reference uses (`jsonpath-rfc9535`),
/// which is more lenient than RFC 9535 in one way that matters: shorthand names
/// may contain `-` after the first character, so `$.flags.my-flag.enabled` is a
/// path. Singular queries are parsed here with those rules; anything else is
/// handed to a general RFC 9535 parser, and what neither accepts is a trait key.
pub fn compile(property: &str, slots: &mut TraitSlots, scope: &PathScope<'_>) -> Property {
    if !property.starts_with("$.") {
        return Property::Trait(slots.slot(property));
    }
    let target = match parse_singular(property) {
        Some(steps) => singular_target(&steps, slots, scope),
        None => match JsonPath::parse(property) {
            Ok(query) => PathTarget::Query(Box::new(query)),
            // Not a JSONPath: the reference reads it as a trait key only.
            Err(_) => return Property::Trait(slots.slot(property)),
        },
    };
    Property::Path {
        literal: slots.slot(property),
        target,
    }
}

fn singular_target(steps: &[Step], slots: &mut TraitSlots, scope: &PathScope<'_>) -> PathTarget {
    let name = |i: usize| match steps.get(i) {
        Some(Step::Name(n)) => Some(n.as_str()),
        _ => None,
    };
    match (name(0), steps.len()) {
        (Some("identity"), 2) if name(1) == Some("identifier") => PathTarget::IdentityIdentifier,
        (Some("identity"), 2) if name(1) == Some("key") => PathTarget::IdentityKey,
        (Some("identity"), 3) if name(1) == Some("traits") && name(2).is_some() => {
            PathTarget::IdentityTrait(slots.slot(name(2).unwrap_or_default()))
        }
        // The identity is an object of scalars: nothing else in it is a value.
        (Some("identity"), _) => PathTarget::Constant(None),
        (Some("flags"), n) if n >= 2 && name(1).is_some() => PathTarget::Flag {
            feature: (scope.features)(name(1).unwrap_or_default()),
            steps: steps[2..].to_vec(),
        },
        (Some("flags"), _) => PathTarget::Constant(None),
        _ => PathTarget::Constant(
            walk(scope.static_context, steps)
                .and_then(scalar_value)
                .map(ContextValue::into_owned),
        ),
    }
}

/// Follows singular steps through JSON.
pub fn walk<'v>(mut value: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for step in steps {
        value = match (step, value) {
            (Step::Name(name), Value::Object(map)) => map.get(name)?,
            (Step::Index(i), Value::Array(items)) => {
                let index = if *i < 0 {
                    items.len().checked_sub(i.unsigned_abs() as usize)?
                } else {
                    *i as usize
                };
                items.get(index)?
            }
            _ => return None,
        };
    }
    Some(value)
}

/// A JSONPath result as a context value: scalars coerced, containers as nothing.
pub fn scalar_value(value: &Value) -> Option<ContextValue<'_>> {
    match value {
        Value::Array(_) | Value::Object(_) => None,
        scalar => ContextValue::from_json(scalar),
    }
}

/// Parses an RFC 9535 query made only of name and index selectors, one per
/// segment. Returns `None` for anything else (the caller has already checked
/// that the whole text is valid JSONPath).
pub fn parse_singular(path: &str) -> Option<Vec<Step>> {
    let chars: Vec<char> = path.chars().collect();
    let mut i = 1; // after '$'
    let mut steps = Vec::new();
    let blank = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    while i < chars.len() {
        while i < chars.len() && blank(chars[i]) {
            i += 1;
        }
        match chars.get(i)? {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && is_name_char(chars[i], i == start) {
                    i += 1;
                }
                if i == start {
                    return None; // `..` or `.*`
                }
                steps.push(Step::Name(chars[start..i].iter().collect()));
            }
            '[' => {
                i += 1;
                while i < chars.len() && blank(chars[i]) {
                    i += 1;
                }
                let step = match chars.get(i)? {
                    quote @ ('\'' | '"') => {
                        let (name, next) = parse_string_literal(&chars, i + 1, *quote)?;
                        i = next;
                        Step::Name(name)
                    }
                    c if *c == '-' || c.is_ascii_digit() => {
                        let start = i;
                        i += 1;
                        while i < chars.len() && chars[i].is_ascii_digit() {
                            i += 1;
                        }
                        let text: String = chars[start..i].iter().collect();
                        let digits = text.trim_start_matches('-');
                        // No leading zeros, and no "-0".
                        if digits.is_empty() || (digits.starts_with('0') && text != "0") {
                            return None;
                        }
                        Step::Index(text.parse().ok()?)
                    }
                    _ => return None,
                };
                while i < chars.len() && blank(chars[i]) {
                    i += 1;
                }
                if chars.get(i)? != &']' {
                    return None; // several selectors, or a slice
                }
                i += 1;
                steps.push(step);
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// The reference lexer's shorthand names: `[\u0080-\uFFFFa-zA-Z_][\u0080-\uFFFFa-zA-Z0-9_-]*`.
fn is_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic()
        || c == '_'
        || (0x80..=0xFFFF).contains(&(c as u32))
        || (!first && (c.is_ascii_digit() || c == '-'))
}

/// Reads a quoted name selector starting after the opening quote; returns the
/// decoded text and the index after the closing quote.
fn parse_string_literal(chars: &[char], mut i: usize, quote: char) -> Option<(String, usize)> {
    let mut out = String::new();
    loop {
        let c = *chars.get(i)?;
        i += 1;
        if c == quote {
            return Some((out, i));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = *chars.get(i)?;
        i += 1;
        match escaped {
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hex = |at: usize| -> Option<u32> {
                    let text: String = chars.get(at..at + 4)?.iter().collect();
                    u32::from_str_radix(&text, 16).ok()
                };
                let first = hex(i)?;
                i += 4;
                let code = if (0xD800..0xDC00).contains(&first)
                    && chars.get(i) == Some(&'\\')
                    && chars.get(i + 1) == Some(&'u')
                {
                    let second = hex(i + 2)?;
                    i += 6;
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else {
                    first
                };
                out.push(char::from_u32(code)?);
            }
            other => out.push(other), // \\ \/ \' \"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_queries_parse() {
        assert_eq!(
            parse_singular("$.identity.traits.age"),
            Some(vec![
                Step::Name("identity".into()),
                Step::Name("traits".into()),
                Step::Name("age".into())
            ])
        );
        assert_eq!(
            parse_singular("$.flags['my-flag'].enabled"),
            Some(vec![
                Step::Name("flags".into()),
                Step::Name("my-flag".into()),
                Step::Name("enabled".into())
            ])
        );
        assert_eq!(
            parse_singular(r#"$["a\u0041\n"][ -1 ]"#),
            Some(vec![Step::Name("aA\n".into()), Step::Index(-1)])
        );
        assert_eq!(parse_singular("$.a.*"), None);
        assert_eq!(parse_singular("$..a"), None);
        assert_eq!(parse_singular("$.a[0:2]"), None);
        assert_eq!(parse_singular("$.a['b','c']"), None);
        assert_eq!(parse_singular("$.a[?@.b]"), None);
    }

    #[test]
    fn invalid_paths_are_trait_keys() {
        let mut slots = TraitSlots::default();
        let context = Value::Null;
        let scope = PathScope {
            static_context: &context,
            features: &|_| None,
        };
        // The reference's lexer allows a hyphen after the first character…
        assert!(matches!(
            compile("$.flags.my-flag.enabled", &mut slots, &scope),
            Property::Path {
                target: PathTarget::Flag { .. },
                ..
            }
        ));
        // …but not first, nor whitespace after a dot, nor trailing whitespace.
        assert!(matches!(
            compile("$.flags.-x.enabled", &mut slots, &scope),
            Property::Trait(_)
        ));
        assert!(matches!(
            compile("$. a", &mut slots, &scope),
            Property::Trait(_)
        ));
        assert!(matches!(
            compile("$.a ", &mut slots, &scope),
            Property::Trait(_)
        ));
        assert!(matches!(
            compile("$.a[01]", &mut slots, &scope),
            Property::Trait(_)
        ));
        assert!(matches!(
            compile("$.identity.identifier", &mut slots, &scope),
            Property::Path {
                target: PathTarget::IdentityIdentifier,
                ..
            }
        ));
        assert!(matches!(
            compile("$.x[*]", &mut slots, &scope),
            Property::Path {
                target: PathTarget::Query(_),
                ..
            }
        ));
    }
}
