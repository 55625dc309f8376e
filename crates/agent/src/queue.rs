//! The on-disk queue of readings: what makes "a reading, once taken, is
//! never lost" true across crashes, power cuts, server restarts and network
//! outages.
//!
//! # What it guarantees
//! - A reading counts as taken only when [`Queue::append`] returns: its
//!   record is written and `fdatasync`'d first.
//! - Readings come back in the order they were taken, each with the
//!   sequence number it was given, until they are acknowledged.
//! - The acknowledged position survives a crash (written to a temporary
//!   file, synced, renamed over the old one, directory synced). It may lag
//!   the truth by up to [`ACK_PERSIST_INTERVAL`]; the lag only causes
//!   resends, which the server recognises as duplicates.
//! - A torn last record (a crash mid-write) is detected by its length and
//!   checksum and cut off on open; a bad record anywhere else is corruption
//!   and [`Queue::open`] refuses, naming the file and offset, instead of
//!   guessing.
//! - A segment file is deleted only when every record in it is acknowledged
//!   and that acknowledgement is on disk.
//! - The queue belongs to one device: once the server has named the device
//!   ([`Queue::bind`]), a token of another device is refused.
//! - Sequence numbers are never reused: a restart continues after the last
//!   record (or the last acknowledged one); a new queue for a device the
//!   server already holds readings of continues after the server's last.
//! - One process at a time: an exclusive lock on `LOCK`.
//!
//! # Layout of the directory
//! - `seg-<first local number, 20 digits>.q`: a header (magic, first
//!   number, unit, CRC) then fixed 40-byte records (local number, time in
//!   Unix ns, value, u_t, flags, CRC-32). All records of a segment share its
//!   unit; a new unit starts a new segment.
//! - `acked`: the last acknowledged local number.
//! - `meta.json`: the device the queue is bound to, its unit, and how local
//!   numbers map to the device's sequence numbers.
//! - `clock.json`: the last clock-offset estimate (see `clock`).
//! - `quarantine.jsonl`: readings the server refused as invalid, one JSON
//!   object per line, with the server's reason.
//!
//! Local numbers count records 1, 2, 3, … in this directory; the wire
//! sequence number is the local number plus an offset that is fixed when
//! the queue is bound (and raised only if the server is found to hold
//! numbers beyond ours: see [`Queue::bind`]).
//!
//! It never blocks on the network and never deletes an unacknowledged
//! record. All its methods do blocking file I/O: call them from a blocking
//! thread (`spawn_blocking`), not from an async task.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiliang_protocol::devices::{DeviceReading, MAX_UNIT_CHARS};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::util::crc32;

/// Records per segment file before a new one starts (about 4 MB).
pub const DEFAULT_SEGMENT_RECORDS: u64 = 100_000;
/// How often, at most, a moving acknowledged position is written to disk.
pub const ACK_PERSIST_INTERVAL: Duration = Duration::from_secs(1);

const SEGMENT_MAGIC: &[u8; 8] = b"JLQSEG01";
const RECORD_LEN: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("queue file {file}: {source}")]
    File {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("queue directory {0} is in use by another agent (its LOCK file is held)")]
    Locked(PathBuf),
    #[error(
        "queue file {file} is corrupt at byte {offset}: {what}. Records before it are intact; \
         move the file aside (it is not deleted automatically) and restart"
    )]
    Corrupt {
        file: PathBuf,
        offset: u64,
        what: String,
    },
    #[error(
        "queue directory {dir} belongs to device {recorded}, but the token is for device {offered}: \
         use a separate --queue directory for each device"
    )]
    OtherDevice {
        dir: PathBuf,
        recorded: Uuid,
        offered: Uuid,
    },
    #[error("unit `{0}` is longer than {MAX_UNIT_CHARS} characters")]
    UnitTooLong(String),
    #[error("{0} is not a time a reading can carry (years 1970–2262)")]
    BadTime(String),
    #[error("{file}: {what}")]
    BadState { file: PathBuf, what: String },
}

pub type Result<T> = std::result::Result<T, QueueError>;

/// A reading as the queue holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Position in this queue directory (1, 2, 3, …).
    pub local: u64,
    /// Sequence number on the wire.
    pub seq: u64,
    pub t: OffsetDateTime,
    pub value: f64,
    pub unit: String,
    pub u_t: f64,
}

impl Stored {
    pub fn to_wire(&self) -> DeviceReading {
        DeviceReading {
            seq: self.seq,
            t: self.t,
            value: self.value,
            unit: self.unit.clone(),
            u_t: self.u_t,
        }
    }
}

