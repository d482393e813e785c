//! The `operations` scenario: a deployment made by `marketprism up --sim`, as an operator
//! makes one, through the faults an operator meets, with `marketprism status` and the
//! services' `/ready` asked what they see.
//!
//! Faults, in order: nats-server frozen (SIGSTOP) past the collector's ack deadline; the
//! JetStream store's disk filled below the free-space threshold; clickhouse-server frozen for
//! 90 s; storage killed while the source is quiet (the simulator frozen), then `up` run
//! again. After each fault `status` must exit non-zero naming the right service, the
//! affected service's `/ready` must say it is not ready, each within its deadline, and once
//! the fault ends `status` must succeed again. At the end every trade the simulator delivered
//! must be stored, the stored trade ids must have no hole, and `down` must succeed.
//!
//! It runs on the servers `up` finds (on Debian 12, nats-server 2.9 and clickhouse-server
//! 18.16), with authentication on, and needs root to mount the tmpfs that is the JetStream
//! store's disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use marketprism_servers::{free_port_block, is_alive, read_pid};
use marketprism_sim::Report;
use marketprism_testkit::Tmpfs;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Check, Checks};

const SCENARIO: &str = "operations";

/// Simulated trades per second.
const SIM_RATE: u32 = 200;

/// Ports a deployment takes from its base.
const PORTS: u16 = marketprism_deploy::Ports::COUNT;

/// Offsets of the services' ports from the base (see `marketprism up --port-base`).
const CLICKHOUSE_HTTP: u16 = 1;
const SIM: u16 = 3;
const STORAGE: u16 = 4;
const COLLECTOR: u16 = 5;

/// The JetStream store's disk: room above storage's free-space threshold (1 GiB).
const STORE_DISK: u64 = 1280 << 20;

/// What the filled disk keeps free: below the threshold, far from full, so that nats-server
/// (2.9 never recovers from a full store) keeps working.
const LEFT_FREE: u64 = 512 << 20;

/// How long nats-server stays frozen: past the collector's ack deadline (15 s).
const NATS_FROZEN: Duration = Duration::from_secs(25);

/// How long clickhouse-server stays frozen.
const CLICKHOUSE_FROZEN: Duration = Duration::from_secs(90);

/// Within how long `status` must name a fault: its own probe timeout (3 s) and a margin.
const STATUS_DEADLINE: Duration = Duration::from_secs(15);

/// Within how long the collector's `/ready` must report unacknowledged publishes: its ack
/// deadline (15 s) and a margin.
const COLLECTOR_DEADLINE: Duration = Duration::from_secs(45);

/// Within how long storage's `/ready` must report a disk short of space: it checks every
/// second.
const DISK_DEADLINE: Duration = Duration::from_secs(15);

/// Within how long storage's `/ready` must report that nothing commits: its commit deadline
/// (30 s) and a margin.
const COMMIT_DEADLINE: Duration = Duration::from_secs(60);

/// Within how long everything must be ready again once a fault ends.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(120);

/// A deployment in a state directory, driven through the `marketprism` command line.
struct Deployment {
    binary: PathBuf,
    state: PathBuf,
    base: u16,
    http: reqwest::blocking::Client,
}

/// What `marketprism status` said.
struct Status {
    success: bool,
    /// The report on stdout.
    report: String,
    /// The first cause of a failure (the first line of the error), or empty.
    cause: String,
}

impl Deployment {
    /// Runs `marketprism <args> --state-dir <state>`.
    fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(&self.binary)
            .args(args)
            .arg("--state-dir")
            .arg(&self.state)
            .env("RUST_BACKTRACE", "0")
            .output()
            .with_context(|| format!("cannot run marketprism {}", args.join(" ")))
    }

    fn status(&self) -> anyhow::Result<Status> {
        let output = self.run(&["status"])?;
        let errors = String::from_utf8_lossy(&output.stderr);
        Ok(Status {
            success: output.status.success(),
            report: String::from_utf8_lossy(&output.stdout).into_owned(),
            cause: errors
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("Error: ")
                .to_owned(),
        })
    }

    fn pid(&self, service: &str) -> anyhow::Result<Pid> {
        let path = self.state.join("run").join(format!("{service}.pid"));
        let pid = read_pid(&path).with_context(|| format!("no pid in {}", path.display()))?;
        Ok(Pid::from_raw(i32::try_from(pid)?))
    }

    fn signal(&self, service: &str, signal: Signal) -> anyhow::Result<()> {
        kill(self.pid(service)?, signal).with_context(|| format!("cannot signal {service}"))
    }

    /// A service's `/ready`: its status code and body, or why it did not answer.
    fn ready(&self, offset: u16) -> String {
        let url = format!("http://127.0.0.1:{}/ready", self.base + offset);
        match self.http.get(&url).timeout(Duration::from_secs(3)).send() {
            Ok(response) => {
                let code = response.status().as_u16();
                format!("{code} {}", response.text().unwrap_or_default().trim())
            }
            Err(error) => format!("no answer: {error}"),
        }
    }
}

