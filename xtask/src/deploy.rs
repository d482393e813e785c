//! `cargo xtask deploy`: one command from a bare machine to a running, verified deployment.
//!
//! * `--fresh`: checks the machine (OS, memory, disk, ports, tools), installs missing
//!   `nats-server`/`clickhouse-server` (apt on Debian/Ubuntu, Homebrew on macOS) after saying
//!   so, builds the release binary and runs `marketprism up`;
//! * `--update`: rebuilds, drains and stops the deployment (`marketprism down`), and starts
//!   it again with the new binary (`marketprism up`), which verifies the data flow;
//! * `--clean --yes`: stops everything and deletes the state directory.
//!
//! Each is idempotent: running it twice is safe.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};
use marketprism_servers::{find_binary, port_free, Binary};

use marketprism_testkit::{build_marketprism, run_command};
use xtask::cli::DeployArgs as Args;

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.clean {
        return clean(&args);
    }
    if args.fresh {
        check_machine()?;
        install_missing()?;
    }
    let binary = build_marketprism(true)?;
    if args.update {
        marketprism(&binary, &args, &["down"])?;
    }
    let mut up = vec!["up"];
    if args.sim {
        up.push("--sim");
    }
    marketprism(&binary, &args, &up)
}

fn marketprism(binary: &Path, args: &Args, command_args: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new(binary);
    command.args(command_args);
    if let Some(state_dir) = &args.state_dir {
        command.arg("--state-dir").arg(state_dir);
    }
    Ok(run_command(command)?)
}

fn clean(args: &Args) -> anyhow::Result<()> {
    if !args.yes {
        bail!("--clean deletes every stored event and row; run `cargo xtask deploy --clean --yes` to confirm");
    }
    let binary = build_marketprism(true)?;
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(marketprism_deploy::default_state_dir);
    if state_dir.join("deployment.toml").exists() {
        marketprism(&binary, args, &["down"])?;
    }
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir)
            .with_context(|| format!("cannot remove {}", state_dir.display()))?;
        println!("removed {}", state_dir.display());
    } else {
        println!("nothing to clean: {} does not exist", state_dir.display());
    }
    Ok(())
}

/// Prints what the machine offers; fails only on what makes a deployment impossible.
fn check_machine() -> anyhow::Result<()> {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("PRETTY_NAME=")
                    .map(|name| name.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    println!(
        "machine: {os}, {} CPUs",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    if let Some(available) = meminfo_kib("MemAvailable") {
        let gib = available as f64 / 1024.0 / 1024.0;
        println!("memory available: {gib:.1} GiB");
        if gib < 2.0 {
            bail!("only {gib:.1} GiB of memory available; ClickHouse needs about 2 GiB: free memory and retry");
        }
    }
    let disk = Command::new("df")
        .args(["-Pk", "."])
        .output()
        .ok()
        .and_then(|output| {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.lines()
                .nth(1)?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        });
    if let Some(free_kib) = disk {
        let gib = free_kib as f64 / 1024.0 / 1024.0;
        println!("disk free here: {gib:.1} GiB");
        if gib < 2.0 {
            bail!("only {gib:.1} GiB of disk free; free space and retry");
        }
    }
    for (port, user) in marketprism_deploy::Ports::default().named() {
        if !port_free(port) {
            println!("port {port} ({user}) is in use: fine if it is this deployment, otherwise `marketprism up` will say so");
        }
    }
    Ok(())
}

fn meminfo_kib(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix(key)?
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// `args` as a command, through `sudo` unless already root.
fn privileged(args: &[&str]) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    let mut command = Command::new(if root { args[0] } else { "sudo" });
    command.args(if root { &args[1..] } else { args });
    command
}

/// Installs `nats-server` and `clickhouse-server` when `marketprism up` would not find
/// them, saying what it runs first.
fn install_missing() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if find_binary(Binary::NatsServer, None).is_err() {
        missing.push("nats-server");
    }
    if find_binary(Binary::ClickhouseServer, None).is_err() {
        missing.extend(["clickhouse-server", "clickhouse-client"]);
    }
    if missing.is_empty() {
        println!("tools: nats-server and clickhouse-server are installed");
        return Ok(());
    }
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let debian_like = os_release.lines().any(|line| {
        (line.starts_with("ID=") || line.starts_with("ID_LIKE="))
            && (line.contains("debian") || line.contains("ubuntu"))
    });
    if debian_like {
        println!("will install with apt-get: {}", missing.join(" "));
        run_command(privileged(&["apt-get", "update"]))?;
        let mut install = privileged(&["apt-get", "install", "-y"]);
        install
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive");
        Ok(run_command(install)?)
    } else if cfg!(target_os = "macos") {
        let formulas: Vec<&str> = missing
            .iter()
            .map(|name| {
                if name.starts_with("clickhouse") {
                    "clickhouse"
                } else {
                    name
                }
            })
            .collect();
        println!("will install with Homebrew: {}", formulas.join(" "));
        let mut install = Command::new("brew");
        install
            .arg("install")
            .args(formulas.iter().collect::<std::collections::BTreeSet<_>>());
        Ok(run_command(install)?)
    } else {
        bail!(
            "{} missing and this OS has no known installer: install them, or use `nix develop`",
            missing.join(", ")
        )
    }
}
