//! A coarse clock for the request path: milliseconds since the epoch, advanced
//! by one background task, read with a relaxed atomic load. Freshness headers
//! and connection watchdogs need seconds, not a clock call per request.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static NOW_MS: AtomicU64 = AtomicU64::new(0);
static STARTED: OnceLock<()> = OnceLock::new();

/// How often the clock advances.
pub const RESOLUTION: Duration = Duration::from_millis(50);

fn precise_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts the updater once per process (needs a Tokio runtime).
pub fn start() {
    STARTED.get_or_init(|| {
        NOW_MS.store(precise_ms(), Ordering::Relaxed);
        std::thread::Builder::new()
            .name("flagedge-clock".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(RESOLUTION);
                    NOW_MS.store(precise_ms(), Ordering::Relaxed);
                }
            })
            .map(|_| ())
            .unwrap_or_else(
                |error| tracing::warn!(%error, "no coarse clock: using the system clock"),
            );
    });
}

/// Milliseconds since the epoch, to within [`RESOLUTION`].
pub fn now_ms() -> u64 {
    match NOW_MS.load(Ordering::Relaxed) {
        0 => precise_ms(),
        now => now,
    }
}
