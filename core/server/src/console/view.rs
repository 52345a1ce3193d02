//! The frame every page shares (head, navigation, messages) and small pieces
//! pages reuse: forms' CSRF field, field errors, values and times as text.
//! Templates are maud's: checked at compile time, and every interpolated
//! string is HTML-escaped (nothing here writes `PreEscaped` of user data).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::api::Refused;

/// Where a page sits: the environment it shows, with its project and organisation.
#[derive(Clone, Debug)]
pub struct Place {
    /// The organisation's id.
    pub organisation_id: i64,
    /// The organisation's name.
    pub organisation: String,
    /// The project's id.
    pub project_id: i64,
    /// The project's name.
    pub project: String,
    /// The environment's name.
    pub environment: String,
    /// Its id.
    pub environment_id: i64,
    /// Its client-side key (the console's URLs name environments by it).
    pub api_key: String,
    /// Its revision.
    pub revision: i64,
    /// When it last changed (RFC 3339, as the API says).
    pub updated_at: String,
    /// The project's environments: (name, client key).
    pub siblings: Vec<(String, String)>,
}

/// The sections of an environment, in the navigation's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Features and their states.
    Features,
    /// Segments and their rules.
    Segments,
    /// Identities and their traits.
    Identities,
    /// Keys.
    Keys,
    /// The audit log.
    History,
    /// Evaluating an identity, explained.
    Explain,
    /// SDK calls and evaluations over time.
    Usage,
}

impl Section {
    /// Every section, in order.
    pub const ALL: [Section; 7] = [
        Section::Features,
        Section::Segments,
        Section::Identities,
        Section::Explain,
        Section::Usage,
        Section::Keys,
        Section::History,
    ];

    /// Its name in the navigation.
    pub fn label(self) -> &'static str {
        match self {
            Section::Features => "Features",
            Section::Segments => "Segments",
            Section::Identities => "Identities",
            Section::Keys => "Keys",
            Section::History => "History",
            Section::Explain => "Test an identity",
            Section::Usage => "Usage",
        }
    }

    /// Its path below `/environments/{key}/`.
    pub fn slug(self) -> &'static str {
        match self {
            Section::Features => "features",
            Section::Segments => "segments",
            Section::Identities => "identities",
            Section::Keys => "keys",
            Section::History => "history",
            Section::Explain => "explain",
            Section::Usage => "usage",
        }
    }
}

/// The URL of `section` of the environment with client key `api_key`.
pub fn section_url(api_key: &str, section: Section) -> String {
    format!("/environments/{}/{}", encode(api_key), section.slug())
}

/// A path segment percent-encoded.
pub fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · flagedge" }
            link rel="stylesheet" href=(super::assets::CSS_URL);
            script src=(super::assets::JS_URL) defer {}
        }
    }
}

/// A page outside any session (sign-in, errors).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/" { "flagedge" } }
                main { (body) }
            }
        }
    }
}

/// An error as a page: the status and the reason, never a trace.
pub fn error_page(status: StatusCode, reason: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let markup = bare_page(
        title,
        html! {
            h1 { (status.as_u16()) " " (title) }
            p.error role="alert" { (reason) }
            p { a href="/" { "Back to the console" } }
        },
    );
    (status, Html(markup.into_string())).into_response()
}

/// What a page step can fail with, as the page to answer.
pub trait IntoPage {
    /// The page.
    fn into_page(self) -> Response;
}

impl IntoPage for Response {
    fn into_page(self) -> Response {
        self
    }
}

impl IntoPage for Refused {
    fn into_page(self) -> Response {
        refused_page(&self)
    }
}

/// A refusal from the API as a page.
pub fn refused_page(refused: &Refused) -> Response {
    error_page(refused.status(), &refused.summary())
}

/// The API's message for `field`, shown beside it.
pub fn field_error(refused: Option<&Refused>, field: &str) -> Markup {
    html! {
        @if let Some(text) = refused.and_then(|r| r.field(field)) {
            span.field-error role="alert" { (text) }
        }
    }
}

