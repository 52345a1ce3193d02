//! Recording what happened: HDR histograms of latency, statuses and errors, per
//! call and per second.
//!
//! Each worker records into its own [`Recorder`] (no sharing on the request
//! path); the recorders are merged when the run ends. Requests are attributed to
//! the second in which they were *started* (open loop: intended), which keeps
//! warm-up exclusion exact: a request is measured when it started inside the
//! measurement window, whenever it finished. The per-second timeline is shared:
//! a worker adds its second's histogram to it once, when it moves on to the next
//! second, so the lock is taken about once per worker per second.
//!
//! Latencies are recorded in microseconds with three significant digits (0.1 %),
//! up to one hour.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use http::StatusCode;
use serde::Serialize;

use crate::schedule::Timing;

const HIGHEST_US: u64 = 3_600_000_000;

/// A latency histogram: 1 µs to an hour, `digits` significant digits (1–5).
pub fn histogram(digits: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, digits.clamp(1, 5)).expect("valid bounds")
}

fn record(histogram: &mut Histogram<u64>, duration: Duration) {
    let us = (duration.as_micros() as u64).clamp(1, HIGHEST_US);
    let _ = histogram.record(us);
}

/// Whether a status counts as success: 2xx, and 304 for conditional requests.
pub fn is_success(status: StatusCode) -> bool {
    status.is_success() || status == StatusCode::NOT_MODIFIED
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Recorded values.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    /// From a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: histogram.len(),
            mean_ms: histogram.mean() / 1000.0,
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// One second of a run.
pub struct Bucket {
    /// Responses.
    pub requests: u64,
    /// Failed requests (error statuses and no response).
    pub errors: u64,
    /// Latency of responses.
    pub latency: Histogram<u64>,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            requests: 0,
            errors: 0,
            latency: histogram(2),
        }
    }

    fn add(&mut self, other: &Bucket) {
        self.requests += other.requests;
        self.errors += other.errors;
        let _ = self.latency.add(&other.latency);
    }

    fn reset(&mut self) {
        self.requests = 0;
        self.errors = 0;
        self.latency.reset();
    }
}

/// The shared per-second timeline, and live counters for the progress line.
pub struct Timeline {
    seconds: Vec<Mutex<Bucket>>,
    /// Responses so far (all seconds).
    pub completed: AtomicU64,
    /// Errors so far.
    pub errors: AtomicU64,
}

impl Timeline {
    /// A timeline of `seconds` buckets (later starts go into the last one).
    pub fn new(seconds: usize) -> Timeline {
        Timeline {
            seconds: (0..seconds.max(1))
                .map(|_| Mutex::new(Bucket::new()))
                .collect(),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    fn index(&self, started: Duration) -> usize {
        (started.as_secs() as usize).min(self.seconds.len() - 1)
    }

    fn add(&self, index: usize, bucket: &Bucket) {
        if bucket.requests + bucket.errors == 0 {
            return;
        }
        self.seconds[index]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(bucket);
    }

    /// Responses, errors and p99 (ms) of one second, as recorded so far.
    pub fn second(&self, index: usize) -> (u64, u64, f64) {
        let bucket = self.seconds[index.min(self.seconds.len() - 1)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let p99 = if bucket.latency.is_empty() {
            0.0
        } else {
            bucket.latency.value_at_quantile(0.99) as f64 / 1000.0
        };
        (bucket.requests, bucket.errors, p99)
    }

    /// The finished timeline.
    pub fn seconds(&self, warmup: Duration) -> Vec<Second> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, bucket)| {
                let bucket = bucket.lock().unwrap_or_else(|p| p.into_inner());
                let p = Percentiles::of(&bucket.latency);
                Second {
                    second: i as u64,
                    warmup: Duration::from_secs(i as u64 + 1) <= warmup,
                    requests: bucket.requests,
                    errors: bucket.errors,
                    p50_ms: p.p50_ms,
                    p90_ms: p.p90_ms,
                    p99_ms: p.p99_ms,
                    p999_ms: p.p999_ms,
                    max_ms: p.max_ms,
                }
            })
            .collect()
    }
}

/// One second of the timeline, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct Second {
    /// Seconds from the start (warm-up included).
    pub second: u64,
    /// Whether this second lies wholly in the warm-up.
    pub warmup: bool,
    /// Responses to requests started in this second.
    pub requests: u64,
    /// Errors among requests started in this second.
    pub errors: u64,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// Per-call totals.
