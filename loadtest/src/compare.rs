//! `compare`: the same scenario against two targets, alternately — A B A B … —
//! so that drift in the machine (other work, thermal, a noisy neighbour) lands
//! on both sides of each pair. Every performance claim in this project is a
//! per-pair ratio from such a run, and the median of those ratios.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::client::Target;
use crate::report::{CompareReport, Pair, median};
use crate::run::{LoadOptions, run};
use crate::workload::Workload;

/// One side of a compare.
pub struct Side {
    /// Its name in reports.
    pub name: String,
    /// Where it is.
    pub target: Target,
    /// Its process, for CPU per request (same machine only).
    pub pid: Option<u32>,
}

/// Runs `rounds` pairs, printing each pair as it completes.
pub async fn compare(
    a: &Side,
    b: &Side,
    workload: Arc<Workload>,
    options: &LoadOptions,
    rounds: usize,
    pause: Duration,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<CompareReport> {
    let mut pairs = Vec::with_capacity(rounds);
    let mut runs = Vec::with_capacity(rounds * 2);
    for round in 1..=rounds {
        let mut results = Vec::with_capacity(2);
        for side in [a, b] {
            let options = LoadOptions {
                label: format!("round {round} {}", side.name),
                target_pid: side.pid,
                ..options.clone()
            };
            results.push(
                run(
                    &side.target,
                    Arc::clone(&workload),
                    &options,
                    Arc::clone(&stop),
                )
                .await?,
            );
            // Let the sockets of the last run close before the next one starts.
            tokio::time::sleep(pause).await;
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if results.len() < 2 {
            break;
        }
        let (ra, rb) = (&results[0], &results[1]);
        let pair = Pair {
            round,
            a_throughput: ra.throughput,
            b_throughput: rb.throughput,
            throughput_ratio: ra.throughput / rb.throughput,
            a_p99_ms: ra.latency.p99_ms,
            b_p99_ms: rb.latency.p99_ms,
            p99_ratio: ra.latency.p99_ms / rb.latency.p99_ms,
            a_cpu_us: ra.target_cpu.as_ref().map(|c| c.us_per_request),
            b_cpu_us: rb.target_cpu.as_ref().map(|c| c.us_per_request),
        };
        println!("{}", pair.line(&a.name, &b.name));
        for result in &results {
            if result.error_count > 0 {
                println!(
                    "          {}: {} errors {:?}",
                    result.label, result.error_count, result.errors
                );
            }
        }
        pairs.push(pair);
        runs.extend(results);
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    let throughput: Vec<f64> = pairs.iter().map(|p| p.throughput_ratio).collect();
    let p99: Vec<f64> = pairs.iter().map(|p| p.p99_ratio).collect();
    let efficiency: Vec<f64> = pairs
        .iter()
        .filter_map(|p| Some(p.b_cpu_us? / p.a_cpu_us?))
        .collect();
    Ok(CompareReport {
        a: a.name.clone(),
        b: b.name.clone(),
        median_throughput_ratio: median(&throughput),
        median_p99_ratio: median(&p99),
        median_cpu_efficiency: (!efficiency.is_empty()).then(|| median(&efficiency)),
        pairs,
        runs,
    })
}
