//! `GET /`: every organisation, project and environment the key may see, and
//! forms to add a project or an environment.

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde_json::json;

use super::api::{Api, Refused};
use super::layout::{csrf, page};
use super::pages::Pages;
use super::session::{Posted, Session};
use super::state::ConsoleState;
use super::view::{Section, field_error, int, refused_page, section_url, text};

/// The home routes.
pub fn routes(pages: Pages) -> Pages {
    pages
        .route("/", &["GET"], get(show))
        .route("/projects", &["POST"], post(create_project))
        .route(
            "/projects/{id}/environments",
            &["POST"],
            post(create_environment),
        )
}

async fn render(
    state: &ConsoleState,
    session: &Session,
    refused: Option<(&str, i64, &Refused)>,
) -> Response {
    let api = Api::new(state.api.clone(), session.admin);
    let organisations = or_page!(api.all("/api/v1/organisations/").await);
    let mut tree = Vec::new();
    for organisation in &organisations {
        let id = int(organisation, "id");
        let projects = or_page!(
            api.all(&format!("/api/v1/projects/?organisation={id}"))
                .await
        );
        let mut with_environments = Vec::new();
        for project in projects {
            let environments = or_page!(
                api.all(&format!(
                    "/api/v1/environments/?project={}",
                    int(&project, "id")
                ))
                .await
            );
            with_environments.push((project, environments));
        }
        tree.push((organisation, with_environments));
    }
    let error_for = |form: &str, id: i64| {
        refused
            .filter(|(f, i, _)| *f == form && *i == id)
            .map(|(_, _, r)| r)
    };
    let status = refused.map_or(axum::http::StatusCode::OK, |(_, _, r)| r.status());
    let markup = page(
        "Environments",
        session,
        None,
        html! {
            h1 { "Environments" }
            @if tree.is_empty() { p.muted { "This key sees no organisation." } }
            div.tree {
                @for (organisation, projects) in &tree {
                    @let org_id = int(organisation, "id");
                    section {
                        h2 { (text(organisation, "name")) " " span.pill { "organisation" } }
                        ul {
                            @for (project, environments) in projects {
                                @let project_id = int(project, "id");
                                li id={ "project-" (project_id) } {
                                    strong { (text(project, "name")) } " " span.pill { "project" }
                                    ul {
                                        @for environment in environments {
                                            li {
                                                a href=(section_url(text(environment, "api_key"), Section::Features)) { (text(environment, "name")) }
                                                " " span.muted { "revision " code { (int(environment, "revision")) } }
                                            }
                                        }
                                    }
                                    form.row method="post" action={ "/projects/" (project_id) "/environments" } {
                                        (csrf(session))
                                        div {
                                            label for={ "env-name-" (project_id) } { "New environment in " (text(project, "name")) }
                                            input id={ "env-name-" (project_id) } type="text" name="name" required;
                                            (field_error(error_for("environment", project_id), "name"))
                                        }
                                        button type="submit" { "Add environment" }
                                    }
                                }
                            }
                        }
                        form.row method="post" action="/projects" {
                            (csrf(session))
                            input type="hidden" name="organisation" value=(org_id);
                            div {
                                label for={ "project-name-" (org_id) } { "New project in " (text(organisation, "name")) }
                                input id={ "project-name-" (org_id) } type="text" name="name" required;
                                (field_error(error_for("project", org_id), "name"))
                            }
                            button type="submit" { "Add project" }
                        }
                    }
                }
            }
        },
    );
    (status, Html(markup.into_string())).into_response()
}

/// `GET /`.
pub async fn show(State(state): State<ConsoleState>, session: Session) -> Response {
    render(&state, &session, None).await
}

async fn create_project(State(state): State<ConsoleState>, posted: Posted) -> Response {
    let api = Api::new(state.api.clone(), posted.session.admin);
    let organisation: i64 = posted.text("organisation").parse().unwrap_or(0);
    let body = json!({"name": posted.text("name").trim(), "organisation": organisation});
    match api.post("/api/v1/projects/", body).await {
        Ok(project) => Redirect::to(&format!("/#project-{}", int(&project, "id"))).into_response(),
        Err(refused @ Refused::Fields(_)) => {
            render(
                &state,
                &posted.session,
                Some(("project", organisation, &refused)),
            )
            .await
        }
        Err(refused) => refused_page(&refused),
    }
}

async fn create_environment(
    State(state): State<ConsoleState>,
    Path(project): Path<i64>,
    posted: Posted,
) -> Response {
    let api = Api::new(state.api.clone(), posted.session.admin);
    let body = json!({"name": posted.text("name").trim(), "project": project});
    match api.post("/api/v1/environments/", body).await {
        Ok(environment) => Redirect::to(&section_url(
            text(&environment, "api_key"),
            Section::Features,
        ))
        .into_response(),
        Err(refused @ Refused::Fields(_)) => {
            render(
                &state,
                &posted.session,
                Some(("environment", project, &refused)),
            )
            .await
        }
        Err(refused) => refused_page(&refused),
    }
}
