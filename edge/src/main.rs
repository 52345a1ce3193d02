//! `flagedge-edge`: wiring only. See the crate docs for where things live.

use std::process::ExitCode;

use flagedge_edge::config::{Config, Options, SourceKind};

const PROGRAM: &str = "flagedge-edge";

fn main() -> ExitCode {
    // Only what the command line and environment gave: the config file fills the rest.
    let options: Options = flagedge_options::parse_explicit();
    let Some(config) = flagedge_options::reported(PROGRAM, Config::load(options.clone())) else {
        return ExitCode::from(2);
    };
    config.logging.init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let Some(runtime) =
        flagedge_options::reported("flagedge-edge: cannot start the runtime", runtime)
    else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let reloader: flagedge_edge::Reloader = Box::new(move || Config::load(options.clone()));
        let edge = match flagedge_edge::start(config.clone(), Some(reloader)).await {
            Ok(edge) => edge,
            Err(error) => {
                tracing::error!("cannot start: {error:#}");
                return ExitCode::FAILURE;
            }
        };
        announce(&config, &edge);
        flagedge_edge::shutdown::termination_signal().await;
        edge.shutdown();
        edge.wait().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

/// Says where the edge listens; for the demo, also its keys and a first request.
fn announce(config: &Config, edge: &flagedge_edge::Edge) {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{}", edge.address);
    tracing::info!(%url, source = ?config.source, "flagedge-edge listening");
    if config.source != SourceKind::Demo {
        return;
    }
    let snapshot = edge.app.store.load();
    println!("flagedge-edge is serving the demo environments on {url}");
    let keys: flagedge_edge::source::ServerKeysFile = serde_json::from_slice(
        flagedge_edge::source::demo::SERVER_KEYS,
    )
    .unwrap_or(flagedge_edge::source::ServerKeysFile {
        environment_key_pairs: Vec::new(),
    });
    let mut environments: Vec<_> = snapshot.environments.values().collect();
    environments.sort_by_key(|e| e.client_key().to_string());
    for environment in &environments {
        let server_key = keys
            .environment_key_pairs
            .iter()
            .find(|p| p.client_side_key == environment.client_key())
            .map_or("-", |p| p.server_side_key.as_str());
        println!(
            "  {:<28} client key {:<24} server key {server_key}",
            format!("{:?}", environment.compiled.meta().name),
            environment.client_key(),
        );
    }
    println!("try:");
    println!("  curl -s -H 'X-Environment-Key: demo-shop-client-key' {url}/api/v1/flags/");
    println!(
        "  curl -s -H 'X-Environment-Key: demo-shop-client-key' -H 'Content-Type: application/json' \\\n    -d '{{\"identifier\":\"alice\",\"traits\":[{{\"trait_key\":\"plan\",\"trait_value\":\"pro\"}}]}}' {url}/api/v1/identities/"
    );
}