/// The device binding and the local → wire numbering.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub version: u32,
    pub device_id: Option<Uuid>,
    /// The device's unit as the server last named it.
    pub device_unit: Option<String>,
    /// `(from_local, offset)`, increasing: a record's wire number is its
    /// local number plus the offset of the last entry with `from_local` ≤
    /// it. Empty: offset 0.
    pub offsets: Vec<(u64, u64)>,
}

impl Meta {
    fn offset_for(&self, local: u64) -> u64 {
        self.offsets
            .iter()
            .rev()
            .find(|(from, _)| *from <= local)
            .map_or(0, |(_, off)| *off)
    }
}

/// What [`Queue::bind`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// First contact: the queue now belongs to the device. `first_seq` is
    /// the wire number its first unsent reading will carry.
    New { first_seq: u64 },
    /// The queue already belonged to this device.
    Same,
    /// The server holds numbers beyond the queue's last (another agent with
    /// the same token, or a queue restored from a backup): readings not yet
    /// written will continue after `server_last`. Queued readings numbered
    /// up to it may be refused as duplicates.
    Jumped { queue_last: u64, server_last: u64 },
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub segment_records: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            segment_records: DEFAULT_SEGMENT_RECORDS,
        }
    }
}

#[derive(Debug, Clone)]
struct Segment {
    path: PathBuf,
    first: u64,
    count: u64,
    unit: String,
    header_len: u64,
}

impl Segment {
    fn last(&self) -> u64 {
        self.first + self.count - 1
    }
}

/// Summary for `jiliang-agent status` and the status frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub device_id: Option<Uuid>,
    pub device_unit: Option<String>,
    /// Last local number written (0: none).
    pub last_local: u64,
    /// Wire number of the last reading written (0: none).
    pub last_seq: u64,
    /// Last acknowledged local number.
    pub acked_local: u64,
    pub depth: u64,
    pub segments: usize,
    pub quarantined: u64,
}

