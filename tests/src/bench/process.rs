//! CPU time and resident memory of running processes, read from `/proc` (Linux).

use std::process::Command;
use std::time::Instant;

use serde::Serialize;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// User plus system CPU time, clock ticks.
    cpu_ticks: u64,
    /// Resident set size, KiB.
    rss_kib: u64,
}

fn read(pid: u32) -> Option<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it are space separated.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let cpu_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Reading {
        cpu_ticks,
        rss_kib: rss_kib(pid)?,
    })
}

/// The resident set size of a process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix("VmRSS:")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

/// Clock ticks per second of CPU time (`getconf CLK_TCK`, 100 when unknown).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU and memory of one process over a measured interval.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// Process name, e.g. `collector`.
    pub name: String,
    /// CPU time over wall time, percent of one core.
    pub cpu_percent: f64,
    /// Largest resident set size seen, MiB.
    pub rss_max_mib: f64,
}

/// Watches a set of processes from `new` to `finish`.
pub struct Monitor {
    started: Instant,
    processes: Vec<Watched>,
}

struct Watched {
    name: String,
    pid: u32,
    first: Option<Reading>,
    last: Option<Reading>,
    rss_max_kib: u64,
}

impl Monitor {
    /// Starts watching `pids`.
    pub fn new(pids: &[(&str, u32)]) -> Self {
        let processes = pids
            .iter()
            .map(|(name, pid)| {
                let first = read(*pid);
                Watched {
                    name: (*name).to_owned(),
                    pid: *pid,
                    first,
                    last: first,
                    rss_max_kib: first.map_or(0, |reading| reading.rss_kib),
                }
            })
            .collect();
        Monitor {
            started: Instant::now(),
            processes,
        }
    }

    /// Takes a reading of every process (call it regularly: RSS peaks are sampled).
    pub fn sample(&mut self) {
        for process in &mut self.processes {
            if let Some(reading) = read(process.pid) {
                process.rss_max_kib = process.rss_max_kib.max(reading.rss_kib);
                process.last = Some(reading);
            }
        }
    }

    /// CPU and peak memory of every process since `new`.
    pub fn finish(mut self) -> Vec<Usage> {
        self.sample();
        let seconds = self.started.elapsed().as_secs_f64().max(f64::EPSILON);
        let ticks = clock_ticks();
        self.processes
            .into_iter()
            .map(|process| {
                let cpu = match (process.first, process.last) {
                    (Some(first), Some(last)) => {
                        last.cpu_ticks.saturating_sub(first.cpu_ticks) as f64 / ticks
                    }
                    _ => 0.0,
                };
                Usage {
                    name: process.name,
                    cpu_percent: 100.0 * cpu / seconds,
                    rss_max_mib: process.rss_max_kib as f64 / 1024.0,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let pid = std::process::id();
        let reading = read(pid).expect("own /proc entry");
        assert!(reading.rss_kib > 0);
        let mut monitor = Monitor::new(&[("self", pid)]);
        // Burn a little CPU so the interval has some.
        let mut sum = 0_u64;
        for value in 0..5_000_000_u64 {
            sum = sum.wrapping_add(value * value);
        }
        assert_ne!(sum, 1);
        monitor.sample();
        let usage = monitor.finish();
        assert_eq!(usage.len(), 1);
        assert!(usage[0].rss_max_mib > 0.0);
        assert!(usage[0].cpu_percent >= 0.0);
    }
}
