//! From a scenario to requests: which call, which environment, which identity,
//! which traits — chosen per request, cheaply, from seeded generators.
//!
//! An identity's traits are a function of its rank (each identity keeps its own
//! traits from one request to the next, as a real user does, so a response cache
//! can hit); `trait_churn` is the share of requests that draw fresh values.
//! Workers each own a [`WorkerState`] (a random generator and the ETags seen per
//! environment for conditional requests), so choosing a request takes no lock.

use bytes::Bytes;
use http::{HeaderValue, Method};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::scenario::{Kind, Scenario, TraitSpec};
use crate::zipf::Zipf;

/// Picks an index in proportion to weights.
#[derive(Clone, Debug)]
pub struct Picker {
    cumulative: Vec<f64>,
}

impl Picker {
    /// A picker over `weights` (each > 0, or ≥ 0 with a positive sum).
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Picker {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Picker { cumulative }
    }

    /// An index, by weight.
    pub fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        if self.cumulative.len() <= 1 {
            return 0;
        }
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let x = rng.r#gen::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1)
    }
}

enum TraitGen {
    Values(Vec<Value>, Picker),
    Int(i64, i64),
    Float(f64, f64),
    Bool(f64),
    Template(String),
    Synthetic,
}

impl TraitGen {
    fn from_spec(spec: &TraitSpec) -> TraitGen {
        if let Some(values) = &spec.values {
            let picker = match &spec.weights {
                Some(weights) => Picker::new(weights.iter().copied()),
                None => Picker::new(values.iter().map(|_| 1.0)),
            };
            TraitGen::Values(values.clone(), picker)
        } else if let Some([min, max]) = spec.int {
            TraitGen::Int(min, max)
        } else if let Some([min, max]) = spec.float {
            TraitGen::Float(min, max)
        } else if let Some(p) = spec.bool {
            TraitGen::Bool(p)
        } else if let Some(template) = &spec.template {
            TraitGen::Template(template.clone())
        } else {
            TraitGen::Synthetic
        }
    }

    fn value(&self, rng: &mut SmallRng, identifier: &str, rank: u64) -> Value {
        match self {
            TraitGen::Values(values, picker) => values[picker.pick(rng)].clone(),
            TraitGen::Int(min, max) => Value::from(rng.gen_range(*min..=*max)),
            TraitGen::Float(min, max) => Value::from(rng.gen_range(*min..*max)),
            TraitGen::Bool(p) => Value::from(rng.gen_bool(*p)),
            TraitGen::Template(template) => Value::from(
                template
                    .replace("{identifier}", identifier)
                    .replace("{rank}", &rank.to_string()),
            ),
            TraitGen::Synthetic => flagedge_engine::synthetic::trait_value(rng),
        }
    }
}

struct Call {
    kind: Kind,
    traits: usize,
    conditional: bool,
    transient: bool,
    analytics_body: Bytes,
}

struct Environment {
    key: HeaderValue,
    server_key: Option<HeaderValue>,
}

/// A request ready to send (the client adds the target's host and base path).
#[derive(Debug)]
pub struct Prepared {
    /// Index of the call in the scenario's mix.
    pub call: usize,
    /// Index of the environment.
    pub environment: usize,
    /// The method.
    pub method: Method,
    /// Path and query, from `/api/...`.
    pub path: String,
    /// `X-Environment-Key`.
    pub key: HeaderValue,
    /// The body (empty for GET).
    pub body: Bytes,
    /// `If-None-Match`, for conditional requests.
    pub if_none_match: Option<HeaderValue>,
}

/// One worker's generator state.
pub struct WorkerState {
    rng: SmallRng,
    etags: Vec<Option<HeaderValue>>,
}

/// A scenario compiled into generators.
pub struct Workload {
    /// The scenario's name.
    pub name: String,
    calls: Vec<Call>,
    call_picker: Picker,
    environments: Vec<Environment>,
    environment_picker: Picker,
    identities: Zipf,
    prefix: String,
    churn: f64,
    trait_keys: Vec<String>,
    traits: Vec<TraitGen>,
    seed: u64,
}

