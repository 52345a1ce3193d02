//! Keys: the environment's client-side key and server-side keys, the
//! organisation's admin keys and proxy keys. A new key's secret is shown once,
//! on the page that answers its creation; lists show only a prefix.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde_json::{Value, json};

use super::api::Refused;
use super::layout::{csrf, page};
use super::pages::Pages;
use super::place::{EnvironmentVisit, enter};
use super::session::{Posted, Session};
use super::state::ConsoleState;
use super::view::{
    Place, Section, encode, error_page, field_error, form_errors, int, refused_page, section_url,
    short_time, text,
};

/// The keys routes.
pub fn routes(pages: Pages) -> Pages {
    pages
        .route(
            "/environments/{key}/keys",
            &["GET", "POST"],
            get(show).post(create),
        )
        .route(
            "/environments/{key}/keys/{kind}/{id}/revoke",
            &["POST"],
            post(revoke),
        )
}

/// The kinds of key made here.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Server,
    Admin,
    Proxy,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        match text {
            "server" => Some(Kind::Server),
            "admin" => Some(Kind::Admin),
            "proxy" => Some(Kind::Proxy),
            _ => None,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Admin => "admin",
            Kind::Proxy => "proxy",
        }
    }

    fn collection(self, place: &Place) -> String {
        match self {
            Kind::Server => format!("/api/v1/environments/{}/api-keys/", encode(&place.api_key)),
            Kind::Admin => format!(
                "/api/v1/organisations/{}/master-api-keys/",
                place.organisation_id
            ),
            Kind::Proxy => "/api/v1/proxy-keys/".to_string(),
        }
    }
}

/// A key's secret as a list shows it: enough to recognise, not to use.
fn masked(key: &str) -> String {
    format!("{}…", key.chars().take(8).collect::<String>())
}

struct Created {
    kind: Kind,
    name: String,
    secret: String,
}

