//! `flagedge-loadtest`: wiring only — parse the command line, build the runtime,
//! call the command, print and write the results.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use flagedge_engine::synthetic::Shape;
use flagedge_loadtest::client::{Protocol, Target};
use flagedge_loadtest::compare::{Side, compare};
use flagedge_loadtest::generate::{Generate, OPERATORS, generate};
use flagedge_loadtest::rewrite::Rewriter;
use flagedge_loadtest::run::{LoadOptions, Mode, run};
use flagedge_loadtest::scenario::{Scenario, parse_duration};
use flagedge_loadtest::workload::Workload;
use flagedge_loadtest::{ceiling, client, svg};

/// Load harness for Flagsmith-compatible APIs (flagedge edges, Flagsmith, edge-proxy).
#[derive(Parser)]
#[command(name = "flagedge-loadtest", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario against one target and report latency, throughput and errors.
    Run(RunArgs),
    /// Run a scenario against two targets alternately (A B A B …) and report the ratios.
    Compare(CompareArgs),
    /// Serve fixed bytes from a bare hyper server: the physical reference.
    Ceiling(CeilingArgs),
    /// Write synthetic environment documents and server-keys.json for --documents-dir.
    Generate(GenerateArgs),
    /// Time changes made through flagedge-core's admin API until each edge serves them.
    #[command(subcommand)]
    Propagation(PropagationCommand),
    /// Relay TCP connections adding a fixed latency each way (a simulated long link).
    Delay(DelayArgs),
    /// Draw labelled values (`label value` lines on stdin) as an SVG bar chart on stdout.
    Bars(BarsArgs),
}

#[derive(Args)]
struct BarsArgs {
    /// The chart's title.
    #[arg(long)]
    title: String,
    /// What it shows, for screen readers.
    #[arg(long)]
    description: String,
    /// The unit after each value, e.g. " MiB".
    #[arg(long, default_value = "")]
    unit: String,
}

#[derive(Args)]
struct DelayArgs {
    /// Address to accept connections on.
    #[arg(long)]
    listen: std::net::SocketAddr,
    /// Address to relay them to.
    #[arg(long)]
    to: std::net::SocketAddr,
    /// Latency added in each direction, e.g. 40ms.
    #[arg(long, default_value = "40ms")]
    delay: String,
}

#[derive(Subcommand)]
enum PropagationCommand {
    /// Make a project, environment, server-side key and feature; print them as JSON (for the edges' keys and `measure --setup`).
    Setup(PropagationSetupArgs),
    /// Change the feature --changes times and report, per edge, the time until it serves each change.
    Measure(PropagationMeasureArgs),
    /// Hold --count followers of a change feed until stopped (what subscribed edges cost core and sync).
    Subscribe(PropagationSubscribeArgs),
}

#[derive(Args)]
struct PropagationSubscribeArgs {
    /// The feed: core's .../api/v1/edge/changes or sync's .../api/v1/changes.
    #[arg(long, env = "FLAGEDGE_FEED_URL")]
    url: String,
    /// A header for each long-poll, `Name: value` (the credential); repeatable.
    #[arg(long = "header", env = "FLAGEDGE_FEED_HEADERS", value_delimiter = ',')]
    headers: Vec<String>,
    /// Followers to hold.
    #[arg(long, default_value_t = 100, env = "FLAGEDGE_FOLLOWERS")]
    count: usize,
}

#[derive(Args)]
struct CoreArgs {
    /// flagedge-core's base URL.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "FLAGEDGE_CORE_URL"
    )]
    core: String,
    /// An admin API key (`flagedge-core init` prints one).
    #[arg(long, env = "FLAGEDGE_ADMIN_KEY")]
    admin_key: String,
}

#[derive(Args)]
struct PropagationSetupArgs {
    #[command(flatten)]
    core: CoreArgs,
    /// Name of the feature to change.
    #[arg(long, default_value = "propagation_probe", env = "FLAGEDGE_FEATURE")]
    feature: String,
}

