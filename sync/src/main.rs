//! `flagedge-sync`: wiring only. See the crate docs.

use std::process::ExitCode;

use clap::Parser;
use flagedge_sync::config::{Config, Options};

fn main() -> ExitCode {
    let config = match Config::load(Options::parse()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("flagedge-sync: {error}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("flagedge-sync: {error}");
            return ExitCode::FAILURE;
        }
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
