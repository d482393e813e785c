//! `marketprism down`: stops the deployment without losing data.
//!
//! The collectors stop first and wait for JetStream to acknowledge everything they read,
//! then the backfill (a gap it was filling is resumed by the next one); storage then stays
//! up until its consumer has nothing pending, so every event published is in ClickHouse
//! before storage, ClickHouse, ZooKeeper and NATS stop.

use std::io::Write;
use std::time::{Duration, Instant};

use marketprism_servers::{is_alive, read_pid, stop};

use crate::config::storage_config;
use crate::processes::processes;
use crate::status::{jetstream_context, lag, DEFAULT_TIMEOUT};
use crate::{DeployError, ServiceName, StateDir};

/// How long storage may take to drain the stream.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// The order services stop in: what feeds the stream first, the servers last.
const STOP_ORDER: [ServiceName; 9] = [
    ServiceName::Collector,
    ServiceName::Backfill,
    ServiceName::Gateway,
    ServiceName::Sim,
    ServiceName::Storage,
    ServiceName::Prometheus,
    ServiceName::Clickhouse,
    ServiceName::Zookeeper,
    ServiceName::Nats,
];

/// Stops every process of the deployment in `state`, printing progress to `progress`.
pub async fn down(state: &StateDir, progress: &mut dyn Write) -> Result<(), DeployError> {
    let manifest = state.require_manifest("stopping the deployment")?;
    let config = storage_config(state, &manifest)?;
    let mut processes = processes(state, &manifest);
    processes.sort_by_key(|process| {
        STOP_ORDER
            .iter()
            .position(|&service| service == process.service)
    });
    let mut drained = false;
    for process in processes {
        let marker = process.marker();
        let pid_file = process.pid_file(state);
        let Some(pid) = read_pid(&pid_file).filter(|&pid| is_alive(pid, &marker)) else {
            let _ = std::fs::remove_file(&pid_file);
            continue;
        };
        if process.service == ServiceName::Storage && !drained {
            let _ = write!(
                progress,
                "Waiting for storage to write everything in the stream ... "
            );
            let _ = progress.flush();
            let done = wait_for_drain(&config).await;
            let _ = writeln!(
                progress,
                "{}",
                if done {
                    "done"
                } else {
                    "gave up after the timeout; the rest stays in JetStream"
                }
            );
            drained = true;
        }
        let _ = write!(progress, "Stopping {} (pid {pid}) ... ", process.name);
        let _ = progress.flush();
        let graceful = stop(pid, &marker, Duration::from_secs(30));
        let _ = writeln!(
            progress,
            "{}",
            if graceful {
                "stopped"
            } else {
                "killed after 30 s"
            }
        );
        let _ = std::fs::remove_file(&pid_file);
    }
    Ok(())
}

/// Waits until the storage consumer has nothing pending or awaiting ack.
async fn wait_for_drain(config: &marketprism_storage::Config) -> bool {
    let Ok(context) = jetstream_context(&config.nats, DEFAULT_TIMEOUT).await else {
        return false;
    };
    let started = Instant::now();
    while started.elapsed() < DRAIN_TIMEOUT {
        match lag(&context, config, DEFAULT_TIMEOUT).await {
            Ok((0, 0)) => return true,
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(_) => return false,
        }
    }
    false
}
