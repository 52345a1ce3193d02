//! Scenarios: what a load run sends, read from TOML.
//!
//! A scenario names the environments (their keys), the identities (how many, how
//! skewed), the traits identities carry (a distribution per trait) and a weighted
//! mix of SDK calls. It may also carry defaults for the load shape (`[load]`),
//! which command-line flags override. Parsing checks everything a run would
//! otherwise trip over halfway: unknown fields, empty mixes, weights that are not
//! positive, traits asked for that are not described. See `loadtest/scenarios/`.
//!
//! ```toml
//! name = "mixed"
//! [[environments]]
//! key = "loadtest-env-{i}"        # {i} expands to 0..count
//! server_key = "ser.loadtest-env-{i}"
//! count = 3
//! [identities]
//! count = 100000
//! zipf_s = 1.1
//! [[traits]]
//! key = "plan"
//! values = ["free", "pro"]
//! weights = [9, 1]
//! [[requests]]
//! kind = "flags"
//! weight = 80
//! [[requests]]
//! kind = "identity-post"
//! traits = 1
//! weight = 20
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// A scenario as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, shown in reports.
    #[serde(default)]
    pub name: String,
    /// What the scenario models.
    #[serde(default)]
    pub description: String,
    /// Seed of every random choice (identities, traits, the mix).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The environments requests go to.
    pub environments: Vec<EnvironmentSpec>,
    /// The identities identity requests are for.
    #[serde(default)]
    pub identities: IdentitySpec,
    /// The traits identities carry, in order (`traits = N` sends the first N).
    #[serde(default)]
    pub traits: Vec<TraitSpec>,
    /// The mix of calls.
    pub requests: Vec<RequestSpec>,
    /// Defaults for the load shape.
    #[serde(default)]
    pub load: LoadDefaults,
}

fn default_seed() -> u64 {
    1
}

/// One environment, or `count` of them when the keys contain `{i}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// The client-side key (`X-Environment-Key`).
    pub key: String,
    /// The server-side key, needed for environment-document requests.
    #[serde(default)]
    pub server_key: Option<String>,
    /// Expand `{i}` in the keys to `0..count`.
    #[serde(default)]
    pub count: Option<usize>,
    /// Relative share of requests (each expanded environment gets it).
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// How many identities there are and how skewed their traffic is.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// Distinct identifiers (the cardinality).
    #[serde(default = "default_identity_count")]
    pub count: u64,
    /// Zipf exponent of their popularity; 0 is uniform.
    #[serde(default = "one")]
    pub zipf_s: f64,
    /// Identifiers are `<prefix><rank>`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Chance that a request draws fresh trait values instead of the identity's own.
    #[serde(default)]
    pub trait_churn: f64,
}

fn default_identity_count() -> u64 {
    10_000
}

fn default_prefix() -> String {
    "user-".into()
}

impl Default for IdentitySpec {
    fn default() -> Self {
        IdentitySpec {
            count: default_identity_count(),
            zipf_s: 1.0,
            prefix: default_prefix(),
            trait_churn: 0.0,
        }
    }
}

/// A trait and the distribution of its values: exactly one of `values`, `int`,
/// `float`, `bool`, `template`, `synthetic`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraitSpec {
    /// The trait key.
    pub key: String,
    /// Values to choose from (uniformly, or by `weights`).
    #[serde(default)]
    pub values: Option<Vec<Value>>,
    /// Relative weights of `values`.
    #[serde(default)]
    pub weights: Option<Vec<f64>>,
    /// A uniform integer in `[min, max]`.
    #[serde(default)]
    pub int: Option<[i64; 2]>,
    /// A uniform float in `[min, max)`.
    #[serde(default)]
    pub float: Option<[f64; 2]>,
    /// `true` with this probability.
    #[serde(default)]
    pub bool: Option<f64>,
    /// A string with `{identifier}` and `{rank}` replaced.
    #[serde(default)]
    pub template: Option<String>,
    /// Any type the SDKs send, from the engine's synthetic generator (the values
    /// synthetic segments test).
    #[serde(default)]
    pub synthetic: Option<bool>,
}

/// The SDK calls a scenario can make.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `GET /api/v1/flags/`
    Flags,
    /// `GET /api/v1/identities/?identifier=`
    IdentityGet,
    /// `POST /api/v1/identities/` with traits
    IdentityPost,
    /// `GET /api/v1/environment-document/` (server-side key)
    EnvironmentDocument,
    /// `POST /api/v1/analytics/flags/`
    Analytics,
}

impl Kind {
    /// The name used in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flags => "flags",
            Kind::IdentityGet => "identity-get",
            Kind::IdentityPost => "identity-post",
            Kind::EnvironmentDocument => "environment-document",
            Kind::Analytics => "analytics",
        }
    }
}

/// One entry of the mix.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The call.
    pub kind: Kind,
    /// Relative share of requests.
    #[serde(default = "one")]
    pub weight: f64,
    /// identity-post: how many traits to send (the first N of `[[traits]]`).
    #[serde(default)]
    pub traits: Option<usize>,
    /// environment-document: send `If-None-Match` with the last ETag seen.
    #[serde(default = "yes")]
    pub conditional: bool,
    /// analytics: the feature names counted in each post.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// identity-post: send `"transient": true` (the identity is not stored).
    #[serde(default)]
    pub transient: bool,
}