impl Workload {
    /// Compiles a (checked) scenario.
    pub fn new(scenario: &Scenario) -> anyhow::Result<Workload> {
        let environments = scenario
            .expanded_environments()
            .into_iter()
            .map(|(key, server_key, weight)| {
                let key = HeaderValue::from_str(&key).map_err(|_| {
                    anyhow::anyhow!("environment key {key:?} is not a header value")
                })?;
                let server_key = server_key
                    .map(|k| {
                        HeaderValue::from_str(&k)
                            .map_err(|_| anyhow::anyhow!("server key {k:?} is not a header value"))
                    })
                    .transpose()?;
                Ok((Environment { key, server_key }, weight))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let environment_picker = Picker::new(environments.iter().map(|(_, w)| *w));
        let (trait_keys, traits): (Vec<String>, Vec<TraitGen>) = if scenario.traits.is_empty() {
            flagedge_engine::synthetic::TRAIT_KEYS
                .iter()
                .map(|k| (k.to_string(), TraitGen::Synthetic))
                .unzip()
        } else {
            scenario
                .traits
                .iter()
                .map(|t| (t.key.clone(), TraitGen::from_spec(t)))
                .unzip()
        };
        let calls = scenario
            .requests
            .iter()
            .map(|r| {
                let features = r
                    .features
                    .clone()
                    .unwrap_or_else(|| (0..5).map(|i| format!("feature_{i}")).collect::<Vec<_>>());
                let counts: serde_json::Map<String, Value> =
                    features.into_iter().map(|f| (f, Value::from(1))).collect();
                Call {
                    kind: r.kind,
                    traits: r.traits.unwrap_or(0),
                    conditional: r.conditional,
                    transient: r.transient,
                    analytics_body: Bytes::from(
                        serde_json::to_vec(&Value::Object(counts)).unwrap_or_default(),
                    ),
                }
            })
            .collect();
        Ok(Workload {
            name: scenario.name.clone(),
            calls,
            call_picker: Picker::new(scenario.requests.iter().map(|r| r.weight)),
            environments: environments.into_iter().map(|(e, _)| e).collect(),
            environment_picker,
            identities: Zipf::new(scenario.identities.count, scenario.identities.zipf_s)
                .map_err(anyhow::Error::msg)?,
            prefix: scenario.identities.prefix.clone(),
            churn: scenario.identities.trait_churn,
            trait_keys,
            traits,
            seed: scenario.seed,
        })
    }

    /// The calls of the mix, by index (for reports).
    pub fn call_names(&self) -> Vec<&'static str> {
        self.calls.iter().map(|c| c.kind.name()).collect()
    }

    /// A worker's state; workers get different random streams.
    pub fn worker(&self, index: usize) -> WorkerState {
        WorkerState {
            rng: SmallRng::seed_from_u64(mix(self.seed, 0x5EED_0000 + index as u64)),
            etags: vec![None; self.environments.len()],
        }
    }

    /// The next request.
    pub fn next(&self, state: &mut WorkerState) -> Prepared {
        let call_index = self.call_picker.pick(&mut state.rng);
        let call = &self.calls[call_index];
        let environment_index = self.environment_picker.pick(&mut state.rng);
        let environment = &self.environments[environment_index];
        let mut prepared = Prepared {
            call: call_index,
            environment: environment_index,
            method: Method::GET,
            path: String::new(),
            key: environment.key.clone(),
            body: Bytes::new(),
            if_none_match: None,
        };
        match call.kind {
            Kind::Flags => prepared.path = "/api/v1/flags/".into(),
            Kind::IdentityGet => {
                let rank = self.identities.sample(&mut state.rng);
                let identifier = format!("{}{rank}", self.prefix);
                prepared.path = format!("/api/v1/identities/?identifier={}", encode(&identifier));
            }
            Kind::IdentityPost => {
                let rank = self.identities.sample(&mut state.rng);
                prepared.method = Method::POST;
                prepared.path = "/api/v1/identities/".into();
                let churn = self.churn > 0.0 && state.rng.gen_bool(self.churn);
                prepared.body = self.identity_body(rank, call, churn.then_some(&mut state.rng));
            }
            Kind::EnvironmentDocument => {
                prepared.path = "/api/v1/environment-document/".into();
                if let Some(server_key) = &environment.server_key {
                    prepared.key = server_key.clone();
                }
                if call.conditional {
                    prepared.if_none_match = state.etags[environment_index].clone();
                }
            }
            Kind::Analytics => {
                prepared.method = Method::POST;
                prepared.path = "/api/v1/analytics/flags/".into();
                prepared.body = call.analytics_body.clone();
            }
        }
        prepared
    }

    /// Remembers a response's ETag for the next conditional request.
    pub fn observe_etag(&self, state: &mut WorkerState, prepared: &Prepared, etag: HeaderValue) {
        if self.calls[prepared.call].kind == Kind::EnvironmentDocument {
            state.etags[prepared.environment] = Some(etag);
        }
    }

    /// The body of an identity post: the identity's own traits, or fresh ones.
    fn identity_body(&self, rank: u64, call: &Call, fresh: Option<&mut SmallRng>) -> Bytes {
        let identifier = format!("{}{rank}", self.prefix);
        let mut own = SmallRng::seed_from_u64(mix(self.seed, rank));
        let rng = match fresh {
            Some(rng) => rng,
            None => &mut own,
        };
        let mut body = Vec::with_capacity(48 + 56 * call.traits);
        body.extend_from_slice(b"{\"identifier\":");
        write_json(&mut body, &Value::from(identifier.as_str()));
        body.extend_from_slice(b",\"traits\":[");
        for i in 0..call.traits.min(self.traits.len()) {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"trait_key\":");
            write_json(&mut body, &Value::from(self.trait_keys[i].as_str()));
            body.extend_from_slice(b",\"trait_value\":");
            write_json(&mut body, &self.traits[i].value(rng, &identifier, rank));
            body.push(b'}');
        }
        body.push(b']');
        if call.transient {
            body.extend_from_slice(b",\"transient\":true");
        }
        body.push(b'}');
        Bytes::from(body)
    }
}