/// Polls `seen` every half second until it returns what it looked for, for at most
/// `limit`; the time it took and what was seen, or `None`.
fn wait_for(
    limit: Duration,
    mut seen: impl FnMut() -> anyhow::Result<Option<String>>,
) -> anyhow::Result<Option<(Duration, String)>> {
    let started = Instant::now();
    loop {
        if let Some(what) = seen()? {
            return Ok(Some((started.elapsed(), what)));
        }
        if started.elapsed() > limit {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A check that something was reported within `deadline`, with what and how fast.
fn reported(
    name: &str,
    expected: &str,
    deadline: Duration,
    outcome: Option<(Duration, String)>,
) -> Check {
    let expected = format!("{expected} within {} s", deadline.as_secs());
    match outcome {
        Some((took, what)) => Check::holds(
            SCENARIO,
            name,
            &expected,
            format!("after {:.1} s: {}", took.as_secs_f64(), shorten(&what)),
            true,
        ),
        None => Check::holds(SCENARIO, name, &expected, "not seen".to_owned(), false),
    }
}

/// `text` cut to one table cell.
fn shorten(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 110 {
        format!("{}...", line.chars().take(110).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// `status` failing with `service` as its first cause.
fn status_names<'a>(
    deployment: &'a Deployment,
    service: &'static str,
) -> impl FnMut() -> anyhow::Result<Option<String>> + 'a {
    move || {
        let status = deployment.status()?;
        Ok(
            (!status.success && status.cause.starts_with(&format!("{service}:")))
                .then_some(status.cause),
        )
    }
}

/// `status` succeeding.
fn status_succeeds(deployment: &Deployment) -> impl FnMut() -> anyhow::Result<Option<String>> + '_ {
    move || {
        let status = deployment.status()?;
        Ok(status.success.then(|| "exit 0".to_owned()))
    }
}

/// A service's `/ready` answering anything but 200, with `reason` in its answer.
fn not_ready<'a>(
    deployment: &'a Deployment,
    offset: u16,
    reason: &'a str,
) -> impl FnMut() -> anyhow::Result<Option<String>> + 'a {
    move || {
        let answer = deployment.ready(offset);
        Ok((!answer.starts_with("200") && answer.contains(reason)).then_some(answer))
    }
}

/// Runs the scenario in `dir` with the `marketprism` executable `binary`.
pub(super) async fn run(binary: &Path, dir: &Path) -> anyhow::Result<Checks> {
    let binary = binary.to_owned();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || run_blocking(&binary, &dir)).await?
}

fn run_blocking(binary: &Path, dir: &Path) -> anyhow::Result<Checks> {
    let disk = Tmpfs::mount(STORE_DISK).context(
        "the operations scenario mounts a tmpfs as the JetStream store's disk, which needs root",
    )?;
    let state = dir.join("state");
    std::fs::create_dir_all(&state)?;
    std::os::unix::fs::symlink(disk.path(), state.join("nats"))?;
    let deployment = Deployment {
        binary: binary.to_owned(),
        state,
        base: free_port_block(PORTS)?,
        http: reqwest::blocking::Client::new(),
    };
    let up = deployment.run(&[
        "up",
        "--sim",
        "--port-base",
        &deployment.base.to_string(),
        "--sim-rate",
        &SIM_RATE.to_string(),
    ])?;
    if !up.status.success() {
        bail!(
            "up failed:\n{}{}",
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        );
    }
    let result = faults(&deployment, &disk);
    let down = deployment.run(&["down"])?;
    let mut checks = result?;
    checks.push(Check::holds(
        SCENARIO,
        "down",
        "exit 0",
        if down.status.success() {
            "exit 0".to_owned()
        } else {
            shorten(&String::from_utf8_lossy(&down.stderr))
        },
        down.status.success(),
    ));
    Ok(checks)
}

