//! Storage workers in `cargo xtask bench --e2e`: one, then two `marketprism store`
//! processes sharing the durable consumer drain the same pre-filled stream, each run on
//! fresh servers. The rate is events committed over the time from starting the workers to
//! an empty consumer; the report gives both rates and their ratio.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::baselines;
use crate::runner::{Names, Runner};
use crate::services::Services;

/// Events per message, as the collector's messages carry them under load.
const EVENTS_PER_MESSAGE: usize = 16;

/// Longest wait for the workers to drain the stream.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// One run's workers and rate.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Drain {
    pub(super) workers: usize,
    pub(super) events_per_second: f64,
}

/// The drain rates of one and of two workers.
#[derive(Debug, Clone, Serialize)]
pub(super) struct WorkerScaling {
    /// Events in the stream.
    pub(super) events: u64,
    pub(super) drains: Vec<Drain>,
    /// Two workers' rate over one worker's.
    pub(super) ratio: f64,
}

/// Drains `events` trades with one worker and then with two, each on servers from
/// `start_services`.
pub(super) async fn measure(
    binary: &Path,
    events: u64,
    dir: &Path,
    start_services: impl Fn() -> anyhow::Result<Services>,
) -> anyhow::Result<WorkerScaling> {
    let mut drains = Vec::new();
    for workers in [1, 2] {
        let services = start_services()?;
        let rate = drain(
            binary,
            &services,
            events,
            workers,
            &dir.join(format!("{workers}")),
        )
        .await?;
        eprintln!("{workers} storage worker(s): {rate:.0} events/s");
        drains.push(Drain {
            workers,
            events_per_second: rate,
        });
    }
    let ratio = drains[1].events_per_second / drains[0].events_per_second.max(f64::EPSILON);
    Ok(WorkerScaling {
        events,
        drains,
        ratio,
    })
}

/// Fills a stream with `events` trades, starts `workers` storage processes on it and
/// returns the events committed per second until the consumer is empty.
async fn drain(
    binary: &Path,
    services: &Services,
    events: u64,
    workers: usize,
    dir: &Path,
) -> anyhow::Result<f64> {
    let names = Names::new(
        "bench_workers".into(),
        "BENCH_WORKERS".into(),
        "bench-workers".into(),
    );
    let runner = Runner::new(binary, services, dir, names)?;
    runner.write_storage_config(&runner.storage_config())?;
    runner.init()?;
    let client = async_nats::connect(&services.nats_url).await?;
    let context = async_nats::jetstream::new(client);
    let messages = baselines::trade_messages(events, EVENTS_PER_MESSAGE);
    let published = messages.len() as u64 * EVENTS_PER_MESSAGE as u64;
    baselines::publish(&context, messages).await?;

    let started = Instant::now();
    let mut running = vec![runner.start_storage()?];
    for index in 1..workers {
        running.push(runner.start_storage_worker(index)?);
    }
    loop {
        // The consumer exists once the first worker is ready.
        if runner.consumer_lag().await.context("asking for the lag")? == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < DRAIN_TIMEOUT,
            "{workers} worker(s) did not drain {published} events within {DRAIN_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    for mut worker in running {
        worker.terminate(Duration::from_secs(30))?;
    }
    Ok(published as f64 / seconds)
}
