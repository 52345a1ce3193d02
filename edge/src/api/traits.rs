//! `POST /api/v1/traits/` and `PUT /api/v1/traits/bulk/`: setting traits the way
//! older SDKs do (newer ones send traits with `POST /identities/`). They need an
//! identity store to put the traits in; without one they answer 501 and say so.

use bytes::Bytes;
use flagedge_engine::KeyKind;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::app::{App, Authenticated};
use super::call::Call;
use super::error::ApiError;
use super::identities::{IDENTIFIER_MAX_CHARS, TraitInput, merge_traits, validate_trait};
use super::respond::HttpResponse;
use crate::counters::Resource;
use crate::identity_store::IdentityStore;

#[derive(Deserialize)]
struct IdentityRef {
    identifier: String,
}

#[derive(Deserialize)]
struct SetTrait {
    identity: IdentityRef,
    trait_key: String,
    #[serde(default)]
    trait_value: Value,
}

fn store_for<'a>(
    app: &'a App,
    authenticated: &Authenticated,
) -> Result<&'a dyn IdentityStore, ApiError> {
    let store = app.identity_store.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "This edge keeps no identities (start it with --identity-store); send traits with POST /api/v1/identities/.",
        )
    })?;
    let meta = authenticated.environment.compiled.meta();
    if authenticated.kind == KeyKind::Client && !meta.allow_client_traits {
        return Err(ApiError::forbidden(
            "Client-side keys may not set traits in this environment.",
        ));
    }
    Ok(store)
}

async fn apply(
    app: &App,
    authenticated: &Authenticated,
    items: Vec<SetTrait>,
) -> Result<Vec<Value>, ApiError> {
    let store = store_for(app, authenticated)?;
    let environment_key = authenticated.environment.client_key();
    let persist = authenticated.environment.compiled.meta().persist_trait_data;
    let mut echoed = Vec::with_capacity(items.len());
    for item in items {
        if item.identity.identifier.is_empty()
            || item.identity.identifier.chars().count() > IDENTIFIER_MAX_CHARS
        {
            return Err(ApiError::bad_request(format!(
                "identity.identifier must be 1 to {IDENTIFIER_MAX_CHARS} characters"
            )));
        }
        let mut input = TraitInput {
            trait_key: item.trait_key,
            trait_value: item.trait_value,
            transient: false,
        };
        validate_trait(&mut input)?;
        let identifier = item.identity.identifier;
        let mut traits = store
            .get(environment_key, &identifier)
            .await
            .map_err(unavailable)?
            .unwrap_or_default();
        if persist {
            merge_traits(
                &mut traits,
                [(input.trait_key.clone(), input.trait_value.clone())],
            );
        }
        store
            .put(environment_key, &identifier, traits)
            .await
            .map_err(unavailable)?;
        echoed.push(json!({
            "identity": {"identifier": identifier},
            "trait_key": input.trait_key,
            "trait_value": input.trait_value,
        }));
    }
    Ok(echoed)
}

fn unavailable(error: crate::identity_store::StoreError) -> ApiError {
    tracing::error!(%error, "identity store failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "The identity store is unavailable; try again.",
    )
}

/// `POST /api/v1/traits/`: one trait of one identity.
pub async fn set_trait(app: &App, call: &mut Call) -> Result<HttpResponse, ApiError> {
    let authenticated = app.authenticate(call)?;
    let body: SetTrait = call.json().await?;
    authenticated
        .environment
        .counters
        .api_call(Resource::Traits);
    let mut echoed = apply(app, &authenticated, vec![body]).await?;
    Ok(super::respond::json(
        StatusCode::OK,
        Bytes::from(echoed.pop().unwrap_or_default().to_string()),
    ))
}

/// `PUT /api/v1/traits/bulk/`: many traits; a null value deletes.
pub async fn bulk(app: &App, call: &mut Call) -> Result<HttpResponse, ApiError> {
    let authenticated = app.authenticate(call)?;
    let body: Vec<SetTrait> = call.json().await?;
    authenticated
        .environment
        .counters
        .api_call(Resource::Traits);
    let echoed = apply(app, &authenticated, body).await?;
    Ok(super::respond::json(
        StatusCode::OK,
        Bytes::from(Value::Array(echoed).to_string()),
    ))
}