fn faults(deployment: &Deployment, disk: &Tmpfs) -> anyhow::Result<Checks> {
    let mut checks = Vec::new();
    if wait_for(RECOVERY_DEADLINE, status_succeeds(deployment))?.is_none() {
        bail!("the deployment was not ready after up");
    }

    checks.extend(frozen(
        deployment,
        ("nats", "NATS"),
        ("collector", COLLECTOR, COLLECTOR_DEADLINE),
        NATS_FROZEN,
    )?);

    // The JetStream store's disk filled.
    let filler = disk.fill_leaving(LEFT_FREE)?;
    checks.push(reported(
        "JetStream disk filled: storage /ready",
        "not ready, names the JetStream store",
        DISK_DEADLINE,
        wait_for(
            DISK_DEADLINE,
            not_ready(deployment, STORAGE, "the JetStream store"),
        )?,
    ));
    checks.push(reported(
        "JetStream disk filled: status",
        "non-zero, names storage",
        STATUS_DEADLINE,
        wait_for(STATUS_DEADLINE, status_names(deployment, "storage"))?,
    ));
    std::fs::remove_file(&filler)?;
    checks.push(reported(
        "JetStream disk freed: status",
        "exit 0",
        RECOVERY_DEADLINE,
        wait_for(RECOVERY_DEADLINE, status_succeeds(deployment))?,
    ));

    checks.extend(frozen(
        deployment,
        ("clickhouse", "ClickHouse"),
        ("storage", STORAGE, COMMIT_DEADLINE),
        CLICKHOUSE_FROZEN,
    )?);

    // Storage killed while the source is quiet, then `up` again.
    deployment.signal("sim", Signal::SIGSTOP)?;
    let drained = wait_for(RECOVERY_DEADLINE, || {
        let status = deployment.status()?;
        Ok(status
            .report
            .contains("storage consumer lag: 0 messages pending, 0 awaiting ack")
            .then(String::new))
    })?;
    if drained.is_none() {
        deployment.signal("sim", Signal::SIGCONT)?;
        bail!("storage did not catch up while the source was quiet");
    }
    deployment.signal("storage", Signal::SIGKILL)?;
    checks.push(reported(
        "storage killed, source quiet: status",
        "non-zero, storage not running",
        STATUS_DEADLINE,
        wait_for(STATUS_DEADLINE, || {
            let status = deployment.status()?;
            Ok((!status.success
                && status
                    .report
                    .lines()
                    .any(|line| line.starts_with("storage") && line.contains("not running")))
            .then_some(status.cause))
        })?,
    ));
    let again = deployment.run(&["up", "--verify-timeout", "5"])?;
    let report = String::from_utf8_lossy(&again.stdout).into_owned();
    let restarted = again.status.success()
        && report.contains("the source is quiet")
        && report
            .lines()
            .any(|line| line.trim_start().starts_with("storage ") && line.contains("started"));
    checks.push(Check::holds(
        SCENARIO,
        "storage killed, source quiet: up",
        "exit 0, storage started, says the source is quiet",
        if restarted {
            "as expected".to_owned()
        } else {
            shorten(&format!(
                "{report}{}",
                String::from_utf8_lossy(&again.stderr)
            ))
        },
        restarted,
    ));
    deployment.signal("sim", Signal::SIGCONT)?;
    checks.push(reported(
        "source continued: status",
        "exit 0",
        RECOVERY_DEADLINE,
        wait_for(RECOVERY_DEADLINE, status_succeeds(deployment))?,
    ));

    checks.extend(nothing_lost(deployment)?);
    Ok(checks)
}