#[derive(Args)]
struct PropagationMeasureArgs {
    #[command(flatten)]
    core: CoreArgs,
    /// The JSON `setup` printed.
    #[arg(long, env = "FLAGEDGE_SETUP")]
    setup: PathBuf,
    /// An edge to watch, `name=http://host:port`; repeatable.
    #[arg(
        long = "edge",
        required = true,
        env = "FLAGEDGE_EDGES",
        value_delimiter = ','
    )]
    edges: Vec<flagedge_loadtest::propagation::Edge>,
    /// Changes to make, one at a time.
    #[arg(long, default_value_t = 200, env = "FLAGEDGE_CHANGES")]
    changes: usize,
    /// A change not served within this time counts as lost.
    #[arg(long, default_value = "30s", env = "FLAGEDGE_TIMEOUT")]
    timeout: String,
    /// Pause between polls of an edge.
    #[arg(long, default_value = "1ms", env = "FLAGEDGE_POLL_EVERY")]
    poll_every: String,
    /// Longest random pause between changes.
    #[arg(long, default_value = "250ms", env = "FLAGEDGE_MAX_PAUSE")]
    max_pause: String,
    /// Write the report as JSON to this file.
    #[arg(long, env = "FLAGEDGE_JSON")]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    /// C connections, as fast as they go.
    Closed,
    /// A constant arrival rate (--rate); latency from the intended send time.
    Open,
}

#[derive(Args)]
struct LoadArgs {
    /// Scenario file (TOML; see loadtest/scenarios/).
    #[arg(env = "FLAGEDGE_SCENARIO")]
    scenario: PathBuf,
    /// Closed or open loop [default: open when --rate is given, else the scenario's, else closed].
    #[arg(long, value_enum, env = "FLAGEDGE_MODE")]
    mode: Option<ModeArg>,
    /// Open loop: requests per second.
    #[arg(long, env = "FLAGEDGE_RATE")]
    rate: Option<f64>,
    /// TCP connections [default: the scenario's, else 64].
    #[arg(long, short = 'c', env = "FLAGEDGE_CONNECTIONS")]
    connections: Option<usize>,
    /// HTTP/2: concurrent streams per connection.
    #[arg(long, default_value_t = 1, env = "FLAGEDGE_STREAMS")]
    streams: usize,
    /// HTTP version: 1 (keep-alive) or 2 (h2c, prior knowledge) [default: the scenario's, else 1].
    #[arg(long, value_enum, env = "FLAGEDGE_HTTP")]
    http: Option<Protocol>,
    /// Measured time, e.g. 10s [default: the scenario's, else 10s].
    #[arg(long, short = 'd', env = "FLAGEDGE_DURATION")]
    duration: Option<String>,
    /// Unmeasured time before it [default: the scenario's, else 2s].
    #[arg(long, env = "FLAGEDGE_WARMUP")]
    warmup: Option<String>,
    /// Longest a request may take; also the drain time after the end.
    #[arg(long, default_value = "5s", env = "FLAGEDGE_TIMEOUT")]
    timeout: String,
    /// Open loop: the pacer releases due requests at most this often, in microseconds.
    #[arg(long, default_value_t = 200, env = "FLAGEDGE_PACER_RESOLUTION_US")]
    pacer_resolution_us: u64,
    /// Runtime threads of the harness (keep it low on a small machine: the target needs the cores).
    #[arg(long, default_value_t = 1, env = "FLAGEDGE_THREADS")]
    threads: usize,
    /// No live progress line.
    #[arg(long, short = 'q', env = "FLAGEDGE_QUIET")]
    quiet: bool,
    /// Write the full result as JSON to this file.
    #[arg(long, env = "FLAGEDGE_JSON")]
    json: Option<PathBuf>,
    /// During the run, rewrite this document file (in an edge's --documents-dir) with a newer updated_at.
    #[arg(long, env = "FLAGEDGE_REWRITE_DOCUMENT")]
    rewrite_document: Option<PathBuf>,
    /// The target's process id: report its CPU time per request (run only).
    #[arg(long, env = "FLAGEDGE_PID")]
    pid: Option<u32>,
    /// Rewrites per second for --rewrite-document.
    #[arg(long, default_value_t = 10.0, env = "FLAGEDGE_REWRITE_PER_SEC")]
    rewrite_per_sec: f64,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Base URL of the target, e.g. http://127.0.0.1:8000.
    #[arg(long, short = 't', env = "FLAGEDGE_TARGET")]
    target: String,
    /// Write an SVG chart of latency percentiles and throughput per second.
    #[arg(long, env = "FLAGEDGE_SVG")]
    svg: Option<PathBuf>,
}

#[derive(Args)]
struct CompareArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Base URL of target A (the numerator of the ratios).
    #[arg(long, env = "FLAGEDGE_TARGET_A")]
    a: String,
    /// Base URL of target B (the denominator).
    #[arg(long, env = "FLAGEDGE_TARGET_B")]
    b: String,
    /// A's process id: report its CPU per request.
    #[arg(long, env = "FLAGEDGE_A_PID")]
    a_pid: Option<u32>,
    /// B's process id.
    #[arg(long, env = "FLAGEDGE_B_PID")]
    b_pid: Option<u32>,
    /// A's name in reports.
    #[arg(long, default_value = "a", env = "FLAGEDGE_A_NAME")]
    a_name: String,
    /// B's name in reports.
    #[arg(long, default_value = "b", env = "FLAGEDGE_B_NAME")]
    b_name: String,
    /// Pairs to run.
    #[arg(long, default_value_t = 5, env = "FLAGEDGE_ROUNDS")]
    rounds: usize,
    /// Pause after each run.
    #[arg(long, default_value = "1s", env = "FLAGEDGE_PAUSE")]
    pause: String,
}

