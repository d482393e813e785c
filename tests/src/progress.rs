//! How a topology's pipeline advances while faults hit it: every 100 ms the stream's last
//! sequence (publishing) and the trades ClickHouse holds (storing) are read, and the longest
//! time each stood still in a window is that window's stall. A read that fails (its server
//! is down or electing) counts as standing still: as far as anyone can see, nothing moved.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::Stream;
use marketprism_storage::{StoredRow as _, TradeRow};
use tokio::task::JoinHandle;

/// How often progress is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Longest wait for one reading.
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// One reading; `None` where it failed.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    last_sequence: Option<u64>,
    stored: Option<u64>,
}

/// The longest standstills in a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stalls {
    /// Of the stream's last sequence: how long publishing stopped.
    pub publish: Duration,
    /// Of the trades stored: how long storing stopped.
    pub store: Duration,
}

/// Reads progress in the background until dropped.
pub struct ProgressWatch {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: JoinHandle<()>,
}

impl ProgressWatch {
    /// Starts reading `stream`'s last sequence and the trades `clickhouse` holds.
    pub fn start(stream: Stream, clickhouse: clickhouse::Client) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&samples);
        let query = format!("SELECT count() FROM {}", TradeRow::TABLE.name);
        let task = tokio::spawn(async move {
            loop {
                let mut stream = stream.clone();
                let (info, stored) = tokio::join!(
                    tokio::time::timeout(READ_TIMEOUT, stream.info()),
                    tokio::time::timeout(READ_TIMEOUT, clickhouse.query(&query).fetch_one()),
                );
                let sample = Sample {
                    at: Instant::now(),
                    last_sequence: info
                        .ok()
                        .and_then(Result::ok)
                        .map(|info| info.state.last_sequence),
                    stored: stored.ok().and_then(Result::ok),
                };
                recorded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(sample);
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        });
        ProgressWatch { samples, task }
    }

    /// The longest standstills between `from` and `until`.
    pub fn stalls(&self, from: Instant, until: Instant) -> Stalls {
        let samples: Vec<Sample> = self
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|sample| sample.at <= until)
            .copied()
            .collect();
        Stalls {
            publish: longest_standstill(&samples, from, |sample| sample.last_sequence),
            store: longest_standstill(&samples, from, |sample| sample.stored),
        }
    }
}

impl Drop for ProgressWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The longest time from `since` on that `value` of the samples stood still (or could not
/// be read), measured from the last change to each later reading.
fn longest_standstill(
    samples: &[Sample],
    since: Instant,
    value: impl Fn(&Sample) -> Option<u64>,
) -> Duration {
    let mut last = samples
        .iter()
        .filter(|sample| sample.at < since)
        .filter_map(&value)
        .next_back();
    let mut changed = since;
    let mut longest = Duration::ZERO;
    for sample in samples.iter().filter(|sample| sample.at >= since) {
        match value(sample) {
            Some(now) if Some(now) != last => {
                last = Some(now);
                changed = sample.at;
            }
            _ => longest = longest.max(sample.at - changed),
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standstill_runs_from_the_last_change_and_failed_readings_count_in_it() {
        let start = Instant::now();
        let at = |millis| start + Duration::from_millis(millis);
        let sample = |millis, value| Sample {
            at: at(millis),
            last_sequence: value,
            stored: Some(millis),
        };
        let samples = [
            sample(0, Some(1)),
            sample(100, Some(2)),
            sample(200, Some(2)),
            sample(300, None),
            sample(400, Some(2)),
            sample(500, Some(3)),
            sample(600, Some(3)),
        ];
        let stalls = |since| {
            (
                longest_standstill(&samples, since, |sample| sample.last_sequence),
                longest_standstill(&samples, since, |sample| sample.stored),
            )
        };
        // From the change at 100 ms to the reading at 400 ms.
        assert_eq!(stalls(at(50)), (Duration::from_millis(300), Duration::ZERO));
        // A window opening mid-standstill counts from its start.
        assert_eq!(stalls(at(250)).0, Duration::from_millis(150));
    }
}
