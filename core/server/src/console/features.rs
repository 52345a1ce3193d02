//! An environment's features: the list (search, inline toggles, create) and
//! deleting one (with a confirmation page). One feature's page is
//! [`super::feature`]; its segment overrides are [`super::overrides`].

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Api, Refused};
use super::layout::{csrf, page};
use super::pages::Pages;
use super::place::{EnvironmentForm, EnvironmentVisit, enter};
use super::session::{Posted, Session};
use super::state::ConsoleState;
use super::view::{
    Place, Section, encode, field_error, form_errors, int, refused_page, section_url, text,
    typed_value, value_inputs, value_text,
};

/// The routes of the features list.
pub fn routes(pages: Pages) -> Pages {
    pages
        .route(
            "/environments/{key}/features",
            &["GET", "POST"],
            get(list).post(create),
        )
        .route(
            "/environments/{key}/features/{id}/toggle",
            &["POST"],
            post(toggle),
        )
        .route(
            "/environments/{key}/features/{id}/delete",
            &["GET", "POST"],
            get(confirm_delete).post(delete),
        )
}

/// The URL of one feature's page.
pub fn feature_url(api_key: &str, feature: i64) -> String {
    format!("{}/{feature}", section_url(api_key, Section::Features))
}

/// The environment's own state of each feature (not an override), by feature id,
/// and how many segment overrides each has here.
pub async fn states(
    api: &Api,
    place: &Place,
    feature: Option<i64>,
) -> Result<(HashMap<i64, Value>, HashMap<i64, usize>), Refused> {
    let mut path = format!(
        "/api/v1/environments/{}/featurestates/",
        encode(&place.api_key)
    );
    if let Some(feature) = feature {
        path.push_str(&format!("?feature={feature}"));
    }
    let mut defaults = HashMap::new();
    let mut overrides: HashMap<i64, usize> = HashMap::new();
    for state in api.all(&path).await? {
        let feature = int(&state, "feature");
        if state.get("feature_segment").is_none_or(Value::is_null) {
            defaults.insert(feature, state);
        } else {
            *overrides.entry(feature).or_default() += 1;
        }
    }
    Ok((defaults, overrides))
}

/// The checkbox that turns a feature on or off here, labelled with its name.
pub fn toggle_form(
    session: &Session,
    place: &Place,
    feature: &Value,
    enabled: bool,
    back: &str,
) -> Markup {
    let id = int(feature, "id");
    let box_id = format!("enabled-{id}");
    html! {
        form.toggle.inline method="post" action={ (feature_url(&place.api_key, id)) "/toggle" } {
            (csrf(session))
            input type="hidden" name="back" value=(back);
            input type="hidden" name="enabled" value="false";
            input id=(box_id) type="checkbox" name="enabled" value="true" checked[enabled];
            label.sr-label for=(box_id) { (text(feature, "name")) }
            button type="submit" { "Apply" }
        }
    }
}

#[derive(Deserialize, Default)]
struct Search {
    q: Option<String>,
}

async fn render(
    state: &ConsoleState,
    session: &Session,
    api_key: &str,
    search: &str,
    refused: Option<&Refused>,
    posted: Option<&Posted>,
) -> Response {
    let (api, place) = or_page!(enter(state, session, api_key).await);
    let features = or_page!(
        api.all(&format!(
            "/api/v1/projects/{}/features/?search={}",
            place.project_id,
            encode(search)
        ))
        .await
    );
    let (defaults, overrides) = or_page!(states(&api, &place, None).await);
    let fleet = or_page!(super::fleet::summary(&api, &place.api_key).await);
    let list_url = section_url(&place.api_key, Section::Features);
    let given = |name: &str| posted.map_or("", |p| p.text(name));
    let body = html! {
        h1 { "Features" }
        (fleet)
        form.row role="search" method="get" action=(list_url) {
            div {
                label for="search" { "Search by name" }
                input #search type="search" name="q" value=(search) data-filter="features";
            }
            button type="submit" { "Search" }
        }
        div.table-wrap {
            table #features {
                thead { tr {
                    th { "Name" } th { "Type" } th { "Enabled" } th { "Value" }
                    th { "Segment overrides" } th { "Access" }
                } }
                tbody {
                    @for feature in &features {
                        @let id = int(feature, "id");
                        @let own = defaults.get(&id);
                        tr id={ "feature-" (id) } data-name=(text(feature, "name")) {
                            td.key {
                                a href=(feature_url(&place.api_key, id)) { (text(feature, "name")) }
                                @if let Some(description) = feature.get("description").and_then(Value::as_str) {
                                    br; span.muted { (description) }
                                }
                            }
                            td { (text(feature, "type")) }
                            td { (toggle_form(session, &place, feature, own.is_some_and(|s| s["enabled"] == json!(true)), &list_url)) }
                            td.value { (own.map(|s| value_text(&s["feature_state_value"])).unwrap_or_default()) }
                            td { (overrides.get(&id).copied().unwrap_or(0)) }
                            td { @if feature["is_server_key_only"] == json!(true) { span.pill { "server-key only" } } }
                        }
                    }
                }
            }
        }
        @if features.is_empty() {
            p.muted { @if search.is_empty() { "No features yet." } @else { "No feature matches." } }
        }
        h2 { "Create a feature" }
        p.muted { "A new feature appears in every environment of " (place.project) ", off and with this value unless said otherwise." }
        form.stack method="post" action=(list_url) {
            (csrf(session))
            (form_errors(refused, &["name", "initial_value", "description"]))
            label for="new-name" { "Name" }
            input #new-name type="text" name="name" required value=(given("name"));
            (field_error(refused, "name"))
            (value_inputs("", &typed_value(given("value_type"), given("value")).unwrap_or(Value::Null), refused, "initial_value"))
            label for="new-description" { "Description" }
            input #new-description type="text" name="description" value=(given("description"));
            (field_error(refused, "description"))
            div {
                input #new-enabled type="checkbox" name="default_enabled" value="true";
                " " label for="new-enabled" { "Enabled in every environment" }
            }
            div {
                input #new-server-only type="checkbox" name="is_server_key_only" value="true";
                " " label for="new-server-only" { "Server-side keys only" }
            }
            div { button.primary type="submit" { "Create feature" } }
        }
    };
    let status = refused.map_or(StatusCode::OK, Refused::status);
    let markup = page("Features", session, Some((&place, Section::Features)), body);
    (status, Html(markup.into_string())).into_response()
}

