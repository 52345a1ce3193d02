//! `GET` and `POST /api/v1/identities/`: an identity's flags.
//!
//! POST follows Flagsmith's semantics (SPEC §1.3): a `null` trait value deletes
//! the trait, `transient` traits (or a transient identity) are used for this
//! evaluation only, a client-side key cannot set traits when the environment
//! does not allow client traits, trait strings longer than 2000 characters are
//! refused, and a missing identifier makes a transient identity whose identifier
//! is derived from its traits. With an identity store, stored traits are merged
//! under the request's and persisted; without one, nothing is persisted (as in
//! Flagsmith's edge-proxy).

use std::sync::Arc;

use bytes::Bytes;
use flagedge_engine::{Identity, KeyKind};
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::app::App;
use super::call::{Call, parse_json};
use super::error::ApiError;
use super::respond::{HttpResponse, json};
use crate::counters::Resource;
use crate::environment::ServedEnvironment;
use crate::identity_cache::{CacheKey, CachedResponse, IdentityCache, RequestKind};

/// Flagsmith's limit on trait string values.
pub const TRAIT_VALUE_MAX_CHARS: usize = 2000;
/// Flagsmith's limit on trait keys.
pub const TRAIT_KEY_MAX_CHARS: usize = 200;
/// Flagsmith's limit on identifiers.
pub const IDENTIFIER_MAX_CHARS: usize = 2000;

/// A trait as SDKs send it.
#[derive(Debug, Deserialize)]
pub struct TraitInput {
    /// The key.
    pub trait_key: String,
    /// The value; `null` deletes a stored trait.
    #[serde(default)]
    pub trait_value: Value,
    /// Used for this evaluation only.
    #[serde(default)]
    pub transient: bool,
}

#[derive(Debug, Deserialize)]
struct IdentifyBody {
    #[serde(default)]
    identifier: Value,
    #[serde(default)]
    traits: Option<Vec<TraitInput>>,
    #[serde(default)]
    transient: Value,
}

/// Checks a trait and normalises its value (containers become their JSON text,
/// as Flagsmith stringifies non-primitive values).
pub fn validate_trait(input: &mut TraitInput) -> Result<(), ApiError> {
    if input.trait_key.is_empty() || input.trait_key.chars().count() > TRAIT_KEY_MAX_CHARS {
        return Err(ApiError::bad_request(format!(
            "trait_key must be 1 to {TRAIT_KEY_MAX_CHARS} characters, got {:?}",
            truncate(&input.trait_key)
        )));
    }
    if matches!(input.trait_value, Value::Array(_) | Value::Object(_)) {
        input.trait_value = Value::String(input.trait_value.to_string());
    }
    if let Value::String(text) = &input.trait_value
        && text.chars().count() > TRAIT_VALUE_MAX_CHARS
    {
        return Err(ApiError::bad_request(format!(
            "trait_value of {:?} is longer than {TRAIT_VALUE_MAX_CHARS} characters",
            truncate(&input.trait_key)
        )));
    }
    Ok(())
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    }
}

