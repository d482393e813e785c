//! Free space where servers write (the JetStream store, ClickHouse's data), checked against a
//! threshold from config. A server whose disk fills wedges (nats-server 2.9 never recovers
//! from a full store) or fails every insert; a service watching the disk reports not ready
//! while there is still room, and its reason tells the operator what to do.

use std::path::PathBuf;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// The threshold a watch has unless configured: at 10,000 trades/s the JetStream store
/// grows by about 2 MiB/s, so 1 GiB leaves the operator several minutes.
pub const DEFAULT_MIN_FREE: ByteSize = ByteSize::gib(1);

fn default_min_free() -> ByteSize {
    DEFAULT_MIN_FREE
}

/// A directory whose filesystem must keep room, e.g. the JetStream store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskWatch {
    /// What the directory holds, named in the reason, e.g. `JetStream store`.
    pub name: String,
    /// The directory.
    pub path: PathBuf,
    /// Not ready while the filesystem has less free space than this, e.g. `"2 GiB"`.
    #[serde(default = "default_min_free")]
    pub min_free: ByteSize,
    /// What the operator should do when space runs low, e.g. how to shorten retention;
    /// absent: free space or move the directory to a larger filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The space of a watched directory's filesystem, as an unprivileged writer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes a writer can still use.
    pub available: u64,
    /// The filesystem's size in bytes.
    pub total: u64,
}

impl DiskWatch {
    /// The filesystem's free space, or why the service should not be ready: less than
    /// `min_free` is left (the reason names the directory, the numbers and the fix), or the
    /// space cannot be read.
    pub fn check(&self) -> Result<DiskSpace, String> {
        let stats = nix::sys::statvfs::statvfs(&self.path).map_err(|error| {
            format!(
                "cannot read the free space of {} at {}: {error}",
                self.name,
                self.path.display()
            )
        })?;
        let block = stats.fragment_size();
        let space = DiskSpace {
            available: stats.blocks_available().saturating_mul(block),
            total: stats.blocks().saturating_mul(block),
        };
        if space.available < self.min_free.as_u64() {
            let fix = self.fix.clone().unwrap_or_else(|| {
                "free space on that filesystem or move the directory to a larger one".to_owned()
            });
            return Err(format!(
                "{} at {} has {} free of {}, below its threshold of {}: {fix} (the threshold is `min_free` of this disk watch)",
                self.name,
                self.path.display(),
                ByteSize::b(space.available).display().iec(),
                ByteSize::b(space.total).display().iec(),
                self.min_free.display().iec(),
            ));
        }
        Ok(space)
    }
}

/// The first watch whose disk is short of space (or unreadable), as a not-ready reason;
/// `Ok` while every disk has room.
pub fn check_all(watches: &[DiskWatch]) -> Result<(), String> {
    watches
        .iter()
        .try_for_each(|watch| watch.check().map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(path: PathBuf, min_free: ByteSize) -> DiskWatch {
        DiskWatch {
            name: "JetStream store".into(),
            path,
            min_free,
            fix: Some("shorten the stream's max_age".into()),
        }
    }

    #[test]
    fn a_disk_with_room_passes_and_one_short_of_it_names_path_numbers_and_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let space = watch(dir.path().to_owned(), ByteSize::b(1))
            .check()
            .expect("room for a byte");
        assert!(
            space.available <= space.total && space.total > 0,
            "{space:?}"
        );

        let reason = watch(dir.path().to_owned(), ByteSize::b(u64::MAX))
            .check()
            .expect_err("no disk has that much room");
        for expected in [
            "JetStream store",
            &dir.path().display().to_string(),
            "below its threshold",
            "shorten the stream's max_age",
            "min_free",
        ] {
            assert!(reason.contains(expected), "{expected:?} in {reason}");
        }
        assert_eq!(
            check_all(&[
                watch(dir.path().to_owned(), ByteSize::b(1)),
                watch(dir.path().join("missing"), ByteSize::b(1)),
            ]),
            Err(format!(
                "cannot read the free space of JetStream store at {}: ENOENT: No such file or directory",
                dir.path().join("missing").display()
            ))
        );
    }

    #[test]
    fn thresholds_read_as_human_sizes() {
        let watch: DiskWatch = serde_json::from_str(
            r#"{"name": "ClickHouse data", "path": "/var/lib/clickhouse", "min_free": "512 MiB"}"#,
        )
        .expect("valid");
        assert_eq!(watch.min_free, ByteSize::mib(512));
        assert_eq!(watch.fix, None);
    }
}
