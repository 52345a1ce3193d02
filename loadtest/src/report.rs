//! What a run reports: the JSON model and the terminal table.
//!
//! [`RunReport`] is the one result type: `run` prints it as a table and writes it
//! as JSON (`--json`) and as an SVG chart (`--svg`, see `svg.rs`); `compare`
//! holds one per run plus the ratios. Latencies are in milliseconds throughout.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::client::Protocol;
use crate::cpu::CpuUse;
use crate::stats::{Percentiles, Second};

/// The result of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The run's name in a compare (`a`, `b`, or given names).
    pub label: String,
    /// The scenario.
    pub scenario: String,
    /// The target URL.
    pub target: String,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Open loop: the arrival rate.
    pub rate: Option<f64>,
    /// HTTP version.
    pub protocol: Protocol,
    /// TCP connections.
    pub connections: usize,
    /// Streams per connection.
    pub streams: usize,
    /// Warm-up, excluded.
    pub warmup_secs: f64,
    /// The measured window.
    pub duration_secs: f64,
    /// Whether the run was stopped before its end.
    pub stopped_early: bool,
    /// Responses to requests started in the window.
    pub requests: u64,
    /// Responses per second.
    pub throughput: f64,
    /// Body bytes received.
    pub bytes_received: u64,
    /// Latency: open loop from the intended send time.
    pub latency: Percentiles,
    /// Open loop: from the actual send time (what the server took).
    pub service: Option<Percentiles>,
    /// Open loop: actual − intended send time (queueing and timer lateness).
    pub send_lag: Option<Percentiles>,
    /// Responses by status.
    pub statuses: BTreeMap<String, u64>,
    /// Errors: error statuses, and requests without a response by reason.
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub error_count: u64,
    /// Per call of the mix.
    pub calls: Vec<CallReport>,
    /// Per second, warm-up included.
    pub timeline: Vec<Second>,
    /// The target's CPU over the window (when its pid was given).
    pub target_cpu: Option<CpuUse>,
    /// The harness's own CPU over the window.
    pub harness_cpu: Option<CpuUse>,
}

/// One call of the mix.
#[derive(Clone, Debug, Serialize)]
pub struct CallReport {
    /// The call's kind.
    pub name: String,
    /// Responses.
    pub requests: u64,
    /// Responses per second.
    pub throughput: f64,
    /// Errors.
    pub errors: u64,
    /// Latency (two significant digits).
    pub latency: Percentiles,
}

pub use flagedge_chart::thousands;

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

impl RunReport {
    /// One line: what was run.
    pub fn headline(&self) -> String {
        let mode = match self.rate {
            Some(rate) => format!("open loop at {} req/s", thousands(rate.round() as u64)),
            None => "closed loop".to_string(),
        };
        let streams = if self.streams > 1 {
            format!(" × {} streams", self.streams)
        } else {
            String::new()
        };
        format!(
            "{} → {}  {mode}, {} connections{streams}, {}, {:.0} s (+{:.0} s warm-up){}",
            self.scenario,
            self.target,
            self.connections,
            self.protocol.label(),
            self.duration_secs,
            self.warmup_secs,
            if self.stopped_early {
                ", stopped early"
            } else {
                ""
            }
        )
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.headline());
        let _ = writeln!(
            out,
            "  requests   {}   {:.1} req/s   {:.1} MB received",
            thousands(self.requests),
            self.throughput,
            self.bytes_received as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "  {:<30} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "p50", "p90", "p99", "p99.9", "max", "mean"
        );
        let mut row = |name: &str, p: &Percentiles| {
            let _ = writeln!(
                out,
                "  {name:<30} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                ms(p.p50_ms),
                ms(p.p90_ms),
                ms(p.p99_ms),
                ms(p.p999_ms),
                ms(p.max_ms),
                ms(p.mean_ms)
            );
        };
        row(
            if self.rate.is_some() {
                "from intended send"
            } else {
                "all"
            },
            &self.latency,
        );
        if let Some(service) = &self.service {
            row("from actual send", service);
        }
        if let Some(lag) = &self.send_lag {
            row("send lag", lag);
        }
        if self.calls.len() > 1 {
            for call in &self.calls {
                row(
                    &format!("{} ({:.0}/s)", call.name, call.throughput),
                    &call.latency,
                );
            }
        }
        for (who, cpu) in [("target", &self.target_cpu), ("harness", &self.harness_cpu)] {
            if let Some(cpu) = cpu {
                let _ = writeln!(
                    out,
                    "  cpu        {who} (pid {}): {:.2} cores, {:.2} µs per request",
                    cpu.pid, cpu.cores, cpu.us_per_request
                );
            }
        }
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {}", thousands(*n)))
            .collect();
        let _ = writeln!(out, "  statuses   {}", statuses.join(", "));
        if self.errors.is_empty() {
            let _ = writeln!(out, "  errors     none");
        } else {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(s, n)| format!("{s}: {}", thousands(*n)))
                .collect();
            let _ = writeln!(
                out,
                "  errors     {} ({})",
                thousands(self.error_count),
                errors.join(", ")
            );
        }
        out
    }
}