async fn render(
    state: &ConsoleState,
    session: &Session,
    key: &str,
    created: Option<Created>,
    failed: Option<(Kind, &Refused)>,
) -> Response {
    let (api, place) = or_page!(enter(state, session, key).await);
    let lists = async {
        let server = api.all(&Kind::Server.collection(&place)).await?;
        // Keys limited to an organisation manage only that organisation's keys.
        let admin = api.all(&Kind::Admin.collection(&place)).await?;
        let proxy = api
            .all(&format!(
                "/api/v1/proxy-keys/?organisation={}",
                place.organisation_id
            ))
            .await?;
        Ok::<_, Refused>((server, admin, proxy))
    };
    let (server, admin, proxy) = or_page!(lists.await);
    let url = section_url(&place.api_key, Section::Keys);
    let refused_for = |kind: Kind| failed.filter(|(k, _)| *k == kind).map(|(_, r)| r);
    let create_form = |kind: Kind, label: &str| {
        let refused = refused_for(kind);
        let id = format!("new-{}-key", kind.slug());
        html! {
            form.row method="post" action=(url) {
                (csrf(session))
                input type="hidden" name="kind" value=(kind.slug());
                (form_errors(refused, &["name"]))
                div {
                    label for=(id) { "Name of a new " (label) }
                    input id=(id) type="text" name="name" required;
                    (field_error(refused, "name"))
                }
                button type="submit" { "Create " (label) }
            }
        }
    };
    let revoke_button = |kind: Kind, id: &str, name: &str| {
        html! {
            form.inline method="post" action={ (url) "/" (kind.slug()) "/" (encode(id)) "/revoke" } {
                (csrf(session))
                button.danger type="submit" aria-label={ "Revoke " (name) } { "Revoke" }
            }
        }
    };
    // Admin and proxy keys belong to the organisation and are revoked, not expired.
    let organisation_keys = |kind: Kind, rows: &[Value]| {
        html! {
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Prefix" } th { "Created" } th { "State" } th {} } }
                tbody { @for row in rows {
                    // Admin keys are named by prefix in the API (and written `prefix.secret`).
                    @let id = if kind == Kind::Admin { text(row, "prefix").to_string() } else { int(row, "id").to_string() };
                    tr {
                        td { (text(row, "name")) }
                        td.key { (text(row, "prefix")) @if kind == Kind::Admin { "." } }
                        td { (short_time(text(row, "created"))) }
                        td { @if row["revoked"] == json!(true) { span.muted { "revoked" } } @else { "active" } }
                        td { @if row["revoked"] != json!(true) { (revoke_button(kind, &id, text(row, "name"))) } }
                    }
                } }
            } }
        }
    };
    let body = html! {
        h1 { "Keys" }
        @if let Some(created) = &created {
            div.notice role="status" {
                p { "New " (created.kind.slug()) " key " strong { (created.name) } ". Copy it now: it is not shown again." }
                p { span.secret #new-secret { (created.secret) } }
            }
        }
        h2 { "Client-side key" }
        p.muted { "For SDKs in browsers and apps: public, sees only flags that are not server-key only." }
        p { span.secret #client-key { (place.api_key) } }

        h2 { "Server-side keys of " (place.environment) }
        p.muted { "For SDKs on servers: they also get the environment document for local evaluation." }
        div.table-wrap { table {
            thead { tr { th { "Name" } th { "Key" } th { "Created" } th { "Expires" } th { "State" } th {} } }
            tbody { @for row in &server {
                tr {
                    td { (text(row, "name")) }
                    td.key { (masked(text(row, "key"))) }
                    td { (short_time(text(row, "created_at"))) }
                    td { (row["expires_at"].as_str().map(short_time).unwrap_or_default()) }
                    td { @if row["active"] == json!(true) { "active" } @else { span.muted { "revoked" } } }
                    td { @if row["active"] == json!(true) { (revoke_button(Kind::Server, &int(row, "id").to_string(), text(row, "name"))) } }
                }
            } }
        } }
        (create_form(Kind::Server, "server-side key"))

        h2 { "Admin keys of " (place.organisation) }
        p.muted { "For the admin API and this console." }
        (organisation_keys(Kind::Admin, &admin))
        (create_form(Kind::Admin, "admin key"))

        h2 { "Proxy keys of " (place.organisation) }
        p.muted { "For edges and proxies that serve the whole organisation." }
        (organisation_keys(Kind::Proxy, &proxy))
        (create_form(Kind::Proxy, "proxy key"))
    };
    let status = if created.is_some() {
        StatusCode::CREATED
    } else {
        failed.map_or(StatusCode::OK, |(_, r)| r.status())
    };
    let markup = page("Keys", session, Some((&place, Section::Keys)), body);
    (status, Html(markup.into_string())).into_response()
}

async fn show(visit: EnvironmentVisit) -> Response {
    render(&visit.state, &visit.session, &visit.key, None, None).await
}

async fn create(
    State(state): State<ConsoleState>,
    Path(key): Path<String>,
    posted: Posted,
) -> Response {
    let Some(kind) = Kind::parse(posted.text("kind")) else {
        return error_page(StatusCode::BAD_REQUEST, "Unknown kind of key.");
    };
    let (api, place) = or_page!(enter(&state, &posted.session, &key).await);
    let name = posted.text("name").trim().to_string();
    let body = match kind {
        Kind::Proxy => json!({"name": name, "organisation": place.organisation_id}),
        _ => json!({"name": name}),
    };
    match api.post(&kind.collection(&place), body).await {
        Ok(answer) => {
            let created = Created {
                kind,
                name,
                secret: text(&answer, "key").to_string(),
            };
            render(&state, &posted.session, &key, Some(created), None).await
        }
        Err(refused @ Refused::Fields(_)) => {
            render(&state, &posted.session, &key, None, Some((kind, &refused))).await
        }
        Err(refused) => refused_page(&refused),
    }
}

async fn revoke(
    State(state): State<ConsoleState>,
    Path((key, kind, id)): Path<(String, String, String)>,
    posted: Posted,
) -> Response {
    let Some(kind) = Kind::parse(&kind) else {
        return error_page(StatusCode::NOT_FOUND, "Unknown kind of key.");
    };
    let (api, place) = or_page!(enter(&state, &posted.session, &key).await);
    let item = format!("{}{}/", kind.collection(&place), encode(&id));
    let result: Result<Value, Refused> = match kind {
        Kind::Server => api.patch(&item, json!({"active": false})).await,
        Kind::Admin => api.patch(&item, json!({"revoked": true})).await,
        Kind::Proxy => api.delete(&item).await,
    };
    match result {
        Ok(_) => Redirect::to(&section_url(&place.api_key, Section::Keys)).into_response(),
        Err(refused) => refused_page(&refused),
    }
}
