//! `cargo xtask servers`: installs the pinned current servers the tests run against
//! (nats-server and the ClickHouse engine of chdb, from PyPI with checked hashes) into
//! `target/servers`. Idempotent: a second run only checks the pins.

use anyhow::Context as _;

pub fn run() -> anyhow::Result<()> {
    let dir = marketprism_testkit::install_pinned("python3".as_ref())
        .context("installing the pinned servers (needs python3 with venv and pip)")?;
    eprintln!("pinned servers ready in {}", dir.display());
    Ok(())
}
