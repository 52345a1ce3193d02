//! # flagedge-options
//!
//! How flagedge's binaries take their options, so that each option is declared
//! once — a field with its flag, `FLAGEDGE_*` variable, help text and default in
//! clap's derive — and read from four layers, highest first: the command line,
//! the environment, a TOML file (`--config`, same names as the flags in
//! snake_case), the declared default.
//!
//! An options struct keeps every field an `Option` (and serialisable: a field
//! serde skips would be lost between layers), so layers compose by filling
//! what is unset: [`explicit`] keeps what the command line and environment gave
//! (clap would otherwise hide the file under its defaults), [`layer`] fills one
//! set from another, [`defaults`] is what the declarations say.
//!
//! Also here: the AWS ([`AwsArgs`]) and logging ([`LogArgs`]) options that edge
//! and sync share, flattened into each binary's options.

use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, ValueEnum};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Options that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, names an unknown option or a value of the wrong type.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

fn to_map<T: Serialize>(options: &T) -> Map<String, Value> {
    match serde_json::to_value(options) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn from_map<T: DeserializeOwned>(map: Map<String, Value>) -> T {
    // Both maps came from values of `T`: the combination is one too.
    serde_json::from_value(Value::Object(map)).expect("options combine into options")
}

/// Fills every option unset in `top` from `below`.
pub fn layer<T: Serialize + DeserializeOwned>(top: T, below: &T) -> T {
    let mut map = to_map(&top);
    for (name, value) in to_map(below) {
        let unset = map.get(&name).is_none_or(Value::is_null);
        if unset && !value.is_null() {
            map.insert(name, value);
        }
    }
    from_map(map)
}

/// The options given on the command line or in the environment: what clap
/// filled in from a declared default is left unset, so a file can still set it.
pub fn explicit<T>(matches: &ArgMatches) -> Result<T, clap::Error>
where
    T: FromArgMatches + Serialize + DeserializeOwned,
{
    let parsed = T::from_arg_matches(matches)?;
    let mut map = to_map(&parsed);
    for (name, value) in map.iter_mut() {
        let ids_match = matches.ids().any(|id| id.as_str() == name);
        if ids_match && matches.value_source(name) == Some(ValueSource::DefaultValue) {
            *value = Value::Null;
        }
    }
    Ok(from_map(map))
}

/// Parses the process's command line and environment into explicit options;
/// exits with clap's message on bad input, as clap's `parse` does.
pub fn parse_explicit<T>() -> T
where
    T: CommandFactory + FromArgMatches + Serialize + DeserializeOwned,
{
    let matches = T::command().get_matches();
    explicit(&matches).unwrap_or_else(|error| error.exit())
}

/// `result`'s value, or `None` after saying on stderr what `program` could
/// not do (a binary then exits: 2 for bad configuration, 1 otherwise).
pub fn reported<T, E: std::fmt::Display>(program: &str, result: Result<T, E>) -> Option<T> {
    result
        .inspect_err(|error| eprintln!("{program}: {error}"))
        .ok()
}

/// The declared defaults alone (neither the command line nor the environment).
pub fn defaults<T>() -> T
where
    T: CommandFactory + FromArgMatches,
{
    let command = T::command().mut_args(|arg| arg.env(None::<&str>));
    let name = command.get_name().to_string();
    let matches = command
        .try_get_matches_from([name])
        .expect("the declared defaults parse");
    T::from_arg_matches(&matches).expect("the declared defaults parse")
}

/// Reads a TOML file of options; names are the options' (snake_case), and an
/// unknown name is an error naming it.
pub fn from_toml_file<T>(path: &Path) -> Result<T, OptionsError>
where
    T: CommandFactory + DeserializeOwned,
{
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| OptionsError::Read {
        path: shown.clone(),
        source,
    })?;
    from_toml(&text).map_err(|message| OptionsError::Parse {
        path: shown,
        message,
    })
}

/// [`from_toml_file`] on text.
pub fn from_toml<T>(text: &str) -> Result<T, String>
where
    T: CommandFactory + DeserializeOwned,
{
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let command = T::command();
    let known: Vec<&str> = command
        .get_arguments()
        .map(|arg| arg.get_id().as_str())
        .filter(|id| *id != "config")
        .collect();
    if let Some(unknown) = table.keys().find(|key| !known.contains(&key.as_str())) {
        return Err(format!("unknown option `{unknown}`"));
    }
    let value = serde_json::to_value(&table).map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("`{path}`: {}", e.into_inner())
    })
}

