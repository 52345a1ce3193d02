//! # flagedge-loadtest
//!
//! The load harness: it sizes a fleet for users and proves (and guards) the
//! edge's performance for us. One binary, six commands:
//!
//! - `run` — a scenario against a target, closed or open loop, HTTP/1.1 or h2c;
//!   a live progress line, a table, `--json`, `--svg`;
//! - `compare` — the same scenario against two targets, A B A B …, with the
//!   per-pair ratio and the median ratio;
//! - `ceiling` — a bare hyper server returning fixed bytes: the reference;
//! - `generate` — synthetic environment documents for `--documents-dir`;
//! - `propagation` — admin-API changes timed until each edge serves them;
//! - `delay` — a TCP relay adding latency each way (simulated regions).
//!
//! Where to read, one idea per file: `scenario` (the TOML model) → `workload`
//! (requests from it; `zipf` for identity skew) → `run` (workers, pacer,
//! warm-up; `schedule` for open-loop maths; `client` and `h1` for connections) → `stats`
//! (HDR histograms) → `report` (table, JSON) and `svg`. `compare`, `ceiling`,
//! `generate` and `rewrite` (documents swapped during a run) are one file each.

pub mod ceiling;
pub mod client;
pub mod compare;
pub mod cpu;
pub mod delay;
pub mod exchange;
pub mod generate;
pub mod h1;
pub mod propagation;
pub mod report;
pub mod rewrite;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod stats;
pub mod svg;
pub mod workload;
pub mod zipf;
