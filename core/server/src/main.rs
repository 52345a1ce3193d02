//! `flagedge-core serve | migrate | init` — wiring only; see the library.

use clap::Parser;
use flagedge_core::config::{Cli, Command};
use flagedge_core::{db, server};

fn logging(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging(&cli);
    match cli.command {
        Command::Serve(args) => server::serve(args).await,
        Command::Migrate(args) => {
            let (core, analytics) = server::pools(&args)?;
            db::migrate(&core, &analytics).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Init(args) => {
            let (core, analytics) = server::pools(&args.database)?;
            db::migrate(&core, &analytics).await?;
            let (organisation, key) =
                server::init(&core, &args.organisation_name, &args.key_name).await?;
            // The only place the key is ever shown.
            println!("organisation: {organisation}");
            println!("admin API key: {key}");
            Ok(())
        }
    }
}
