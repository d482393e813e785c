//! The publisher's on-disk spool: a bounded FIFO of encoded messages that JetStream has not
//! acknowledged yet, kept in append-only segment files so that an outage of NATS costs no
//! data and a collector stopped during one republishes what it held at its next start.
//!
//! The directory holds `<id>.seg` segment files, read in id order, and a `lock` file that
//! keeps a second collector out. A segment is a sequence of frames:
//!
//! ```text
//! u32 LE body length | u32 LE CRC-32 of the body | body
//! body = u32 LE events | u16 LE subject length | subject
//!        | u16 LE header count | (u16 LE name length | name | u16 LE value length | value)*
//!        | payload
//! ```
//!
//! A frame is written with one `write` call, so a killed process leaves at most one torn
//! frame, at the end of the last segment. Opening the spool checks every frame's length and
//! checksum and cuts each segment at its first invalid frame, saying how many bytes it
//! dropped: a torn tail is discarded, never misread. Writes reach the page cache at once,
//! which survives the process; [`Spool::sync`] (called by the publisher every
//! `sync_interval`, on each new segment and at shutdown) makes them durable against a crash
//! of the machine.
//!
//! Records are read from a cursor and consumed (acknowledged) separately: a read record stays
//! in the spool until [`Spool::consume`] passes it, and [`Spool::rewind`] makes every
//! unconsumed record readable again, for a republish after a failure. A segment whose records
//! are all consumed is deleted. The spool holds at most `max_bytes` of segment files.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_nats::HeaderMap;
use bytes::Bytes;

/// Bytes of a frame before its body: length and checksum.
const FRAME_HEADER: u64 = 8;

/// A frame claiming a larger body is corrupt: no message comes close (NATS allows 64 MiB).
const MAX_BODY: u32 = 64 << 20;

/// The spool could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file operation failed.
    #[error("spool {path}: cannot {action}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The failure.
        source: io::Error,
    },
    /// Another process holds the spool.
    #[error("spool {path} is in use by another collector")]
    Locked {
        /// The spool directory.
        path: PathBuf,
    },
    /// A frame read back does not match its checksum (the file changed under the spool).
    #[error("spool {path}: corrupt frame at byte {offset}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Where the frame starts.
        offset: u64,
    },
}

/// One spooled message: what the publisher hands to JetStream.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The subject to publish on.
    pub subject: String,
    /// Its headers, `Nats-Msg-Id` among them.
    pub headers: HeaderMap,
    /// The message body.
    pub payload: Bytes,
    /// Events the body carries; none for a dead letter.
    pub events: usize,
}

/// A place in the spool: just after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    segment: u64,
    offset: u64,
    /// Records before it since the spool was opened.
    ordinal: u64,
}

/// Whether [`Spool::append`] stored the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored; it is read after every record appended before it.
    Stored,
    /// Not stored: it would take the spool past `max_bytes`.
    Full,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    /// Valid bytes in the file.
    len: u64,
}

