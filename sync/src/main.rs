//! `flagedge-sync`: wiring only. See the crate docs.

use std::process::ExitCode;

use flagedge_sync::config::{Config, Options};

const PROGRAM: &str = "flagedge-sync";

fn main() -> ExitCode {
    // Only what the command line and environment gave: the config file fills the rest.
    let options = flagedge_options::parse_explicit::<Options>();
    let Some(config) = flagedge_options::reported(PROGRAM, Config::load(options)) else {
        return ExitCode::from(2);
    };
    config.logging.init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let Some(runtime) = flagedge_options::reported(PROGRAM, runtime) else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let sync = match flagedge_sync::start(config).await {
            Ok(sync) => sync,
            Err(error) => {
                tracing::error!("cannot start: {error:#}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(address = %sync.address, "flagedge-sync listening");
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    return ExitCode::FAILURE;
                }
            };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing requests and writing counts");
        sync.shutdown();
        sync.wait().await;
        ExitCode::SUCCESS
    })
}