/// Core's identifier for an identity sent without one: a digest of its traits,
/// or a random one when it has none.
fn transient_identifier(traits: &[TraitInput]) -> String {
    let mut present: Vec<&TraitInput> =
        traits.iter().filter(|t| !t.trait_value.is_null()).collect();
    if present.is_empty() {
        return uuid::Uuid::new_v4().simple().to_string();
    }
    present.sort_by(|a, b| a.trait_key.cmp(&b.trait_key));
    let mut hasher = Sha256::new();
    for t in present {
        hasher.update(t.trait_key.as_bytes());
        hasher.update(flagedge_engine::python::json_str(&t.trait_value).as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Applies incoming traits over stored ones: nulls delete, others replace or add.
pub fn merge_traits(
    stored: &mut Vec<(String, Value)>,
    incoming: impl IntoIterator<Item = (String, Value)>,
) {
    for (key, value) in incoming {
        let position = stored.iter().position(|(k, _)| *k == key);
        match (position, value.is_null()) {
            (Some(i), true) => {
                stored.remove(i);
            }
            (Some(i), false) => stored[i].1 = value,
            (None, false) => stored.push((key, value)),
            (None, true) => {}
        }
    }
}

/// `POST /api/v1/identities/`.
pub async fn identify(app: &App, call: &mut Call) -> Result<HttpResponse, ApiError> {
    let raw = call.json_body().await?;
    let Some(store) = app.identity_store.as_ref() else {
        // Nothing to persist: the answer depends only on the document, the key kind and
        // these bytes, so a repeated request is answered from the cache without parsing.
        return app.with_key(call, |environment, kind| {
            environment.counters.api_call(Resource::Identities);
            let cache_key = app.identity_cache.as_ref().map(|cache| {
                (
                    cache,
                    cache.key(environment, kind, RequestKind::IdentifyBody, &raw),
                )
            });
            if let Some((cache, key)) = cache_key
                && let Some(hit) = cache.get(&key, environment)
            {
                return Ok(send_hit(call, environment, kind, (cache, key), hit));
            }
            let body: IdentifyBody = parse_json(&raw)?;
            let mut incoming = body.traits.unwrap_or_default();
            for t in &mut incoming {
                validate_trait(t)?;
            }
            if kind == KeyKind::Client && !environment.compiled.meta().allow_client_traits {
                // Flagsmith ignores a client key's traits entirely when client traits are off.
                incoming.clear();
            }
            let identity = identifier_of(body.identifier, &body.transient, &incoming)?;
            let mut effective = Vec::with_capacity(incoming.len());
            merge_traits(
                &mut effective,
                incoming.into_iter().map(|t| (t.trait_key, t.trait_value)),
            );
            let (response, json) = evaluate(environment, kind, &identity.identifier, &effective);
            let (sent, _) = send(call, environment, kind, &response, Some(json));
            if let (Some((cache, key)), false) = (cache_key, identity.random) {
                cache.insert(key, response);
            }
            Ok(sent)
        });
    };
    // The key first, then the body: the same order as without a store.
    let authenticated = app.authenticate(call)?;
    let body: IdentifyBody = parse_json(&raw)?;
    let mut incoming = body.traits.unwrap_or_default();
    for t in &mut incoming {
        validate_trait(t)?;
    }
    let environment = &authenticated.environment;
    environment.counters.api_call(Resource::Identities);
    let meta = environment.compiled.meta();
    if authenticated.kind == KeyKind::Client && !meta.allow_client_traits {
        incoming.clear();
    }
    let identity = identifier_of(body.identifier, &body.transient, &incoming)?;
    let identifier = &identity.identifier;
    let stored = store
        .get(environment.client_key(), identifier)
        .await
        .map_err(store_error)?;

    // What is evaluated: stored traits, then every incoming trait over them.
    let mut effective = stored.clone().unwrap_or_default();
    merge_traits(
        &mut effective,
        incoming
            .iter()
            .map(|t| (t.trait_key.clone(), t.trait_value.clone())),
    );
    if !identity.transient {
        let mut persisted = stored.unwrap_or_default();
        if meta.persist_trait_data {
            merge_traits(
                &mut persisted,
                incoming
                    .iter()
                    .filter(|t| !t.transient)
                    .map(|t| (t.trait_key.clone(), t.trait_value.clone())),
            );
        }
        store
            .put(environment.client_key(), identifier, persisted)
            .await
            .map_err(store_error)?;
    }
    let (response, json) = evaluate(environment, authenticated.kind, identifier, &effective);
    let (sent, _) = send(call, environment, authenticated.kind, &response, Some(json));
    Ok(sent)
}

/// Who is being identified.
struct IdentityName {
    identifier: String,
    /// Nothing is persisted for it.
    transient: bool,
    /// Its identifier was made up at random (so its response must not be cached).
    random: bool,
}

/// A missing or empty identifier makes a transient identity named after its
/// traits (or at random, without traits).
fn identifier_of(
    identifier: Value,
    transient: &Value,
    traits: &[TraitInput],
) -> Result<IdentityName, ApiError> {
    let name = match identifier {
        Value::String(s) if !s.is_empty() => IdentityName {
            identifier: s,
            transient: truthy(transient),
            random: false,
        },
        Value::Null | Value::String(_) => IdentityName {
            random: traits.iter().all(|t| t.trait_value.is_null()),
            identifier: transient_identifier(traits),
            transient: true,
        },
        Value::Number(n) => IdentityName {
            identifier: n.to_string(),
            transient: truthy(transient),
            random: false,
        },
        _ => return Err(ApiError::bad_request("identifier must be a string")),
    };
    if name.identifier.chars().count() > IDENTIFIER_MAX_CHARS {
        return Err(ApiError::bad_request(format!(
            "identifier is longer than {IDENTIFIER_MAX_CHARS} characters"
        )));
    }
    Ok(name)
}

/// `GET /api/v1/identities/?identifier=…` (`&feature=…`): flags for the
/// identity's stored traits (none without an identity store).
pub async fn identity_flags(app: &App, call: &Call) -> Result<HttpResponse, ApiError> {
    let identifier = call
        .query_param("identifier")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Missing identifier: pass ?identifier=<identifier>")
        })?;
    if identifier.chars().count() > IDENTIFIER_MAX_CHARS {
        return Err(ApiError::bad_request(format!(
            "identifier is longer than {IDENTIFIER_MAX_CHARS} characters"
        )));
    }
    let traits = match &app.identity_store {
        Some(store) => {
            let authenticated = app.authenticate(call)?;
            let client_key = authenticated.environment.client_key();
            Some(
                store
                    .get(client_key, &identifier)
                    .await
                    .map_err(store_error)?
                    .unwrap_or_default(),
            )
        }
        None => None,
    };
    app.with_key(call, |environment, kind| {
        environment.counters.api_call(Resource::Identities);
        let stored = traits.as_deref().unwrap_or_default();
        if let Some(name) = call.query_param("feature") {
            let identity = Identity {
                identifier: &identifier,
                key: None,
                traits: stored,
            };
            let evaluation = environment.compiled.evaluate(Some(&identity));
            let flag = evaluation
                .flag_json(&environment.compiled, &name, kind)
                .ok_or_else(|| ApiError::not_found("Given feature not found"))?;
            if let Some(index) = environment.compiled.feature_index(&name) {
                environment.counters.feature(index, 1);
            }
            return Ok(json(StatusCode::OK, Bytes::from(flag)));
        }
        // Stateless: the answer depends only on the identifier, so it is cached.
        let cache_key = match (&app.identity_cache, &traits) {
            (Some(cache), None) => Some((
                cache,
                cache.key(
                    environment,
                    kind,
                    RequestKind::Identifier,
                    identifier.as_bytes(),
                ),
            )),
            _ => None,
        };
        if let Some((cache, key)) = cache_key
            && let Some(hit) = cache.get(&key, environment)
        {
            return Ok(send_hit(call, environment, kind, (cache, key), hit));
        }
        let (response, json) = evaluate(environment, kind, &identifier, stored);
        let (sent, _) = send(call, environment, kind, &response, Some(json));
        if let Some((cache, key)) = cache_key {
            cache.insert(key, response);
        }
        Ok(sent)
    })
}

fn store_error(error: crate::identity_store::StoreError) -> ApiError {
    tracing::error!(%error, "identity store failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "The identity store is unavailable; try again.",
    )
}

/// Evaluates `{"identifier", "flags", "traits"}`: the response (as the cache
/// keeps it) and its JSON.
fn evaluate(
    environment: &ServedEnvironment,
    kind: KeyKind,
    identifier: &str,
    traits: &[(String, Value)],
) -> (Arc<CachedResponse>, Bytes) {
    let compiled = &environment.compiled;
    let identity = Identity {
        identifier,
        key: None,
        traits,
    };
    let flags = compiled
        .evaluate(Some(&identity))
        .shown_flags(compiled, kind);
    let mut before = Vec::with_capacity(32 + identifier.len());
    before.extend_from_slice(b"{\"identifier\":");
    let _ = serde_json::to_writer(&mut before, identifier);
    before.extend_from_slice(b",\"flags\":");
    let mut after = b",\"traits\":[".to_vec();
    if !compiled.meta().hide_sensitive_data {
        for (i, (key, value)) in traits.iter().filter(|(_, v)| !v.is_null()).enumerate() {
            if i > 0 {
                after.push(b',');
            }
            after.extend_from_slice(b"{\"trait_key\":");
            let _ = serde_json::to_writer(&mut after, key);
            after.extend_from_slice(b",\"trait_value\":");
            let _ = serde_json::to_writer(&mut after, value);
            after.push(b'}');
        }
    }
    after.extend_from_slice(b"]}");
    let (response, json) = CachedResponse::new(environment, &before, flags, &after);
    (Arc::new(response), json)
}

/// Sends a cached response, storing it again if it gained its gzip form (so
/// the cache weighs it anew).
fn send_hit(
    call: &Call,
    environment: &ServedEnvironment,
    kind: KeyKind,
    (cache, key): (&IdentityCache, CacheKey),
    hit: Arc<CachedResponse>,
) -> HttpResponse {
    let (sent, grew) = send(call, environment, kind, &hit, None);
    if grew {
        cache.insert(key, hit);
    }
    sent
}

/// Counts the shown flags and sends an identity response: `json` when the
/// caller has it (a miss), else written from the cached response. Also
/// whether the response gained its gzip form.
fn send(
    call: &Call,
    environment: &ServedEnvironment,
    kind: KeyKind,
    response: &CachedResponse,
    json: Option<Bytes>,
) -> (HttpResponse, bool) {
    let rules = &environment.compiled;
    if rules.meta().hide_disabled_flags {
        response
            .features(rules)
            .for_each(|feature| environment.counters.feature(feature, 1));
    } else {
        environment.counters.identity_flags(kind);
    }
    let plain = || json.clone().unwrap_or_else(|| response.json(rules));
    let mut grew = false;
    let mut http = super::negotiate::json_maybe_gzip(call, plain, || {
        let (gzip, made) = response.gzipped(plain);
        grew = made;
        gzip
    });
    super::respond::freshness_headers(http.headers_mut(), environment);
    (http, grew)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_delete_and_values_replace() {
        let mut stored = vec![("a".to_string(), json!(1)), ("b".to_string(), json!("x"))];
        merge_traits(
            &mut stored,
            [
                ("a".to_string(), json!(null)),
                ("b".to_string(), json!("y")),
                ("c".to_string(), json!(true)),
            ],
        );
        assert_eq!(
            stored,
            vec![
                ("b".to_string(), json!("y")),
                ("c".to_string(), json!(true))
            ]
        );
    }

    #[test]
    fn transient_identifiers_follow_core() {
        let traits = vec![
            TraitInput {
                trait_key: "b".into(),
                trait_value: json!(1),
                transient: false,
            },
            TraitInput {
                trait_key: "a".into(),
                trait_value: json!(true),
                transient: false,
            },
        ];
        // sha256("aTrueb1")
        let expected = hex::encode(Sha256::digest(b"aTrueb1"));
        assert_eq!(transient_identifier(&traits), expected);
        assert_eq!(transient_identifier(&[]).len(), 32);
    }

    #[test]
    fn long_trait_values_are_refused() {
        let mut long = TraitInput {
            trait_key: "k".into(),
            trait_value: json!("x".repeat(2001)),
            transient: false,
        };
        assert_eq!(
            validate_trait(&mut long).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let mut ok = TraitInput {
            trait_key: "k".into(),
            trait_value: json!("x".repeat(2000)),
            transient: false,
        };
        assert!(validate_trait(&mut ok).is_ok());
        let mut object = TraitInput {
            trait_key: "k".into(),
            trait_value: json!({"a": 1}),
            transient: false,
        };
        validate_trait(&mut object).unwrap();
        assert_eq!(object.trait_value, json!("{\"a\":1}"));
    }
}
