//! Changing a feature's segment overrides in one environment: add (the link,
//! then its state; the link is taken back if the state is refused), edit,
//! move up or down (one update-priorities call, so edges never see half an
//! order), remove. Each answers with the feature's page.

use axum::extract::Path;
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};

use super::feature::FeaturePage;
use super::feature_forms::Form;
use super::overrides::{links, override_states};
use super::pages::Pages;
use super::place::EnvironmentForm;
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

async fn add(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    let value = or_page!(
        form.typed_or_page::<FeaturePage>(id, "new_", (Form::NewOverride, "feature_state_value"))
            .await
    );
    let existing = or_page!(links(&form.api, &form.place, id).await);
    let last = existing
        .iter()
        .map(|l| int(l, "priority"))
        .max()
        .map_or(0, |p| p + 1);
    let segment: i64 = form.posted.text("segment").parse().unwrap_or(0);
    let link = form.api
        .post("/api/v1/features/feature-segments/",
            json!({"feature": id, "segment": segment, "environment": form.place.environment_id, "priority": last}),
        )
        .await;
    let link = match link {
        Ok(link) => link,
        Err(refused) => {
            return form
                .after::<FeaturePage>(id, Form::NewOverride, Err(refused))
                .await;
        }
    };
    let created = form.api
        .post(&format!("/api/v1/environments/{}/featurestates/", encode(&form.place.api_key)),
            json!({"feature": id, "feature_segment": int(&link, "id"), "enabled": form.posted.checked("enabled"), "feature_state_value": value}),
        )
        .await;
    if created.is_err() {
        // Leave no link without its state: take the link back.
        let _ = form
            .api
            .delete(&format!(
                "/api/v1/features/feature-segments/{}/",
                int(&link, "id")
            ))
            .await;
    }
    form.after::<FeaturePage>(id, Form::NewOverride, created)
        .await
}

async fn save(Path((_, id, link)): Path<(String, i64, i64)>, form: EnvironmentForm) -> Response {
    let prefix = format!("o{link}_");
    let value = or_page!(
        form.typed_or_page::<FeaturePage>(
            id,
            &prefix,
            (Form::Override(link), "feature_state_value")
        )
        .await
    );
    let states = or_page!(override_states(&form.api, &form.place, id).await);
    let Some(current) = states.get(&link) else {
        return super::view::error_page(
            axum::http::StatusCode::NOT_FOUND,
            "No such segment override.",
        );
    };
    let result = form
        .api
        .patch(
            &format!(
                "/api/v1/environments/{}/featurestates/{}/",
                encode(&form.place.api_key),
                int(current, "id")
            ),
            json!({"enabled": form.posted.checked("enabled"), "feature_state_value": value}),
        )
        .await;
    form.after::<FeaturePage>(id, Form::Override(link), result)
        .await
}

async fn move_one(
    Path((_, id, link)): Path<(String, i64, i64)>,
    form: EnvironmentForm,
) -> Response {
    let mut order: Vec<i64> = match links(&form.api, &form.place, id).await {
        Ok(links) => links.iter().map(|l| int(l, "id")).collect(),
        Err(refused) => return refused_page(&refused),
    };
    let Some(at) = order.iter().position(|l| *l == link) else {
        return super::view::error_page(
            axum::http::StatusCode::NOT_FOUND,
            "No such segment override.",
        );
    };
    match form.posted.text("direction") {
        "up" if at > 0 => order.swap(at, at - 1),
        "down" if at + 1 < order.len() => order.swap(at, at + 1),
        _ => {}
    }
    let body: Vec<Value> = order
        .iter()
        .enumerate()
        .map(|(priority, link)| json!({"id": link, "priority": priority}))
        .collect();
    let result = form
        .api
        .post(
            "/api/v1/features/feature-segments/update-priorities/",
            Value::Array(body),
        )
        .await;
    form.after::<FeaturePage>(id, Form::Override(link), result)
        .await
}

async fn remove(Path((_, id, link)): Path<(String, i64, i64)>, form: EnvironmentForm) -> Response {
    // Only an override of this feature here, whatever the URL says.
    match links(&form.api, &form.place, id).await {
        Ok(links) if links.iter().any(|l| int(l, "id") == link) => {}
        Ok(_) => {
            return super::view::error_page(
                axum::http::StatusCode::NOT_FOUND,
                "No such segment override.",
            );
        }
        Err(refused) => return refused_page(&refused),
    }
    let result = form
        .api
        .delete(&format!("/api/v1/features/feature-segments/{link}/"))
        .await;
    form.after::<FeaturePage>(id, Form::Override(link), result)
        .await
}
