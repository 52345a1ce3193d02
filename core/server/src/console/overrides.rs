//! A feature's segment overrides in one environment: listed by priority (the
//! first matching segment wins), added, edited, moved up or down (one
//! update-priorities call, so edges never see half an order) and removed.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::post;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::ConsoleState;
use super::api::{Api, Refused};
use super::feature::{Failed, Form, after, render};
use super::features::{feature_url, field_refusal};
use super::place::enter;
use super::session::{Posted, Session};
use super::view::{
    Place, csrf, encode, field_error, form_errors, int, refused_page, text, typed_value,
    value_inputs,
};

/// The routes that change segment overrides.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route(
            "/environments/{key}/features/{id}/segment-overrides",
            post(add),
        )
        .route(
            "/environments/{key}/features/{id}/segment-overrides/{link}",
            post(save),
        )
        .route(
            "/environments/{key}/features/{id}/segment-overrides/{link}/move",
            post(move_one),
        )
        .route(
            "/environments/{key}/features/{id}/segment-overrides/{link}/delete",
            post(remove),
        )
}

/// The feature's segment overrides here, by priority.
async fn links(api: &Api, place: &Place, feature: i64) -> Result<Vec<Value>, Refused> {
    api.all(&format!(
        "/api/v1/features/feature-segments/?environment={}&feature={feature}",
        place.environment_id
    ))
    .await
}

/// Each override's state, by its feature segment's id.
async fn override_states(
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
            form.row method="post" action={ (url) "/segment-overrides" } {
                (csrf(session))
                (form_errors(new_refused, &["segment", "feature_state_value"]))
                div {
                    label for="override-segment" { "Segment" }
                    select #override-segment name="segment" {
                        @for segment in &segments { option value=(int(segment, "id")) { (text(segment, "name")) } }
                    }
                    (field_error(new_refused, "segment"))
                }
                div {
                    input type="hidden" name="enabled" value="false";
                    input #override-enabled type="checkbox" name="enabled" value="true" checked;
                    label for="override-enabled" { "Enabled" }
                }
                div { (value_inputs("new_", &Value::Null, new_refused, "feature_state_value")) }
                button type="submit" { "Add segment override" }
            }
        }
    })
}

async fn add(
    State(state): State<ConsoleState>,
    Path((key, id)): Path<(String, i64)>,
    posted: Posted,
) -> Response {
    let (api, place) = match enter(&state, &posted.session, &key).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let value = match typed_value(posted.text("new_value_type"), posted.text("new_value")) {
        Ok(value) => value,
        Err(message) => {
            let refused = field_refusal("feature_state_value", message);
            return render(
                &state,
                &posted.session,
                &key,
                id,
                Some((Form::NewOverride, &refused)),
            )
            .await;
        }
    };
    let existing = match links(&api, &place, id).await {
        Ok(links) => links,
        Err(refused) => return refused_page(&refused),
    };
    let last = existing
        .iter()
        .map(|l| int(l, "priority"))
        .max()
        .map_or(0, |p| p + 1);
    let segment: i64 = posted.text("segment").parse().unwrap_or(0);
    let link = api
        .send(
            Method::POST,
            "/api/v1/features/feature-segments/",
            json!({"feature": id, "segment": segment, "environment": place.environment_id, "priority": last}),
        )
        .await;
    let link = match link {
        Ok(link) => link,
        Err(refused) => {
            return after(&state, &posted, (&key, id), Form::NewOverride, Err(refused)).await;
        }
    };
    let created = api
        .send(
            Method::POST,
            &format!("/api/v1/environments/{}/featurestates/", encode(&place.api_key)),
            json!({"feature": id, "feature_segment": int(&link, "id"), "enabled": posted.checked("enabled"), "feature_state_value": value}),
        )
        .await;
    if created.is_err() {
        // Leave no link without its state: take the link back.
        let _ = api
            .delete(&format!(
                "/api/v1/features/feature-segments/{}/",
                int(&link, "id")
            ))
            .await;
    }
    after(&state, &posted, (&key, id), Form::NewOverride, created).await
}

async fn save(
    State(state): State<ConsoleState>,
    Path((key, id, link)): Path<(String, i64, i64)>,
    posted: Posted,
) -> Response {
    let (api, place) = match enter(&state, &posted.session, &key).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let prefix = format!("o{link}_");
    let value = match typed_value(
        posted.text(&format!("{prefix}value_type")),
        posted.text(&format!("{prefix}value")),
    ) {
        Ok(value) => value,
        Err(message) => {
            let refused = field_refusal("feature_state_value", message);
            return render(
                &state,
                &posted.session,
                &key,
                id,
                Some((Form::Override(link), &refused)),
            )
            .await;
        }
    };
    let states = match override_states(&api, &place, id).await {
        Ok(states) => states,
        Err(refused) => return refused_page(&refused),
    };
    let Some(current) = states.get(&link) else {
        return super::view::error_page(
            axum::http::StatusCode::NOT_FOUND,
            "No such segment override.",
        );
    };
    let result = api
        .send(
            Method::PATCH,
            &format!(
                "/api/v1/environments/{}/featurestates/{}/",
                encode(&place.api_key),
                int(current, "id")
            ),
            json!({"enabled": posted.checked("enabled"), "feature_state_value": value}),
        )
        .await;
    after(&state, &posted, (&key, id), Form::Override(link), result).await
}

async fn move_one(
    State(state): State<ConsoleState>,
    Path((key, id, link)): Path<(String, i64, i64)>,
    posted: Posted,
) -> Response {
    let (api, place) = match enter(&state, &posted.session, &key).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let mut order: Vec<i64> = match links(&api, &place, id).await {
        Ok(links) => links.iter().map(|l| int(l, "id")).collect(),
        Err(refused) => return refused_page(&refused),
    };
    let Some(at) = order.iter().position(|l| *l == link) else {
        return super::view::error_page(
            axum::http::StatusCode::NOT_FOUND,
            "No such segment override.",
        );
    };
    match posted.text("direction") {
        "up" if at > 0 => order.swap(at, at - 1),
        "down" if at + 1 < order.len() => order.swap(at, at + 1),
        _ => {}
    }
    let body: Vec<Value> = order
        .iter()
        .enumerate()
        .map(|(priority, link)| json!({"id": link, "priority": priority}))
        .collect();
    let result = api
        .send(
            Method::POST,
            "/api/v1/features/feature-segments/update-priorities/",
            Value::Array(body),
        )
        .await;
    after(&state, &posted, (&key, id), Form::Override(link), result).await
}

async fn remove(
    State(state): State<ConsoleState>,
    Path((key, id, link)): Path<(String, i64, i64)>,
    posted: Posted,
) -> Response {
    let (api, place) = match enter(&state, &posted.session, &key).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    // Only an override of this feature here, whatever the URL says.
    match links(&api, &place, id).await {
        Ok(links) if links.iter().any(|l| int(l, "id") == link) => {}
        Ok(_) => {
            return super::view::error_page(
                axum::http::StatusCode::NOT_FOUND,
                "No such segment override.",
            );
        }
        Err(refused) => return refused_page(&refused),
    }
    let result = api
        .delete(&format!("/api/v1/features/feature-segments/{link}/"))
        .await;
    after(&state, &posted, (&key, id), Form::Override(link), result).await
}
