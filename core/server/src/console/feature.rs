//! One feature in one environment: its state here (on/off, typed value,
//! multivariate weights), its multivariate options, its segment overrides
//! (handled in [`super::overrides`]), its settings and its history.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::api::{Api, Refused};
use super::feature_forms::{Failed, Form, refusal_for};
use super::features::{feature_url, states, toggle_form};
use super::history;
use super::layout::{csrf, page};
use super::overrides;
use super::pages::Pages;
use super::place::{EnvironmentForm, EnvironmentVisit, ObjectPage, enter};
use super::session::Session;
use super::state::ConsoleState;
use super::view::{
    Place, Section, encode, field_error, form_errors, int, refused_page, section_url, text,
    value_inputs, value_text,
};

/// The routes of a feature's page.
pub fn routes(pages: Pages) -> Pages {
    pages
        .route("/environments/{key}/features/{id}", &["GET"], get(show))
        .route(
            "/environments/{key}/features/{id}/state",
            &["POST"],
            post(save_state),
        )
        .route(
            "/environments/{key}/features/{id}/settings",
            &["POST"],
            post(save_settings),
        )
        .route(
            "/environments/{key}/features/{id}/options",
            &["POST"],
            post(add_option),
        )
        .route(
            "/environments/{key}/features/{id}/options/{option}/delete",
            &["POST"],
            post(delete_option),
        )
}

fn feature_path(place: &Place, id: i64) -> String {
    format!("/api/v1/projects/{}/features/{id}/", place.project_id)
}

/// The feature's page, with `failed`'s errors beside their fields.
pub async fn render(
    state: &ConsoleState,
    session: &Session,
    key: &str,
    id: i64,
    failed: Failed<'_>,
) -> Response {
    let (api, place) = or_page!(enter(state, session, key).await);
    match parts(&api, &place, session, id, failed).await {
        Ok((title, body)) => {
            let status = failed.map_or(StatusCode::OK, |(_, r)| r.status());
            let markup = page(&title, session, Some((&place, Section::Features)), body);
            (status, Html(markup.into_string())).into_response()
        }
        Err(refused) => refused_page(&refused),
    }
}

/// The feature's page, where its forms post back to.
pub struct FeaturePage;

impl ObjectPage for FeaturePage {
    type Form = Form;

    fn url(key: &str, id: i64) -> String {
        feature_url(key, id)
    }

    async fn refused_on(form: &EnvironmentForm, id: i64, refused: (Form, &Refused)) -> Response {
        let session = &form.posted.session;
        render(&form.state, session, &form.key, id, Some(refused)).await
    }
}