fn yes() -> bool {
    true
}

/// Load-shape defaults a scenario may carry; the command line wins.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadDefaults {
    /// `closed` or `open`.
    pub mode: Option<String>,
    /// Connections.
    pub connections: Option<usize>,
    /// Open loop: requests per second.
    pub rate: Option<f64>,
    /// Measured time, e.g. `10s`.
    pub duration: Option<String>,
    /// Excluded time before it, e.g. `2s`.
    pub warmup: Option<String>,
    /// `1` or `2`.
    pub http: Option<String>,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut scenario = Scenario::parse(&text)
            .map_err(|e| anyhow::anyhow!("scenario {}: {e}", path.display()))?;
        if scenario.name.is_empty() {
            scenario.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        Ok(scenario)
    }

    /// Parses and checks scenario text.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        scenario.check()?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), String> {
        if self.environments.is_empty() {
            return Err("at least one [[environments]] entry is needed".into());
        }
        for environment in &self.environments {
            positive("environment weight", environment.weight)?;
            if environment.count == Some(0) {
                return Err(format!(
                    "environment {:?}: count must be ≥ 1",
                    environment.key
                ));
            }
            if environment.count.is_some() && !environment.key.contains("{i}") {
                return Err(format!(
                    "environment {:?}: count needs `{{i}}` in the key",
                    environment.key
                ));
            }
        }
        if self.requests.is_empty() {
            return Err("at least one [[requests]] entry is needed".into());
        }
        if self.identities.count == 0 {
            return Err("identities.count must be ≥ 1".into());
        }
        if !(0.0..=1.0).contains(&self.identities.trait_churn) {
            return Err("identities.trait_churn is a probability in [0, 1]".into());
        }
        crate::zipf::Zipf::new(self.identities.count, self.identities.zipf_s)?;
        for spec in &self.traits {
            spec.check()?;
        }
        for request in &self.requests {
            positive(&format!("{} weight", request.kind.name()), request.weight)?;
            if let Some(n) = request.traits {
                if request.kind != Kind::IdentityPost {
                    return Err(format!(
                        "{}: only identity-post sends traits",
                        request.kind.name()
                    ));
                }
                if !self.traits.is_empty() && n > self.traits.len() {
                    return Err(format!(
                        "identity-post asks for {n} traits but [[traits]] describes {}",
                        self.traits.len()
                    ));
                }
                if self.traits.is_empty() && n > flagedge_engine::synthetic::TRAIT_KEYS.len() {
                    return Err(format!(
                        "identity-post asks for {n} synthetic traits; there are {}",
                        flagedge_engine::synthetic::TRAIT_KEYS.len()
                    ));
                }
            }
            if request.kind == Kind::EnvironmentDocument
                && self.environments.iter().any(|e| e.server_key.is_none())
            {
                return Err(
                    "environment-document requests need a server_key on every environment".into(),
                );
            }
            if request.features.is_some() && request.kind != Kind::Analytics {
                return Err(format!(
                    "{}: only analytics takes features",
                    request.kind.name()
                ));
            }
        }
        if let Some(mode) = &self.load.mode
            && mode != "closed"
            && mode != "open"
        {
            return Err(format!("load.mode is `closed` or `open`, not {mode:?}"));
        }
        for text in [&self.load.duration, &self.load.warmup]
            .into_iter()
            .flatten()
        {
            parse_duration(text)?;
        }
        Ok(())
    }

    /// Every environment, `{i}` expanded: (client key, server key, weight).
    pub fn expanded_environments(&self) -> Vec<(String, Option<String>, f64)> {
        let mut out = Vec::new();
        for spec in &self.environments {
            match spec.count {
                None => out.push((spec.key.clone(), spec.server_key.clone(), spec.weight)),
                Some(count) => {
                    for i in 0..count {
                        let expand = |s: &str| s.replace("{i}", &i.to_string());
                        out.push((
                            expand(&spec.key),
                            spec.server_key.as_deref().map(expand),
                            spec.weight,
                        ));
                    }
                }
            }
        }
        out
    }
}

impl TraitSpec {
    fn check(&self) -> Result<(), String> {
        let given = [
            self.values.is_some(),
            self.int.is_some(),
            self.float.is_some(),
            self.bool.is_some(),
            self.template.is_some(),
            self.synthetic == Some(true),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if given != 1 {
            return Err(format!(
                "trait {:?}: give exactly one of values, int, float, bool, template, synthetic = true",
                self.key
            ));
        }
        if let Some(values) = &self.values {
            if values.is_empty() {
                return Err(format!("trait {:?}: values is empty", self.key));
            }
            if let Some(weights) = &self.weights {
                if weights.len() != values.len() {
                    return Err(format!(
                        "trait {:?}: {} weights for {} values",
                        self.key,
                        weights.len(),
                        values.len()
                    ));
                }
                for &w in weights {
                    if !(w.is_finite() && w >= 0.0) {
                        return Err(format!("trait {:?}: weights must be ≥ 0", self.key));
                    }
                }
                if weights.iter().sum::<f64>() <= 0.0 {
                    return Err(format!("trait {:?}: weights sum to 0", self.key));
                }
            }
        } else if self.weights.is_some() {
            return Err(format!("trait {:?}: weights go with values", self.key));
        }
        if let Some([min, max]) = self.int
            && min > max
        {
            return Err(format!("trait {:?}: int range is empty", self.key));
        }
        if let Some([min, max]) = self.float
            && !(min.is_finite() && max.is_finite() && min < max)
        {
            return Err(format!("trait {:?}: float range is empty", self.key));
        }
        if let Some(p) = self.bool
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("trait {:?}: bool is a probability", self.key));
        }
        Ok(())
    }
}

