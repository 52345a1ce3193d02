//! The edge fleet: every edge heard from recently, its region and version, and
//! per environment whether it serves core's current revision or how far behind
//! it is; stale edges marked. From `GET /api/v1/edges/`.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Api, Refused};
use super::layout::page;
use super::pages::Pages;
use super::session::Session;
use super::state::ConsoleState;
use super::view::{Section, int, section_url, short_time, text};

/// The fleet route.
pub fn routes(pages: Pages) -> Pages {
    pages.route("/fleet", &["GET"], get(show))
}

/// Passed through to the API.
#[derive(Deserialize, Default)]
struct Window {
    seen_within: Option<u32>,
    stale_after: Option<u32>,
}

impl Window {
    fn query(&self) -> String {
        let mut query = String::new();
        if let Some(seen) = self.seen_within {
            query.push_str(&format!("seen_within={seen}&"));
        }
        if let Some(stale) = self.stale_after {
            query.push_str(&format!("stale_after={stale}&"));
        }
        query
    }
}

/// How one environment stands on one edge.
fn standing(environment: &Value) -> Markup {
    if environment["known"] != json!(true) {
        return html! { span.muted { "unknown to core" } };
    }
    if environment["current"] == json!(true) {
        return html! { span.ok { "current" } " " span.muted { "(revision " (int(environment, "served_revision")) ")" } };
    }
    html! {
        span.error {
            "behind "
            @if let Some(revisions) = environment["revisions_behind"].as_i64() { (revisions) " revision" @if revisions != 1 { "s" } }
            @if let Some(seconds) = environment["seconds_behind"].as_f64() { ", " (format!("{seconds:.1}")) " s" }
        }
        " " span.muted { "(serves " (environment["served_revision"]) ", core has " (int(environment, "current_revision")) ")" }
    }
}

/// "N of M edges serve the current revision" for one environment.
pub async fn summary(api: &Api, api_key: &str) -> Result<Markup, Refused> {
    let answer = api
        .get(&format!(
            "/api/v1/edges/?environment={}",
            super::view::encode(api_key)
        ))
        .await?;
    let edges: Vec<Value> = answer["results"].as_array().cloned().unwrap_or_default();
    let live: Vec<&Value> = edges.iter().filter(|e| e["stale"] != json!(true)).collect();
    let current = live
        .iter()
        .filter(|e| {
            e["environments"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|env| env["environment_key"] == api_key && env["current"] == json!(true))
        })
        .count();
    Ok(html! {
        p.fleet-summary {
            a href="/fleet" { "Edges" } ": "
            @if live.is_empty() { span.muted { "no edge has reported serving this environment recently" } }
            @else { strong { (current) } " of " (live.len()) " serve its current revision" }
        }
    })
}

async fn show(
    State(state): State<ConsoleState>,
    Query(window): Query<Window>,
    session: Session,
) -> Response {
    let api = Api::new(state.api.clone(), session.admin);
    let answer = or_page!(api.get(&format!("/api/v1/edges/?{}", window.query())).await);
    let edges: Vec<Value> = answer["results"].as_array().cloned().unwrap_or_default();
    let body = html! {
        h1 { "Edges" }
        p.muted {
            "Every edge that reported to flagedge-sync recently (edges report with each batch of counts: "
            code { "--analytics-url" } "). An edge silent for more than " (answer["stale_after"]) " s is stale."
        }
        @if edges.is_empty() {
            p.muted #no-edges { "No edge has reported recently." }
        } @else {
            div.table-wrap { table #fleet {
                thead { tr { th { "Edge" } th { "Region" } th { "Version" } th { "Last seen" } th { "Environments" } } }
                tbody { @for edge in &edges {
                    tr.stale[edge["stale"] == json!(true)] data-name=(text(edge, "edge_id")) {
                        td.key {
                            (text(edge, "edge_id"))
                            @if edge["stale"] == json!(true) { " " span.pill.stale-pill { "stale" } }
                        }
                        td { (text(edge, "region")) }
                        td { code { (text(edge, "version")) } }
                        td { (short_time(text(edge, "last_seen"))) br; span.muted { (int(edge, "seconds_since_seen")) " s ago" } }
                        td { ul.environments {
                            @for environment in edge["environments"].as_array().into_iter().flatten() {
                                li {
                                    @if environment["known"] == json!(true) {
                                        a href=(section_url(text(environment, "environment_key"), Section::Features)) { (text(environment, "name")) }
                                    } @else {
                                        code { (text(environment, "environment_key")) }
                                    }
                                    ": " (standing(environment))
                                }
                            }
                        } }
                    }
                } }
            } }
        }
    };
    Html(page("Edges", &session, None, body).into_string()).into_response()
}