/// AWS settings (for S3 and DynamoDB), shared by edge and sync.
#[derive(Args, Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwsArgs {
    /// AWS region [default: AWS_REGION, else us-east-1].
    #[arg(long, env = "FLAGEDGE_AWS_REGION")]
    pub aws_region: Option<String>,

    /// AWS endpoint override (an S3/DynamoDB-compatible server such as moto).
    #[arg(long, env = "FLAGEDGE_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The SDK settings these give.
    pub fn sdk_options(&self) -> flagedge_cloud::aws::AwsOptions {
        flagedge_cloud::aws::AwsOptions {
            region: self.aws_region.clone(),
            endpoint_url: self.aws_endpoint_url.clone(),
            static_credentials: None,
        }
    }
}

/// Where flagedge-sync publishes documents and edges with `--source s3` or
/// `dynamodb` read them: declared once, so both binaries name and default them alike.
#[derive(Args, Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedArgs {
    /// S3 bucket of published documents (sync writes them; edges with `--source s3` read them).
    #[arg(long, env = "FLAGEDGE_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Key prefix in the bucket.
    #[arg(long, env = "FLAGEDGE_S3_PREFIX", default_value = "flagedge")]
    pub s3_prefix: Option<String>,

    /// DynamoDB table of published documents (sync writes them; edges with
    /// `--source dynamodb` read them).
    #[arg(long, env = "FLAGEDGE_DYNAMODB_TABLE")]
    pub dynamodb_table: Option<String>,
}

impl PublishedArgs {
    /// Documents in S3 bucket `bucket`, under the default prefix.
    pub fn s3(bucket: &str) -> PublishedArgs {
        PublishedArgs {
            s3_bucket: Some(bucket.to_string()),
            ..PublishedArgs::default()
        }
    }

    /// Documents in DynamoDB table `table`.
    pub fn dynamodb(table: &str) -> PublishedArgs {
        PublishedArgs {
            dynamodb_table: Some(table.to_string()),
            ..PublishedArgs::default()
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings, shared by edge and sync.
#[derive(Args, Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "FLAGEDGE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: Option<LogFormat>,

    /// Log filter, e.g. `info` or `flagedge_edge=debug`.
    #[arg(long, env = "FLAGEDGE_LOG", default_value = "info")]
    pub log: Option<String>,
}

impl LogArgs {
    /// Installs the process's log subscriber (stderr); an unreadable filter falls back to `info`.
    pub fn init(&self) {
        let filter = tracing_subscriber::EnvFilter::try_new(self.log.as_deref().unwrap_or("info"))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        match self.log_format.unwrap_or(LogFormat::Text) {
            LogFormat::Json => builder.json().init(),
            LogFormat::Text => builder.init(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
    #[command(name = "example")]
    struct Example {
        /// A number.
        #[arg(long, env = "FLAGEDGE_OPTIONS_TEST_NUMBER", default_value = "10")]
        number: Option<u32>,
        /// A name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        #[serde(flatten)]
        aws: AwsArgs,
    }

    #[test]
    fn layers_compose_highest_first() {
        let matches = Example::command().get_matches_from(["example", "--aws-region", "eu"]);
        let cli: Example = explicit(&matches).unwrap();
        assert_eq!(
            cli.number, None,
            "a declared default does not hide the file"
        );
        assert_eq!(cli.aws.aws_region.as_deref(), Some("eu"));
        let file: Example =
            from_toml("number = 3\nname = \"from-file\"\naws_region = \"us\"").unwrap();
        let merged = layer(layer(cli, &file), &defaults::<Example>());
        assert_eq!(merged.number, Some(3));
        assert_eq!(merged.name.as_deref(), Some("from-file"));
        assert_eq!(
            merged.aws.aws_region.as_deref(),
            Some("eu"),
            "flags win over the file"
        );
        assert_eq!(defaults::<Example>().number, Some(10));
    }

    #[test]
    fn the_config_path_is_never_taken_from_a_file() {
        #[derive(Parser, Debug, Default, Serialize, Deserialize)]
        #[command(name = "with-config")]
        struct WithConfig {
            /// The file.
            #[arg(long)]
            config: Option<String>,
        }
        let matches = WithConfig::command().get_matches_from(["with-config", "--config", "a.toml"]);
        let cli: WithConfig = explicit(&matches).unwrap();
        assert_eq!(
            cli.config.as_deref(),
            Some("a.toml"),
            "kept through the layers"
        );
        assert!(from_toml::<WithConfig>("config = \"b.toml\"").is_err());
    }

    #[test]
    fn bad_files_name_the_problem() {
        let unknown = from_toml::<Example>("nmber = 3").unwrap_err();
        assert!(unknown.contains("nmber"), "{unknown}");
        let typed = from_toml::<Example>("number = \"many\"").unwrap_err();
        assert!(typed.contains("number"), "{typed}");
    }
}