pub struct CallStats {
    /// Responses.
    pub requests: u64,
    /// Errors.
    pub errors: u64,
    /// Latency (two significant digits: per-call figures are for comparison).
    pub latency: Histogram<u64>,
}

/// A worker's record of the measured window.
pub struct Recorder {
    window: (Duration, Duration),
    open_loop: bool,
    /// Latency of measured responses.
    pub latency: Histogram<u64>,
    /// Open loop: response − actual send.
    pub service: Histogram<u64>,
    /// Open loop: actual send − intended send.
    pub lag: Histogram<u64>,
    /// Per call of the mix.
    pub calls: Vec<CallStats>,
    /// Responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests without a response, by reason.
    pub failures: BTreeMap<&'static str, u64>,
    /// Body bytes received.
    pub bytes: u64,
    /// Open loop: slots due that were never sent (the run ended first).
    pub unsent: u64,
    current_index: usize,
    current: Bucket,
}

impl Recorder {
    /// A recorder measuring requests started in `[warmup, end)`.
    pub fn new(calls: usize, warmup: Duration, end: Duration, open_loop: bool) -> Recorder {
        Recorder {
            window: (warmup, end),
            open_loop,
            latency: histogram(3),
            service: histogram(if open_loop { 3 } else { 1 }),
            lag: histogram(if open_loop { 3 } else { 1 }),
            calls: (0..calls)
                .map(|_| CallStats {
                    requests: 0,
                    errors: 0,
                    latency: histogram(2),
                })
                .collect(),
            statuses: BTreeMap::new(),
            failures: BTreeMap::new(),
            bytes: 0,
            unsent: 0,
            current_index: 0,
            current: Bucket::new(),
        }
    }

    fn measured(&self, started: Duration) -> bool {
        started >= self.window.0 && started < self.window.1
    }

    fn bucket(&mut self, timeline: &Timeline, started: Duration) -> &mut Bucket {
        let index = timeline.index(started);
        if index != self.current_index {
            timeline.add(self.current_index, &self.current);
            self.current.reset();
            self.current_index = index;
        }
        &mut self.current
    }

    /// A response to a request of call `call`; `timing.latency` is what counts.
    pub fn response(
        &mut self,
        timeline: &Timeline,
        call: usize,
        started: Duration,
        timing: Timing,
        status: StatusCode,
        bytes: u64,
    ) {
        let failed = !is_success(status);
        timeline.completed.fetch_add(1, Ordering::Relaxed);
        if failed {
            timeline.errors.fetch_add(1, Ordering::Relaxed);
        }
        let bucket = self.bucket(timeline, started);
        bucket.requests += 1;
        bucket.errors += u64::from(failed);
        record(&mut bucket.latency, timing.latency);
        if !self.measured(started) {
            return;
        }
        record(&mut self.latency, timing.latency);
        if self.open_loop {
            record(&mut self.service, timing.service);
            record(&mut self.lag, timing.lag);
        }
        let stats = &mut self.calls[call];
        stats.requests += 1;
        stats.errors += u64::from(failed);
        record(&mut stats.latency, timing.latency);
        *self.statuses.entry(status.as_u16()).or_default() += 1;
        self.bytes += bytes;
    }

    /// A request that got no response.
    pub fn failure(
        &mut self,
        timeline: &Timeline,
        call: Option<usize>,
        started: Duration,
        reason: &'static str,
    ) {
        timeline.errors.fetch_add(1, Ordering::Relaxed);
        self.bucket(timeline, started).errors += 1;
        if !self.measured(started) {
            return;
        }
        if let Some(call) = call {
            self.calls[call].errors += 1;
        }
        *self.failures.entry(reason).or_default() += 1;
    }

    /// Hands the last second to the timeline.
    pub fn finish(&mut self, timeline: &Timeline) {
        timeline.add(self.current_index, &self.current);
        self.current.reset();
    }

    /// Adds another worker's record.
    pub fn merge(&mut self, other: &Recorder) {
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.lag.add(&other.lag);
        for (mine, theirs) in self.calls.iter_mut().zip(&other.calls) {
            mine.requests += theirs.requests;
            mine.errors += theirs.errors;
            let _ = mine.latency.add(&theirs.latency);
        }
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (reason, n) in &other.failures {
            *self.failures.entry(reason).or_default() += n;
        }
        self.bytes += other.bytes;
        self.unsent += other.unsent;
    }