async fn list(visit: EnvironmentVisit, Query(search): Query<Search>) -> Response {
    render(
        &visit.state,
        &visit.session,
        &visit.key,
        search.q.as_deref().unwrap_or(""),
        None,
        None,
    )
    .await
}

async fn create(
    State(state): State<ConsoleState>,
    Path(key): Path<String>,
    posted: Posted,
) -> Response {
    let session = &posted.session;
    let (api, place) = or_page!(enter(&state, session, &key).await);
    let value = match posted.typed("") {
        Ok(value) => value,
        Err(message) => {
            let refused = Refused::for_field("initial_value", message);
            return render(&state, session, &key, "", Some(&refused), Some(&posted)).await;
        }
    };
    let description = posted.text("description").trim();
    let body = json!({
        "name": posted.text("name").trim(),
        "initial_value": value,
        "default_enabled": posted.checked("default_enabled"),
        "description": if description.is_empty() { Value::Null } else { json!(description) },
        "is_server_key_only": posted.checked("is_server_key_only"),
    });
    match api
        .post(
            &format!("/api/v1/projects/{}/features/", place.project_id),
            body,
        )
        .await
    {
        Ok(feature) => {
            Redirect::to(&feature_url(&place.api_key, int(&feature, "id"))).into_response()
        }
        Err(refused @ Refused::Fields(_)) => {
            render(&state, session, &key, "", Some(&refused), Some(&posted)).await
        }
        Err(refused) => refused_page(&refused),
    }
}

/// Sets a feature's own state here on or off (idempotent: the form says which).
async fn toggle(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    let (defaults, _) = or_page!(states(&form.api, &form.place, Some(id)).await);
    let Some(own) = defaults.get(&id) else {
        return super::view::error_page(
            StatusCode::NOT_FOUND,
            "No such feature in this environment.",
        );
    };
    let path = format!(
        "/api/v1/environments/{}/featurestates/{}/",
        encode(&form.place.api_key),
        int(own, "id")
    );
    match form
        .api
        .patch(&path, json!({"enabled": form.posted.checked("enabled")}))
        .await
    {
        Ok(_) => {
            let back = super::view::local_back(
                form.posted.get("back"),
                &section_url(&form.place.api_key, Section::Features),
            );
            Redirect::to(&format!("{back}#feature-{id}")).into_response()
        }
        Err(refused) => refused_page(&refused),
    }
}

async fn confirm_delete(Path((_, id)): Path<(String, i64)>, visit: EnvironmentVisit) -> Response {
    let (api, place) = or_page!(enter(&visit.state, &visit.session, &visit.key).await);
    let feature = or_page!(
        api.get(&format!(
            "/api/v1/projects/{}/features/{id}/",
            place.project_id
        ))
        .await
    );
    let body = html! {
        h1 { "Delete " code { (text(&feature, "name")) } "?" }
        p { "This deletes the feature from every environment of " strong { (place.project) } ", with its segment and identity overrides. SDKs stop receiving it. It cannot be undone." }
        form.inline method="post" action={ (feature_url(&place.api_key, id)) "/delete" } {
            (csrf(&visit.session))
            button.danger type="submit" { "Delete " (text(&feature, "name")) }
            a href=(feature_url(&place.api_key, id)) { "Cancel" }
        }
    };
    Html(
        page(
            "Delete feature",
            &visit.session,
            Some((&place, Section::Features)),
            body,
        )
        .into_string(),
    )
    .into_response()
}

async fn delete(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    match form
        .api
        .delete(&format!(
            "/api/v1/projects/{}/features/{id}/",
            form.place.project_id
        ))
        .await
    {
        Ok(_) => Redirect::to(&section_url(&form.place.api_key, Section::Features)).into_response(),
        Err(refused) => refused_page(&refused),
    }
}
