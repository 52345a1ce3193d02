//! The audit log as pages: an environment's history (optionally one
//! feature's), newest first, and the recent entries on a feature's page.
//! Entries come from `GET /api/v1/audit-log/`.

use axum::extract::Query;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::api::{Api, Refused};
use super::layout::page;
use super::pages::Pages;
use super::place::{EnvironmentVisit, enter};
use super::view::{Place, Section, int, section_url, short_time, text};

/// The history route.
pub fn routes(pages: Pages) -> Pages {
    pages.route("/environments/{key}/history", &["GET"], get(show))
}

/// Fields every row has that say nothing about the change.
const NOISE: &[&str] = &[
    "id",
    "updated_at",
    "created_at",
    "created_date",
    "featurestate_uuid",
    "uuid",
    "mv_fs_value_uuid",
    "identity_uuid",
];

/// What changed in an entry: (field, before, after), compact JSON.
pub fn changes(entry: &Value) -> Vec<(String, String, String)> {
    let empty = serde_json::Map::new();
    let before = entry["before"].as_object().unwrap_or(&empty);
    let after = entry["after"].as_object().unwrap_or(&empty);
    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| !NOISE.contains(&f.as_str()))
        .filter(|f| before.get(*f) != after.get(*f))
        .map(|f| {
            let show = |v: Option<&Value>| v.map_or(String::new(), Value::to_string);
            (f.clone(), show(before.get(f)), show(after.get(f)))
        })
        .collect()
}

/// Feature names by id, for the "What" column.
pub type FeatureNames = std::collections::HashMap<i64, String>;

/// The project's features by id.
pub async fn feature_names(api: &Api, place: &Place) -> Result<FeatureNames, Refused> {
    Ok(api
        .all(&format!("/api/v1/projects/{}/features/", place.project_id))
        .await?
        .iter()
        .map(|f| (int(f, "id"), text(f, "name").to_string()))
        .collect())
}

/// Entries as a table.
pub fn table(entries: &[Value], names: &FeatureNames) -> Markup {
    html! {
        @if entries.is_empty() { p.muted { "No changes recorded." } }
        @else {
            div.table-wrap { table.history {
                thead { tr { th { "When" } th { "Admin key" } th { "What" } th { "Change" } } }
                tbody {
                    @for entry in entries {
                        tr {
                            td { time datetime=(text(entry, "created_date")) { (short_time(text(entry, "created_date"))) } }
                            td.key { (text(entry, "author")) }
                            td {
                                (text(entry, "resource")) " " code { (int(entry, "resource_id")) } " " (text(entry, "action"))
                                @if let Some(name) = entry["feature"].as_i64().and_then(|f| names.get(&f)) {
                                    br; span.muted { "feature " } code { (name) }
                                }
                            }
                            td { pre.diff {
                                @for (field, before, after) in changes(entry) {
                                    (field) ": " (before) " → " (after) "\n"
                                }
                            } }
                        }
                    }
                }
            } }
        }
    }
}

/// The latest changes to one feature in this environment's project.
pub async fn recent(api: &Api, place: &Place, feature: i64) -> Result<Markup, Refused> {
    let answer = api
        .get(&format!(
            "/api/v1/audit-log/?feature={feature}&page_size=10"
        ))
        .await?;
    let entries: Vec<Value> = answer["results"].as_array().cloned().unwrap_or_default();
    let names = feature_names(api, place).await?;
    Ok(html! {
        (table(&entries, &names))
        p { a href={ (section_url(&place.api_key, Section::History)) "?feature=" (feature) } { "All changes to this feature" } }
    })
}

#[derive(Deserialize, Default)]
struct Filter {
    feature: Option<i64>,
    page: Option<i64>,
}

/// Entries per history page.
const PAGE_SIZE: i64 = 50;

async fn show(visit: EnvironmentVisit, Query(filter): Query<Filter>) -> Response {
    let (api, place) = or_page!(enter(&visit.state, &visit.session, &visit.key).await);
    let page_number = filter.page.unwrap_or(1).max(1);
    let mut query = format!(
        "environment={}&page_size={PAGE_SIZE}&page={page_number}",
        place.environment_id
    );
    if let Some(feature) = filter.feature {
        query = format!("feature={feature}&page_size={PAGE_SIZE}&page={page_number}");
    }
    let loaded = async {
        let answer = api.get(&format!("/api/v1/audit-log/?{query}")).await?;
        let names = feature_names(&api, &place).await?;
        Ok::<_, Refused>((answer, names))
    };
    let (answer, names) = or_page!(loaded.await);
    let entries: Vec<Value> = answer["results"].as_array().cloned().unwrap_or_default();
    let base = section_url(&place.api_key, Section::History);
    let feature_query = filter
        .feature
        .map_or(String::new(), |f| format!("feature={f}&"));
    let body = html! {
        h1 { "History" @if let Some(feature) = filter.feature { " of feature " code { (names.get(&feature).cloned().unwrap_or_else(|| feature.to_string())) } } }
        p.muted { "Every change made with an admin key, through the API or this console. " (answer["count"]) " in all." }
        (table(&entries, &names))
        nav.pages {
            @if page_number > 1 { a href={ (base) "?" (feature_query) "page=" (page_number - 1) } { "← Newer" } " " }
            @if !answer["next"].is_null() { a href={ (base) "?" (feature_query) "page=" (page_number + 1) } { "Older →" } }
        }
    };
    Html(
        page(
            "History",
            &visit.session,
            Some((&place, Section::History)),
            body,
        )
        .into_string(),
    )
    .into_response()
}
