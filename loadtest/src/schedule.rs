//! Open-loop scheduling: when each request was *meant* to be sent.
//!
//! At a constant arrival rate `r`, request slot `i` is due `i / r` seconds after
//! the start, whether or not the server has answered the previous ones. A load
//! generator that waits for a slow response before sending the next request
//! sends fewer requests exactly when the server is slow, and so never sees the
//! queue it would have built (coordinated omission). Here a pacer releases slots
//! as they fall due, workers take them in order, and latency is measured from the
//! slot's intended time: a request that waited for a free connection carries
//! that wait in its latency. The send lag (actual send time − intended time) is
//! reported separately, so the harness's own lateness is visible too.

use std::time::Duration;

/// A constant-rate schedule of `total` slots.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    rate: f64,
    total: u64,
}

impl Schedule {
    /// Slots at `rate` per second covering `horizon`.
    pub fn new(rate: f64, horizon: Duration) -> Result<Schedule, String> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("the arrival rate must be > 0, got {rate}"));
        }
        let total = (horizon.as_secs_f64() * rate).ceil() as u64;
        Ok(Schedule { rate, total })
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The number of slots.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// When slot `slot` is due, from the start.
    pub fn intended(&self, slot: u64) -> Duration {
        Duration::from_nanos((slot as f64 * 1e9 / self.rate) as u64)
    }

    /// How many slots are due `elapsed` after the start (those with
    /// `intended(slot) <= elapsed`), at most `total`.
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        // An estimate from the rate, then corrected against `intended` itself so
        // the two never disagree by a rounding.
        let mut n = (elapsed.as_secs_f64() * self.rate) as u64;
        while self.intended(n + 1) <= elapsed {
            n += 1;
        }
        while n > 0 && self.intended(n) > elapsed {
            n -= 1;
        }
        (n + 1).min(self.total)
    }
}

/// The latency of one open-loop request, and how late the harness sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Response complete − intended send time: what a user of the schedule saw.
    pub latency: Duration,
    /// Response complete − actual send time: what the server took.
    pub service: Duration,
    /// Actual send time − intended send time: queueing for a connection, and timer lateness.
    pub lag: Duration,
}

impl Timing {
    /// Times measured from the run's start.
    pub fn new(intended: Duration, sent: Duration, done: Duration) -> Timing {
        let sent = sent.max(intended);
        Timing {
            latency: done.saturating_sub(intended),
            service: done.saturating_sub(sent),
            lag: sent - intended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const US: Duration = Duration::from_micros(1);

    #[test]
    fn slots_fall_due_at_the_rate() {
        let schedule = Schedule::new(1000.0, Duration::from_secs(2)).unwrap();
        assert_eq!(schedule.total(), 2000);
        assert_eq!(schedule.intended(0), Duration::ZERO);
        assert_eq!(schedule.intended(1), MS);
        assert_eq!(schedule.intended(1000), Duration::from_secs(1));
        assert_eq!(schedule.due_by(Duration::ZERO), 1);
        assert_eq!(schedule.due_by(999 * US), 1);
        assert_eq!(schedule.due_by(MS), 2);
        assert_eq!(schedule.due_by(Duration::from_millis(1500)), 1501);
        assert_eq!(schedule.due_by(Duration::from_secs(60)), 2000);
    }

    #[test]
    fn due_by_agrees_with_intended_at_awkward_rates() {
        for rate in [3.0, 7.0, 333.3, 12_345.678, 99_999.0] {
            let schedule = Schedule::new(rate, Duration::from_secs(3)).unwrap();
            for slot in (0..schedule.total()).step_by(97) {
                let at = schedule.intended(slot);
                assert!(schedule.due_by(at) > slot, "rate {rate} slot {slot}");
                if slot > 0 {
                    assert!(schedule.due_by(at - Duration::from_nanos(1)) <= slot);
                }
            }
        }
    }

    #[test]
    fn latency_counts_from_the_intended_time() {
        // Due at 10 ms; every connection was busy until 15 ms; the answer came at 16 ms.
        let timing = Timing::new(10 * MS, 15 * MS, 16 * MS);
        assert_eq!(timing.latency, 6 * MS);
        assert_eq!(timing.service, MS);
        assert_eq!(timing.lag, 5 * MS);
        // Sent on time: latency and service agree.
        let on_time = Timing::new(10 * MS, 10 * MS, 10 * MS + 300 * US);
        assert_eq!(on_time.latency, 300 * US);
        assert_eq!(on_time.lag, Duration::ZERO);
    }

    #[test]
    fn rejects_a_zero_rate() {
        assert!(Schedule::new(0.0, Duration::from_secs(1)).is_err());
        assert!(Schedule::new(f64::INFINITY, Duration::from_secs(1)).is_err());
    }
}