#[derive(Args)]
struct CeilingArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8100", env = "FLAGEDGE_BIND")]
    bind: String,
    /// The response body, literally [default: `[]`].
    #[arg(long, env = "FLAGEDGE_BODY", conflicts_with_all = ["body_file", "fetch"])]
    body: Option<String>,
    /// Serve the bytes of this file.
    #[arg(long, env = "FLAGEDGE_BODY_FILE", conflicts_with = "fetch")]
    body_file: Option<PathBuf>,
    /// Serve the body of one response from this URL, fetched at start (e.g. the edge's own answer).
    #[arg(long, env = "FLAGEDGE_FETCH")]
    fetch: Option<String>,
    /// A header for --fetch, `Name: value`; repeatable.
    #[arg(
        long = "fetch-header",
        env = "FLAGEDGE_FETCH_HEADERS",
        value_delimiter = ','
    )]
    fetch_headers: Vec<String>,
    /// A body for --fetch: the request is then a POST.
    #[arg(long, env = "FLAGEDGE_FETCH_BODY")]
    fetch_body: Option<String>,
    /// Content-Type of the responses.
    #[arg(
        long,
        default_value = "application/json",
        env = "FLAGEDGE_CONTENT_TYPE"
    )]
    content_type: String,
    /// Runtime threads [default: one per core, as the edge].
    #[arg(long, env = "FLAGEDGE_THREADS")]
    threads: Option<usize>,
}

#[derive(Args)]
struct GenerateArgs {
    /// Directory to write (created if missing).
    #[arg(long, env = "FLAGEDGE_OUT")]
    out: PathBuf,
    /// Environments.
    #[arg(long, default_value_t = 1, env = "FLAGEDGE_ENVIRONMENTS")]
    environments: usize,
    /// Features per environment.
    #[arg(long, default_value_t = 50, env = "FLAGEDGE_FEATURES")]
    features: usize,
    /// Segments per environment.
    #[arg(long, default_value_t = 15, env = "FLAGEDGE_SEGMENTS")]
    segments: usize,
    /// Identities with overrides per document.
    #[arg(long, default_value_t = 100, env = "FLAGEDGE_IDENTITY_OVERRIDES")]
    identity_overrides: usize,
    /// Share of multivariate features.
    #[arg(long, default_value_t = 0.2, env = "FLAGEDGE_MULTIVARIATE_SHARE")]
    multivariate_share: f64,
    /// Let segment conditions read other flags ($.flags.…).
    #[arg(long, env = "FLAGEDGE_FLAG_DEPENDENCIES")]
    flag_dependencies: bool,
    /// Seed.
    #[arg(long, default_value_t = 1, env = "FLAGEDGE_SEED")]
    seed: u64,
    /// Flagsmith's edge-proxy benchmark shape instead (50 features, 15 segments of
    /// 15 conditions, 750 segment overrides); the shape options are ignored.
    #[arg(long, env = "FLAGEDGE_FLAGSMITH_BENCHMARK")]
    flagsmith_benchmark: bool,

    /// Client keys are <prefix><i>; server-side keys ser.<prefix><i>.
    #[arg(long, default_value = "loadtest-env-", env = "FLAGEDGE_KEY_PREFIX")]
    key_prefix: String,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run_command(args),
        Command::Compare(args) => compare_command(args),
        Command::Ceiling(args) => ceiling_command(args),
        Command::Generate(args) => generate_command(args),
        Command::Propagation(command) => propagation_command(command),
        Command::Bars(args) => {
            let mut points = Vec::new();
            for line in std::io::read_to_string(std::io::stdin())?.lines() {
                let Some((label, value)) = line.trim().rsplit_once(char::is_whitespace) else {
                    continue;
                };
                let value: f64 = value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("not a number: {value:?} in {line:?}"))?;
                points.push((label.trim().to_string(), value));
            }
            print!(
                "{}",
                svg::bars(&args.title, &args.description, &args.unit, &points)
            );
            Ok(())
        }
        Command::Delay(args) => {
            let delay = parse_duration(&args.delay).map_err(anyhow::Error::msg)?;
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(flagedge_loadtest::delay::relay(args.listen, args.to, delay))
        }
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    Ok(runtime)
}