async fn parts(
    api: &Api,
    place: &Place,
    session: &Session,
    id: i64,
    failed: Failed<'_>,
) -> Result<(String, Markup), Refused> {
    let feature = api.get(&feature_path(place, id)).await?;
    let (defaults, _) = states(api, place, Some(id)).await?;
    let own = defaults.get(&id).cloned().unwrap_or(Value::Null);
    let segment_overrides = overrides::section(api, place, session, &feature, failed).await?;
    let recent = history::recent(api, place, id).await?;
    let (identity_total, identity_overrides) = identity_overrides(api, place, id).await?;
    let url = feature_url(&place.api_key, id);
    let options: Vec<Value> = feature["multivariate_options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let name = text(&feature, "name").to_string();
    let state_refused = refusal_for(failed, Form::State);
    let settings_refused = refusal_for(failed, Form::Settings);
    let option_refused = refusal_for(failed, Form::Option);
    let weight = |option: &Value| -> f64 {
        own["multivariate_feature_state_values"]
            .as_array()
            .and_then(|values| {
                values
                    .iter()
                    .find(|v| v["multivariate_feature_option"] == option["id"])
            })
            .and_then(|v| v["percentage_allocation"].as_f64())
            .unwrap_or_else(|| {
                option["default_percentage_allocation"]
                    .as_f64()
                    .unwrap_or(0.0)
            })
    };
    let body = html! {
        h1 { code { (name) } " " span.pill { (text(&feature, "type")) }
            @if feature["is_server_key_only"] == json!(true) { " " span.pill { "server-key only" } } }
        @if let Some(description) = feature["description"].as_str() { p.muted { (description) } }

        h2 { "In " (place.environment) }
        div { "Enabled: " (toggle_form(session, place, &feature, own["enabled"] == json!(true), &url)) }
        form.stack method="post" action={ (url) "/state" } {
            (csrf(session))
            (form_errors(state_refused, &["feature_state_value", "multivariate_feature_state_values"]))
            (value_inputs("", &own["feature_state_value"], state_refused, "feature_state_value"))
            @if !options.is_empty() {
                fieldset {
                    legend { "Multivariate weights here (%; the rest gets the value above)" }
                    @for option in &options {
                        @let option_id = int(option, "id");
                        label for={ "weight-" (option_id) } { code { (value_text(&option["value"])) } }
                        input id={ "weight-" (option_id) } type="number" step="any" min="0" max="100"
                            name={ "weight_" (option_id) } value=(weight(option));
                    }
                    (field_error(state_refused, "multivariate_feature_state_values"))
                }
            }
            div { button.primary type="submit" { "Save " (place.environment) } }
        }

        h2 { "Multivariate options" }
        @if options.is_empty() { p.muted { "None: every identity gets the value above." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Value" } th { "Default weight" } th {} } }
                tbody {
                    @for option in &options {
                        tr {
                            td.value { (value_text(&option["value"])) }
                            td { (option["default_percentage_allocation"]) " %" }
                            td { form.inline method="post" action={ (url) "/options/" (int(option, "id")) "/delete" } {
                                (csrf(session)) button.danger type="submit" { "Remove" } } }
                        }
                    }
                }
            } }
        }
        form.row method="post" action={ (url) "/options" } {
            (csrf(session))
            (form_errors(option_refused, &["value", "default_percentage_allocation"]))
            div { (value_inputs("option_", &Value::Null, option_refused, "value")) }
            div {
                label for="option-weight" { "Default weight (%)" }
                input #option-weight type="number" step="any" min="0" max="100" name="default_percentage_allocation" value="0";
                (field_error(option_refused, "default_percentage_allocation"))
            }
            button type="submit" { "Add option" }
        }

        (segment_overrides)

        h2 { "Identity overrides" }
        @if identity_overrides.is_empty() { p.muted { "None in " (place.environment) "." } }
        @else {
            div.table-wrap { table #feature-identity-overrides {
                thead { tr { th { "Identity" } th { "Enabled" } th { "Value" } } }
                tbody { @for (identifier, state) in &identity_overrides {
                    tr {
                        td.key { a href={ (section_url(&place.api_key, Section::Identities)) "/" (int(state, "identity")) } { (identifier) } }
                        td { @if state["enabled"] == json!(true) { "on" } @else { "off" } }
                        td.value { (value_text(&state["feature_state_value"])) }
                    }
                } }
            } }
            @if identity_total > identity_overrides.len() as i64 {
                p.muted { "The first " (identity_overrides.len()) " of " (identity_total) "." }
            }
        }

        h2 { "Settings" }
        form.stack method="post" action={ (url) "/settings" } {
            (csrf(session))
            (form_errors(settings_refused, &["name", "description", "is_server_key_only"]))
            label for="settings-name" { "Name" }
            input #settings-name type="text" name="name" value=(name) required;
            (field_error(settings_refused, "name"))
            label for="settings-description" { "Description" }
            input #settings-description type="text" name="description" value=(feature["description"].as_str().unwrap_or(""));
            (field_error(settings_refused, "description"))
            div {
                input type="hidden" name="is_server_key_only" value="false";
                input #settings-server-only type="checkbox" name="is_server_key_only" value="true" checked[feature["is_server_key_only"] == json!(true)];
                " " label for="settings-server-only" { "Server-side keys only (client-side SDKs do not see it)" }
            }
            div { button type="submit" { "Save settings" } }
        }

        p { a href={ (section_url(&place.api_key, Section::Usage)) "?feature=" (encode(&name)) } { "Evaluations of " (name) " over time" } }

        h2 { "History" }
        (recent)

        h2 { "Delete" }
        p { a href={ (url) "/delete" } { "Delete " (name) "…" } }
    };
    Ok((name, body))
}

/// Identity overrides shown on a feature's page, at most.
const IDENTITY_OVERRIDES_SHOWN: usize = 50;

