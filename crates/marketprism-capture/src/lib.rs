//! Capture files: exchange frames recorded as JSON Lines, optionally gzipped.
//!
//! One record per line, in receive order:
//!
//! ```json
//! {"venue":"binance-spot","kind":"ws","recv_ts":1633998512.0633569,
//!  "conn":"BINANCE.ws.1","url":"wss://...","payload":"<exact frame text>"}
//! ```
//!
//! `kind` is `ws` for a WebSocket frame and `rest` for a REST response body; `recv_ts` is the
//! recording host's receive time in float seconds. The simulator replays these files and the
//! parsers are tested against them.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

/// How a captured payload reached the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A WebSocket text frame.
    Ws,
    /// A REST response body.
    Rest,
}

/// One captured frame or response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureRecord {
    /// Capture venue label, e.g. `binance-spot`.
    pub venue: String,
    /// WebSocket frame or REST response.
    pub kind: RecordKind,
    /// Receive time on the recording host, float Unix seconds.
    pub recv_ts: f64,
    /// Connection label; frames of one WebSocket connection share it.
    pub conn: String,
    /// WebSocket endpoint or REST request URL.
    pub url: String,
    /// The payload text exactly as received.
    pub payload: String,
}

impl CaptureRecord {
    /// The receive time in Unix milliseconds.
    pub fn received_time_ms(&self) -> i64 {
        (self.recv_ts * 1000.0).round() as i64
    }
}

/// Why a capture file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("cannot read capture {path}: {source}")]
    Io {
        /// The capture file.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// No capture file name starts with the requested prefix.
    #[error("no capture in {dir} starts with {prefix:?}")]
    NoMatch {
        /// The captures directory.
        dir: PathBuf,
        /// The requested file-name prefix.
        prefix: String,
    },
    /// A line is not a valid capture record.
    #[error("{path}:{line}: invalid capture record: {source}")]
    Record {
        /// The capture file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// The decoding failure.
        source: serde_json::Error,
    },
}

/// The directory of the real exchange captures: `$MARKETPRISM_CAPTURES`, else the
/// repository's `tests/fixtures/captures/`.
pub fn captures_dir() -> PathBuf {
    std::env::var_os("MARKETPRISM_CAPTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/captures"),
        PathBuf::from,
    )
}

/// The capture files in [`captures_dir`] whose names start with `prefix`, sorted; an error
/// when none does, so a test over captures never passes on an empty set.
pub fn captures(prefix: &str) -> Result<Vec<PathBuf>, CaptureError> {
    let dir = captures_dir();
    let entries = std::fs::read_dir(&dir).map_err(|source| CaptureError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
        })
        .collect();
    if paths.is_empty() {
        return Err(CaptureError::NoMatch {
            dir,
            prefix: prefix.to_owned(),
        });
    }
    paths.sort();
    Ok(paths)
}

/// Reads every record of a capture file; `.gz` files are decompressed.
pub fn read_capture(path: &Path) -> Result<Vec<CaptureRecord>, CaptureError> {
    records(path)?.collect()
}

/// Streams the records of a capture file one line at a time, for captures larger than memory;
/// `.gz` files are decompressed.
pub fn records(
    path: &Path,
) -> Result<impl Iterator<Item = Result<CaptureRecord, CaptureError>>, CaptureError> {
    let path = path.to_owned();
    let file = File::open(&path).map_err(|source| CaptureError::Io {
        path: path.clone(),
        source,
    })?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|ext| ext == "gz") {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let lines = BufReader::new(reader).lines().enumerate();
    Ok(lines.filter_map(move |(index, line)| {
        let line = match line {
            Ok(line) => line,
            Err(source) => {
                return Some(Err(CaptureError::Io {
                    path: path.clone(),
                    source,
                }))
            }
        };
        if line.trim().is_empty() {
            return None;
        }
        Some(
            serde_json::from_str(&line).map_err(|source| CaptureError::Record {
                path: path.clone(),
                line: index + 1,
                source,
            }),
        )
    }))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_plain_and_gzipped_files_and_reports_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let line = r#"{"venue":"binance-spot","kind":"ws","recv_ts":1617566591.326123,"conn":"c","url":"wss://x","payload":"{}"}"#;

        let plain = dir.path().join("a.jsonl");
        std::fs::write(&plain, format!("{line}\n\n{line}\n")).expect("write");
        let records = read_capture(&plain).expect("plain capture");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].kind, RecordKind::Ws);
        assert_eq!(records[0].received_time_ms(), 1_617_566_591_326);

        let gzipped = dir.path().join("a.jsonl.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            File::create(&gzipped).expect("create"),
            Default::default(),
        );
        writeln!(encoder, "{line}").expect("write");
        encoder.finish().expect("finish");
        assert_eq!(read_capture(&gzipped).expect("gz capture").len(), 1);

        let broken = dir.path().join("b.jsonl");
        std::fs::write(&broken, format!("{line}\nnot json\n")).expect("write");
        match read_capture(&broken) {
            Err(CaptureError::Record { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a record error, got {other:?}"),
        }
    }
}