    /// Responses in the window.
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Errors in the window: error statuses and requests without a response.
    pub fn errors_by_kind(&self) -> BTreeMap<String, u64> {
        let mut errors: BTreeMap<String, u64> = self
            .statuses
            .iter()
            .filter(|(status, _)| !StatusCode::from_u16(**status).is_ok_and(is_success))
            .map(|(status, n)| (status.to_string(), *n))
            .collect();
        for (reason, n) in &self.failures {
            errors.insert((*reason).to_string(), *n);
        }
        if self.unsent > 0 {
            errors.insert("unsent".into(), self.unsent);
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = histogram(3);
        for us in 1..=10_000u64 {
            h.record(us).unwrap();
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 10_000);
        assert!((p.p50_ms - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.p90_ms - 9.0).abs() < 0.01, "{p:?}");
        assert!((p.p99_ms - 9.9).abs() < 0.01, "{p:?}");
        assert!((p.p999_ms - 9.99).abs() < 0.01, "{p:?}");
        assert!((p.max_ms - 10.0).abs() < 0.01, "{p:?}");
        assert!((p.mean_ms - 5.0).abs() < 0.01, "{p:?}");
        assert_eq!(Percentiles::of(&histogram(3)), Percentiles::default());
    }

    #[test]
    fn warmup_is_excluded_but_kept_in_the_timeline() {
        let timeline = Timeline::new(4);
        let mut recorder = Recorder::new(1, ms(1000), ms(3000), false);
        let ok = StatusCode::OK;
        let t = |latency| Timing::new(Duration::ZERO, Duration::ZERO, latency);
        recorder.response(&timeline, 0, ms(500), t(ms(100)), ok, 10); // warm-up
        recorder.response(&timeline, 0, ms(1500), t(ms(1)), ok, 10);
        recorder.response(&timeline, 0, ms(2500), t(ms(2)), StatusCode::FORBIDDEN, 10);
        recorder.failure(&timeline, Some(0), ms(2600), "timeout");
        recorder.response(&timeline, 0, ms(3500), t(ms(3)), ok, 10); // after the window
        recorder.finish(&timeline);
        assert_eq!(recorder.responses(), 2);
        assert_eq!(recorder.latency.len(), 2);
        assert!(recorder.latency.max() < 2_100);
        assert_eq!(recorder.bytes, 20);
        let errors = recorder.errors_by_kind();
        assert_eq!(errors.get("403"), Some(&1));
        assert_eq!(errors.get("timeout"), Some(&1));
        assert_eq!(errors.len(), 2);
        assert_eq!(recorder.calls[0].requests, 2);
        assert_eq!(recorder.calls[0].errors, 2);
        let seconds = timeline.seconds(ms(1000));
        assert_eq!(seconds.len(), 4);
        assert!(seconds[0].warmup && !seconds[1].warmup);
        assert_eq!(seconds[0].requests, 1);
        assert!((seconds[0].p50_ms - 100.0).abs() < 1.0);
        assert_eq!((seconds[2].requests, seconds[2].errors), (1, 2));
        assert_eq!(seconds[3].requests, 1);
        assert_eq!(timeline.completed.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn merging_adds_up() {
        let timeline = Timeline::new(1);
        let mut a = Recorder::new(2, Duration::ZERO, ms(1000), true);
        let mut b = Recorder::new(2, Duration::ZERO, ms(1000), true);
        let timing = Timing::new(ms(10), ms(12), ms(13));
        a.response(&timeline, 0, ms(10), timing, StatusCode::OK, 1);
        b.response(&timeline, 1, ms(10), timing, StatusCode::NOT_MODIFIED, 1);
        b.unsent = 3;
        a.merge(&b);
        assert_eq!(a.responses(), 2);
        assert_eq!(a.calls[1].requests, 1);
        assert_eq!(a.lag.len(), 2);
        assert!((a.lag.max() as i64 - 2000).abs() < 5);
        assert!((a.service.max() as i64 - 1000).abs() < 5);
        assert_eq!(a.errors_by_kind().get("unsent"), Some(&3));
        assert_eq!(a.errors_by_kind().len(), 1, "304 is not an error");
    }
}
