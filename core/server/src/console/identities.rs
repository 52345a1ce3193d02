//! Identities of an environment: search by identifier, and one identity's
//! traits (view, edit, delete, add) and identity overrides (add, remove).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::Refused;
use super::layout::{csrf, page};
use super::overrides::{OverrideOf, new_override_form};
use super::pages::Pages;
use super::place::{EnvironmentForm, EnvironmentVisit, ObjectPage, enter};
use super::session::Session;
use super::state::ConsoleState;
use super::view::{
    Place, Section, encode, field_error, form_errors, int, refused_page, section_url, short_time,
    text, value_inputs, value_text,
};

/// The identities routes.
pub fn routes(pages: Pages) -> Pages {
    pages
        .route(
            "/environments/{key}/identities",
            &["GET", "POST"],
            get(list).post(create),
        )
        .route("/environments/{key}/identities/{id}", &["GET"], get(show))
        .route(
            "/environments/{key}/identities/{id}/traits",
            &["POST"],
            post(add_trait),
        )
        .route(
            "/environments/{key}/identities/{id}/traits/{trait_id}",
            &["POST"],
            post(save_trait),
        )
        .route(
            "/environments/{key}/identities/{id}/traits/{trait_id}/delete",
            &["POST"],
            post(delete_trait),
        )
        .route(
            "/environments/{key}/identities/{id}/overrides",
            &["POST"],
            post(add_override),
        )
        .route(
            "/environments/{key}/identities/{id}/overrides/{state_id}/delete",
            &["POST"],
            post(delete_override),
        )
}

fn identity_url(place: &Place, id: i64) -> String {
    format!("{}/{id}", section_url(&place.api_key, Section::Identities))
}

fn identity_api(place: &Place, id: i64) -> String {
    format!(
        "/api/v1/environments/{}/identities/{id}/",
        encode(&place.api_key)
    )
}

#[derive(Deserialize, Default)]
struct Search {
    q: Option<String>,
}

async fn render_list(
    state: &ConsoleState,
    session: &Session,
    key: &str,
    search: &str,
    refused: Option<&Refused>,
) -> Response {
    let (api, place) = or_page!(enter(state, session, key).await);
    let path = format!(
        "/api/v1/environments/{}/identities/?q={}&page_size=100",
        encode(&place.api_key),
        encode(search)
    );
    let answer = or_page!(api.get(&path).await);
    let identities: Vec<Value> = answer["results"].as_array().cloned().unwrap_or_default();
    let url = section_url(&place.api_key, Section::Identities);
    let body = html! {
        h1 { "Identities" }
        form.row role="search" method="get" action=(url) {
            div {
                label for="identity-search" { "Search by identifier" }
                input #identity-search type="search" name="q" value=(search);
            }
            button type="submit" { "Search" }
        }
        p.muted { (answer["count"]) " found" @if answer["count"].as_i64().unwrap_or(0) > 100 { "; the first 100 shown, narrow the search" } "." }
        div.table-wrap { table {
            thead { tr { th { "Identifier" } th { "Created" } } }
            tbody { @for identity in &identities {
                tr {
                    td.key { a href=(identity_url(&place, int(identity, "id"))) { (text(identity, "identifier")) } }
                    td { (short_time(text(identity, "created_date"))) }
                }
            } }
        } }
        h2 { "Add an identity" }
        form.row method="post" action=(url) {
            (csrf(session))
            (form_errors(refused, &["identifier"]))
            div {
                label for="new-identifier" { "Identifier" }
                input #new-identifier type="text" name="identifier" required;
                (field_error(refused, "identifier"))
            }
            button type="submit" { "Add identity" }
        }
    };
    let status = refused.map_or(StatusCode::OK, Refused::status);
    (
        status,
        Html(
            page(
                "Identities",
                session,
                Some((&place, Section::Identities)),
                body,
            )
            .into_string(),
        ),
    )
        .into_response()
}

async fn list(visit: EnvironmentVisit, Query(search): Query<Search>) -> Response {
    render_list(
        &visit.state,
        &visit.session,
        &visit.key,
        search.q.as_deref().unwrap_or(""),
        None,
    )
    .await
}

