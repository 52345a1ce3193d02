//! A load run: workers, the open-loop pacer, warm-up, a bounded end.
//!
//! Closed loop: `connections × streams` workers each send the next request as
//! soon as the previous one is answered, until the deadline. Open loop: a pacer
//! thread releases request slots at the arrival rate (see `schedule.rs`) into a
//! semaphore; workers take slots in order and send them; a slot that finds no
//! free worker waits, and its wait counts in its latency. The pacer is an OS
//! thread sleeping with the kernel's high-resolution timer rather than a tokio
//! timer, whose millisecond granularity would add up to a millisecond of lag to
//! sub-millisecond latencies; it wakes at most once per `pacer_resolution`
//! (200 µs by default), because every wake is a context switch taken from the
//! CPU the target also needs.
//!
//! Every run ends by itself: no request starts after `warmup + duration`; those
//! in flight get `timeout` to finish; open-loop slots still queued after that
//! grace are counted as `unsent` errors, never silently dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::client::{Protocol, Sender, Target, connect};
use crate::cpu::{self, CpuUse};
use crate::report::{CallReport, RunReport};
use crate::schedule::{Schedule, Timing};
use crate::stats::{Percentiles, Recorder, Timeline};
use crate::workload::Workload;

/// Closed or open loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// As fast as the connections allow.
    Closed,
    /// A constant arrival rate, requests per second.
    Open {
        /// Requests per second.
        rate: f64,
    },
}

/// The shape of a run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Closed or open loop.
    pub mode: Mode,
    /// TCP connections.
    pub connections: usize,
    /// HTTP/2: concurrent streams per connection (HTTP/1.1: 1).
    pub streams: usize,
    /// HTTP version.
    pub protocol: Protocol,
    /// Measured time.
    pub duration: Duration,
    /// Time before it, run but not measured.
    pub warmup: Duration,
    /// Longest a request may take (and the drain grace after the deadline).
    pub timeout: Duration,
    /// Print a live progress line on stderr.
    pub progress: bool,
    /// A name for this run in reports (e.g. the target's role in a compare).
    pub label: String,
    /// The target's process, to report its CPU time per request (same machine only).
    pub target_pid: Option<u32>,
    /// Open loop: the pacer wakes at most this often (each wake is a cross-thread
    /// wake-up and a context switch; the lateness it adds shows as send lag).
    pub pacer_resolution: Duration,
}

struct Shared {
    start: Instant,
    warmup: Duration,
    deadline: Duration,
    hard_stop: Duration,
    timeline: Timeline,
    stop: Arc<AtomicBool>,
    open: Option<OpenLoop>,
}

struct OpenLoop {
    schedule: Schedule,
    permits: Semaphore,
    next_slot: AtomicU64,
    final_slots: AtomicU64,
}

