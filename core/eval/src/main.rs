//! `flagedge-eval`: evaluate Flagsmith contexts and documents from the command line.
//!
//! ```text
//! flagedge-eval context case.jsonc              # the engine result, as Flagsmith's engine gives it
//! flagedge-eval context case.jsonc --check      # and compare with the file's "result"
//! flagedge-eval document env.json --identifier alice --trait plan=pro --trait age=42
//! flagedge-eval document env.json --identifier alice --explain
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use flagedge_engine::{
    CompiledEnvironment, EnvironmentDocument, EvaluationContext, Identity, KeyKind,
};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "flagedge-eval",
    version,
    about = "Evaluate Flagsmith contexts and environment documents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate an evaluation context (an engine-test-data file, or a bare context)
    /// and print the result JSON.
    Context {
        /// The file: JSON, `//` comments allowed.
        file: PathBuf,
        /// Explain every flag instead of printing the result JSON.
        #[arg(long)]
        explain: bool,
        /// Compare with the file's `result` and exit 1 when they differ.
        #[arg(long)]
        check: bool,
    },
    /// Print the flags an SDK would get from a Flagsmith environment document.
    Document {
        /// The environment document (as `/api/v1/environment-document/` returns it).
        file: PathBuf,
        /// Evaluate for this identity (otherwise: environment flags).
        #[arg(long)]
        identifier: Option<String>,
        /// A trait, `key=value`; the value is read as JSON when it parses (42, true, "x"), else as text.
        #[arg(long = "trait", value_name = "KEY=VALUE")]
        traits: Vec<String>,
        /// Answer as for a server-side key (server-key-only features included).
        #[arg(long)]
        server_key: bool,
        /// Explain every flag: segments, conditions, hashes, overrides.
        #[arg(long)]
        explain: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("flagedge-eval: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Context {
            file,
            explain,
            check,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (context, expected) =
                read_context(&text).with_context(|| format!("parsing {}", file.display()))?;
            let environment = CompiledEnvironment::from_context(&context)?;
            let traits = context
                .identity
                .as_ref()
                .map(|i| i.traits.0.clone())
                .unwrap_or_default();
            let identity = context.identity.as_ref().map(|i| Identity {
                identifier: &i.identifier,
                key: i.key.as_deref(),
                traits: &traits,
            });
            if explain {
                print!("{}", environment.explain(identity.as_ref()));
                return Ok(ExitCode::SUCCESS);
            }
            let result = environment
                .evaluate(identity.as_ref())
                .to_result_json(&environment);
            println!("{}", serde_json::to_string_pretty(&result)?);
            if check {
                let Some(expected) = expected else {
                    bail!("--check needs a file with a \"result\"")
                };
                if expected != result {
                    eprintln!(
                        "differs from the expected result:\n{}",
                        serde_json::to_string_pretty(&expected)?
                    );
                    return Ok(ExitCode::FAILURE);
                }
                eprintln!("matches the expected result");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Document {
            file,
            identifier,
            traits,
            server_key,
            explain,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let document = EnvironmentDocument::parse(&bytes)
                .with_context(|| format!("parsing {}", file.display()))?;
            let environment = CompiledEnvironment::from_document(&document)?;
            let traits = traits
                .iter()
                .map(|t| parse_trait(t))
                .collect::<Result<Vec<_>>>()?;
            if identifier.is_none() && !traits.is_empty() {
                bail!("--trait needs --identifier");
            }
            let identity = identifier.as_deref().map(|identifier| Identity {
                identifier,
                key: None,
                traits: &traits,
            });
            if explain {
                print!("{}", environment.explain(identity.as_ref()));
                return Ok(ExitCode::SUCCESS);
            }
            let key = if server_key {
                KeyKind::Server
            } else {
                KeyKind::Client
            };
            let flags: Value = match &identity {
                Some(identity) => {
                    let mut body = Vec::new();
                    environment.evaluate(Some(identity)).write_flags_json(
                        &environment,
                        key,
                        &mut body,
                    );
                    serde_json::from_slice(&body)?
                }
                None => serde_json::from_slice(environment.environment_flags_json(key))?,
            };
            println!("{}", serde_json::to_string_pretty(&flags)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// An engine-test-data file has `context` and `result`; a bare context is accepted too.
fn read_context(text: &str) -> Result<(EvaluationContext, Option<Value>)> {
    let stripped = flagedge_engine::context::strip_json_comments(text);
    let value: Value = serde_json::from_str(&stripped)?;
    if value.get("context").is_some() {
        let case = flagedge_engine::TestCase::parse(text)?;
        Ok((case.context, Some(case.result)))
    } else {
        Ok((EvaluationContext::parse(text)?, None))
    }
}

fn parse_trait(text: &str) -> Result<(String, Value)> {
    match flagedge_engine::trait_assignment(text) {
        Some(assignment) => Ok(assignment),
        None => bail!("a trait is KEY=VALUE, got {text:?}"),
    }
}