/// A bounded FIFO of [`Record`]s on disk.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Existing segments in id order; the last one is written to.
    segments: VecDeque<Segment>,
    writer: Option<File>,
    /// The oldest unconsumed record starts here.
    head: Position,
    /// The next record to read starts here.
    cursor: Position,
    reader: Option<(u64, BufReader<File>)>,
    /// Records not yet consumed.
    records: u64,
    /// Whether something was written since the last sync.
    dirty: bool,
    /// Held for the spool's lifetime; the lock is released when it closes.
    _lock: File,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, bounded by `max_bytes`, keeping what a previous
    /// process left and dropping each segment's torn or corrupt tail.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        let io = |path: &Path, action| {
            let path = path.to_owned();
            move |source| SpoolError::Io {
                path,
                action,
                source,
            }
        };
        fs::create_dir_all(dir).map_err(io(dir, "create the directory"))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path, "open the lock file"))?;
        lock.try_lock().map_err(|error| match error {
            fs::TryLockError::WouldBlock => SpoolError::Locked {
                path: dir.to_owned(),
            },
            fs::TryLockError::Error(source) => SpoolError::Io {
                path: lock_path.clone(),
                action: "lock",
                source,
            },
        })?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir).map_err(io(dir, "list the directory"))? {
            let entry = entry.map_err(io(dir, "list the directory"))?;
            let name = entry.file_name();
            let id = name
                .to_str()
                .and_then(|name| name.strip_suffix(".seg"))
                .and_then(|id| id.parse::<u64>().ok());
            if let Some(id) = id {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut segments = VecDeque::new();
        let mut records = 0;
        for id in ids {
            let path = segment_path(dir, id);
            let (len, count, file_len) = scan(&path).map_err(io(&path, "read a segment"))?;
            if len < file_len {
                tracing::warn!(segment = %path.display(), dropped_bytes = file_len - len, "Dropped the spool segment's torn or corrupt tail.");
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io(&path, "open a segment"))?;
                file.set_len(len).map_err(io(&path, "truncate a segment"))?;
                file.sync_all().map_err(io(&path, "sync a segment"))?;
            }
            if len == 0 {
                fs::remove_file(&path).map_err(io(&path, "remove a segment"))?;
                continue;
            }
            records += count;
            segments.push_back(Segment { id, len });
        }
        let head = Position {
            segment: segments.front().map_or(0, |segment| segment.id),
            offset: 0,
            ordinal: 0,
        };
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            // Segments are small enough that consumed records are freed as the spool drains,
            // large enough that files stay few.
            segment_bytes: (max_bytes / 8).clamp(4 << 10, 64 << 20),
            segments,
            writer: None,
            head,
            cursor: head,
            reader: None,
            records,
            dirty: false,
            _lock: lock,
        })
    }

    /// The spool's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Records appended and not yet consumed.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// True when every appended record is consumed.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes of segment files on disk (consumed records of the oldest segment included).
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|segment| segment.len).sum()
    }

    /// The bound on [`bytes`](Self::bytes).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Appends `record` unless that would take the spool past `max_bytes`.
    pub fn append(&mut self, record: &Record) -> Result<Appended, SpoolError> {
        let frame = encode(record);
        if self.bytes() + frame.len() as u64 > self.max_bytes {
            return Ok(Appended::Full);
        }
        self.write_frame(&frame)?;
        Ok(Appended::Stored)
    }

    /// Appends `record` even past `max_bytes`: for the few gap records that account for what
    /// the bound made the spool drop.
    pub fn append_unbounded(&mut self, record: &Record) -> Result<(), SpoolError> {
        self.write_frame(&encode(record))
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<(), SpoolError> {
        let rotate = match self.segments.back() {
            None => true,
            Some(last) => last.len > 0 && last.len + frame.len() as u64 > self.segment_bytes,
        };
        if rotate || self.writer.is_none() {
            self.open_writer(rotate)?;
        }
        let Some(last) = self.segments.back_mut() else {
            unreachable!("open_writer leaves a segment to write to");
        };
        let path = segment_path(&self.dir, last.id);
        let writer = self.writer.as_mut().ok_or_else(|| SpoolError::Io {
            path: path.clone(),
            action: "write",
            source: io::Error::other("no segment open for writing"),
        })?;
        writer.write_all(frame).map_err(|source| SpoolError::Io {
            path,
            action: "write",
            source,
        })?;
        last.len += frame.len() as u64;
        self.records += 1;
        self.dirty = true;
        Ok(())
    }

    /// Opens the last segment for appending, or a new one after it when `new_segment`.
    fn open_writer(&mut self, new_segment: bool) -> Result<(), SpoolError> {
        if new_segment {
            self.sync()?;
            let id = self
                .segments
                .back()
                .map_or(self.head.segment, |last| last.id + 1);
            if self.segments.is_empty() {
                self.head = Position {
                    segment: id,
                    offset: 0,
                    ordinal: self.head.ordinal,
                };
                self.cursor = self.head;
            }
            self.segments.push_back(Segment { id, len: 0 });
        }
        let Some(last) = self.segments.back() else {
            unreachable!("a segment exists once one is created");
        };
        let path = segment_path(&self.dir, last.id);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| SpoolError::Io {
                path: path.clone(),
                action: "open a segment",
                source,
            })?;
        if new_segment {
            // The new file's name must survive a crash too.
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|source| SpoolError::Io {
                    path: self.dir.clone(),
                    action: "sync the directory",
                    source,
                })?;
        }
        self.writer = Some(file);
        Ok(())
    }

    /// Makes everything written so far durable (`fdatasync`).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if let (true, Some(writer)) = (self.dirty, &self.writer) {
            writer.sync_data().map_err(|source| SpoolError::Io {
                path: self.dir.clone(),
                action: "sync a segment",
                source,
            })?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Whether something was written since the last [`sync`](Self::sync).
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The next unread record and the position just after it; `None` when every record has
    /// been read.
    pub fn read_next(&mut self) -> Result<Option<(Record, Position)>, SpoolError> {
        loop {
            let Some(index) = self
                .segments
                .iter()
                .position(|segment| segment.id == self.cursor.segment)
            else {
                return Ok(None);
            };
            let segment = &self.segments[index];
            if self.cursor.offset < segment.len {
                break;
            }
            match self.segments.get(index + 1) {
                Some(next) => {
                    self.cursor = Position {
                        segment: next.id,
                        offset: 0,
                        ordinal: self.cursor.ordinal,
                    };
                }
                None => return Ok(None),
            }
        }
        let path = segment_path(&self.dir, self.cursor.segment);
        let io = |source| SpoolError::Io {
            path: path.clone(),
            action: "read a segment",
            source,
        };
        if self.reader.as_ref().map(|(id, _)| *id) != Some(self.cursor.segment) {
            let mut file = File::open(&path).map_err(io)?;
            file.seek(SeekFrom::Start(self.cursor.offset)).map_err(io)?;
            self.reader = Some((self.cursor.segment, BufReader::new(file)));
        }
        let Some((_, reader)) = self.reader.as_mut() else {
            unreachable!("the reader was just opened");
        };
        let body = read_frame(reader).map_err(io)?.ok_or(SpoolError::Corrupt {
            path: path.clone(),
            offset: self.cursor.offset,
        })?;
        let record = decode(body).ok_or(SpoolError::Corrupt {
            path: path.clone(),
            offset: self.cursor.offset,
        })?;
        self.cursor.offset += FRAME_HEADER + record.1;
        self.cursor.ordinal += 1;
        Ok(Some((record.0, self.cursor)))
    }

    /// Makes every unconsumed record readable again, oldest first.
    pub fn rewind(&mut self) {
        self.cursor = self.head;
        self.reader = None;
    }

    /// Treats every record appended so far as read, so that [`read_next`](Self::read_next) returns only
    /// later ones.
    pub fn skip_to_end(&mut self) -> Option<Position> {
        let last = self.segments.back()?;
        self.cursor = Position {
            segment: last.id,
            offset: last.len,
            ordinal: self.head.ordinal + self.records,
        };
        self.reader = None;
        Some(self.cursor)
    }

    /// Marks the records up to `end` (a position [`read_next`](Self::read_next) or
    /// [`skip_to_end`](Self::skip_to_end) returned) as acknowledged, deleting segments that
    /// hold nothing else.
    pub fn consume(&mut self, end: Position) -> Result<(), SpoolError> {
        if end <= self.head {
            return Ok(());
        }
        self.records = self.records.saturating_sub(end.ordinal - self.head.ordinal);
        self.head = end;
        if self.cursor < self.head {
            self.rewind();
        }
        while let Some(first) = self.segments.front() {
            let finished = first.id < self.head.segment
                || (first.id == self.head.segment && self.head.offset >= first.len);
            let is_last = self.segments.len() == 1;
            if !finished || (is_last && self.records > 0) {
                break;
            }
            let path = segment_path(&self.dir, first.id);
            if is_last {
                self.writer = None;
            }
            if self.reader.as_ref().map(|(id, _)| *id) == Some(first.id) {
                self.reader = None;
            }
            fs::remove_file(&path).map_err(|source| SpoolError::Io {
                path,
                action: "remove a consumed segment",
                source,
            })?;
            let removed_id = first.id;
            self.segments.pop_front();
            let next = self
                .segments
                .front()
                .map_or(removed_id + 1, |segment| segment.id);
            if self.head.segment <= removed_id || self.segments.is_empty() {
                self.head = Position {
                    segment: next,
                    offset: 0,
                    ordinal: self.head.ordinal,
                };
            }
            if self.cursor.segment <= removed_id {
                self.cursor = self.head;
            }
        }
        if self.segments.is_empty() {
            self.dirty = false;
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Valid bytes, valid frames and the length of a segment file.
fn scan(path: &Path) -> io::Result<(u64, u64, u64)> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let (mut valid, mut frames) = (0, 0);
    while let Some(body) = read_frame(&mut reader)? {
        let length = body.len() as u64;
        if decode(body).is_none() {
            break;
        }
        valid += FRAME_HEADER + length;
        frames += 1;
    }
    Ok((valid, frames, file_len))
}

/// The next frame's body, or `None` at the end of the data or at a torn or corrupt frame.
fn read_frame(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0; FRAME_HEADER as usize];
    match reader.read_exact(&mut header) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
    let length = u32::from_le_bytes([l0, l1, l2, l3]);
    let checksum = u32::from_le_bytes([c0, c1, c2, c3]);
    if length > MAX_BODY {
        return Ok(None);
    }
    let mut body = vec![0; length as usize];
    match reader.read_exact(&mut body) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    if crc32fast::hash(&body) != checksum {
        return Ok(None);
    }
    Ok(Some(body))
}

