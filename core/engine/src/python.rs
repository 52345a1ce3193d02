//! Python's value semantics, where Flagsmith's reference engine leans on them.
//!
//! The reference engine is Python: it parses condition values with `int()` and
//! `float()`, hashes and regex-matches `str(value)`, and compares with Python's
//! operators. Matching it exactly means reproducing those few built-ins — no more.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::Value;

/// A Python `int`: small ones inline, arbitrarily large ones as normalized digits.
///
/// Trait strings such as `"123456789012345678901234567890"` become Python ints of any
/// size, so an `i64` alone would silently change comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PyInt {
    /// Fits in 64 bits.
    Small(i64),
    /// Outside the `i64` range: sign and decimal digits without leading zeros.
    Big {
        /// True for negative numbers.
        negative: bool,
        /// Decimal digits, no leading zeros, never "0".
        digits: Box<str>,
    },
}

impl PyInt {
    /// Builds from a sign and ASCII digits (leading zeros allowed).
    fn from_sign_digits(negative: bool, digits: &str) -> PyInt {
        let trimmed = digits.trim_start_matches('0');
        if trimmed.is_empty() {
            return PyInt::Small(0);
        }
        // Up to 18 digits always fit in i64; otherwise try a checked parse.
        let magnitude: Option<i128> = if trimmed.len() <= 38 {
            trimmed.parse::<i128>().ok()
        } else {
            None
        };
        if let Some(m) = magnitude {
            let signed = if negative { -m } else { m };
            if let Ok(small) = i64::try_from(signed) {
                return PyInt::Small(small);
            }
        }
        PyInt::Big {
            negative,
            digits: trimmed.into(),
        }
    }

    /// The value as a float, as Python's `float(int)` rounds it.
    pub fn to_f64(&self) -> f64 {
        match self {
            PyInt::Small(v) => *v as f64,
            PyInt::Big { negative, digits } => {
                let magnitude: f64 = digits.parse().unwrap_or(f64::INFINITY);
                if *negative { -magnitude } else { magnitude }
            }
        }
    }

    fn sign_and_digits(&self) -> (bool, std::borrow::Cow<'_, str>) {
        match self {
            PyInt::Small(v) => (*v < 0, v.unsigned_abs().to_string().into()),
            PyInt::Big { negative, digits } => (*negative, (&**digits).into()),
        }
    }
}

impl Ord for PyInt {
    fn cmp(&self, other: &Self) -> Ordering {
        if let (PyInt::Small(a), PyInt::Small(b)) = (self, other) {
            return a.cmp(b);
        }
        let (neg_a, digits_a) = self.sign_and_digits();
        let (neg_b, digits_b) = other.sign_and_digits();
        let zero_a = &*digits_a == "0";
        let zero_b = &*digits_b == "0";
        let sign = |neg: bool, zero: bool| {
            if zero {
                0
            } else if neg {
                -1
            } else {
                1
            }
        };
        match sign(neg_a, zero_a).cmp(&sign(neg_b, zero_b)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        let magnitude = digits_a
            .len()
            .cmp(&digits_b.len())
            .then_with(|| digits_a.cmp(&digits_b));
        if neg_a {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for PyInt {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for PyInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PyInt::Small(v) => write!(f, "{v}"),
            PyInt::Big { negative, digits } => {
                write!(f, "{}{digits}", if *negative { "-" } else { "" })
            }
        }
    }
}

/// Python's `str.strip()` with no argument: Unicode whitespace plus the
/// information separators U+001C..U+001F that `str.isspace` also accepts.
fn strip_python_whitespace(s: &str) -> &str {
    let is_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    s.trim_matches(is_space)
}

/// Removes Python's digit-grouping underscores, which are allowed only between
/// two digits. Returns `None` for a misplaced underscore.
fn strip_digit_underscores(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !s.contains('_') {
        return Some(s.into());
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let before = i.checked_sub(1).map(|j| bytes[j].is_ascii_digit());
            let after = bytes.get(i + 1).map(u8::is_ascii_digit);
            if before != Some(true) || after != Some(true) {
                return None;
            }
        } else {
            out.push(b as char);
        }
    }
    Some(out.into())
}

/// Python's `int(s)` for a string, base 10. `None` where Python raises `ValueError`.
pub fn parse_int(s: &str) -> Option<PyInt> {
    let s = strip_python_whitespace(s);
    if !s.is_ascii() {
        return None;
    }
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = strip_digit_underscores(rest)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(PyInt::from_sign_digits(negative, &digits))
}

/// Python's `float(s)` for a string. `None` where Python raises `ValueError`.
pub fn parse_float(s: &str) -> Option<f64> {
    let s = strip_python_whitespace(s);
    if !s.is_ascii() || s.is_empty() {
        return None;
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let special = match lower.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Some(if negative { -v } else { v });
    }
    // digits [. digits?] | . digits, then an optional exponent; underscores only
    // between digits of one part.
    let (mantissa, exponent) = match lower.find('e') {
        Some(i) => (&lower[..i], Some(&lower[i + 1..])),
        None => (lower.as_str(), None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], Some(&mantissa[i + 1..])),
        None => (mantissa, None),
    };
    let digits_ok = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let int_digits = strip_digit_underscores(int_part)?;
    let frac_digits = match frac_part {
        Some(f) => Some(strip_digit_underscores(f)?),
        None => None,
    };
    let int_present = !int_digits.is_empty();
    let frac_present = frac_digits.as_deref().is_some_and(|f| !f.is_empty());
    if (int_present && !digits_ok(&int_digits))
        || (frac_present && !digits_ok(frac_digits.as_deref().unwrap_or_default()))
        || (!int_present && !frac_present)
    {
        return None;
    }
    let mut canonical = String::with_capacity(s.len() + 4);
    if negative {
        canonical.push('-');
    }
    canonical.push_str(if int_present { &int_digits } else { "0" });
    canonical.push('.');
    canonical.push_str(if frac_present {
        frac_digits.as_deref().unwrap_or_default()
    } else {
        "0"
    });
    if let Some(exp) = exponent {
        let (exp_sign, exp_digits) = match exp.as_bytes().first() {
            Some(b'-') => ("-", &exp[1..]),
            Some(b'+') => ("", &exp[1..]),
            _ => ("", exp),
        };
        let exp_digits = strip_digit_underscores(exp_digits)?;
        if !digits_ok(&exp_digits) {
            return None;
        }
        canonical.push('e');
        canonical.push_str(exp_sign);
        canonical.push_str(&exp_digits);
    }
    canonical.parse().ok()
}

