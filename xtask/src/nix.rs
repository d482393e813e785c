//! `cargo xtask nix`: the Nix checks that need no Nix store or network.
//!
//! Every `.nix` file must parse (`nix-instantiate --parse`); `flake.lock` must lock exactly
//! the inputs `flake.nix` declares (`nix flake metadata --offline --no-update-lock-file`);
//! and each file under `nix/`, every one listed in [`FUNCTIONS`], must be a function of the
//! arguments its caller passes, checked by pure evaluation. Building the package, the
//! images, the checks and the VM test needs nixpkgs and runs on machines with the binary
//! cache (`nix flake check`).

use std::process::Command;

use anyhow::{bail, Context as _};

use marketprism_testkit::{run_command, workspace_root};

/// Each file under `nix/` and the arguments its callers pass.
const FUNCTIONS: &[(&str, &str)] = &[
    ("nix/package.nix", r#"[ "crane" "pkgs" ]"#),
    ("nix/apps.nix", r#"[ "marketprism" "pkgs" ]"#),
    ("nix/images.nix", r#"[ "marketprism" "pkgs" ]"#),
    ("nix/module.nix", r#"[ "config" "lib" "pkgs" ]"#),
    ("nix/vm-test.nix", r#"[ "module" "pkgs" ]"#),
];

pub fn run() -> anyhow::Result<()> {
    let root = workspace_root();
    let listed = Command::new("git")
        .args(["ls-files", "*.nix"])
        .current_dir(root)
        .output()
        .context("cannot list the .nix files with git")?;
    let files: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    if files.is_empty() {
        bail!("no .nix files are tracked");
    }
    for file in &files {
        let mut parse = Command::new("nix-instantiate");
        parse
            .args(["--parse", file])
            .stdout(std::process::Stdio::null());
        run_command(parse).with_context(|| format!("{file} does not parse"))?;
    }
    println!("parsed {} .nix files", files.len());
    let unchecked: Vec<&String> = files
        .iter()
        .filter(|file| file.starts_with("nix/"))
        .filter(|file| {
            !FUNCTIONS
                .iter()
                .any(|(checked, _)| *checked == file.as_str())
        })
        .collect();
    if !unchecked.is_empty() {
        bail!("add the arguments of {unchecked:?} to FUNCTIONS in xtask/src/nix.rs");
    }

    let mut metadata = Command::new("nix");
    metadata
        .args([
            "--extra-experimental-features",
            "nix-command flakes",
            "flake",
            "metadata",
            "--offline",
            "--no-update-lock-file",
        ])
        .arg(format!("git+file://{}", root.display()));
    run_command(metadata).context("flake.lock does not match the inputs of flake.nix")?;

    for (file, arguments) in FUNCTIONS {
        let expression =
            format!("builtins.attrNames (builtins.functionArgs (import ./{file})) == {arguments}");
        let output = Command::new("nix-instantiate")
            .args(["--eval", "--strict", "-E", &expression])
            .current_dir(root)
            .output()
            .with_context(|| format!("cannot evaluate {file}"))?;
        if String::from_utf8_lossy(&output.stdout).trim() != "true" {
            bail!(
                "{file} must be a function of {arguments}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    println!("nix: every file parses, the lock matches the inputs, every function takes its callers' arguments");
    Ok(())
}

/// Whether the Nix tools are installed.
pub fn available() -> bool {
    Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}