fn positive(what: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!("{what} must be > 0, got {value}"))
    }
}

/// Parses `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (try 10s, 500ms, 2m)"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("not a duration: {text:?}"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = r#"
        name = "mixed"
        seed = 7
        [[environments]]
        key = "env-{i}"
        server_key = "ser.env-{i}"
        count = 3
        weight = 2
        [[environments]]
        key = "other"
        server_key = "ser.other"
        [identities]
        count = 1000
        zipf_s = 1.2
        prefix = "u"
        [[traits]]
        key = "plan"
        values = ["free", "pro", 3, true]
        weights = [5, 3, 1, 1]
        [[traits]]
        key = "age"
        int = [18, 90]
        [[traits]]
        key = "email"
        template = "{identifier}@example.com"
        [[requests]]
        kind = "flags"
        weight = 70
        [[requests]]
        kind = "identity-post"
        traits = 3
        weight = 20
        [[requests]]
        kind = "environment-document"
        [[requests]]
        kind = "analytics"
        features = ["a", "b"]
        [load]
        mode = "open"
        rate = 1000
        duration = "5s"
    "#;

    #[test]
    fn parses_a_full_scenario() {
        let scenario = Scenario::parse(MIXED).unwrap();
        assert_eq!(scenario.seed, 7);
        assert_eq!(scenario.requests.len(), 4);
        assert_eq!(scenario.requests[1].kind, Kind::IdentityPost);
        assert_eq!(scenario.requests[1].traits, Some(3));
        assert!(scenario.requests[2].conditional);
        assert_eq!(scenario.identities.zipf_s, 1.2);
        assert_eq!(
            scenario.traits[0].values.as_ref().unwrap()[2],
            serde_json::json!(3)
        );
        let environments = scenario.expanded_environments();
        assert_eq!(environments.len(), 4);
        assert_eq!(environments[2].0, "env-2");
        assert_eq!(environments[2].1.as_deref(), Some("ser.env-2"));
        assert_eq!(environments[3].2, 1.0);
        assert_eq!(scenario.load.rate, Some(1000.0));
    }

    #[test]
    fn defaults_are_filled() {
        let scenario = Scenario::parse(
            "[[environments]]\nkey = \"k\"\n[[requests]]\nkind = \"identity-get\"\n",
        )
        .unwrap();
        assert_eq!(scenario.identities.count, 10_000);
        assert_eq!(scenario.identities.prefix, "user-");
        assert_eq!(scenario.requests[0].weight, 1.0);
        assert_eq!(scenario.seed, 1);
    }

    #[test]
    fn rejects_what_would_fail_mid_run() {
        let cases = [
            ("[[requests]]\nkind = \"flags\"\n", "environments"),
            (
                "[[environments]]\nkey = \"k\"\n",
                "missing field `requests`",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[[requests]]\nkind = \"nope\"\n",
                "unknown variant",
            ),
            (
                "[[environments]]\nkey = \"k\"\nbogus = 1\n[[requests]]\nkind = \"flags\"\n",
                "unknown field",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[[requests]]\nkind = \"flags\"\nweight = 0\n",
                "must be > 0",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[[requests]]\nkind = \"environment-document\"\n",
                "server_key",
            ),
            (
                "[[environments]]\nkey = \"k\"\ncount = 2\n[[requests]]\nkind = \"flags\"\n",
                "{i}",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[[traits]]\nkey = \"a\"\n[[requests]]\nkind = \"flags\"\n",
                "exactly one",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[[traits]]\nkey = \"a\"\nint = [1, 2]\n[[requests]]\nkind = \"identity-post\"\ntraits = 2\n",
                "describes 1",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[[traits]]\nkey = \"a\"\nvalues = [1]\nweights = [1, 2]\n[[requests]]\nkind = \"flags\"\n",
                "2 weights",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[identities]\nzipf_s = -1\n[[requests]]\nkind = \"flags\"\n",
                "exponent",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[[requests]]\nkind = \"flags\"\ntraits = 1\n",
                "only identity-post",
            ),
            (
                "[[environments]]\nkey = \"k\"\n[[requests]]\nkind = \"flags\"\n[load]\nduration = \"x\"\n",
                "not a duration",
            ),
        ];
        for (text, expected) in cases {
            let error = Scenario::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn shipped_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 3);
    }
}