fn write_json(out: &mut Vec<u8>, value: &Value) {
    // Writing a Value to a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

/// A 64-bit mix of two numbers (splitmix64's finaliser), for per-item seeds.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Everything but RFC 3986's unreserved characters is percent-encoded in a query value.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Workload {
        Workload::new(&Scenario::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn picker_follows_weights() {
        let picker = Picker::new([1.0, 3.0, 0.0, 6.0]);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = [0usize; 4];
        for _ in 0..100_000 {
            counts[picker.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[2], 0);
        for (i, expected) in [(0, 0.1), (1, 0.3), (3, 0.6)] {
            let share = counts[i] as f64 / 100_000.0;
            assert!((share - expected).abs() < 0.01, "{i}: {share}");
        }
    }

    #[test]
    fn identities_keep_their_traits() {
        let workload = scenario(
            r#"
            [[environments]]
            key = "k"
            [identities]
            count = 3
            [[traits]]
            key = "plan"
            values = ["free", "pro"]
            [[traits]]
            key = "age"
            int = [1, 1000000]
            [[traits]]
            key = "email"
            template = "{identifier}@example.com"
            [[requests]]
            kind = "identity-post"
            traits = 3
            "#,
        );
        let mut state = workload.worker(0);
        let mut bodies = std::collections::HashMap::new();
        for _ in 0..200 {
            let request = workload.next(&mut state);
            assert_eq!(request.method, Method::POST);
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let identifier = body["identifier"].as_str().unwrap().to_string();
            assert_eq!(body["traits"].as_array().unwrap().len(), 3);
            assert_eq!(
                body["traits"][2]["trait_value"],
                format!("{identifier}@example.com")
            );
            let previous = bodies.insert(identifier, request.body.clone());
            if let Some(previous) = previous {
                assert_eq!(previous, request.body, "an identity's traits changed");
            }
        }
        assert_eq!(bodies.len(), 3);
    }

    #[test]
    fn every_call_kind_builds() {
        let workload = scenario(
            r#"
            [[environments]]
            key = "client"
            server_key = "ser.server"
            [identities]
            prefix = "a b/"
            [[requests]]
            kind = "flags"
            [[requests]]
            kind = "identity-get"
            [[requests]]
            kind = "identity-post"
            traits = 5
            transient = true
            [[requests]]
            kind = "environment-document"
            [[requests]]
            kind = "analytics"
            features = ["x"]
            "#,
        );
        let mut state = workload.worker(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let request = workload.next(&mut state);
            seen.insert(request.call);
            match request.call {
                0 => assert_eq!(request.path, "/api/v1/flags/"),
                1 => assert!(
                    request
                        .path
                        .starts_with("/api/v1/identities/?identifier=a%20b%2F")
                ),
                2 => {
                    let body: Value = serde_json::from_slice(&request.body).unwrap();
                    assert_eq!(body["traits"].as_array().unwrap().len(), 5);
                    assert_eq!(body["transient"], true);
                }
                3 => {
                    assert_eq!(request.key, "ser.server");
                    match &request.if_none_match {
                        None => workload.observe_etag(
                            &mut state,
                            &request,
                            HeaderValue::from_static("\"e\""),
                        ),
                        Some(etag) => assert_eq!(etag, "\"e\""),
                    }
                }
                _ => assert_eq!(&request.body[..], br#"{"x":1}"#),
            }
        }
        assert_eq!(seen.len(), 5);
    }
}
