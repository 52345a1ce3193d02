//! Rate limits per environment: a token bucket (governor's GCRA) per
//! environment, shared by its client and server keys, so a noisy tenant is
//! answered 429 with `Retry-After` while every other environment is served.
//! Off unless configured; reloadable (a changed quota starts a fresh bucket).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

/// A rate and the burst a quiet environment may spend at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests at once.
    pub burst: u32,
}

impl Rate {
    /// A rate with a burst of one second's worth (at least one request).
    pub fn new(per_second: f64, burst: Option<u32>) -> Result<Rate, String> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(format!(
                "a rate limit must be a positive number of requests per second, not {per_second}"
            ));
        }
        let burst = burst
            .unwrap_or(per_second.ceil().min(u32::MAX as f64) as u32)
            .max(1);
        Ok(Rate { per_second, burst })
    }

    fn quota(self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst)
    }
}

/// Which rate applies to which environment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateLimits {
    /// For every environment without an override; `None`: unlimited.
    pub default: Option<Rate>,
    /// By client-side key; `None`: unlimited.
    pub overrides: HashMap<String, Option<Rate>>,
}

impl RateLimits {
    /// Parses `CLIENT_KEY=RATE[/BURST]` or `CLIENT_KEY=off`.
    pub fn add_override(&mut self, text: &str) -> Result<(), String> {
        let (key, rate) = text.split_once('=').ok_or_else(|| {
            format!("expected CLIENT_KEY=RATE[/BURST] or CLIENT_KEY=off, got {text:?}")
        })?;
        let rate = rate.trim();
        let parsed = if rate.eq_ignore_ascii_case("off") {
            None
        } else {
            let (per_second, burst) = match rate.split_once('/') {
                Some((r, b)) => (r, Some(b)),
                None => (rate, None),
            };
            let per_second: f64 = per_second
                .trim()
                .parse()
                .map_err(|_| format!("not a rate: {per_second:?}"))?;
            let burst = burst
                .map(|b| {
                    b.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("not a burst: {b:?}"))
                })
                .transpose()?;
            Some(Rate::new(per_second, burst)?)
        };
        self.overrides.insert(key.trim().to_string(), parsed);
        Ok(())
    }

    fn rate_for(&self, client_key: &str) -> Option<Rate> {
        match self.overrides.get(client_key) {
            Some(rate) => *rate,
            None => self.default,
        }
    }

    fn is_off(&self) -> bool {
        self.default.is_none() && self.overrides.values().all(Option::is_none)
    }
}

/// The buckets.
pub struct Limiter {
    /// Whether any limit applies: the one thing every request reads when none does.
    enabled: AtomicBool,
    limits: ArcSwap<RateLimits>,
    buckets: DashMap<String, (Rate, Arc<DefaultDirectRateLimiter>)>,
}

impl Limiter {
    /// Buckets for these limits.
    pub fn new(limits: RateLimits) -> Limiter {
        Limiter {
            enabled: AtomicBool::new(!limits.is_off()),
            limits: ArcSwap::from_pointee(limits),
            buckets: DashMap::new(),
        }
    }

    /// New limits (a config reload); environments whose rate changed start afresh.
    pub fn set(&self, limits: RateLimits) {
        self.buckets
            .retain(|key, (rate, _)| limits.rate_for(key) == Some(*rate));
        let enabled = !limits.is_off();
        self.limits.store(Arc::new(limits));
        self.enabled.store(enabled, Ordering::Release);
    }

    /// Takes one request from the environment's bucket; `Err(wait)` when empty.
    pub fn admit(&self, client_key: &str) -> Result<(), Duration> {
        if !self.enabled.load(Ordering::Acquire) {
            return Ok(());
        }
        let limits = self.limits.load();
        let Some(rate) = limits.rate_for(client_key) else {
            return Ok(());
        };
        let bucket = match self.buckets.get(client_key) {
            Some(entry) if entry.0 == rate => Arc::clone(&entry.1),
            _ => {
                let bucket = Arc::new(DefaultDirectRateLimiter::direct(rate.quota()));
                self.buckets
                    .insert(client_key.to_string(), (rate, Arc::clone(&bucket)));
                bucket
            }
        };
        bucket.check().map_err(|not_until| {
            metrics::counter!("flagedge_rate_limited_total", "environment" => client_key.to_string())
                .increment(1);
            not_until.wait_time_from(DefaultClock::default().now())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_noisy_environment_is_limited_alone() {
        let mut limits = RateLimits {
            default: Some(Rate::new(1.0, Some(2)).unwrap()),
            ..RateLimits::default()
        };
        limits.add_override("vip=off").unwrap();
        limits.add_override("slow = 0.5/1").unwrap();
        let limiter = Limiter::new(limits.clone());
        assert!(limiter.admit("noisy").is_ok());
        assert!(limiter.admit("noisy").is_ok());
        let wait = limiter.admit("noisy").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limiter.admit("quiet").is_ok(),
            "another environment is not starved"
        );
        for _ in 0..100 {
            assert!(limiter.admit("vip").is_ok());
        }
        assert!(limiter.admit("slow").is_ok());
        assert!(limiter.admit("slow").unwrap_err() > Duration::from_secs(1));
        limiter.set(RateLimits::default());
        assert!(limiter.admit("noisy").is_ok(), "reloaded: off");
        assert!(RateLimits::default().add_override("x").is_err());
        assert!(RateLimits::default().add_override("x=0").is_err());
    }
}