/// A record as one frame.
fn encode(record: &Record) -> Vec<u8> {
    let mut body = Vec::with_capacity(record.payload.len() + record.subject.len() + 64);
    body.extend_from_slice(
        &u32::try_from(record.events)
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    put_short(&mut body, record.subject.as_bytes());
    let headers: Vec<(&str, &str)> = record
        .headers
        .iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |value| (name.as_ref(), value.as_str()))
        })
        .collect();
    body.extend_from_slice(&(headers.len() as u16).to_le_bytes());
    for (name, value) in headers {
        put_short(&mut body, name.as_bytes());
        put_short(&mut body, value.as_bytes());
    }
    body.extend_from_slice(&record.payload);
    let mut frame = Vec::with_capacity(body.len() + FRAME_HEADER as usize);
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Writes a string of at most `u16::MAX` bytes with its length (subjects and headers are far
/// shorter; a longer one is cut).
fn put_short(body: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
    body.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    body.extend_from_slice(bytes);
}

/// A frame body as a record, with the body's length; `None` when it does not parse.
fn decode(body: Vec<u8>) -> Option<(Record, u64)> {
    let length = body.len() as u64;
    let body = Bytes::from(body);
    let mut at = 0;
    let take = |at: &mut usize, count: usize| -> Option<Bytes> {
        let slice = body.get(*at..*at + count)?;
        *at += count;
        Some(body.slice_ref(slice))
    };
    let short = |at: &mut usize| -> Option<usize> {
        let bytes = take(at, 2)?;
        Some(usize::from(u16::from_le_bytes([bytes[0], bytes[1]])))
    };
    let events = take(&mut at, 4)?;
    let events = u32::from_le_bytes([events[0], events[1], events[2], events[3]]) as usize;
    let subject_len = short(&mut at)?;
    let subject = String::from_utf8(take(&mut at, subject_len)?.to_vec()).ok()?;
    let header_count = short(&mut at)?;
    let mut headers = HeaderMap::new();
    for _ in 0..header_count {
        let name_len = short(&mut at)?;
        let name = String::from_utf8(take(&mut at, name_len)?.to_vec()).ok()?;
        let value_len = short(&mut at)?;
        let value = String::from_utf8(take(&mut at, value_len)?.to_vec()).ok()?;
        headers.append(name.as_str(), value.as_str());
    }
    let payload = body.slice(at..);
    Some((
        Record {
            subject,
            headers,
            payload,
            events,
        },
        length,
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn record(index: usize) -> Record {
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("trade.binance.spot.BTC-USDT:t:{index}").as_str(),
        );
        Record {
            subject: "trade.binance.spot.BTC-USDT".into(),
            headers,
            payload: Bytes::from(format!(
                "{{\"trade_id\":\"{index}\",\"pad\":\"{}\"}}",
                "x".repeat(index % 50)
            )),
            events: 1 + index % 3,
        }
    }

    /// Reads every unread record, consuming each as it goes.
    fn drain(spool: &mut Spool) -> Vec<Record> {
        let mut read = Vec::new();
        while let Some((record, end)) = spool.read_next().expect("read") {
            spool.consume(end).expect("consume");
            read.push(record);
        }
        read
    }

    fn segments(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .expect("list")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "seg"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn records_come_back_whole_in_order_across_segments_and_are_deleted_when_consumed() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 4 KiB segments: the records below take several.
        let mut spool = Spool::open(dir.path(), 32 << 10).expect("open");
        let written: Vec<Record> = (0..200).map(record).collect();
        for record in &written {
            assert_eq!(spool.append(record).expect("append"), Appended::Stored);
        }
        assert_eq!(spool.records(), 200);
        assert!(segments(dir.path()).len() > 2, "{:?}", segments(dir.path()));
        assert_eq!(drain(&mut spool), written);
        assert!(spool.is_empty());
        assert_eq!(spool.bytes(), 0);
        assert!(segments(dir.path()).is_empty());
        // It is usable again once empty.
        spool.append(&record(7)).expect("append");
        assert_eq!(drain(&mut spool), [record(7)]);
    }

    #[test]
    fn a_rewind_reads_again_everything_not_consumed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 32 << 10).expect("open");
        for index in 0..100 {
            spool.append(&record(index)).expect("append");
        }
        let mut ends = Vec::new();
        for _ in 0..60 {
            ends.push(spool.read_next().expect("read").expect("a record").1);
        }
        spool.consume(ends[19]).expect("consume");
        spool.rewind();
        assert_eq!(spool.records(), 80);
        assert_eq!(drain(&mut spool), (20..100).map(record).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_spool_refuses_records_until_some_are_consumed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let max_bytes = 16 << 10;
        let mut spool = Spool::open(dir.path(), max_bytes).expect("open");
        let mut stored = 0;
        while spool.append(&record(stored)).expect("append") == Appended::Stored {
            stored += 1;
        }
        assert!(spool.bytes() <= max_bytes);
        assert!(stored > 50, "{stored} records in {max_bytes} bytes");
        // Consuming a whole segment frees room.
        let mut freed = false;
        while let Some((_, end)) = spool.read_next().expect("read") {
            spool.consume(end).expect("consume");
            if spool.append(&record(stored)).expect("append") == Appended::Stored {
                freed = true;
                break;
            }
        }
        assert!(freed);
        assert!(spool.bytes() <= max_bytes);
        // Gaps go in even when full.
        spool.append_unbounded(&record(0)).expect("append");
        assert!(spool.records() > 0);
    }

    #[test]
    fn a_reopened_spool_keeps_what_was_not_consumed() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 64 << 10).expect("open");
            for index in 0..300 {
                spool.append(&record(index)).expect("append");
            }
            // Consumed records of whole segments are gone; the rest of the oldest segment
            // comes back (JetStream deduplicates what had been acknowledged).
            for _ in 0..10 {
                let (_, end) = spool.read_next().expect("read").expect("a record");
                spool.consume(end).expect("consume");
            }
            spool.sync().expect("sync");
        }
        let mut spool = Spool::open(dir.path(), 64 << 10).expect("reopen");
        let read = drain(&mut spool);
        assert_eq!(read.last(), Some(&record(299)));
        assert!(read.len() >= 290 && read.len() <= 300, "{}", read.len());
        let first = 300 - read.len();
        assert_eq!(read, (first..300).map(record).collect::<Vec<_>>());
    }

    #[test]
    fn a_second_collector_cannot_open_the_same_spool() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _spool = Spool::open(dir.path(), 64 << 10).expect("open");
        assert!(matches!(
            Spool::open(dir.path(), 64 << 10),
            Err(SpoolError::Locked { .. })
        ));
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_dropped_not_misread() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 1 << 20).expect("open");
            for index in 0..10 {
                spool.append(&record(index)).expect("append");
            }
        }
        let [segment] = &segments(dir.path())[..] else {
            panic!("one segment expected");
        };
        let whole = fs::read(segment).expect("read");

        // A frame cut short by a crash: its header and part of its body.
        let torn = encode(&record(10));
        let mut file = OpenOptions::new().append(true).open(segment).expect("open");
        file.write_all(&torn[..torn.len() - 3]).expect("write");
        drop(file);
        let mut spool = Spool::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(fs::read(segment).expect("read"), whole);
        assert_eq!(drain(&mut spool), (0..10).map(record).collect::<Vec<_>>());
        drop(spool);

        // A whole frame whose body does not match its checksum, and a length past the end.
        for index in 0..10 {
            let mut spool = Spool::open(dir.path(), 1 << 20).expect("reopen");
            spool.append(&record(index)).expect("append");
        }
        let [segment] = &segments(dir.path())[..] else {
            panic!("one segment expected");
        };
        let mut bytes = fs::read(segment).expect("read");
        let good = bytes.len();
        let mut corrupt = encode(&record(11));
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        bytes.extend_from_slice(&corrupt);
        bytes.extend_from_slice(&encode(&record(12)));
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        fs::write(segment, &bytes).expect("write");
        let mut spool = Spool::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(fs::metadata(segment).expect("stat").len(), good as u64);
        assert_eq!(drain(&mut spool), (0..10).map(record).collect::<Vec<_>>());
    }
}
