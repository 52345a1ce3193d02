//! CPU time of a process, from `/proc/<pid>/stat` (Linux).
//!
//! On a small machine the load generator and the server share the cores, so a
//! throughput ratio is bent by what the generator itself costs. The server's CPU
//! time per request is a second, cleaner measure of its efficiency: a run given
//! the server's pid (`--pid`) reports it, together with the harness's own.

use serde::Serialize;

/// User + system CPU seconds of `pid` so far; `None` where there is no procfs.
pub fn seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields follow the last ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // Fields 14 and 15 (utime, stime), counted from 1 with pid and comm as 1 and 2.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second())
}

fn ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture the project builds for.
    100.0
}

/// A process's CPU use over a measured window.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CpuUse {
    /// The process.
    pub pid: u32,
    /// CPU seconds per wall-clock second (1.0 = one core busy).
    pub cores: f64,
    /// CPU microseconds per response.
    pub us_per_request: f64,
}

impl CpuUse {
    /// From CPU seconds at the window's two ends.
    pub fn between(pid: u32, before: f64, after: f64, wall: f64, requests: u64) -> CpuUse {
        let used = (after - before).max(0.0);
        CpuUse {
            pid,
            cores: used / wall.max(1e-9),
            us_per_request: used * 1e6 / requests.max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let before = seconds(std::process::id()).expect("procfs");
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = seconds(std::process::id()).unwrap();
        assert!(after >= before);
        let use_ = CpuUse::between(1, 1.0, 1.5, 2.0, 1000);
        assert_eq!(use_.cores, 0.25);
        assert_eq!(use_.us_per_request, 500.0);
        assert!(seconds(u32::MAX).is_none());
    }
}