/// Freezes the server `service` (SIGSTOP) for `frozen_for`: `status` must name it, the
/// `/ready` of the service it stalls (its name, port offset and deadline) must say it is not
/// ready, and once the server continues `status` must succeed again.
fn frozen(
    deployment: &Deployment,
    (service, label): (&'static str, &str),
    (stalled, offset, deadline): (&str, u16, Duration),
    frozen_for: Duration,
) -> anyhow::Result<Checks> {
    deployment.signal(service, Signal::SIGSTOP)?;
    let since = Instant::now();
    let mut checks = vec![
        reported(
            &format!("{label} frozen: status"),
            &format!("non-zero, names {service}"),
            STATUS_DEADLINE,
            wait_for(STATUS_DEADLINE, status_names(deployment, service))?,
        ),
        reported(
            &format!("{label} frozen: {stalled} /ready"),
            "not ready",
            deadline,
            wait_for(deadline, not_ready(deployment, offset, ""))?,
        ),
    ];
    std::thread::sleep(frozen_for.saturating_sub(since.elapsed()));
    deployment.signal(service, Signal::SIGCONT)?;
    checks.push(reported(
        &format!("{label} continued: status"),
        "exit 0",
        RECOVERY_DEADLINE,
        wait_for(RECOVERY_DEADLINE, status_succeeds(deployment))?,
    ));
    Ok(checks)
}

/// Stops the collector (it drains), waits until storage and the backfill have nothing left,
/// and compares the stored trades with those the simulator delivered.
fn nothing_lost(deployment: &Deployment) -> anyhow::Result<Checks> {
    let collector = deployment.pid("collector")?;
    let collector_pid = u32::try_from(collector.as_raw())?;
    kill(collector, Signal::SIGTERM)?;
    let settled = wait_for(RECOVERY_DEADLINE, || {
        let status = deployment.status()?;
        let collector_gone = !is_alive(collector_pid, "collect");
        Ok((collector_gone
            && status
                .report
                .contains("storage consumer lag: 0 messages pending, 0 awaiting ack")
            && status
                .report
                .contains("backfill: 0 gap messages waiting, 0 being filled"))
        .then(String::new))
    })?;
    if settled.is_none() {
        bail!("storage and the backfill did not settle after the collector stopped");
    }
    let report: Report = deployment
        .http
        .get(format!(
            "http://127.0.0.1:{}/control/report",
            deployment.base + SIM
        ))
        .send()?
        .error_for_status()?
        .json()?;
    let delivered: BTreeSet<(String, u64)> = report
        .trades
        .iter()
        .filter(|trade| trade.delivered && trade.venues.contains("binance/spot"))
        .map(|trade| (trade.symbol.clone(), trade.trade_id))
        .collect();
    let stored = stored_trades(deployment)?;
    let missing: Vec<String> = delivered
        .difference(&stored)
        .map(|(symbol, id)| format!("{symbol} {id}"))
        .collect();
    let mut by_symbol: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (symbol, id) in &stored {
        by_symbol.entry(symbol).or_default().push(*id);
    }
    let holes: Vec<String> = by_symbol
        .iter()
        .flat_map(|(symbol, ids)| {
            ids.windows(2)
                .filter(|pair| pair[1] != pair[0] + 1)
                .map(move |pair| format!("{symbol} {}..{}", pair[0] + 1, pair[1] - 1))
        })
        .collect();
    Ok(vec![
        Check::measured(
            SCENARIO,
            "trades delivered / stored",
            format!("{} / {}", delivered.len(), stored.len()),
        ),
        Check::none_of(
            SCENARIO,
            "every delivered trade stored",
            "delivered trades missing",
            &missing,
        ),
        Check::none_of(SCENARIO, "stored trade ids without holes", "holes", &holes),
    ])
}

/// The Binance spot trades in `trades FINAL`, by simulator symbol (`BTCUSDT`) and id, read
/// as the deployment's reader.
fn stored_trades(deployment: &Deployment) -> anyhow::Result<BTreeSet<(String, u64)>> {
    let password_file = deployment
        .state
        .join("secrets")
        .join("reader.clickhouse-password");
    let password = std::fs::read_to_string(&password_file)
        .with_context(|| format!("cannot read {}", password_file.display()))?;
    let text = deployment
        .http
        .post(format!(
            "http://127.0.0.1:{}/",
            deployment.base + CLICKHOUSE_HTTP
        ))
        .basic_auth("marketprism_reader", Some(password.trim()))
        .body(
            "SELECT replaceAll(symbol, '-', ''), trade_id FROM marketprism.trades FINAL \
             WHERE exchange = 'binance' AND market_type = 'spot' AND aggregated = 0 \
             FORMAT TabSeparated",
        )
        .send()?
        .error_for_status()?
        .text()?;
    text.lines()
        .map(|line| {
            let (symbol, id) = line
                .split_once('\t')
                .with_context(|| format!("unexpected row {line:?}"))?;
            Ok((symbol.to_owned(), id.parse()?))
        })
        .collect()
}
