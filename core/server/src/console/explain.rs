//! "Test an identity": an identifier and traits in, the flags out with why —
//! every segment's verdict, each condition true or false with the trait value
//! it read, percentage hashes, the override that won among its competitors —
//! from flagedge-engine's explain on the environment's current document (the
//! one edges serve, read through the admin-readable edge API). A GET form, so
//! a result is shareable by its URL.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use flagedge_engine::{CompiledEnvironment, EnvironmentDocument, Identity, trait_assignment};
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use super::layout::page;
use super::pages::Pages;
use super::place::{EnvironmentVisit, enter};
use super::view::{Section, encode, error_page, section_url, value_text};

/// The explain route.
pub fn routes(pages: Pages) -> Pages {
    pages.route("/environments/{key}/explain", &["GET"], get(show))
}

#[derive(Deserialize, Default)]
struct Question {
    identifier: Option<String>,
    /// One `key=value` per line (values as JSON when they parse: `3`, `true`).
    traits: Option<String>,
}

/// What the engine said: the flags (name, enabled, value, reason) and the account.
struct Answer {
    flags: Vec<(String, bool, Value, String)>,
    account: String,
}

fn evaluate(
    document: &[u8],
    identifier: &str,
    traits: &[(String, Value)],
) -> Result<Answer, String> {
    let document = EnvironmentDocument::parse(document).map_err(|e| e.to_string())?;
    let environment = CompiledEnvironment::from_document(&document).map_err(|e| e.to_string())?;
    let identity = Identity {
        identifier,
        key: None,
        traits,
    };
    let identity = (!identifier.is_empty()).then_some(identity);
    let explanation = environment.explain(identity.as_ref());
    let result = explanation.evaluation.to_result_json(&environment);
    let flags = result["flags"]
        .as_object()
        .map(|flags| {
            flags
                .iter()
                .map(|(name, flag)| {
                    (
                        name.clone(),
                        flag["enabled"] == Value::Bool(true),
                        flag["value"].clone(),
                        flag["reason"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Answer {
        flags,
        account: explanation.to_string(),
    })
}

async fn show(visit: EnvironmentVisit, Query(question): Query<Question>) -> Response {
    let (api, place) = or_page!(enter(&visit.state, &visit.session, &visit.key).await);
    let identifier = question.identifier.unwrap_or_default().trim().to_string();
    let traits_text = question.traits.unwrap_or_default();
    let mut bad_lines = Vec::new();
    let traits: Vec<(String, Value)> = traits_text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let parsed = trait_assignment(line);
            if parsed.is_none() {
                bad_lines.push(line.to_string());
            }
            parsed
        })
        .collect();
    let asked = !identifier.is_empty() || !traits.is_empty();
    let answer = if asked && bad_lines.is_empty() {
        let document = or_page!(
            api.get(&format!(
                "/api/v1/edge/environments/{}/document",
                encode(&place.api_key)
            ))
            .await
        );
        let bytes = document.to_string().into_bytes();
        let id = identifier.clone();
        let with = traits.clone();
        // Compiling a large document is CPU work: off the request threads.
        match tokio::task::spawn_blocking(move || evaluate(&bytes, &id, &with)).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(reason)) => {
                return error_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("The environment's document could not be evaluated: {reason}"),
                );
            }
            Err(_) => {
                return error_page(StatusCode::INTERNAL_SERVER_ERROR, "The evaluation failed.");
            }
        }
    } else {
        None
    };
    let url = section_url(&place.api_key, Section::Explain);
    let status = if bad_lines.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = html! {
        h1 { "Test an identity" }
        p.muted { "The flags an SDK would get for this identity from " (place.environment) " at revision " code { (place.revision) } ", and why. Nothing is stored; the URL of the result can be shared." }
        form.stack method="get" action=(url) {
            label for="explain-identifier" { "Identifier" }
            input #explain-identifier type="text" name="identifier" value=(identifier) required;
            label for="explain-traits" { "Traits, one key=value per line (numbers and true/false as such; quote a value to keep it text: version=\"2\")" }
            textarea #explain-traits name="traits" rows="4" spellcheck="false" { (traits_text) }
            @if !bad_lines.is_empty() {
                span.field-error role="alert" { "Not key=value: " (bad_lines.join(", ")) }
            }
            div { button.primary type="submit" { "Evaluate" } }
        }
        @if let Some(answer) = &answer {
            h2 { "Flags" }
            div.table-wrap { table #explained-flags {
                thead { tr { th { "Feature" } th { "Enabled" } th { "Value" } th { "Reason" } } }
                tbody { @for (name, enabled, value, reason) in &answer.flags {
                    tr data-name=(name) {
                        td.key { (name) }
                        td { @if *enabled { "on" } @else { "off" } }
                        td.value { (value_text(value)) }
                        td { (reason) }
                    }
                } }
            } }
            h2 { "Why" }
            pre.explanation { (answer.account) }
        }
    };
    let markup = page(
        "Test an identity",
        &visit.session,
        Some((&place, Section::Explain)),
        body,
    );
    (status, Html(markup.into_string())).into_response()
}