async fn create(form: EnvironmentForm) -> Response {
    let path = format!(
        "/api/v1/environments/{}/identities/",
        encode(&form.place.api_key)
    );
    match form
        .api
        .post(&path, json!({"identifier": form.posted.text("identifier")}))
        .await
    {
        Ok(identity) => {
            Redirect::to(&identity_url(&form.place, int(&identity, "id"))).into_response()
        }
        Err(refused @ Refused::Fields(_)) => {
            render_list(
                &form.state,
                &form.posted.session,
                &form.key,
                "",
                Some(&refused),
            )
            .await
        }
        Err(refused) => refused_page(&refused),
    }
}

/// Which form failed on an identity's page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    NewTrait,
    Trait(i64),
    NewOverride,
}

async fn render(
    state: &ConsoleState,
    session: &Session,
    key: &str,
    id: i64,
    failed: Option<(Form, &Refused)>,
) -> Response {
    let (api, place) = or_page!(enter(state, session, key).await);
    let loaded = async {
        let identity = api.get(&identity_api(&place, id)).await?;
        let traits = api
            .all(&format!("{}traits/", identity_api(&place, id)))
            .await?;
        let overrides = api
            .all(&format!("{}featurestates/", identity_api(&place, id)))
            .await?;
        let features = api
            .all(&format!("/api/v1/projects/{}/features/", place.project_id))
            .await?;
        Ok::<_, Refused>((identity, traits, overrides, features))
    };
    let (identity, traits, overrides, features) = or_page!(loaded.await);
    let names: HashMap<i64, &str> = features
        .iter()
        .map(|f| (int(f, "id"), text(f, "name")))
        .collect();
    let url = identity_url(&place, id);
    let refused_for = |form: Form| failed.filter(|(f, _)| *f == form).map(|(_, r)| r);
    let body = html! {
        h1 { "Identity " code { (text(&identity, "identifier")) } }
        h2 { "Traits" }
        @if traits.is_empty() { p.muted { "None." } }
        div.table-wrap { table #traits {
            thead { tr { th { "Key" } th { "Value" } th {} } }
            tbody { @for row in &traits {
                @let trait_id = int(row, "id");
                @let refused = refused_for(Form::Trait(trait_id));
                tr {
                    td.key { (text(row, "trait_key")) }
                    td {
                        form.row method="post" action={ (url) "/traits/" (trait_id) } {
                            (csrf(session))
                            (form_errors(refused, &["trait_value"]))
                            div { (value_inputs(&format!("t{trait_id}_"), &row["trait_value"], refused, "trait_value")) }
                            button type="submit" aria-label={ "Save trait " (text(row, "trait_key")) } { "Save" }
                        }
                    }
                    td { form.inline method="post" action={ (url) "/traits/" (trait_id) "/delete" } {
                        (csrf(session)) button.danger type="submit" aria-label={ "Delete trait " (text(row, "trait_key")) } { "Delete" } } }
                }
            } }
        } }
        @let refused = refused_for(Form::NewTrait);
        form.row method="post" action={ (url) "/traits" } {
            (csrf(session))
            (form_errors(refused, &["trait_key", "trait_value"]))
            div {
                label for="new-trait-key" { "Trait key" }
                input #new-trait-key type="text" name="trait_key" required;
                (field_error(refused, "trait_key"))
            }
            div { (value_inputs("new_", &Value::Null, refused, "trait_value")) }
            button type="submit" { "Add trait" }
        }
        h2 { "Identity overrides" }
        @if overrides.is_empty() { p.muted { "None: this identity gets the environment's and its segments' values." } }
        div.table-wrap { table #identity-overrides {
            thead { tr { th { "Feature" } th { "Enabled" } th { "Value" } th {} } }
            tbody { @for state in &overrides {
                tr {
                    td.key { (names.get(&int(state, "feature")).copied().unwrap_or("?")) }
                    td { @if state["enabled"] == json!(true) { "on" } @else { "off" } }
                    td.value { (value_text(&state["feature_state_value"])) }
                    td { form.inline method="post" action={ (url) "/overrides/" (int(state, "id")) "/delete" } {
                        (csrf(session)) button.danger type="submit" { "Remove" } } }
                }
            } }
        } }
        @let refused = refused_for(Form::NewOverride);
        @if !features.is_empty() {
            (new_override_form(session, &format!("{url}/overrides"), refused, OverrideOf {
                field: "feature",
                label: "Feature",
                choices: &features,
                value_prefix: "override_",
                enabled_id: "identity-override-enabled",
                button: "Add identity override",
            }))
        }
    };
    let status = failed.map_or(StatusCode::OK, |(_, r)| r.status());
    let title = format!("Identity {}", text(&identity, "identifier"));
    (
        status,
        Html(page(&title, session, Some((&place, Section::Identities)), body).into_string()),
    )
        .into_response()
}