/// Python's `repr(float)` (also its `str(float)`): the shortest digits that
/// round-trip, in fixed notation for exponents -4..=15 and scientific otherwise.
pub fn float_repr(value: f64) -> String {
    let mut out = String::new();
    write_float_repr(&mut out, value);
    out
}

/// Appends Python's `repr(value)` to `out`.
pub fn write_float_repr(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("nan");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value < 0.0 { "-inf" } else { "inf" });
        return;
    }
    // Rust's `{:e}` prints the shortest round-trip digits, e.g. "-1.2345e3".
    let sci = format!("{value:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    }
}

/// Python's float `%`: the result takes the divisor's sign. `None` where Python
/// raises `ZeroDivisionError`.
pub fn float_mod(dividend: f64, divisor: f64) -> Option<f64> {
    if divisor == 0.0 {
        return None;
    }
    let mut remainder = dividend % divisor;
    if remainder != 0.0 {
        if (divisor < 0.0) != (remainder < 0.0) {
            remainder += divisor;
        }
    } else {
        remainder = 0.0_f64.copysign(divisor);
    }
    Some(remainder)
}

/// Python's `repr(str)`: single quotes unless the text has a single quote and no
/// double quote; backslash escapes for quotes, backslashes and non-printables.
pub fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str()` of a JSON value as `json.loads` would have produced it.
pub fn json_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            write_json_repr(&mut out, other);
            out
        }
    }
}

/// Python's `repr()` of a JSON value as `json.loads` would have produced it.
fn write_json_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str_repr(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(out, k);
                out.push_str(": ");
                write_json_repr(out, v);
            }
            out.push('}');
        }
    }
}

/// Python's `str()` of a JSON number: ints as digits, floats by `repr`.
pub fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else {
        write_float_repr(out, n.as_f64().unwrap_or(f64::NAN));
    }
}

/// Python truthiness of a JSON value as `json.loads` would have produced it:
/// metadata is reported only when truthy.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str()` of a JSON number.
pub fn number_str(n: &serde_json::Number) -> String {
    let mut out = String::new();
    write_number(&mut out, n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-1.5, "-1.5"),
            (12.34, "12.34"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1e300, "1e+300"),
            (33.3, "33.3"),
            (100.0, "100.0"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "repr({value:?})");
        }
    }

    #[test]
    fn int_parsing_follows_python() {
        assert_eq!(parse_int(" 12 "), Some(PyInt::Small(12)));
        assert_eq!(parse_int("+5"), Some(PyInt::Small(5)));
        assert_eq!(parse_int("-007"), Some(PyInt::Small(-7)));
        assert_eq!(parse_int("1_000"), Some(PyInt::Small(1000)));
        assert_eq!(parse_int("1__0"), None);
        assert_eq!(parse_int("_1"), None);
        assert_eq!(parse_int("1.5"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int("True"), None);
        let big = parse_int("123456789012345678901234567890").unwrap();
        assert!(matches!(
            big,
            PyInt::Big {
                negative: false,
                ..
            }
        ));
        assert!(big > PyInt::Small(i64::MAX));
        assert!(parse_int("-123456789012345678901234567890").unwrap() < PyInt::Small(i64::MIN));
        assert_eq!(big.to_string(), "123456789012345678901234567890");
    }

    #[test]
    fn float_parsing_follows_python() {
        assert_eq!(parse_float(" 1.5 "), Some(1.5));
        assert_eq!(parse_float("1."), Some(1.0));
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("1.e3"), Some(1000.0));
        assert_eq!(parse_float("-1_0.2_5"), Some(-10.25));
        assert_eq!(parse_float("Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_float("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float("nan").unwrap().is_nan());
        assert_eq!(parse_float("1e400"), Some(f64::INFINITY));
        for bad in ["", ".", "e5", "1e", "1_", "abc", "1.2.3", "0x10", "1 2"] {
            assert_eq!(parse_float(bad), None, "float({bad:?})");
        }
    }

    #[test]
    fn modulo_is_floored_like_python() {
        assert_eq!(float_mod(7.0, 3.0), Some(1.0));
        assert_eq!(float_mod(-7.0, 3.0), Some(2.0));
        assert_eq!(float_mod(7.0, -3.0), Some(-2.0));
        assert_eq!(float_mod(5.5, 2.0), Some(1.5));
        assert_eq!(float_mod(1.0, 0.0), None);
    }

    #[test]
    fn str_of_json_values() {
        assert_eq!(json_str(&serde_json::json!(true)), "True");
        assert_eq!(json_str(&serde_json::json!(null)), "None");
        assert_eq!(json_str(&serde_json::json!(1.0)), "1.0");
        assert_eq!(
            json_str(&serde_json::json!([1, "a", "it's"])),
            "[1, 'a', \"it's\"]"
        );
    }
}
