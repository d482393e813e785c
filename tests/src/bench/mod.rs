//! The benchmarks (`cargo xtask bench`): criterion benchmarks, reported as throughput and as
//! ratios against baselines measured in the same run; with `--e2e`, the whole pipeline (see
//! [`e2e`]; with `--discovery`, 1,000 instruments found by discovery, see `discovery.rs`).
//!
//! Each benchmark group pairs `marketprism_<operation>` functions with `baseline_<...>`
//! functions doing the generic equivalent on the same input (e.g. parsing the same frames
//! into `serde_json::Value`). The report goes to `target/bench/report.md` and
//! `target/bench/report.json`, with a description of the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use marketprism_testkit::{cargo, run_command, target_dir};

mod backfill;
mod baselines;
mod cluster;
mod discovery;
pub mod e2e;
mod gateway;
mod metrics;
mod process;
mod workers;

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Run the end-to-end benchmark (local NATS, ClickHouse and the simulator) instead of
    /// the criterion benchmarks.
    #[arg(long)]
    pub e2e: bool,
    /// Options of the end-to-end benchmark.
    #[command(flatten)]
    pub end_to_end: e2e::EndToEnd,
}

/// Runs the benchmarks `args` selects.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.e2e {
        return criterion();
    }
    // The end-to-end benchmark's baselines (JetStream and ClickHouse clients) run inside this
    // process: measured from a debug build, they would be several times slower than the
    // pipeline's optimized processes and make every ratio flatter than it is.
    if cfg!(debug_assertions) {
        anyhow::bail!(
            "the end-to-end benchmark needs an optimized harness: run `cargo xtask bench --e2e`"
        );
    }
    if args.end_to_end.cluster {
        return cluster::run(&args.end_to_end);
    }
    if args.end_to_end.gateway {
        return gateway::run(&args.end_to_end);
    }
    if args.end_to_end.discovery {
        return discovery::run(&args.end_to_end);
    }
    e2e::run(args.end_to_end)
}

/// (package, bench target) pairs that `bench` runs.
const BENCHES: &[(&str, &str)] = &[
    ("marketprism-venues", "parse"),
    ("marketprism-book", "apply"),
    ("marketprism-model", "codec"),
    ("marketprism-collector", "spool"),
];

/// One measured function.
#[derive(Debug, Clone, Serialize)]
struct Measurement {
    group: String,
    function: String,
    elements_per_second: f64,
    megabytes_per_second: Option<f64>,
    baseline: Option<String>,
    ratio_to_baseline: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    machine: String,
    measurements: Vec<Measurement>,
    memory: Vec<BookMemory>,
}

/// Resident memory of full books, from the `marketprism-book` `memory` example.
#[derive(Debug, Serialize, Deserialize)]
struct BookMemory {
    symbols: u64,
    levels_per_side: u64,
    levels_held: u64,
    rss_before_kib: u64,
    rss_after_kib: u64,
    bytes_per_level: f64,
}

/// Book sets whose memory is measured: (symbols, levels per side).
const MEMORY_CASES: &[(u64, u64)] = &[(100, 1_000), (200, 1_000)];