/// Runs `workload` against `target`. `stop` ends the run early (Ctrl-C).
pub async fn run(
    target: &Target,
    workload: Arc<Workload>,
    options: &LoadOptions,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<RunReport> {
    let connections = options.connections.max(1);
    let streams = match options.protocol {
        Protocol::Http1 => 1,
        Protocol::Http2 => options.streams.max(1),
    };
    let workers = connections * streams;
    // Connect first, so the clock starts with the connections ready; a target
    // that refuses the first one is not worth a run.
    let mut senders: Vec<Option<Sender>> = Vec::with_capacity(connections);
    for i in 0..connections {
        match connect(target, options.protocol).await {
            Ok(sender) => senders.push(Some(sender)),
            Err(failure) if i == 0 => {
                anyhow::bail!("cannot reach {} ({})", target.url, failure.0)
            }
            Err(_) => break,
        }
    }
    let deadline = options.warmup + options.duration;
    let open = match options.mode {
        Mode::Closed => None,
        Mode::Open { rate } => Some(OpenLoop {
            schedule: Schedule::new(rate, deadline).map_err(anyhow::Error::msg)?,
            permits: Semaphore::new(0),
            next_slot: AtomicU64::new(0),
            final_slots: AtomicU64::new(u64::MAX),
        }),
    };
    let shared = Arc::new(Shared {
        start: Instant::now(),
        warmup: options.warmup,
        deadline,
        hard_stop: deadline + options.timeout,
        timeline: Timeline::new(deadline.as_secs_f64().ceil() as usize),
        stop,
        open,
    });
    let resolution = options.pacer_resolution;
    let pacer = shared.open.as_ref().map(|_| {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("pacer".into())
            .spawn(move || pace(&shared, workers, resolution))
    });
    let pacer = pacer.transpose()?;
    // CPU time of the target and of the harness over the measured window.
    let cpu = tokio::spawn(cpu_window(
        Arc::clone(&shared),
        options.warmup,
        options.target_pid,
    ));
    let progress = options
        .progress
        .then(|| tokio::spawn(progress_line(Arc::clone(&shared), options.label.clone())));

    let calls = workload.call_names().len();
    let mut tasks = Vec::with_capacity(workers);
    for index in 0..workers {
        // HTTP/2 workers share their connection as streams; HTTP/1.1 workers own one.
        let sender = senders.get_mut(index % connections).and_then(|slot| {
            slot.as_ref()
                .and_then(Sender::share)
                .or_else(|| slot.take())
        });
        let worker = Worker {
            index,
            shared: Arc::clone(&shared),
            workload: Arc::clone(&workload),
            target: target.clone(),
            protocol: options.protocol,
            timeout: options.timeout,
            recorder: Recorder::new(calls, options.warmup, deadline, shared.open.is_some()),
        };
        tasks.push(tokio::spawn(worker.run(sender)));
    }
    drop(senders);
    let mut total = Recorder::new(calls, options.warmup, deadline, shared.open.is_some());
    for task in tasks {
        let recorder = task.await?;
        total.merge(&recorder);
    }
    let ended = shared.start.elapsed();
    if let Some(pacer) = pacer {
        let _ = pacer.join();
    }
    if let Some(progress) = progress {
        progress.abort();
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\r\x1b[2K");
        }
    }
    let stopped_early = shared.stop.load(Ordering::Relaxed);
    let cpu = if stopped_early {
        cpu.abort();
        None
    } else {
        cpu.await.ok()
    };
    // The measured window: from the end of warm-up to the deadline, or to the
    // moment a stop was asked for.
    let measured = if stopped_early {
        ended.min(deadline).saturating_sub(options.warmup)
    } else {
        options.duration
    };
    let mut report = report(
        target,
        &workload,
        options,
        &shared,
        &total,
        measured,
        stopped_early,
    );
    if let Some(samples) = cpu {
        let wall = measured.as_secs_f64();
        let cpu_use = |(pid, before, after): (u32, f64, f64)| {
            CpuUse::between(pid, before, after, wall, report.requests)
        };
        report.target_cpu = samples.target.map(cpu_use);
        report.harness_cpu = samples.harness.map(cpu_use);
    }
    Ok(report)
}

struct CpuSamples {
    target: Option<(u32, f64, f64)>,
    harness: Option<(u32, f64, f64)>,
}

/// Samples CPU seconds at the end of warm-up and at the deadline.
async fn cpu_window(shared: Arc<Shared>, warmup: Duration, target: Option<u32>) -> CpuSamples {
    let harness = std::process::id();
    let sample = |pid: Option<u32>| pid.and_then(|p| cpu::seconds(p).map(|s| (p, s)));
    tokio::time::sleep_until((shared.start + warmup).into()).await;
    let (target_before, harness_before) = (sample(target), sample(Some(harness)));
    tokio::time::sleep_until((shared.start + shared.deadline).into()).await;
    let (target_after, harness_after) = (sample(target), sample(Some(harness)));
    let pair = |a: Option<(u32, f64)>, b: Option<(u32, f64)>| match (a, b) {
        (Some((pid, a)), Some((_, b))) => Some((pid, a, b)),
        _ => None,
    };
    CpuSamples {
        target: pair(target_before, target_after),
        harness: pair(harness_before, harness_after),
    }
}

fn report(
    target: &Target,
    workload: &Workload,
    options: &LoadOptions,
    shared: &Shared,
    total: &Recorder,
    measured: Duration,
    stopped_early: bool,
) -> RunReport {
    let seconds = measured.as_secs_f64().max(1e-9);
    let responses = total.responses();
    let errors = total.errors_by_kind();
    let open = matches!(options.mode, Mode::Open { .. });
    RunReport {
        label: options.label.clone(),
        scenario: workload.name.clone(),
        target: target.url.clone(),
        mode: if open { "open" } else { "closed" },
        rate: match options.mode {
            Mode::Open { rate } => Some(rate),
            Mode::Closed => None,
        },
        protocol: options.protocol,
        connections: options.connections,
        streams: match options.protocol {
            Protocol::Http1 => 1,
            Protocol::Http2 => options.streams.max(1),
        },
        warmup_secs: options.warmup.as_secs_f64(),
        duration_secs: measured.as_secs_f64(),
        stopped_early,
        requests: responses,
        throughput: responses as f64 / seconds,
        bytes_received: total.bytes,
        latency: Percentiles::of(&total.latency),
        service: open.then(|| Percentiles::of(&total.service)),
        send_lag: open.then(|| Percentiles::of(&total.lag)),
        statuses: total
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect(),
        error_count: errors.values().sum(),
        errors,
        calls: workload
            .call_names()
            .into_iter()
            .zip(&total.calls)
            .map(|(name, stats)| CallReport {
                name: name.to_string(),
                requests: stats.requests,
                throughput: stats.requests as f64 / seconds,
                errors: stats.errors,
                latency: Percentiles::of(&stats.latency),
            })
            .collect(),
        timeline: shared.timeline.seconds(options.warmup),
        target_cpu: None,
        harness_cpu: None,
    }
}

struct Worker {
    index: usize,
    shared: Arc<Shared>,
    workload: Arc<Workload>,
    target: Target,
    protocol: Protocol,
    timeout: Duration,
    recorder: Recorder,
}

impl Worker {
    async fn run(mut self, mut sender: Option<Sender>) -> Recorder {
        let shared = Arc::clone(&self.shared);
        let mut state = self.workload.worker(self.index);
        loop {
            // When this request is meant to start, measured from the run's start.
            let intended = match &shared.open {
                None => {
                    let now = shared.start.elapsed();
                    if now >= shared.deadline || shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    now
                }
                Some(open) => {
                    match open.permits.acquire().await {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    }
                    let slot = open.next_slot.fetch_add(1, Ordering::Relaxed);
                    if slot >= open.final_slots.load(Ordering::Acquire) {
                        break;
                    }
                    if shared.start.elapsed() >= shared.hard_stop
                        || shared.stop.load(Ordering::Relaxed)
                    {
                        self.recorder.unsent += 1;
                        continue;
                    }
                    open.schedule.intended(slot)
                }
            };
            let connection = match &mut sender {
                Some(connection) => connection,
                None => match connect(&self.target, self.protocol).await {
                    Ok(connection) => sender.insert(connection),
                    Err(failure) => {
                        self.recorder
                            .failure(&shared.timeline, None, intended, failure.0);
                        if shared.open.is_none() {
                            // Do not spin on a refused connection in a closed loop.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        continue;
                    }
                },
            };
            let prepared = self.workload.next(&mut state);
            let sent = shared.start.elapsed();
            let result =
                tokio::time::timeout(self.timeout, connection.send(&self.target, &prepared)).await;
            let done = shared.start.elapsed();
            match result {
                Ok(Ok(outcome)) => {
                    if connection.is_closed() {
                        sender = None;
                    }
                    if let Some(etag) = outcome.etag {
                        self.workload.observe_etag(&mut state, &prepared, etag);
                    }
                    self.recorder.response(
                        &shared.timeline,
                        prepared.call,
                        intended,
                        Timing::new(intended, sent, done),
                        outcome.status,
                        outcome.bytes,
                    );
                }
                Ok(Err(failure)) => {
                    self.recorder.failure(
                        &shared.timeline,
                        Some(prepared.call),
                        intended,
                        failure.0,
                    );
                    sender = None;
                }
                Err(_) => {
                    self.recorder.failure(
                        &shared.timeline,
                        Some(prepared.call),
                        intended,
                        "timeout",
                    );
                    sender = None;
                }
            }
        }
        self.recorder.finish(&shared.timeline);
        self.recorder
    }
}

/// The open-loop pacer: releases slots as they fall due, then one extra permit
/// per worker past the last slot, which tells each worker to stop.
fn pace(shared: &Shared, workers: usize, resolution: Duration) {
    let Some(open) = &shared.open else { return };
    let total = open.schedule.total();
    let mut released = 0u64;
    while released < total && !shared.stop.load(Ordering::Relaxed) {
        let due = open.schedule.due_by(shared.start.elapsed());
        if due > released {
            open.permits.add_permits((due - released) as usize);
            released = due;
        }
        if released >= total {
            break;
        }
        let next = open.schedule.intended(released);
        let now = shared.start.elapsed();
        if next > now {
            std::thread::sleep((next - now).max(resolution));
        }
    }
    open.final_slots.store(released, Ordering::Release);
    open.permits.add_permits(workers);
}

/// Once a second: requests per second, the last full second's p99, errors.
async fn progress_line(shared: Arc<Shared>, label: String) {
    use std::io::Write as _;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut previous = 0u64;
    loop {
        tick.tick().await;
        let elapsed = shared.start.elapsed();
        let completed = shared.timeline.completed.load(Ordering::Relaxed);
        let errors = shared.timeline.errors.load(Ordering::Relaxed);
        let last = (elapsed.as_secs() as usize).saturating_sub(1);
        let (_, _, p99) = shared.timeline.second(last);
        let phase = if elapsed < shared.warmup {
            "warm-up "
        } else if elapsed < shared.deadline {
            "measure "
        } else {
            "draining"
        };
        let line = format!(
            "{label}{}{:>5.1}s / {:.0}s  {phase}  {:>9.0} req/s  p99 {:.3} ms  errors {errors}",
            if label.is_empty() { "" } else { "  " },
            elapsed.as_secs_f64(),
            shared.deadline.as_secs_f64(),
            (completed - previous) as f64,
            p99,
        );
        previous = completed;
        let mut stderr = std::io::stderr().lock();
        if tty {
            let _ = write!(stderr, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
        let _ = stderr.flush();
    }
}