pub struct Queue {
    dir: PathBuf,
    opts: Options,
    segments: BTreeMap<u64, Segment>,
    writer: Option<File>,
    reader: Option<(u64, File)>,
    meta: Meta,
    acked: u64,
    acked_on_disk: u64,
    acked_written_at: Option<Instant>,
    next_local: u64,
    quarantined: u64,
    _lock: File,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("dir", &self.dir)
            .field("acked", &self.acked)
            .field("next_local", &self.next_local)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Open (creating if needed) the queue in `dir`: take the lock, check
    /// every record, cut a torn tail, finish any deletion a crash
    /// interrupted.
    pub fn open(dir: &Path, opts: Options) -> Result<Self> {
        let io_err = |source| QueueError::Io {
            dir: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(io_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(QueueError::Locked(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let meta: Meta = read_json(&dir.join("meta.json"))?.unwrap_or(Meta {
            version: 1,
            ..Meta::default()
        });
        let acked = read_acked(&dir.join("acked"))?;
        let quarantined = count_lines(&dir.join("quarantine.jsonl"))?;

        let mut paths: Vec<(u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(first) = name
                .strip_prefix("seg-")
                .and_then(|n| n.strip_suffix(".q"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                paths.push((first, entry.path()));
            }
            // Temporary files of an interrupted atomic write: the rename
            // never happened, so the old file is the truth.
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        paths.sort();

        let mut segments = BTreeMap::new();
        let n = paths.len();
        let mut expected_first: Option<u64> = None;
        for (i, (first, path)) in paths.into_iter().enumerate() {
            let is_last = i + 1 == n;
            let Some(seg) = scan_segment(&path, first, is_last)? else {
                continue;
            };
            if let Some(exp) = expected_first
                && seg.first != exp
            {
                return Err(QueueError::Corrupt {
                    file: path,
                    offset: 0,
                    what: format!(
                        "starts at local number {} but {exp} was expected",
                        seg.first
                    ),
                });
            }
            expected_first = Some(seg.first + seg.count);
            segments.insert(seg.first, seg);
        }
        let last_written = segments
            .values()
            .next_back()
            .map_or(0, |s| s.first + s.count - 1);
        if let Some(s) = segments.values().next()
            && s.first > acked + 1
        {
            return Err(QueueError::Corrupt {
                file: s.path.clone(),
                offset: 0,
                what: format!(
                    "the queue starts at local number {} but only {acked} are acknowledged: \
                     records {}..{} are missing",
                    s.first,
                    acked + 1,
                    s.first - 1
                ),
            });
        }
        let mut q = Self {
            dir: dir.to_owned(),
            opts: Options {
                segment_records: opts.segment_records.max(1),
            },
            segments,
            writer: None,
            reader: None,
            meta,
            acked,
            acked_on_disk: acked,
            acked_written_at: None,
            next_local: last_written.max(acked) + 1,
            quarantined,
            _lock: lock,
        };
        q.delete_acknowledged_segments()?;
        Ok(q)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Readings taken and not yet acknowledged.
    pub fn depth(&self) -> u64 {
        self.next_local - 1 - self.acked
    }

    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Local number of the last record written (0: none ever).
    pub fn last_local(&self) -> u64 {
        self.next_local - 1
    }

    pub fn quarantined(&self) -> u64 {
        self.quarantined
    }

    pub fn wire_seq(&self, local: u64) -> u64 {
        local + self.meta.offset_for(local)
    }

    pub fn summary(&self) -> Summary {
        let last_local = self.last_local();
        Summary {
            device_id: self.meta.device_id,
            device_unit: self.meta.device_unit.clone(),
            last_local,
            last_seq: if last_local == 0 {
                0
            } else {
                self.wire_seq(last_local)
            },
            acked_local: self.acked,
            depth: self.depth(),
            segments: self.segments.len(),
            quarantined: self.quarantined,
        }
    }

    /// Take a reading: returns once it is on disk.
    pub fn append(
        &mut self,
        t: OffsetDateTime,
        value: f64,
        unit: &str,
        u_t: f64,
    ) -> Result<Stored> {
        if unit.chars().count() > MAX_UNIT_CHARS {
            return Err(QueueError::UnitTooLong(unit.to_owned()));
        }
        let nanos = i64::try_from(t.unix_timestamp_nanos())
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| QueueError::BadTime(t.to_string()))?;
        let local = self.next_local;
        let needs_new = match self.segments.values().next_back() {
            Some(s) => {
                self.writer.is_none() || s.unit != unit || s.count >= self.opts.segment_records
            }
            None => true,
        };
        if needs_new {
            self.start_segment(local, unit)?;
        }
        let seg = self
            .segments
            .values_mut()
            .next_back()
            .ok_or_else(|| QueueError::BadState {
                file: self.dir.clone(),
                what: "no segment to write to".into(),
            })?;
        let file = self.writer.as_mut().ok_or_else(|| QueueError::BadState {
            file: seg.path.clone(),
            what: "segment not open for writing".into(),
        })?;
        let rec = encode_record(local, nanos, value, u_t);
        let fail = |source| QueueError::File {
            file: seg.path.clone(),
            source,
        };
        // After a failed write the writer is forgotten: the next append
        // starts a fresh segment.
        if let Err(e) = file.write_all(&rec).and_then(|()| file.sync_data()) {
            // Best effort: take the partial record back so this segment
            // stays whole if it does not end up last.
            let _ = file.set_len(seg.header_len + seg.count * RECORD_LEN as u64);
            self.writer = None;
            return Err(fail(e));
        }
        seg.count += 1;
        self.next_local += 1;
        Ok(Stored {
            local,
            seq: local + self.meta.offset_for(local),
            t,
            value,
            unit: unit.to_owned(),
            u_t,
        })
    }

    fn start_segment(&mut self, first: u64, unit: &str) -> Result<()> {
        self.writer = None;
        // A segment left empty by a failed write would break the contiguity
        // check on the next open: drop it.
        if let Some((&k, s)) = self.segments.iter().next_back()
            && s.count == 0
        {
            let _ = fs::remove_file(&s.path);
            self.segments.remove(&k);
        }
        let path = self.dir.join(format!("seg-{first:020}.q"));
        let fail = |source| QueueError::File {
            file: path.clone(),
            source,
        };
        let mut header = Vec::with_capacity(8 + 8 + 1 + unit.len() + 4);
        header.extend_from_slice(SEGMENT_MAGIC);
        header.extend_from_slice(&first.to_le_bytes());
        let unit_len =
            u8::try_from(unit.len()).map_err(|_| QueueError::UnitTooLong(unit.to_owned()))?;
        header.push(unit_len);
        header.extend_from_slice(unit.as_bytes());
        let crc = crc32(&header);
        header.extend_from_slice(&crc.to_le_bytes());
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(fail)?;
        file.write_all(&header)
            .and_then(|()| file.sync_all())
            .map_err(fail)?;
        sync_dir(&self.dir).map_err(|source| QueueError::Io {
            dir: self.dir.clone(),
            source,
        })?;
        self.segments.insert(
            first,
            Segment {
                path,
                first,
                count: 0,
                unit: unit.to_owned(),
                header_len: header.len() as u64,
            },
        );
        self.writer = Some(file);
        Ok(())
    }

    /// Up to `max` readings after local number `after`, in order.
    pub fn read_after(&mut self, after: u64, max: usize) -> Result<Vec<Stored>> {
        let mut out = Vec::new();
        let mut next = after + 1;
        while out.len() < max && next < self.next_local {
            let Some(seg) = self
                .segments
                .range(..=next)
                .next_back()
                .map(|(_, s)| s.clone())
            else {
                break;
            };
            if next > seg.last() {
                break;
            }
            let n = (seg.last() - next + 1).min((max - out.len()) as u64);
            let fail = |source| QueueError::File {
                file: seg.path.clone(),
                source,
            };
            let reader = match &mut self.reader {
                Some((first, f)) if *first == seg.first => f,
                _ => {
                    let f = File::open(&seg.path).map_err(fail)?;
                    &mut self.reader.insert((seg.first, f)).1
                }
            };
            let offset = seg.header_len + (next - seg.first) * RECORD_LEN as u64;
            let mut buf = vec![0u8; n as usize * RECORD_LEN];
            reader
                .seek(SeekFrom::Start(offset))
                .and_then(|_| reader.read_exact(&mut buf))
                .map_err(fail)?;
            for (i, rec) in buf.chunks_exact(RECORD_LEN).enumerate() {
                let local = next + i as u64;
                let at = offset + (i * RECORD_LEN) as u64;
                let corrupt = |what: String| QueueError::Corrupt {
                    file: seg.path.clone(),
                    offset: at,
                    what,
                };
                let (l, nanos, value, u_t) =
                    decode_record(rec).ok_or_else(|| corrupt("checksum mismatch".into()))?;
                if l != local {
                    return Err(corrupt(format!("holds local number {l}, expected {local}")));
                }
                let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
                    .map_err(|e| corrupt(format!("bad time: {e}")))?;
                out.push(Stored {
                    local,
                    seq: self.wire_seq(local),
                    t,
                    value,
                    unit: seg.unit.clone(),
                    u_t,
                });
            }
            next += n;
        }
        Ok(out)
    }

    /// Everything up to local number `through` is acknowledged. Written to
    /// disk at most every [`ACK_PERSIST_INTERVAL`]; call [`Queue::flush`]
    /// before exiting.
    pub fn ack(&mut self, through: u64) -> Result<()> {
        if through <= self.acked {
            return Ok(());
        }
        self.acked = through.min(self.last_local());
        let due = self
            .acked_written_at
            .is_none_or(|t| t.elapsed() >= ACK_PERSIST_INTERVAL);
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Write the acknowledged position now and delete the segments it
    /// covers.
    pub fn flush(&mut self) -> Result<()> {
        if self.acked != self.acked_on_disk {
            write_atomic(&self.dir, "acked", format!("{}\n", self.acked).as_bytes())?;
            self.acked_on_disk = self.acked;
        }
        self.acked_written_at = Some(Instant::now());
        self.delete_acknowledged_segments()
    }

    fn delete_acknowledged_segments(&mut self) -> Result<()> {
        let done: Vec<u64> = self
            .segments
            .values()
            // Never the segment being written to: its next record would
            // have nowhere to go.
            .filter(|s| s.count > 0 && s.last() <= self.acked_on_disk)
            .filter(|s| {
                Some(s.first) != self.segments.keys().next_back().copied() || self.writer.is_none()
            })
            .map(|s| s.first)
            .collect();
        for first in done {
            if let Some(seg) = self.segments.remove(&first) {
                if matches!(&self.reader, Some((f, _)) if *f == first) {
                    self.reader = None;
                }
                if self.segments.is_empty() {
                    self.writer = None;
                }
                fs::remove_file(&seg.path).map_err(|source| QueueError::File {
                    file: seg.path.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Move the first unacknowledged reading, which the server refused as
    /// invalid, to `quarantine.jsonl` (synced) and acknowledge it.
    pub fn quarantine(&mut self, reading: &Stored, code: &str, message: &str) -> Result<()> {
        if reading.local != self.acked + 1 {
            return Err(QueueError::BadState {
                file: self.dir.join("quarantine.jsonl"),
                what: format!(
                    "only the first unacknowledged reading ({}) can be quarantined, not {}",
                    self.acked + 1,
                    reading.local
                ),
            });
        }
        #[derive(Serialize)]
        struct Line<'a> {
            #[serde(flatten)]
            reading: DeviceReading,
            code: &'a str,
            message: &'a str,
            #[serde(with = "time::serde::rfc3339")]
            quarantined_at: OffsetDateTime,
        }
        let line = Line {
            reading: reading.to_wire(),
            code,
            message,
            quarantined_at: OffsetDateTime::now_utc(),
        };
        let path = self.dir.join("quarantine.jsonl");
        let fail = |source| QueueError::File {
            file: path.clone(),
            source,
        };
        let mut text = serde_json::to_string(&line).map_err(|e| fail(io::Error::other(e)))?;
        text.push('\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(fail)?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(fail)?;
        self.quarantined += 1;
        self.acked = reading.local;
        self.flush()
    }

    /// Bind the queue to the device the server named in `welcome`, and
    /// settle the numbering (see [`Bound`]).
    pub fn bind(&mut self, device_id: Uuid, device_unit: &str, server_last: u64) -> Result<Bound> {
        let outcome = match self.meta.device_id {
            Some(recorded) if recorded != device_id => {
                return Err(QueueError::OtherDevice {
                    dir: self.dir.clone(),
                    recorded,
                    offered: device_id,
                });
            }
            None => {
                // Nothing was ever sent from an unbound queue (sending needs
                // a welcome), so every local number may still be chosen.
                if server_last > 0 {
                    self.meta.offsets = vec![(1, server_last)];
                }
                self.meta.device_id = Some(device_id);
                Bound::New {
                    first_seq: self.wire_seq(self.acked + 1),
                }
            }
            Some(_) => {
                let queue_last = self.wire_seq(self.last_local());
                if server_last > queue_last {
                    // Only readings not yet written can be renumbered: the
                    // ones on disk may have been sent already.
                    let from = self.next_local;
                    self.meta.offsets.push((from, server_last + 1 - from));
                    Bound::Jumped {
                        queue_last,
                        server_last,
                    }
                } else {
                    Bound::Same
                }
            }
        };
        self.meta.device_unit = Some(device_unit.to_owned());
        let json = serde_json::to_vec_pretty(&self.meta).map_err(|e| QueueError::File {
            file: self.dir.join("meta.json"),
            source: io::Error::other(e),
        })?;
        write_atomic(&self.dir, "meta.json", &json)?;
        Ok(outcome)
    }
}

/// What a queue directory holds, read without taking its lock (so it works
/// while an agent runs; the figures are then a moment's snapshot) and
/// without checking or repairing records.
pub fn inspect(dir: &Path) -> Result<Summary> {
    if !dir.is_dir() {
        return Err(QueueError::Io {
            dir: dir.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "no such directory"),
        });
    }
    let meta: Meta = read_json(&dir.join("meta.json"))?.unwrap_or_default();
    let acked = read_acked(&dir.join("acked"))?;
    let quarantined = count_lines(&dir.join("quarantine.jsonl"))?;
    let mut segments = 0;
    let mut last_local = acked;
    for entry in fs::read_dir(dir).map_err(|source| QueueError::Io {
        dir: dir.to_owned(),
        source,
    })? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".q"))
        {
            continue;
        }
        let Ok(data) = fs::read(entry.path()) else {
            continue;
        };
        if let Some((first, _, header_len)) = parse_header(&data) {
            let count = ((data.len() - header_len) / RECORD_LEN) as u64;
            segments += 1;
            if count > 0 {
                last_local = last_local.max(first + count - 1);
            }
        }
    }
    Ok(Summary {
        device_id: meta.device_id,
        device_unit: meta.device_unit.clone(),
        last_local,
        last_seq: if last_local == 0 {
            0
        } else {
            last_local + meta.offset_for(last_local)
        },
        acked_local: acked,
        depth: last_local - acked,
        segments,
        quarantined,
    })
}

fn encode_record(local: u64, nanos: i64, value: f64, u_t: f64) -> [u8; RECORD_LEN] {
    let mut rec = [0u8; RECORD_LEN];
    rec[0..8].copy_from_slice(&local.to_le_bytes());
    rec[8..16].copy_from_slice(&nanos.to_le_bytes());
    rec[16..24].copy_from_slice(&value.to_le_bytes());
    rec[24..32].copy_from_slice(&u_t.to_le_bytes());
    // 32..36: flags, none defined yet (zero).
    let crc = crc32(&rec[..36]);
    rec[36..40].copy_from_slice(&crc.to_le_bytes());
    rec
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn decode_record(rec: &[u8]) -> Option<(u64, i64, f64, f64)> {
    if rec.len() != RECORD_LEN {
        return None;
    }
    let mut c = [0u8; 4];
    c.copy_from_slice(&rec[36..40]);
    if crc32(&rec[..36]) != u32::from_le_bytes(c) {
        return None;
    }
    Some((
        le_u64(&rec[0..8]),
        le_u64(&rec[8..16]) as i64,
        f64::from_bits(le_u64(&rec[16..24])),
        f64::from_bits(le_u64(&rec[24..32])),
    ))
}

/// Check a segment file. The last one may end in a torn record, which is
/// cut off (and a header-only or torn-header last file removed).
fn scan_segment(path: &Path, first_from_name: u64, is_last: bool) -> Result<Option<Segment>> {
    let fail = |source| QueueError::File {
        file: path.to_owned(),
        source,
    };
    let corrupt = |offset: u64, what: String| QueueError::Corrupt {
        file: path.to_owned(),
        offset,
        what,
    };
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(fail)?;
    let header = parse_header(&data);
    let Some((first, unit, header_len)) = header else {
        if is_last && data.len() < 8 + 8 + 1 + MAX_UNIT_CHARS + 4 + RECORD_LEN {
            // Created but its header never made it to disk whole: nothing
            // in it was ever counted as taken.
            tracing::warn!(file = %path.display(), "removing a queue segment whose header was torn by a crash");
            fs::remove_file(path).map_err(fail)?;
            return Ok(None);
        }
        return Err(corrupt(0, "bad segment header".into()));
    };
    if first != first_from_name {
        return Err(corrupt(
            8,
            format!("header says local number {first}, file name {first_from_name}"),
        ));
    }
    let body = &data[header_len..];
    let mut count = 0u64;
    for rec in body.chunks(RECORD_LEN) {
        let offset = header_len as u64 + count * RECORD_LEN as u64;
        let good = decode_record(rec).filter(|(l, ..)| *l == first + count);
        if good.is_none() {
            if is_last {
                tracing::warn!(
                    file = %path.display(),
                    offset,
                    cut_bytes = data.len() as u64 - offset,
                    "cutting a torn record off the end of the queue (a crash during a write; that reading was never counted as taken)"
                );
                let f = OpenOptions::new().write(true).open(path).map_err(fail)?;
                f.set_len(offset)
                    .and_then(|()| f.sync_all())
                    .map_err(fail)?;
                break;
            }
            return Err(corrupt(
                offset,
                "checksum or numbering mismatch in a record".into(),
            ));
        }
        count += 1;
    }
    if count == 0 && is_last {
        // An empty last segment is legal (rolled over, no record yet), but
        // keeping it would make the writer's unit/position bookkeeping
        // harder: remove it, the next append recreates one.
        fs::remove_file(path).map_err(fail)?;
        return Ok(None);
    }
    if count == 0 {
        return Err(corrupt(
            header_len as u64,
            "an empty segment in the middle of the queue".into(),
        ));
    }
    Ok(Some(Segment {
        path: path.to_owned(),
        first,
        count,
        unit,
        header_len: header_len as u64,
    }))
}

fn parse_header(data: &[u8]) -> Option<(u64, String, usize)> {
    if data.len() < 17 || &data[..8] != SEGMENT_MAGIC {
        return None;
    }
    let first = le_u64(&data[8..16]);
    let unit_len = usize::from(data[16]);
    let end = 17 + unit_len;
    let crc_end = end + 4;
    if data.len() < crc_end {
        return None;
    }
    let mut c = [0u8; 4];
    c.copy_from_slice(&data[end..crc_end]);
    if crc32(&data[..end]) != u32::from_le_bytes(c) {
        return None;
    }
    let unit = std::str::from_utf8(&data[17..end]).ok()?.to_owned();
    Some((first, unit, crc_end))
}

/// Replace `dir/name` with `content` atomically and durably: a temporary
/// file is written and synced, renamed over the old one, and the directory
/// synced so the rename itself survives a power cut.
pub fn write_atomic(dir: &Path, name: &str, content: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let target = dir.join(name);
    let fail = |source| QueueError::File {
        file: target.clone(),
        source,
    };
    let mut f = File::create(&tmp).map_err(fail)?;
    f.write_all(content)
        .and_then(|()| f.sync_all())
        .map_err(fail)?;
    drop(f);
    fs::rename(&tmp, &target).map_err(fail)?;
    sync_dir(dir).map_err(|source| QueueError::Io {
        dir: dir.to_owned(),
        source,
    })
}

/// Make a directory's entries (a created or renamed file) durable. Windows
/// cannot open a directory as a file; NTFS journals the rename itself.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn read_acked(path: &Path) -> Result<u64> {
    match fs::read_to_string(path) {
        Ok(s) => s.trim().parse().map_err(|_| QueueError::BadState {
            file: path.to_owned(),
            what: format!(
                "expected a number, found {:?}",
                crate::util::clip(s.trim(), 40)
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(QueueError::File {
            file: path.to_owned(),
            source,
        }),
    }
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| QueueError::BadState {
                file: path.to_owned(),
                what: e.to_string(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(QueueError::File {
            file: path.to_owned(),
            source,
        }),
    }
}

fn count_lines(path: &Path) -> Result<u64> {
    match File::open(path) {
        Ok(f) => {
            let mut n = 0;
            for line in BufReader::new(f).lines() {
                line.map_err(|source| QueueError::File {
                    file: path.to_owned(),
                    source,
                })?;
                n += 1;
            }
            Ok(n)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(QueueError::File {
            file: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-26 08:00:00.123456789 UTC);

    fn open(dir: &Path, per_segment: u64) -> Queue {
        Queue::open(
            dir,
            Options {
                segment_records: per_segment,
            },
        )
        .expect("opens")
    }

    fn fill(q: &mut Queue, n: u64) -> Vec<Stored> {
        (0..n)
            .map(|i| {
                q.append(
                    T0 + Duration::from_millis(100 * i),
                    1.0 + i as f64 * 1e-6,
                    "V",
                    0.002,
                )
                .expect("appends")
            })
            .collect()
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .expect("lists")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "q"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn readings_come_back_in_order_and_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = {
            let mut q = open(dir.path(), 4);
            let w = fill(&mut q, 10);
            assert_eq!(q.depth(), 10);
            assert_eq!(segment_files(dir.path()).len(), 3);
            w
        };
        let mut q = open(dir.path(), 4);
        assert_eq!(q.depth(), 10);
        let back = q.read_after(0, 100).expect("reads");
        assert_eq!(back, written);
        assert_eq!(
            back.iter().map(|s| s.seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        assert_eq!(q.read_after(3, 2).expect("reads"), written[3..5].to_vec());
        assert_eq!(q.read_after(10, 5).expect("reads"), vec![]);
        // A restart continues the numbering.
        let next = q.append(T0, 2.0, "V", 0.0).expect("appends");
        assert_eq!((next.local, next.seq), (11, 11));
    }

    #[test]
    fn a_torn_tail_is_cut_and_numbering_continues() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut q = open(dir.path(), 100);
            fill(&mut q, 5);
        }
        let seg = segment_files(dir.path()).pop().expect("a segment");
        let len = fs::metadata(&seg).expect("stat").len();
        // A crash in the middle of the 5th record's write.
        let f = OpenOptions::new().write(true).open(&seg).expect("opens");
        f.set_len(len - 13).expect("truncates");
        drop(f);
        let mut q = open(dir.path(), 100);
        assert_eq!(q.depth(), 4);
        assert_eq!(
            fs::metadata(&seg).expect("stat").len(),
            len - RECORD_LEN as u64
        );
        let s = q.append(T0, 9.0, "V", 0.0).expect("appends");
        assert_eq!(s.seq, 5);
        let all = q.read_after(0, 10).expect("reads");
        assert_eq!(all.len(), 5);
        assert_eq!(all[4].value, 9.0);
    }

    #[test]
    fn a_garbled_last_record_is_cut_but_a_garbled_middle_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut q = open(dir.path(), 3);
            fill(&mut q, 6);
        }
        let files = segment_files(dir.path());
        // Flip a byte in the last record of the last segment: a write that
        // reached the disk only partly.
        let last = &files[1];
        let mut data = fs::read(last).expect("reads");
        let n = data.len();
        data[n - 20] ^= 0xFF;
        fs::write(last, &data).expect("writes");
        {
            let q = open(dir.path(), 3);
            assert_eq!(q.depth(), 5);
        }
        // The same in an older segment is corruption, not a torn write.
        let first = &files[0];
        let mut data = fs::read(first).expect("reads");
        let n = data.len();
        data[n - 20] ^= 0xFF;
        fs::write(first, &data).expect("writes");
        let err = Queue::open(dir.path(), Options { segment_records: 3 }).expect_err("refuses");
        assert!(matches!(err, QueueError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains("seg-00000000000000000001.q"),
            "{err}"
        );
    }

    #[test]
    fn acknowledgements_persist_and_free_whole_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut q = open(dir.path(), 4);
            fill(&mut q, 10);
            q.ack(5).expect("acks");
            // The first segment (1–4) is fully acknowledged and gone; the
            // second (5–8) still holds 6–8.
            assert_eq!(segment_files(dir.path()).len(), 2);
            assert_eq!(q.depth(), 5);
            assert_eq!(q.read_after(q.acked(), 100).expect("reads")[0].seq, 6);
            // Within ACK_PERSIST_INTERVAL the next ack stays in memory…
            q.ack(6).expect("acks");
            assert_eq!(
                fs::read_to_string(dir.path().join("acked"))
                    .expect("reads")
                    .trim(),
                "5"
            );
            // …until flushed.
            q.flush().expect("flushes");
            assert_eq!(
                fs::read_to_string(dir.path().join("acked"))
                    .expect("reads")
                    .trim(),
                "6"
            );
        }
        let mut q = open(dir.path(), 4);
        assert_eq!((q.acked(), q.depth()), (6, 4));
        q.ack(10).expect("acks");
        q.flush().expect("flushes");
        // Everything acknowledged: only the segment being written remains
        // until the process ends; a reopen removes it too.
        drop(q);
        let mut q = open(dir.path(), 4);
        assert_eq!(segment_files(dir.path()).len(), 0);
        assert_eq!(q.depth(), 0);
        // Numbering continues after the acknowledged position even with no
        // segment left.
        assert_eq!(q.append(T0, 1.0, "V", 0.0).expect("appends").seq, 11);
    }

    #[test]
    fn the_queue_binds_to_one_device_and_never_reuses_a_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        {
            let mut q = open(dir.path(), 100);
            // Taken offline before the first contact…
            fill(&mut q, 3);
            // …and the server already holds 500 readings of this device
            // (from a queue that was lost): continue after them.
            assert_eq!(
                q.bind(a, "V", 500).expect("binds"),
                Bound::New { first_seq: 501 }
            );
            let seqs: Vec<u64> = q
                .read_after(0, 10)
                .expect("reads")
                .iter()
                .map(|s| s.seq)
                .collect();
            assert_eq!(seqs, vec![501, 502, 503]);
            assert_eq!(q.append(T0, 1.0, "V", 0.0).expect("appends").seq, 504);
        }
        let mut q = open(dir.path(), 100);
        assert_eq!(
            q.read_after(0, 10).expect("reads").last().map(|s| s.seq),
            Some(504)
        );
        assert_eq!(q.bind(a, "V", 502).expect("binds"), Bound::Same);
        let err = q.bind(b, "V", 0).expect_err("another device");
        assert!(
            matches!(err, QueueError::OtherDevice { recorded, offered, .. } if recorded == a && offered == b)
        );
        assert!(err.to_string().contains("separate --queue directory"));
        // The server knows numbers this queue never wrote: new readings go
        // after them; written ones keep theirs.
        assert_eq!(
            q.bind(a, "V", 900).expect("binds"),
            Bound::Jumped {
                queue_last: 504,
                server_last: 900
            }
        );
        assert_eq!(q.append(T0, 1.0, "V", 0.0).expect("appends").seq, 901);
        drop(q);
        let mut q = open(dir.path(), 100);
        let seqs: Vec<u64> = q
            .read_after(0, 10)
            .expect("reads")
            .iter()
            .map(|s| s.seq)
            .collect();
        assert_eq!(seqs, vec![501, 502, 503, 504, 901]);
    }

    #[test]
    fn a_refused_reading_is_quarantined_not_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut q = open(dir.path(), 100);
        let w = fill(&mut q, 3);
        assert!(
            q.quarantine(&w[1], "invalid_input", "no").is_err(),
            "only the head"
        );
        q.quarantine(&w[0], "invalid_input", "reading seq 1: t is in the future")
            .expect("quarantines");
        assert_eq!((q.acked(), q.depth(), q.quarantined()), (1, 2, 1));
        drop(q);
        let q = open(dir.path(), 100);
        assert_eq!((q.acked(), q.quarantined()), (1, 1));
        let text = fs::read_to_string(dir.path().join("quarantine.jsonl")).expect("reads");
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["seq"], 1);
        assert_eq!(line["unit"], "V");
        assert_eq!(line["message"], "reading seq 1: t is in the future");
    }

    #[test]
    fn a_unit_change_starts_a_segment_and_one_process_holds_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut q = open(dir.path(), 100);
        q.append(T0, 1.0, "V", 0.0).expect("appends");
        q.append(T0, 1.0, "mV", 0.0).expect("appends");
        assert_eq!(segment_files(dir.path()).len(), 2);
        let units: Vec<String> = q
            .read_after(0, 10)
            .expect("reads")
            .into_iter()
            .map(|s| s.unit)
            .collect();
        assert_eq!(units, ["V", "mV"]);
        assert!(matches!(
            Queue::open(dir.path(), Options::default()),
            Err(QueueError::Locked(_))
        ));
        assert!(q.append(T0, 1.0, &"m".repeat(65), 0.0).is_err());
    }

    /// Readings per second, each fsync'd (printed; run with --nocapture).
    #[test]
    #[ignore = "a measurement, not a check: cargo test -p jiliang-agent --lib -- --ignored --nocapture"]
    fn measure_append_throughput() {
        let dir = tempfile::tempdir_in(".").expect("tempdir on the real disk");
        let mut q = open(dir.path(), DEFAULT_SEGMENT_RECORDS);
        let n = 2000;
        let start = Instant::now();
        fill(&mut q, n);
        let s = start.elapsed().as_secs_f64();
        println!(
            "queue: {n} readings fsync'd in {s:.3} s = {:.0} readings/s",
            n as f64 / s
        );
    }
}
