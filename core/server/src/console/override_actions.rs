//! Changing a feature's segment overrides in one environment: add (the link,
//! then its state; the link is taken back if the state is refused), edit,
//! move up or down (one update-priorities call, so edges never see half an
//! order), remove. Each answers with the feature's page.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};

use super::feature::{after, typed_or_page};
use super::feature_forms::Form;
use super::overrides::{links, override_states};
use super::pages::Pages;
use super::place::enter;
use super::session::Posted;
use super::state::ConsoleState;
use super::view::{encode, int, refused_page};

/// The routes that change segment overrides.
pub fn routes(pages: Pages) -> Pages {
    pages
        .route(
            "/environments/{key}/features/{id}/segment-overrides",
            &["POST"],
            post(add),
        )
        .route(
            "/environments/{key}/features/{id}/segment-overrides/{link}",
            &["POST"],
            post(save),
        )
        .route(
            "/environments/{key}/features/{id}/segment-overrides/{link}/move",
            &["POST"],
            post(move_one),
        )
        .route(
            "/environments/{key}/features/{id}/segment-overrides/{link}/delete",
            &["POST"],
            post(remove),
        )
}

async fn add(
    State(state): State<ConsoleState>,
    Path((key, id)): Path<(String, i64)>,
    posted: Posted,
) -> Response {
    let (api, place) = or_page!(enter(&state, &posted.session, &key).await);
    let value = or_page!(
        typed_or_page(
            &state,
            &posted,
            (&key, id),
            "new_",
            (Form::NewOverride, "feature_state_value")
        )
        .await
    );
    let existing = or_page!(links(&api, &place, id).await);
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
    let (api, place) = or_page!(enter(&state, &posted.session, &key).await);
    let prefix = format!("o{link}_");
    let value = or_page!(
        typed_or_page(
            &state,
            &posted,
            (&key, id),
            &prefix,
            (Form::Override(link), "feature_state_value")
        )
        .await
    );
    let states = or_page!(override_states(&api, &place, id).await);
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
    let (api, place) = or_page!(enter(&state, &posted.session, &key).await);
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
    let (api, place) = or_page!(enter(&state, &posted.session, &key).await);
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