/// Errors that name no field of the form, above it.
pub fn form_errors(refused: Option<&Refused>, fields: &[&str]) -> Markup {
    let text = match refused {
        Some(Refused::Fields(map)) => {
            let others: Vec<String> = map
                .iter()
                .filter(|(k, _)| !fields.contains(&k.as_str()))
                .map(|(k, _)| {
                    format!(
                        "{k}: {}",
                        refused.and_then(|r| r.field(k)).unwrap_or_default()
                    )
                })
                .collect();
            others.join("; ")
        }
        Some(other) => other.summary(),
        None => String::new(),
    };
    html! {
        @if !text.is_empty() { p.error role="alert" { (text) } }
    }
}

/// A flag value as text: strings as they are, numbers and booleans as JSON, null as empty.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The typed-value kind a stored value has.
pub fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(text) if looks_like_json(text) => "json",
        _ => "text",
    }
}

fn looks_like_json(text: &str) -> bool {
    let trimmed = text.trim_start();
    (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<Value>(text).is_ok()
}

/// The inputs of a typed value: its kind and its text.
pub fn value_inputs(prefix: &str, value: &Value, refused: Option<&Refused>, field: &str) -> Markup {
    let kind = value_kind(value);
    let kind_name = format!("{prefix}value_type");
    let value_name = format!("{prefix}value");
    let kind_id = format!("{prefix}value-type");
    let value_id = format!("{prefix}value-text");
    html! {
        label for=(kind_id) { "Value type" }
        select id=(kind_id) name=(kind_name) {
            @for (option, label) in [("text", "Text"), ("number", "Number"), ("boolean", "Boolean"), ("json", "JSON")] {
                option value=(option) selected[option == kind] { (label) }
            }
        }
        label for=(value_id) { "Value" }
        textarea id=(value_id) name=(value_name) rows="2" spellcheck="false" { (value_text(value)) }
        (field_error(refused, field))
    }
}

/// A typed value from a form: `Err` names what is wrong with the text.
pub fn typed_value(kind: &str, text: &str) -> Result<Value, String> {
    match kind {
        "number" => {
            let trimmed = text.trim();
            if let Ok(integer) = trimmed.parse::<i64>() {
                Ok(Value::from(integer))
            } else {
                trimmed
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(Value::from)
                    .ok_or_else(|| format!("\"{trimmed}\" is not a number."))
            }
        }
        "boolean" => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            other => Err(format!("\"{other}\" is not true or false.")),
        },
        // Flagsmith values are text, numbers or booleans: JSON travels as text,
        // checked here so a typo is caught before SDKs parse it.
        "json" => serde_json::from_str::<Value>(text)
            .map(|_| Value::String(text.to_string()))
            .map_err(|e| format!("Not valid JSON: {e}.")),
        _ if text.is_empty() => Ok(Value::Null),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn short_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// Where a form asked to return to: a path on this site, else `default`.
pub fn local_back(back: Option<&str>, default: &str) -> String {
    match back {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => default.to_string(),
    }
}

/// A JSON field as text (`""` when absent).
pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A JSON field as an integer (0 when absent).
pub fn int(value: &Value, field: &str) -> i64 {
    value.get(field).and_then(Value::as_i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_values_parse_by_kind() {
        assert_eq!(typed_value("number", " 42 "), Ok(json!(42)));
        assert_eq!(typed_value("number", "1.5"), Ok(json!(1.5)));
        assert!(typed_value("number", "4x").is_err());
        assert!(typed_value("number", "inf").is_err());
        assert_eq!(typed_value("boolean", "TRUE"), Ok(json!(true)));
        assert!(typed_value("boolean", "yes").is_err());
        assert_eq!(typed_value("json", "{\"a\": 1}"), Ok(json!("{\"a\": 1}")));
        assert!(typed_value("json", "{a}").is_err());
        assert_eq!(typed_value("text", ""), Ok(Value::Null));
        assert_eq!(typed_value("text", "<b>"), Ok(json!("<b>")));
    }

    #[test]
    fn kinds_round_trip() {
        for value in [json!(true), json!(3), json!("plain"), json!("[1, 2]")] {
            let kind = value_kind(&value);
            assert_eq!(typed_value(kind, &value_text(&value)), Ok(value));
        }
    }

    #[test]
    fn user_text_is_escaped() {
        let markup = html! { td { (value_text(&json!("<script>alert(1)</script>"))) } };
        let text = markup.into_string();
        assert!(!text.contains("<script>"), "{text}");
        assert!(text.contains("&lt;script&gt;"), "{text}");
    }
}
