//! A feature's segment overrides in one environment: listed by priority (the
//! first matching segment wins), added, edited, moved up or down (one
//! update-priorities call, so edges never see half an order) and removed.

use std::collections::HashMap;

use maud::{Markup, html};
use serde_json::{Value, json};

use super::api::{Api, Refused};
use super::feature_forms::{Failed, Form};
use super::features::feature_url;
use super::layout::csrf;
use super::session::Session;
use super::view::{Place, encode, field_error, form_errors, int, text, value_inputs};

/// The feature's segment overrides here, by priority.
pub async fn links(api: &Api, place: &Place, feature: i64) -> Result<Vec<Value>, Refused> {
    api.all(&format!(
        "/api/v1/features/feature-segments/?environment={}&feature={feature}",
        place.environment_id
    ))
    .await
}

/// Each override's state, by its feature segment's id.
pub async fn override_states(
    api: &Api,
    place: &Place,
    feature: i64,
) -> Result<HashMap<i64, Value>, Refused> {
    Ok(api
        .all(&format!(
            "/api/v1/environments/{}/featurestates/?feature={feature}",
            encode(&place.api_key)
        ))
        .await?
        .into_iter()
        .filter_map(|s| s["feature_segment"].as_i64().map(|link| (link, s)))
        .collect())
}

/// The section of the feature's page.
pub async fn section(
    api: &Api,
    place: &Place,
    session: &Session,
    feature: &Value,
    failed: Failed<'_>,
) -> Result<Markup, Refused> {
    let id = int(feature, "id");
    let links = links(api, place, id).await?;
    let states = override_states(api, place, id).await?;
    let segments = api
        .all(&format!("/api/v1/projects/{}/segments/", place.project_id))
        .await?;
    let url = feature_url(&place.api_key, id);
    let new_refused = failed
        .filter(|(f, _)| *f == Form::NewOverride)
        .map(|(_, r)| r);
    Ok(html! {
        h2 { "Segment overrides" }
        p.muted { "Identities in a segment get its override; the first segment in this order that matches wins." }
        @if links.is_empty() { p.muted { "None." } }
        @else {
            div.table-wrap { table #segment-overrides {
                thead { tr { th { "Priority" } th { "Segment" } th { "Override" } th { "Order" } th {} } }
                tbody {
                    @for (position, link) in links.iter().enumerate() {
                        @let link_id = int(link, "id");
                        @let state = states.get(&link_id).cloned().unwrap_or(Value::Null);
                        @let refused = failed.filter(|(f, _)| *f == Form::Override(link_id)).map(|(_, r)| r);
                        @let prefix = format!("o{link_id}_");
                        tr data-name=(text(link, "segment_name")) {
                            td { (position + 1) }
                            td.key { (text(link, "segment_name")) }
                            td {
                                form.row method="post" action={ (url) "/segment-overrides/" (link_id) } {
                                    (csrf(session))
                                    (form_errors(refused, &["feature_state_value", "enabled"]))
                                    div {
                                        input type="hidden" name="enabled" value="false";
                                        input id={ "override-enabled-" (link_id) } type="checkbox" name="enabled" value="true" checked[state["enabled"] == json!(true)];
                                        label for={ "override-enabled-" (link_id) } { "Enabled for " (text(link, "segment_name")) }
                                    }
                                    div { (value_inputs(&prefix, &state["feature_state_value"], refused, "feature_state_value")) }
                                    button type="submit" { "Save override" }
                                }
                            }
                            td {
                                @if position > 0 {
                                    form.inline method="post" action={ (url) "/segment-overrides/" (link_id) "/move" } {
                                        (csrf(session)) input type="hidden" name="direction" value="up";
                                        button type="submit" aria-label={ "Move " (text(link, "segment_name")) " up" } { "↑" }
                                    }
                                }
                                @if position + 1 < links.len() {
                                    form.inline method="post" action={ (url) "/segment-overrides/" (link_id) "/move" } {
                                        (csrf(session)) input type="hidden" name="direction" value="down";
                                        button type="submit" aria-label={ "Move " (text(link, "segment_name")) " down" } { "↓" }
                                    }
                                }
                            }
                            td {
                                form.inline method="post" action={ (url) "/segment-overrides/" (link_id) "/delete" } {
                                    (csrf(session))
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            } }
        }
        @if segments.is_empty() {
            p.muted { "The project has no segments yet: create one under Segments to override this feature for it." }
        } @else {
            (new_override_form(session, &format!("{url}/segment-overrides"), new_refused, OverrideOf {
                field: "segment",
                label: "Segment",
                choices: &segments,
                value_prefix: "new_",
                enabled_id: "override-enabled",
                button: "Add segment override",
            }))
        }
    })
}

/// What a new override is of: a segment (on a feature's page) or a feature (on
/// an identity's page).
pub struct OverrideOf<'a> {
    /// The field posted, `segment` or `feature`.
    pub field: &'static str,
    /// Its label.
    pub label: &'static str,
    /// The segments or features to choose from.
    pub choices: &'a [Value],
    /// The prefix of the value's inputs, which the handler reads back.
    pub value_prefix: &'static str,
    /// The id of the "Enabled" box.
    pub enabled_id: &'static str,
    /// What the button says.
    pub button: &'static str,
}

/// The form that adds an override, posting to `action`.
pub fn new_override_form(
    session: &Session,
    action: &str,
    refused: Option<&Refused>,
    of: OverrideOf<'_>,
) -> Markup {
    let select_id = format!("override-{}", of.field);
    html! {
        form.row method="post" action=(action) {
            (csrf(session))
            (form_errors(refused, &[of.field, "feature_state_value"]))
            div {
                label for=(select_id) { (of.label) }
                select id=(select_id) name=(of.field) {
                    @for choice in of.choices { option value=(int(choice, "id")) { (text(choice, "name")) } }
                }
                (field_error(refused, of.field))
            }
            div {
                input type="hidden" name="enabled" value="false";
                input id=(of.enabled_id) type="checkbox" name="enabled" value="true" checked;
                label for=(of.enabled_id) { "Enabled" }
            }
            div { (value_inputs(of.value_prefix, &Value::Null, refused, "feature_state_value")) }
            button type="submit" { (of.button) }
        }
    }
}