/// One A/B pair of a compare.
#[derive(Clone, Debug, Serialize)]
pub struct Pair {
    /// Round number, from 1.
    pub round: usize,
    /// A's throughput.
    pub a_throughput: f64,
    /// B's throughput.
    pub b_throughput: f64,
    /// A / B throughput.
    pub throughput_ratio: f64,
    /// A's p99.
    pub a_p99_ms: f64,
    /// B's p99.
    pub b_p99_ms: f64,
    /// A / B p99.
    pub p99_ratio: f64,
    /// A's CPU µs per request, when its pid was given.
    pub a_cpu_us: Option<f64>,
    /// B's CPU µs per request, when its pid was given.
    pub b_cpu_us: Option<f64>,
}

/// A compare: every run, the pairs, and the medians.
#[derive(Clone, Debug, Serialize)]
pub struct CompareReport {
    /// A's name.
    pub a: String,
    /// B's name.
    pub b: String,
    /// Per round.
    pub pairs: Vec<Pair>,
    /// Median of the throughput ratios.
    pub median_throughput_ratio: f64,
    /// Median of the p99 ratios.
    pub median_p99_ratio: f64,
    /// Median of B's CPU per request over A's (an efficiency ratio that the
    /// harness's own cost does not bend), when both pids were given.
    pub median_cpu_efficiency: Option<f64>,
    /// Every run, in order A B A B …
    pub runs: Vec<RunReport>,
}

/// The median (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

impl Pair {
    /// The pair line printed as a compare goes.
    pub fn line(&self, a: &str, b: &str) -> String {
        let mut line = format!(
            "round {:>2}  {a} {:>10.0} req/s  {b} {:>10.0} req/s  ratio {:.3}   p99 {a} {} ms  {b} {} ms",
            self.round,
            self.a_throughput,
            self.b_throughput,
            self.throughput_ratio,
            ms(self.a_p99_ms),
            ms(self.b_p99_ms),
        );
        if let (Some(a_cpu), Some(b_cpu)) = (self.a_cpu_us, self.b_cpu_us) {
            let _ = write!(
                line,
                "   cpu/request {a} {a_cpu:.2} µs  {b} {b_cpu:.2} µs  ({b}/{a} {:.3})",
                b_cpu / a_cpu
            );
        }
        line
    }
}

impl CompareReport {
    /// The closing summary.
    pub fn summary(&self) -> String {
        let ratios: Vec<String> = self
            .pairs
            .iter()
            .map(|p| format!("{:.3}", p.throughput_ratio))
            .collect();
        let mut summary = format!(
            "{} / {} throughput ratio per round: {}\nmedian throughput ratio {:.3}   median p99 ratio {:.3}",
            self.a,
            self.b,
            ratios.join(", "),
            self.median_throughput_ratio,
            self.median_p99_ratio
        );
        if let Some(efficiency) = self.median_cpu_efficiency {
            let _ = write!(
                summary,
                "   median CPU-per-request ratio {}/{} {efficiency:.3}",
                self.b, self.a
            );
        }
        summary
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(ms(0.5), "0.500");
        assert_eq!(ms(1234.5), "1234.5");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    pub(crate) fn sample() -> RunReport {
        let p = |x: f64| Percentiles {
            count: 100,
            mean_ms: x,
            p50_ms: x,
            p90_ms: x * 1.5,
            p99_ms: x * 2.0,
            p999_ms: x * 3.0,
            max_ms: x * 4.0,
        };
        RunReport {
            label: "edge".into(),
            scenario: "flags <&>".into(),
            target: "http://127.0.0.1:1".into(),
            mode: "closed",
            rate: None,
            protocol: Protocol::Http1,
            connections: 8,
            streams: 1,
            warmup_secs: 1.0,
            duration_secs: 3.0,
            stopped_early: false,
            requests: 3000,
            throughput: 1000.0,
            bytes_received: 10,
            latency: p(0.4),
            service: None,
            send_lag: None,
            statuses: [("200".to_string(), 2999), ("403".to_string(), 1)].into(),
            errors: [("403".to_string(), 1)].into(),
            error_count: 1,
            calls: vec![],
            timeline: (0..4)
                .map(|i| Second {
                    second: i,
                    warmup: i == 0,
                    requests: 1000 + i * 10,
                    errors: u64::from(i == 2),
                    p50_ms: 0.3 + i as f64 * 0.01,
                    p90_ms: 0.5,
                    p99_ms: 0.9,
                    p999_ms: 2.0,
                    max_ms: 5.0,
                })
                .collect(),
            target_cpu: None,
            harness_cpu: None,
        }
    }

    #[test]
    fn table_shows_percentiles_and_errors() {
        let table = sample().table();
        assert!(
            table.contains("closed loop, 8 connections, HTTP/1.1"),
            "{table}"
        );
        assert!(table.contains("p99.9"), "{table}");
        assert!(table.contains("0.800"), "p99 missing: {table}");
        assert!(table.contains("errors     1 (403: 1)"), "{table}");
        assert!(table.contains("3,000"), "{table}");
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["latency"]["p99_ms"], 0.8);
        assert_eq!(json["protocol"], "http/1.1");
        assert_eq!(json["timeline"].as_array().unwrap().len(), 4);
    }
}
