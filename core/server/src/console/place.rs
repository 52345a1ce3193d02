//! Where an environment page is: the environment (by client key), its project
//! and organisation and the project's other environments, for the navigation.

use std::collections::HashMap;
use std::future::Future;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use super::api::{Api, Refused};
use super::session::{Posted, Session};
use super::state::ConsoleState;
use super::view::{Place, encode, error_page, int, refused_page, text};

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
    state: &ConsoleState,
    session: &Session,
    api_key: &str,
) -> Result<(Api, Place), Response> {
    let api = Api::new(state.api.clone(), session.admin);
    match load(&api, api_key).await {
        Ok(place) => Ok((api, place)),
        Err(refused) => Err(super::view::refused_page(&refused)),
    }
}

/// A page of the environment whose client key is the path's `{key}`, asked
/// for by a signed-in admin (else the way to sign in).
pub struct EnvironmentVisit {
    /// The console.
    pub state: ConsoleState,
    /// The admin's session.
    pub session: Session,
    /// The environment's client key, as the path gave it.
    pub key: String,
}

impl FromRequestParts<ConsoleState> for EnvironmentVisit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Response> {
        let key = path_key(parts, state).await?;
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(EnvironmentVisit {
            state: state.clone(),
            session,
            key,
        })
    }
}

/// The path's `{key}`: an environment's client key.
async fn path_key(parts: &mut Parts, state: &ConsoleState) -> Result<String, Response> {
    let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    params
        .remove("key")
        .ok_or_else(|| error_page(StatusCode::NOT_FOUND, "No environment here."))
}

/// A form posted to a page of the environment whose client key is the
/// path's `{key}`, by a signed-in admin whose CSRF token checked: the form,
/// the API as that admin and the environment's place. Extracted last (it
/// reads the body); a refusal is the page saying why.
pub struct EnvironmentForm {
    /// The console.
    pub state: ConsoleState,
    /// The form.
    pub posted: Posted,
    /// The environment's client key, as the path gave it.
    pub key: String,
    /// The API as the session's admin.
    pub api: Api,
    /// Where the environment is.
    pub place: Place,
}

impl FromRequest<ConsoleState> for EnvironmentForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Path(mut params) =
            Path::<HashMap<String, String>>::from_request_parts(&mut parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let Some(key) = params.remove("key") else {
            return Err(error_page(StatusCode::NOT_FOUND, "No environment here."));
        };
        let posted = Posted::from_request(Request::from_parts(parts, body), state).await?;
        let (api, place) = enter(state, &posted.session, &key).await?;
        Ok(EnvironmentForm {
            state: state.clone(),
            posted,
            key,
            api,
            place,
        })
    }
}

/// The page of one object of an environment (a feature, an identity) that
/// its forms post back to.
pub trait ObjectPage {
    /// Which of the page's forms a refusal is shown beside.
    type Form: Send;

    /// The page's address.
    fn url(key: &str, id: i64) -> String;

    /// The page of object `id`, drawn again for `form` with the reasons a
    /// form was refused beside it.
    fn refused_on(
        form: &EnvironmentForm,
        id: i64,
        refused: (Self::Form, &Refused),
    ) -> impl Future<Output = Response> + Send;
}

impl EnvironmentForm {
    /// The typed value of the fields `{prefix}value_type` and `{prefix}value`,
    /// or page `P` of object `id` with the reason beside `field` of `form`.
    pub async fn typed_or_page<P: ObjectPage>(
        &self,
        id: i64,
        prefix: &str,
        (form, field): (P::Form, &str),
    ) -> Result<Value, Response> {
        match self.posted.typed(prefix) {
            Ok(value) => Ok(value),
            Err(message) => {
                let refused = Refused::for_field(field, message);
                Err(self.refused_on::<P>(id, form, &refused).await)
            }
        }
    }

    /// After a write: back to page `P` of object `id`, or that page with the
    /// API's reasons beside `form` (or the page of a refusal that is not
    /// about fields).
    pub async fn after<P: ObjectPage>(
        &self,
        id: i64,
        form: P::Form,
        result: Result<Value, Refused>,
    ) -> Response {
        match result {
            Ok(_) => Redirect::to(&P::url(&self.key, id)).into_response(),
            Err(refused @ Refused::Fields(_)) => self.refused_on::<P>(id, form, &refused).await,
            Err(refused) => refused_page(&refused),
        }
    }

    /// Page `P` of object `id` with `refused` beside `form`.
    pub async fn refused_on<P: ObjectPage>(
        &self,
        id: i64,
        form: P::Form,
        refused: &Refused,
    ) -> Response {
        P::refused_on(self, id, (form, refused)).await
    }
}