/// The scenario, its workload and the load options, command line over scenario defaults.
fn prepare(args: &LoadArgs, label: &str) -> anyhow::Result<(Arc<Workload>, LoadOptions)> {
    let scenario = Scenario::load(&args.scenario)?;
    let defaults = &scenario.load;
    let rate = args.rate.or(defaults.rate);
    let mode = match (args.mode, defaults.mode.as_deref()) {
        (Some(ModeArg::Open), _) => "open",
        (Some(ModeArg::Closed), _) => "closed",
        (None, _) if args.rate.is_some() => "open",
        (None, Some(mode)) => mode,
        (None, None) => "closed",
    };
    let mode = if mode == "open" {
        let rate = rate.ok_or_else(|| anyhow::anyhow!("an open-loop run needs --rate"))?;
        Mode::Open { rate }
    } else {
        Mode::Closed
    };
    let duration_text = args
        .duration
        .clone()
        .or_else(|| defaults.duration.clone())
        .unwrap_or_else(|| "10s".into());
    let warmup_text = args
        .warmup
        .clone()
        .or_else(|| defaults.warmup.clone())
        .unwrap_or_else(|| "2s".into());
    let protocol = match (args.http, defaults.http.as_deref()) {
        (Some(protocol), _) => protocol,
        (None, Some("2")) => Protocol::Http2,
        (None, Some("1") | None) => Protocol::Http1,
        (None, Some(other)) => anyhow::bail!("load.http is \"1\" or \"2\", not {other:?}"),
    };
    let options = LoadOptions {
        mode,
        connections: args
            .connections
            .or(defaults.connections)
            .unwrap_or(64)
            .max(1),
        streams: args.streams.max(1),
        protocol,
        duration: parse_duration(&duration_text).map_err(anyhow::Error::msg)?,
        warmup: parse_duration(&warmup_text).map_err(anyhow::Error::msg)?,
        timeout: parse_duration(&args.timeout).map_err(anyhow::Error::msg)?,
        progress: !args.quiet,
        label: label.to_string(),
        target_pid: args.pid,
        pacer_resolution: Duration::from_micros(args.pacer_resolution_us),
    };
    anyhow::ensure!(
        options.duration > Duration::ZERO,
        "the duration must be > 0"
    );
    Ok((Arc::new(Workload::new(&scenario)?), options))
}

/// A flag set by Ctrl-C: the run stops early and still reports.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    stop
}

fn write_json(path: &PathBuf, value: &impl serde::Serialize) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

fn start_rewriter(args: &LoadArgs) -> anyhow::Result<Option<Rewriter>> {
    args.rewrite_document
        .clone()
        .map(|path| Rewriter::start(path, args.rewrite_per_sec))
        .transpose()
}

fn stop_rewriter(rewriter: Option<Rewriter>, args: &LoadArgs) -> anyhow::Result<()> {
    if let Some(rewriter) = rewriter {
        let count = rewriter.stop()?;
        if let Some(path) = &args.rewrite_document {
            println!("  rewrote {} {count} times", path.display());
        }
    }
    Ok(())
}

