//! Which release an executable is, from what it answers to `--version`.

use std::path::Path;
use std::process::Command;

/// What `program --version` prints, trimmed, when it runs and succeeds (e.g.
/// `nats-server: v2.15.1`). clickhouse-server 18.16 does not know the option.
pub fn version_output(program: &Path) -> Option<String> {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The `(major, minor)` of the first version number in a `--version` answer, such as
/// `nats-server: v2.15.1` or `ClickHouse server version 24.8.4.13 (official build).`.
pub fn release_of(text: &str) -> Option<(u32, u32)> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(|word| {
            let mut parts = word.split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            Some((major, minor))
        })
}

/// True when `program --version` names a release at or after `first`. Programs that do not
/// answer `--version` are taken to be older.
pub fn is_at_least(program: &Path, first: (u32, u32)) -> bool {
    version_output(program)
        .and_then(|answer| release_of(&answer))
        .is_some_and(|release| release >= first)
}
