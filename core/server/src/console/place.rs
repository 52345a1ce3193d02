//! Where an environment page is: the environment (by client key), its project
//! and organisation and the project's other environments, for the navigation.

use serde_json::Value;

use super::api::{Api, Refused};
use super::view::{Place, encode, int, text};

/// The place of the environment with client key `api_key`.
pub async fn load(api: &Api, api_key: &str) -> Result<Place, Refused> {
    let environment = api
        .get(&format!("/api/v1/environments/{}/", encode(api_key)))
        .await?;
    let project_id = int(&environment, "project");
    let project = api.get(&format!("/api/v1/projects/{project_id}/")).await?;
    let organisation = api
        .get(&format!(
            "/api/v1/organisations/{}/",
            int(&project, "organisation")
        ))
        .await?;
    let siblings = api
        .all(&format!("/api/v1/environments/?project={project_id}"))
        .await?
        .iter()
        .map(|e| (text(e, "name").to_string(), text(e, "api_key").to_string()))
        .collect();
    Ok(Place {
        organisation_id: int(&organisation, "id"),
        organisation: text(&organisation, "name").to_string(),
        project_id,
        project: text(&project, "name").to_string(),
        environment: text(&environment, "name").to_string(),
        environment_id: int(&environment, "id"),
        api_key: text(&environment, "api_key").to_string(),
        revision: environment
            .get("revision")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        updated_at: text(&environment, "updated_at").to_string(),
        siblings,
    })
}

/// The API as the session's admin and the place of `api_key`, or the page saying why not.
pub async fn enter(
    state: &super::state::ConsoleState,
    session: &super::session::Session,
    api_key: &str,
) -> Result<(Api, Place), axum::response::Response> {
    let api = Api::new(state.api.clone(), session.admin);
    match load(&api, api_key).await {
        Ok(place) => Ok((api, place)),
        Err(refused) => Err(super::view::refused_page(&refused)),
    }
}
