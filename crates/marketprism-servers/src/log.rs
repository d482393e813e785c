//! Log files of spawned processes: opened for appending, read back by their last lines.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Opens `path` for appending, creating it when missing.
pub fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The last `lines` lines of the file at `path`.
pub fn tail(path: &Path, lines: usize) -> io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let all: Vec<&str> = text.lines().collect();
    Ok(all[all.len().saturating_sub(lines)..].join("\n"))
}

/// The last `lines` lines of a log for an error message; empty when it cannot be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    tail(path, lines).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("service.log");
        for line in ["one", "two", "three"] {
            writeln!(append(&path).expect("open"), "{line}").expect("write");
        }
        assert_eq!(tail(&path, 2).expect("read"), "two\nthree");
        assert_eq!(tail(&path, 9).expect("read"), "one\ntwo\nthree");
        assert_eq!(log_tail(&dir.path().join("missing.log"), 5), "");
    }
}
