//! Runs the harness for real against the built-in ceiling server, in-process on
//! loopback: closed loop and open loop, HTTP/1.1 and HTTP/2, every call kind.
//! Asserts that requests were made, none failed, and percentiles are present;
//! no assertion depends on how fast this machine is.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bytes::Bytes;
use flagedge_loadtest::ceiling;
use flagedge_loadtest::client::{Protocol, Target};
use flagedge_loadtest::compare::{Side, compare};
use flagedge_loadtest::report::RunReport;
use flagedge_loadtest::run::{LoadOptions, Mode, run};
use flagedge_loadtest::scenario::Scenario;
use flagedge_loadtest::workload::Workload;

async fn start_ceiling() -> Target {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ceiling::serve(
        listener,
        Bytes::from_static(br#"[{"feature": {"name": "a"}, "enabled": true}]"#),
        http::HeaderValue::from_static("application/json"),
    ));
    Target::parse(&format!("http://{address}")).unwrap()
}

fn workload(file: &str) -> Arc<Workload> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    Arc::new(Workload::new(&Scenario::load(&path).unwrap()).unwrap())
}

fn options(mode: Mode, protocol: Protocol) -> LoadOptions {
    LoadOptions {
        mode,
        connections: 4,
        streams: 2,
        protocol,
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        progress: false,
        label: String::new(),
        target_pid: Some(std::process::id()),
        pacer_resolution: Duration::from_micros(200),
    }
}

fn assert_sound(report: &RunReport) {
    assert!(report.requests > 0, "no requests: {}", report.table());
    assert_eq!(report.error_count, 0, "errors: {}", report.table());
    assert_eq!(report.statuses.get("200"), Some(&report.requests));
    let p = &report.latency;
    assert_eq!(p.count, report.requests);
    assert!(p.p50_ms > 0.0, "{p:?}");
    assert!(p.p50_ms <= p.p90_ms && p.p90_ms <= p.p99_ms, "{p:?}");
    assert!(p.p99_ms <= p.p999_ms && p.p999_ms <= p.max_ms, "{p:?}");
    assert!(report.throughput > 0.0);
    assert!(report.bytes_received > 0);
    assert!(!report.timeline.is_empty());
    assert!(report.timeline.iter().map(|s| s.requests).sum::<u64>() >= report.requests);
    let svg = flagedge_loadtest::svg::chart(report);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    serde_json::to_string(report).unwrap();
    // The "target" is this very process here; its CPU was sampled.
    assert!(report.target_cpu.is_some() && report.harness_cpu.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_against_the_ceiling() {
    let target = start_ceiling().await;
    let stop = Arc::new(AtomicBool::new(false));
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let report = run(
            &target,
            workload("flags.toml"),
            &options(Mode::Closed, protocol),
            stop.clone(),
        )
        .await
        .unwrap();
        assert_sound(&report);
        assert_eq!(report.mode, "closed");
        assert!(report.send_lag.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_against_the_ceiling() {
    let target = start_ceiling().await;
    let stop = Arc::new(AtomicBool::new(false));
    let report = run(
        &target,
        workload("mixed.toml"),
        &options(Mode::Open { rate: 400.0 }, Protocol::Http1),
        stop,
    )
    .await
    .unwrap();
    assert_sound(&report);
    assert_eq!(report.mode, "open");
    // Every call kind of the mix was sent.
    assert!(
        report.calls.iter().all(|c| c.requests > 0),
        "{}",
        report.table()
    );
    let lag = report.send_lag.as_ref().unwrap();
    let service = report.service.as_ref().unwrap();
    assert!(lag.count > 0 && service.count > 0);
    // Latency from the intended time can only be longer than from the actual send.
    assert!(report.latency.max_ms >= service.max_ms * 0.99);
    // The schedule's slots in the window were sent, none left behind (400/s × 1 s).
    assert!(
        report.requests >= 390 && report.requests <= 401,
        "{}",
        report.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_pairs_two_targets() {
    let a = Side {
        name: "a".into(),
        target: start_ceiling().await,
        pid: None,
    };
    let b = Side {
        name: "b".into(),
        target: start_ceiling().await,
        pid: None,
    };
    let mut options = options(Mode::Closed, Protocol::Http1);
    options.duration = Duration::from_millis(300);
    options.warmup = Duration::ZERO;
    let stop = Arc::new(AtomicBool::new(false));
    let report = compare(
        &a,
        &b,
        workload("flags.toml"),
        &options,
        2,
        Duration::ZERO,
        stop,
    )
    .await
    .unwrap();
    assert_eq!(report.pairs.len(), 2);
    assert_eq!(report.runs.len(), 4);
    assert!(report.median_throughput_ratio > 0.0 && report.median_throughput_ratio.is_finite());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_is_an_error_not_a_hang() {
    // Bind and drop to find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let error = run(
        &target,
        workload("flags.toml"),
        &options(Mode::Closed, Protocol::Http1),
        stop,
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("cannot reach"), "{error}");
}