/// How many identities override the feature here, and the first of them with their identifiers.
async fn identity_overrides(
    api: &Api,
    place: &Place,
    id: i64,
) -> Result<(i64, Vec<(String, Value)>), Refused> {
    let answer = api
        .get(&format!(
            "/api/v1/environments/{}/featurestates/?anyIdentity=1&feature={id}&page_size={IDENTITY_OVERRIDES_SHOWN}",
            encode(&place.api_key)
        ))
        .await?;
    let mut shown = Vec::new();
    for state in answer["results"].as_array().into_iter().flatten() {
        let identity = api
            .get(&format!(
                "/api/v1/environments/{}/identities/{}/",
                encode(&place.api_key),
                int(state, "identity")
            ))
            .await?;
        shown.push((text(&identity, "identifier").to_string(), state.clone()));
    }
    Ok((answer["count"].as_i64().unwrap_or(0), shown))
}

async fn show(Path((_, id)): Path<(String, i64)>, visit: EnvironmentVisit) -> Response {
    render(&visit.state, &visit.session, &visit.key, id, None).await
}

async fn save_state(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    let value = or_page!(
        form.typed_or_page::<FeaturePage>(id, "", (Form::State, "feature_state_value"))
            .await
    );
    let (defaults, _) = or_page!(states(&form.api, &form.place, Some(id)).await);
    let Some(own) = defaults.get(&id) else {
        return super::view::error_page(
            StatusCode::NOT_FOUND,
            "No such feature in this environment.",
        );
    };
    // On/off is the toggle's: this form changes the value (and weights) only.
    let mut body = json!({"feature_state_value": value});
    let weights: Result<Vec<Value>, String> = form
        .posted
        .fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("weight_").map(|option| (option, v)))
        .map(|(option, weight)| {
            let option: i64 = option.parse().map_err(|_| "Unknown option.".to_string())?;
            let weight: f64 = weight
                .trim()
                .parse()
                .map_err(|_| format!("\"{weight}\" is not a number."))?;
            Ok(json!({"multivariate_feature_option": option, "percentage_allocation": weight}))
        })
        .collect();
    match weights {
        Ok(weights) if !weights.is_empty() => {
            body["multivariate_feature_state_values"] = Value::Array(weights);
        }
        Ok(_) => {}
        Err(message) => {
            let refused = Refused::for_field("multivariate_feature_state_values", message);
            return form
                .refused_on::<FeaturePage>(id, Form::State, &refused)
                .await;
        }
    }
    let path = format!(
        "/api/v1/environments/{}/featurestates/{}/",
        encode(&form.place.api_key),
        int(own, "id")
    );
    let result = form.api.patch(&path, body).await;
    form.after::<FeaturePage>(id, Form::State, result).await
}

async fn save_settings(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    let description = form.posted.text("description").trim();
    let body = json!({
        "name": form.posted.text("name").trim(),
        "description": if description.is_empty() { Value::Null } else { json!(description) },
        "is_server_key_only": form.posted.checked("is_server_key_only"),
    });
    let result = form.api.patch(&feature_path(&form.place, id), body).await;
    form.after::<FeaturePage>(id, Form::Settings, result).await
}

async fn add_option(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    let value = or_page!(
        form.typed_or_page::<FeaturePage>(id, "option_", (Form::Option, "value"))
            .await
    );
    let weight = form.posted.text("default_percentage_allocation").trim();
    let Ok(weight) = weight.parse::<f64>() else {
        let refused = Refused::for_field(
            "default_percentage_allocation",
            format!("\"{weight}\" is not a number."),
        );
        return form
            .refused_on::<FeaturePage>(id, Form::Option, &refused)
            .await;
    };
    let path = format!(
        "/api/v1/projects/{}/features/{id}/mv-options/",
        form.place.project_id
    );
    let result = form
        .api
        .post(
            &path,
            json!({"value": value, "default_percentage_allocation": weight}),
        )
        .await;
    form.after::<FeaturePage>(id, Form::Option, result).await
}

async fn delete_option(
    Path((_, id, option)): Path<(String, i64, i64)>,
    form: EnvironmentForm,
) -> Response {
    let path = format!(
        "/api/v1/projects/{}/features/{id}/mv-options/{option}/",
        form.place.project_id
    );
    let result = form.api.delete(&path).await;
    form.after::<FeaturePage>(id, Form::Option, result).await
}