fn run_command(args: RunArgs) -> anyhow::Result<()> {
    let (workload, options) = prepare(&args.load, "")?;
    let target = Target::parse(&args.target)?;
    let report = runtime(args.load.threads)?.block_on(async {
        let stop = stop_on_ctrl_c();
        let rewriter = start_rewriter(&args.load)?;
        let report = run(&target, workload, &options, stop).await;
        stop_rewriter(rewriter, &args.load)?;
        report
    })?;
    print!("{}", report.table());
    if let Some(path) = &args.load.json {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, svg::chart(&report))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn compare_command(args: CompareArgs) -> anyhow::Result<()> {
    let (workload, options) = prepare(&args.load, "")?;
    let a = Side {
        name: args.a_name.clone(),
        target: Target::parse(&args.a)?,
        pid: args.a_pid,
    };
    let b = Side {
        name: args.b_name.clone(),
        target: Target::parse(&args.b)?,
        pid: args.b_pid,
    };
    let pause = parse_duration(&args.pause).map_err(anyhow::Error::msg)?;
    println!(
        "compare {} ({}) vs {} ({}), {} rounds",
        a.name, a.target.url, b.name, b.target.url, args.rounds
    );
    let report = runtime(args.load.threads)?.block_on(async {
        let stop = stop_on_ctrl_c();
        let rewriter = start_rewriter(&args.load)?;
        let report = compare(&a, &b, workload, &options, args.rounds, pause, stop).await;
        stop_rewriter(rewriter, &args.load)?;
        report
    })?;
    if let Some(first) = report.runs.first() {
        println!("  ({})", first.headline());
    }
    println!("{}", report.summary());
    if let Some(path) = &args.load.json {
        write_json(path, &report)?;
    }
    Ok(())
}

fn ceiling_command(args: CeilingArgs) -> anyhow::Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()?.block_on(async {
        let body = match (&args.body, &args.body_file, &args.fetch) {
            (Some(body), _, _) => Bytes::from(body.clone()),
            (_, Some(path), _) => Bytes::from(
                std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
            ),
            (_, _, Some(url)) => {
                let headers = args
                    .fetch_headers
                    .iter()
                    .map(|h| {
                        h.split_once(':')
                            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                            .ok_or_else(|| {
                                anyhow::anyhow!("--fetch-header {h:?}: expected `Name: value`")
                            })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let (method, body) = match &args.fetch_body {
                    Some(body) => (http::Method::POST, Bytes::from(body.clone())),
                    None => (http::Method::GET, Bytes::new()),
                };
                let (status, bytes) = client::fetch(url, method, &headers, body).await?;
                anyhow::ensure!(status.is_success(), "{url} answered {status}");
                bytes
            }
            _ => Bytes::from_static(b"[]"),
        };
        let content_type = http::HeaderValue::from_str(&args.content_type)?;
        let listener = tokio::net::TcpListener::bind(&args.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.bind))?;
        eprintln!(
            "ceiling: {} bytes on http://{}",
            body.len(),
            listener.local_addr()?
        );
        tokio::select! {
            _ = ceiling::serve(listener, body, content_type) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(())
    })
}

fn generate_command(args: GenerateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.multivariate_share),
        "--multivariate-share is a fraction in [0, 1]"
    );
    let written = generate(&Generate {
        out: args.out.clone(),
        environments: args.environments,
        shape: Shape {
            features: args.features,
            segments: args.segments,
            identity_overrides: args.identity_overrides,
            flag_dependencies: args.flag_dependencies,
            multivariate_share: args.multivariate_share,
        },
        seed: args.seed,
        key_prefix: args.key_prefix.clone(),
        flagsmith_benchmark: args.flagsmith_benchmark,
    })?;
    println!(
        "wrote {} documents ({:.1} KB each on average) and server-keys.json to {}",
        written.documents,
        written.bytes as f64 / written.documents.max(1) as f64 / 1024.0,
        args.out.display()
    );
    println!(
        "  {} of them use all {} segment operators; keys {}{}",
        written.every_operator,
        OPERATORS.len(),
        written.keys.first().map_or("", String::as_str),
        if written.keys.len() > 1 {
            format!(" … {}", written.keys.last().map_or("", String::as_str))
        } else {
            String::new()
        }
    );
    Ok(())
}

fn propagation_command(command: PropagationCommand) -> anyhow::Result<()> {
    use flagedge_loadtest::propagation::{self, Options, Setup};
    let runtime = runtime(2)?;
    match command {
        PropagationCommand::Setup(args) => {
            let setup = runtime.block_on(propagation::setup(
                &args.core.core,
                &args.core.admin_key,
                &args.feature,
            ))?;
            println!("{}", serde_json::to_string_pretty(&setup)?);
            Ok(())
        }
        PropagationCommand::Subscribe(args) => {
            let headers = args
                .headers
                .iter()
                .map(|h| {
                    let (name, value) = h
                        .split_once(':')
                        .with_context(|| format!("--header {h:?} is not `Name: value`"))?;
                    Ok((name.trim().to_string(), value.trim().to_string()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            runtime.block_on(propagation::subscribe(&args.url, &headers, args.count))
        }
        PropagationCommand::Measure(args) => {
            let setup: Setup = serde_json::from_slice(
                &std::fs::read(&args.setup)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", args.setup.display()))?,
            )?;
            let options = Options {
                core: args.core.core,
                admin_key: args.core.admin_key,
                setup,
                edges: args.edges,
                changes: args.changes,
                timeout: parse_duration(&args.timeout).map_err(anyhow::Error::msg)?,
                poll_every: parse_duration(&args.poll_every).map_err(anyhow::Error::msg)?,
                max_pause: parse_duration(&args.max_pause).map_err(anyhow::Error::msg)?,
            };
            let report = runtime.block_on(propagation::measure(&options))?;
            print!("{}", report.table());
            if let Some(path) = args.json {
                std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
            }
            anyhow::ensure!(
                report.complete(),
                "some changes never reached an edge within {}",
                args.timeout
            );
            Ok(())
        }
    }
}