fn book_memory() -> anyhow::Result<Vec<BookMemory>> {
    MEMORY_CASES
        .iter()
        .map(|(symbols, levels)| {
            let output = cargo()
                .args([
                    "run",
                    "--quiet",
                    "--release",
                    "--package",
                    "marketprism-book",
                ])
                .args(["--example", "memory", "--"])
                .args([symbols.to_string(), levels.to_string()])
                .output()
                .context("running the book memory example")?;
            anyhow::ensure!(
                output.status.success(),
                "memory example failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Ok(serde_json::from_slice(&output.stdout)?)
        })
        .collect()
}

#[derive(Deserialize)]
struct Estimates {
    mean: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct BenchmarkInfo {
    throughput: Option<Throughput>,
}

#[derive(Deserialize)]
struct Throughput {
    #[serde(rename = "Elements")]
    elements: Option<u64>,
}

#[derive(Deserialize)]
struct Workload {
    frames: u64,
    bytes: u64,
}

/// Runs the criterion benchmarks and the book memory measurement.
fn criterion() -> anyhow::Result<()> {
    for (package, bench) in BENCHES {
        let mut command = cargo();
        command
            .args(["bench", "--package", package, "--bench", bench, "--"])
            .args(["--warm-up-time", "1", "--measurement-time", "3"]);
        run_command(command)?;
    }
    let target = target_dir();
    let mut measurements = Vec::new();
    for group in subdirectories(&target.join("criterion"))? {
        let group_name = file_name(&group);
        let workload: Option<Workload> = std::fs::read_to_string(
            target
                .join("bench/workloads")
                .join(format!("{group_name}.json")),
        )
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
        let mut functions = Vec::new();
        for function in subdirectories(&group)? {
            let read = |file: &str| std::fs::read_to_string(function.join("new").join(file));
            let (Ok(estimates), Ok(info)) = (read("estimates.json"), read("benchmark.json")) else {
                continue;
            };
            let estimates: Estimates = serde_json::from_str(&estimates)?;
            let info: BenchmarkInfo = serde_json::from_str(&info)?;
            let elements = info
                .throughput
                .and_then(|throughput| throughput.elements)
                .unwrap_or(1) as f64;
            let seconds = estimates.mean.point_estimate / 1e9;
            let per_second = elements / seconds;
            let megabytes = workload
                .as_ref()
                .filter(|workload| workload.frames as f64 == elements)
                .map(|workload| workload.bytes as f64 / seconds / 1e6);
            functions.push((file_name(&function), per_second, megabytes));
        }
        for (name, per_second, megabytes) in &functions {
            let baseline = name.strip_prefix("marketprism_").and_then(|operation| {
                let baselines: Vec<_> = functions
                    .iter()
                    .filter(|(other, ..)| other.starts_with("baseline_"))
                    .collect();
                baselines
                    .iter()
                    .find(|(other, ..)| other.starts_with(&format!("baseline_{operation}")))
                    .or_else(|| (baselines.len() == 1).then(|| &baselines[0]))
                    .map(|(other, rate, _)| (other.clone(), per_second / rate))
            });
            measurements.push(Measurement {
                group: group_name.clone(),
                function: name.clone(),
                elements_per_second: *per_second,
                megabytes_per_second: *megabytes,
                ratio_to_baseline: baseline.as_ref().map(|(_, ratio)| *ratio),
                baseline: baseline.map(|(name, _)| name),
            });
        }
    }
    let report = Report {
        machine: machine(),
        measurements,
        memory: book_memory()?,
    };
    let markdown = markdown(&report);
    let out = target.join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("report.md"), &markdown)?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{markdown}");
    println!("written to {}", out.join("report.md").display());
    Ok(())
}

fn markdown(report: &Report) -> String {
    let mut text = format!("Machine: {}\n\n", report.machine);
    text.push_str(
        "| group | function | items/s | MB/s | baseline | ratio |\n|---|---|---:|---:|---|---:|\n",
    );
    for measurement in &report.measurements {
        text.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} |\n",
            measurement.group,
            measurement.function,
            measurement.elements_per_second,
            measurement
                .megabytes_per_second
                .map_or_else(|| "-".to_owned(), |value| format!("{value:.1}")),
            measurement.baseline.as_deref().unwrap_or("-"),
            measurement
                .ratio_to_baseline
                .map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}×")),
        ));
    }
    text.push_str(
        "\n| books | levels per side | RSS growth | bytes per level |\n|---:|---:|---:|---:|\n",
    );
    for memory in &report.memory {
        text.push_str(&format!(
            "| {} | {} | {:.1} MiB | {:.0} |\n",
            memory.symbols,
            memory.levels_per_side,
            memory.rss_after_kib.saturating_sub(memory.rss_before_kib) as f64 / 1024.0,
            memory.bytes_per_level
        ));
    }
    text
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{model}, {cores} cores, {}, {rustc}", std::env::consts::OS)
}

fn subdirectories(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir() && file_name(path) != "report")
        .collect();
    found.sort();
    Ok(found)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