/// An identity's page, where its forms post back to.
struct IdentityPage;

impl ObjectPage for IdentityPage {
    type Form = Form;

    fn url(key: &str, id: i64) -> String {
        format!("{}/{id}", section_url(key, Section::Identities))
    }

    async fn refused_on(form: &EnvironmentForm, id: i64, refused: (Form, &Refused)) -> Response {
        let session = &form.posted.session;
        render(&form.state, session, &form.key, id, Some(refused)).await
    }
}

async fn show(Path((_, id)): Path<(String, i64)>, visit: EnvironmentVisit) -> Response {
    render(&visit.state, &visit.session, &visit.key, id, None).await
}

async fn add_trait(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    let value = or_page!(
        form.typed_or_page::<IdentityPage>(id, "new_", (Form::NewTrait, "trait_value"))
            .await
    );
    let body = json!({"trait_key": form.posted.text("trait_key").trim(), "trait_value": value});
    let result = form
        .api
        .post(&format!("{}traits/", identity_api(&form.place, id)), body)
        .await;
    form.after::<IdentityPage>(id, Form::NewTrait, result).await
}

async fn save_trait(
    Path((_, id, trait_id)): Path<(String, i64, i64)>,
    form: EnvironmentForm,
) -> Response {
    let prefix = format!("t{trait_id}_");
    let value = or_page!(
        form.typed_or_page::<IdentityPage>(id, &prefix, (Form::Trait(trait_id), "trait_value"))
            .await
    );
    let path = format!("{}traits/{trait_id}/", identity_api(&form.place, id));
    let result = form.api.patch(&path, json!({"trait_value": value})).await;
    form.after::<IdentityPage>(id, Form::Trait(trait_id), result)
        .await
}

async fn delete_trait(
    Path((_, id, trait_id)): Path<(String, i64, i64)>,
    form: EnvironmentForm,
) -> Response {
    let result = form
        .api
        .delete(&format!(
            "{}traits/{trait_id}/",
            identity_api(&form.place, id)
        ))
        .await;
    form.after::<IdentityPage>(id, Form::Trait(trait_id), result)
        .await
}

async fn add_override(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    let value = or_page!(
        form.typed_or_page::<IdentityPage>(
            id,
            "override_",
            (Form::NewOverride, "feature_state_value")
        )
        .await
    );
    let feature: i64 = form.posted.text("feature").parse().unwrap_or(0);
    let body = json!({"feature": feature, "enabled": form.posted.checked("enabled"), "feature_state_value": value});
    let result = form
        .api
        .post(
            &format!("{}featurestates/", identity_api(&form.place, id)),
            body,
        )
        .await;
    form.after::<IdentityPage>(id, Form::NewOverride, result)
        .await
}

async fn delete_override(
    Path((_, id, state_id)): Path<(String, i64, i64)>,
    form: EnvironmentForm,
) -> Response {
    let result = form
        .api
        .delete(&format!(
            "{}featurestates/{state_id}/",
            identity_api(&form.place, id)
        ))
        .await;
    form.after::<IdentityPage>(id, Form::NewOverride, result)
        .await
}
