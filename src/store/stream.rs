//! The log of one stream (x-queue-type=stream): an append-only sequence of records numbered
//! from 0 (their offsets), cut into segments that retention removes whole, oldest first.
//!
//! # Why not the message log
//! The vhost's message log (`log`) is shared by every durable queue and frees a segment once
//! every message in it is settled in every queue it reached. A stream settles nothing: its
//! records stay until retention (x-max-length-bytes, x-max-age) drops its oldest segment, and
//! each consumer reads from an offset of its own. Sharing segments with classic queues would
//! let one unacked classic message pin a stream's space and a stream's retention be blocked by
//! other queues' records, and finding an offset would need an index over a shared file. So a
//! stream keeps segments of its own, in its own directory.
//!
//! # Format
//! ```text
//! DIR/vhosts/<hex of vhost>/streams/<queue number>/<first offset, 20 digits>.seg
//! DIR/vhosts/<hex of vhost>/streams/<queue number>/<first offset, 20 digits>.idx
//! ```
//! A segment is a sequence of records framed as every store file is (`record`:
//! `[length u32][crc32c u32][payload]`), the payload being
//! ```text
//! offset u64 | timestamp u64 (ms) | flags u8 | filter value (u8 length, bytes; flags & 2)
//! | exchange (u8 length, bytes) | routing key (u8 length, bytes)
//! | properties length u32 | properties (as published) | body (the rest)
//! ```
//! A reader reads a span of a segment into one buffer and hands out the properties and
//! bodies as slices of it (`Bytes::slice`): nothing is decoded or copied on the way to a
//! delivery but the fixed header fields.
//!
//! Memory: per segment, its first and last offsets and timestamps and a sparse index (one
//! entry every `INDEX_EVERY` bytes), so a stream of 10 GB costs about a megabyte of index.
//! A full segment's `.idx` file keeps the same (one framed record), written when the next
//! segment starts, so a restart reads only the last segment through.
//!
//! # Durability
//! An append encodes its record into the segment's unwritten tail (memory) and wakes the
//! stream's sync thread if it sleeps. The thread writes the whole tail with one pwrite,
//! then, if publishers wait for a confirm, fsyncs: one write and one fsync for every
//! append that arrived while the previous turn ran, where a pwrite per record cost the
//! publisher's connection a system call per message. A reader that reaches the unwritten
//! tail writes it out itself first, so records are readable as soon as `append` returns;
//! a tail past `UNWRITTEN_MAX` is written by the appender, so a publisher without confirms
//! cannot grow it without bound. Recovery scans the segments and cuts a torn tail (records
//! written but never fsync'd are unconfirmed).
//!
//! While its turns are small (a publisher waiting on confirms of small messages), the sync
//! thread keeps zeros written ahead of the last segment's data (`PREFILL` at a time): an
//! fdatasync of bytes written over zeros the file already had writes those pages only,
//! where one after an append also writes the inode for the new size and blocks (measured on
//! ext4: 122-127 µs against 192-275 µs for 3.5 KiB). The zeros cost a write of their own,
//! about 1 ns a byte, so large turns go without. A zero record header is where the data
//! ends: recovery cuts the zeros off as it cuts a torn tail, and a sealed segment is cut to
//! its data.

use super::StoreError;
use super::log::Durability;
use super::record::{self, HEADER_LEN};
use bytes::{BufMut, Bytes, BytesMut};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

/// RabbitMQ's default x-stream-max-segment-size-bytes (500 MB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 500_000_000;
/// A sparse index entry is kept at least every this many bytes of a segment.
const INDEX_EVERY: u64 = 256 * 1024;
/// What a reader reads at once, unless one record is larger.
pub const READ_SPAN: usize = 1024 * 1024;
/// An unwritten tail this long is written by the append that grew it.
const UNWRITTEN_MAX: usize = 1024 * 1024;
/// Zeros written ahead of a segment's data at a time.
const PREFILL: usize = 1024 * 1024;
static ZEROS: [u8; PREFILL] = [0; PREFILL];
/// The sync thread prefills while its turns average fewer bytes than this: below it the
/// zeros' cost (~1 ns a byte) is under what they save an fsync (~70 µs).
const PREFILL_BELOW: u64 = 32 * 1024;

const FLAG_PERSISTENT: u8 = 1;
const FLAG_FILTER: u8 = 2;

/// How long a stream keeps its records (x-max-length-bytes, x-max-age) and how large its
/// segments grow (x-stream-max-segment-size-bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_bytes: Option<u64>,
    pub max_age_ms: Option<u64>,
    pub segment_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_bytes: None,
            max_age_ms: None,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// The stream could not write (a disk error, or the stream was deleted): it refuses
/// appends from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// One record as written: the parts of a message a stream keeps.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    pub timestamp: u64,
    pub persistent: bool,
    pub filter: Option<&'a str>,
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub raw_properties: &'a [u8],
    pub body: &'a [u8],
}

/// One record as read: properties and body are slices of the buffer it was read into.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub offset: u64,
    pub timestamp: u64,
    pub persistent: bool,
    pub filter: Option<Bytes>,
    pub exchange: Bytes,
    pub routing_key: Bytes,
    pub raw_properties: Bytes,
    pub body: Bytes,
}

fn encode(out: &mut Vec<u8>, offset: u64, r: &NewRecord<'_>) {
    fn short(s: &str) -> &[u8] {
        &s.as_bytes()[..s.len().min(255)]
    }
    record::append(out, |o| {
        o.put_u64(offset);
        o.put_u64(r.timestamp);
        let mut flags = 0;
        if r.persistent {
            flags |= FLAG_PERSISTENT;
        }
        if r.filter.is_some() {
            flags |= FLAG_FILTER;
        }
        o.put_u8(flags);
        if let Some(f) = r.filter {
            o.put_u8(short(f).len() as u8);
            o.put_slice(short(f));
        }
        for s in [r.exchange, r.routing_key] {
            o.put_u8(short(s).len() as u8);
            o.put_slice(short(s));
        }
        o.put_u32(r.raw_properties.len() as u32);
        o.put_slice(r.raw_properties);
        o.put_slice(r.body);
    });
}

/// Offset and timestamp of a record payload, without decoding the rest.
fn head(payload: &[u8]) -> Option<(u64, u64)> {
    let offset = u64::from_be_bytes(payload.get(..8)?.try_into().ok()?);
    let ts = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((offset, ts))
}

/// Decodes the record payload `span[at..at + len]`, slicing `span`.
fn decode(span: &Bytes, at: usize, len: usize) -> Option<StreamRecord> {
    let p = span.get(at..at + len)?;
    let (offset, timestamp) = head(p)?;
    let flags = *p.get(16)?;
    let mut pos = 17;
    let short = |pos: &mut usize| -> Option<Bytes> {
        let n = usize::from(*p.get(*pos)?);
        let from = *pos + 1;
        p.get(from..from + n)?;
        *pos = from + n;
        Some(span.slice(at + from..at + from + n))
    };
    let filter = if flags & FLAG_FILTER != 0 {
        Some(short(&mut pos)?)
    } else {
        None
    };
    let exchange = short(&mut pos)?;
    let routing_key = short(&mut pos)?;
    let plen = u32::from_be_bytes(p.get(pos..pos + 4)?.try_into().ok()?) as usize;
    pos += 4;
    p.get(pos..pos + plen)?;
    let raw_properties = span.slice(at + pos..at + pos + plen);
    let body = span.slice(at + pos + plen..at + len);
    Some(StreamRecord {
        offset,
        timestamp,
        persistent: flags & FLAG_PERSISTENT != 0,
        filter,
        exchange,
        routing_key,
        raw_properties,
        body,
    })
}

/// Where a segment's bytes are: a file, or memory for a broker without a data directory.
#[derive(Debug)]
enum Bytes_ {
    File(File),
    Memory(RwLock<Vec<u8>>),
}

impl Bytes_ {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
        match self {
            Bytes_::File(f) => f.read_exact_at(buf, pos),
            Bytes_::Memory(m) => {
                let m = m.read().unwrap_or_else(|p| p.into_inner());
                let from = pos as usize;
                let src = m
                    .get(from..from + buf.len())
                    .ok_or(std::io::ErrorKind::UnexpectedEof)?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }
}

/// A point of a segment's sparse index.
#[derive(Debug, Clone, Copy)]
struct Point {
    offset: u64,
    pos: u64,
    timestamp: u64,
}

/// One segment: its storage and what the log knows of it without reading it.
#[derive(Debug)]
pub struct Segment {
    first: u64,
    data: Bytes_,
    path: Option<PathBuf>,
    /// Records appended to a file segment and not written to it yet.
    unwritten: Mutex<Unwritten>,
    /// Tests: writing zeros ahead fails as on a full disk.
    #[cfg(test)]
    fail_zeros: AtomicBool,
}

/// Bytes `[at, at + bytes.len())` of a segment, in memory until written out.
#[derive(Debug, Default)]
struct Unwritten {
    at: u64,
    bytes: Vec<u8>,
    /// The file's size: past the data, zeros up to here.
    filled: u64,
    /// Cut to its data and fsync'd: no zeros go past it any more.
    sealed: bool,
    /// Writing zeros ahead failed (a full disk, say): the segment goes on without them.
    no_zeros: bool,
}

impl Segment {
    /// A segment whose storage holds `len` bytes.
    fn new(first: u64, data: Bytes_, path: Option<PathBuf>, len: u64) -> Segment {
        Segment {
            first,
            data,
            path,
            unwritten: Mutex::new(Unwritten {
                at: len,
                bytes: Vec::new(),
                filled: len,
                sealed: false,
                no_zeros: false,
            }),
            #[cfg(test)]
            fail_zeros: AtomicBool::new(false),
        }
    }

    fn unwritten(&self) -> MutexGuard<'_, Unwritten> {
        self.unwritten.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a record at the segment's end (`pos`): to a memory segment at once, to a file
    /// segment's unwritten tail, written out here only once the tail is `UNWRITTEN_MAX`
    /// long. Returns the record's length.
    fn append(&self, pos: u64, offset: u64, r: &NewRecord<'_>) -> std::io::Result<u64> {
        if let Bytes_::Memory(m) = &self.data {
            let mut m = m.write().unwrap_or_else(|p| p.into_inner());
            let before = m.len();
            encode(&mut m, offset, r);
            return Ok((m.len() - before) as u64);
        }
        let mut u = self.unwritten();
        debug_assert_eq!(u.at + u.bytes.len() as u64, pos);
        let before = u.bytes.len();
        encode(&mut u.bytes, offset, r);
        let len = (u.bytes.len() - before) as u64;
        if u.bytes.len() >= UNWRITTEN_MAX {
            self.write_locked(&mut u)?;
        }
        Ok(len)
    }

    /// Writes the unwritten tail to the file, after zeros ahead of it if `prefill` and
    /// fewer than half of `PREFILL` are left. Returns the bytes of data written.
    fn write_out(&self, prefill: bool) -> std::io::Result<u64> {
        let mut u = self.unwritten();
        if let Bytes_::File(f) = &self.data {
            let end = u.at + u.bytes.len() as u64;
            if prefill && !u.sealed && !u.no_zeros && end + (PREFILL / 2) as u64 > u.filled {
                let from = u.filled.max(end);
                match self.write_zeros(f, from) {
                    Ok(()) => u.filled = from + PREFILL as u64,
                    // They only save fsync time: the data is written as it would be without.
                    Err(e) => {
                        tracing::info!(path = ?self.path, "no zeros ahead of a stream segment's data: {e}");
                        u.no_zeros = true;
                    }
                }
            }
        }
        let n = u.bytes.len() as u64;
        self.write_locked(&mut u)?;
        Ok(n)
    }

    fn write_zeros(&self, f: &File, from: u64) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fail_zeros.load(Ordering::Relaxed) {
            return Err(std::io::ErrorKind::StorageFull.into());
        }
        f.write_all_at(&ZEROS, from)
    }

    fn write_locked(&self, u: &mut Unwritten) -> std::io::Result<()> {
        let Bytes_::File(f) = &self.data else {
            return Ok(());
        };
        if u.bytes.is_empty() {
            return Ok(());
        }
        f.write_all_at(&u.bytes, u.at)?;
        u.at += u.bytes.len() as u64;
        u.filled = u.filled.max(u.at);
        u.bytes.clear();
        Ok(())
    }

    /// Writes out what is unwritten, cuts the zeros past `len` (the data's end) and
    /// fsyncs: the segment is sealed.
    fn seal(&self, len: u64) -> std::io::Result<()> {
        let Bytes_::File(f) = &self.data else {
            return Ok(());
        };
        let mut u = self.unwritten();
        self.write_locked(&mut u)?;
        if u.filled > len {
            f.set_len(len)?;
            u.filled = len;
        }
        u.sealed = true;
        f.sync_data()
    }

    /// Reads `buf.len()` bytes at `pos`, writing the unwritten tail out first if they
    /// reach into it.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
        {
            let mut u = self.unwritten();
            if !u.bytes.is_empty() && pos + buf.len() as u64 > u.at {
                self.write_locked(&mut u)?;
            }
        }
        self.data.read_at(buf, pos)
    }
}

#[derive(Debug)]
struct SegmentInfo {
    seg: Arc<Segment>,
    /// Offset after its last record.
    next: u64,
    /// Bytes written.
    len: u64,
    first_ts: u64,
    last_ts: u64,
    index: Vec<Point>,
}

impl SegmentInfo {
    fn new(seg: Segment, ts: u64) -> SegmentInfo {
        SegmentInfo {
            next: seg.first,
            seg: Arc::new(seg),
            len: 0,
            first_ts: ts,
            last_ts: ts,
            index: Vec::new(),
        }
    }

    fn note(&mut self, offset: u64, pos: u64, len: u64, ts: u64) {
        if self.index.last().is_none_or(|p| pos >= p.pos + INDEX_EVERY) {
            self.index.push(Point {
                offset,
                pos,
                timestamp: ts,
            });
        }
        if offset == self.seg.first {
            self.first_ts = ts;
        }
        self.last_ts = ts;
        self.next = offset + 1;
        self.len = pos + len;
    }

    /// The indexed position at or before `offset`.
    fn seek(&self, offset: u64) -> u64 {
        let i = self.index.partition_point(|p| p.offset <= offset);
        if i == 0 { 0 } else { self.index[i - 1].pos }
    }

    /// The indexed position at or before the first record stamped at or after `ts`.
    fn seek_time(&self, ts: u64) -> u64 {
        let i = self.index.partition_point(|p| p.timestamp < ts);
        if i == 0 { 0 } else { self.index[i - 1].pos }
    }
}

/// Where a reader is: the next offset it wants and, once found, where that record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub offset: u64,
    /// (segment's first offset, byte position) of `offset`'s record.
    at: Option<(u64, u64)>,
}

impl Cursor {
    pub fn at(offset: u64) -> Cursor {
        Cursor { offset, at: None }
    }
}

/// Told the waiting appends are on disk (or not).
type Waiter = (Arc<dyn Durability>, u64);

#[derive(Default)]
struct SyncState {
    waiting: Vec<Waiter>,
    /// Segments appended to since the last fsync.
    dirty: Vec<Arc<Segment>>,
    /// Something was appended since the thread's last turn began.
    appended: bool,
    /// The thread waits on `wake`: the next append wakes it (once).
    idle: bool,
    closed: bool,
}

struct SyncShared {
    state: Mutex<SyncState>,
    wake: Condvar,
    /// A write or fsync failed: the stream refuses appends from then on.
    failed: AtomicBool,
}

impl SyncShared {
    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
struct LogState {
    segments: Vec<SegmentInfo>,
    retention: Retention,
    /// Bytes in all segments.
    bytes: u64,
    failed: bool,
}

/// The log of one stream. Appends and the index are under one lock, held for a pwrite
/// (or a memory copy); reads take it only to look the position up. The sync thread's
/// state has a lock of its own, taken under the log's by an append and alone by the thread.
pub struct StreamLog {
    dir: Option<PathBuf>,
    state: Mutex<LogState>,
    sync: Option<Arc<SyncShared>>,
}

impl std::fmt::Debug for StreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamLog").field("dir", &self.dir).finish()
    }
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl StreamLog {
    /// A stream kept in memory only.
    pub fn memory(retention: Retention) -> StreamLog {
        StreamLog {
            dir: None,
            state: Mutex::new(LogState {
                segments: Vec::new(),
                retention,
                bytes: 0,
                failed: false,
            }),
            sync: None,
        }
    }

    /// Opens (creating if need be) the stream in `dir`, recovering its segments: every
    /// whole record up to the first damaged one of a segment is kept; the rest of the last
    /// segment is cut off (an unconfirmed tail), and a segment that does not follow on from
    /// the one before ends the log there.
    pub fn open(dir: &Path, retention: Retention) -> Result<StreamLog, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io("creating a stream", e))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent);
        }
        let mut firsts: Vec<u64> = std::fs::read_dir(dir)
            .map_err(|e| StoreError::io("listing a stream", e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let last = firsts.last().copied();
        let mut segments: Vec<SegmentInfo> = Vec::new();
        let mut bytes = 0;
        let mut broken = false;
        for first in firsts {
            let path = segment_path(dir, first);
            let follows = segments.last().is_none_or(|s| s.next == first);
            if broken || !follows {
                tracing::error!(path = %path.display(), "stream segment does not follow the one before; removed");
                let _ = std::fs::remove_file(&path);
                broken = true;
                continue;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::io("opening a stream segment", e))?;
            // A sealed segment's index file spares reading it through; the last is scanned.
            let info = match Some(first) == last {
                true => None,
                false => load_index(&file, first, &path),
            };
            let info = match info {
                Some(info) => info,
                None => scan(file, first, path)?,
            };
            bytes += info.len;
            segments.push(info);
        }
        // An empty segment other than the last is useless; the last is where appends go.
        let sync = Arc::new(SyncShared {
            state: Mutex::new(SyncState::default()),
            wake: Condvar::new(),
            failed: AtomicBool::new(false),
        });
        let for_thread = sync.clone();
        std::thread::Builder::new()
            .name("stream-sync".into())
            .spawn(move || sync_loop(&for_thread))
            .map_err(|e| StoreError::io("starting a stream's sync thread", e))?;
        let log = StreamLog {
            dir: Some(dir.to_owned()),
            state: Mutex::new(LogState {
                segments,
                retention,
                bytes,
                failed: false,
            }),
            sync: Some(sync),
        };
        Ok(log)
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether records are written to files (and a confirm waits for their fsync).
    pub fn on_disk(&self) -> bool {
        self.dir.is_some()
    }

    /// The first offset kept and the offset the next record gets.
    pub fn bounds(&self) -> (u64, u64) {
        let st = self.lock();
        bounds(&st)
    }

    /// Records and bytes kept.
    pub fn size(&self) -> (u64, u64) {
        let st = self.lock();
        let (first, next) = bounds(&st);
        (next - first, st.bytes)
    }

    pub fn retention(&self) -> Retention {
        self.lock().retention
    }

    /// Puts new retention settings into effect at `now` (ms since the Unix epoch).
    pub fn set_retention(&self, retention: Retention, now: u64) {
        let mut st = self.lock();
        st.retention = retention;
        self.apply_retention(&mut st, now);
    }

    /// Appends a record; returns its offset and whether `notify` will hear of its fsync
    /// (false without a disk: nothing to wait for). A write that fails makes the stream
    /// refuse what follows (the publisher hears a nack).
    pub fn append(
        &self,
        r: &NewRecord<'_>,
        notify: Option<Waiter>,
    ) -> Result<(u64, bool), Refused> {
        let mut st = self.lock();
        if st.failed
            || self
                .sync
                .as_ref()
                .is_some_and(|s| s.failed.load(Ordering::Relaxed))
        {
            return Err(Refused);
        }
        let (_, offset) = bounds(&st);
        let roll = st
            .segments
            .last()
            .is_none_or(|s| s.len > 0 && s.len >= st.retention.segment_bytes);
        if roll {
            self.roll(&mut st, offset, r.timestamp)?;
        }
        let seg = st.segments.last_mut().ok_or(Refused)?;
        let pos = seg.len;
        let len = match seg.seg.append(pos, offset, r) {
            Ok(len) => len,
            Err(e) => {
                tracing::error!(dir = ?self.dir, "cannot write to a stream: {e}");
                st.failed = true;
                return Err(Refused);
            }
        };
        seg.note(offset, pos, len, r.timestamp);
        let written = seg.seg.clone();
        st.bytes += len;
        let waits = match &self.sync {
            Some(sync) => {
                let mut s = sync.lock();
                if !s.dirty.last().is_some_and(|d| Arc::ptr_eq(d, &written)) {
                    s.dirty.push(written);
                }
                s.appended = true;
                if s.idle {
                    s.idle = false;
                    sync.wake.notify_one();
                }
                let waits = notify.is_some();
                s.waiting.extend(notify);
                waits
            }
            None => false,
        };
        Ok((offset, waits))
    }

    /// Starts a segment at `offset`, then drops what retention no longer keeps.
    fn roll(&self, st: &mut LogState, offset: u64, ts: u64) -> Result<(), Refused> {
        let seg = match &self.dir {
            None => Segment::new(offset, Bytes_::Memory(RwLock::new(Vec::new())), None, 0),
            Some(dir) => {
                let path = segment_path(dir, offset);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path);
                match file {
                    Ok(f) => {
                        sync_dir(dir);
                        Segment::new(offset, Bytes_::File(f), Some(path), 0)
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), "cannot start a stream segment: {e}");
                        st.failed = true;
                        return Err(Refused);
                    }
                }
            }
        };
        if let Some(sealed) = st.segments.last().filter(|s| s.len > 0) {
            // Made durable now, so that the sync thread only ever has the last segment to
            // fsync and a confirmed record never follows a lost one after a power cut.
            if let Err(e) = sealed.seg.seal(sealed.len) {
                tracing::error!("cannot write or fsync a stream segment: {e}");
                st.failed = true;
                return Err(Refused);
            }
            if let Some(sync) = &self.sync {
                sync.lock().dirty.retain(|d| !Arc::ptr_eq(d, &sealed.seg));
            }
            write_index(sealed);
        }
        // An empty last segment (recovered so) is replaced, not kept.
        if st.segments.last().is_some_and(|s| s.len == 0) {
            let old = st.segments.pop();
            if let Some(old) = old
                && old.seg.first != offset
                && let Some(p) = &old.seg.path
            {
                let _ = std::fs::remove_file(p);
            }
        }
        st.segments.push(SegmentInfo::new(seg, ts));
        self.apply_retention(st, ts);
        Ok(())
    }

    /// Removes whole segments from the head, never the last, while the stream is over its
    /// x-max-length-bytes or their newest record is older than x-max-age.
    fn apply_retention(&self, st: &mut LogState, now: u64) {
        let Retention {
            max_bytes,
            max_age_ms,
            ..
        } = st.retention;
        while st.segments.len() > 1 {
            let head = &st.segments[0];
            let over_bytes = max_bytes.is_some_and(|m| st.bytes > m);
            let too_old = max_age_ms.is_some_and(|age| head.last_ts.saturating_add(age) < now);
            if !over_bytes && !too_old {
                break;
            }
            let gone = st.segments.remove(0);
            st.bytes -= gone.len;
            if let Some(p) = &gone.seg.path {
                if let Err(e) = std::fs::remove_file(p) {
                    tracing::warn!(path = %p.display(), "cannot remove a stream segment: {e}");
                }
                let _ = std::fs::remove_file(p.with_extension("idx"));
            }
        }
    }

    /// Runs retention by age now (the broker calls this from time to time).
    pub fn expire(&self, now: u64) {
        let mut st = self.lock();
        if st.retention.max_age_ms.is_some() {
            self.apply_retention(&mut st, now);
        }
    }

    /// The cursor at the first record stamped at or after `ts` (the next offset if none).
    pub fn cursor_at_time(&self, ts: u64) -> Cursor {
        let (seg, pos, next) = {
            let st = self.lock();
            let i = st.segments.partition_point(|s| s.last_ts < ts);
            match st.segments.get(i) {
                None => return Cursor::at(bounds(&st).1),
                Some(s) if s.first_ts >= ts => return Cursor::at(s.seg.first),
                Some(s) => (s.seg.clone(), s.seek_time(ts), s.len),
            }
        };
        // Walk from the indexed point to the first record at or after `ts`.
        let mut pos = pos;
        while pos < next {
            let Some((len, offset, rts)) = read_head(&seg, pos) else {
                break;
            };
            if rts >= ts {
                return Cursor {
                    offset,
                    at: Some((seg.first, pos)),
                };
            }
            pos += len;
        }
        Cursor::at(self.bounds().1)
    }

    /// Reads records from `cursor` on, calling `take` with each until it says stop (false),
    /// or about `span` bytes were read (more for one larger record), or the log's end. Reads outside the log's lock.
    /// Returns the cursor after the last record passed to `take` (also those it refused).
    pub fn read(
        &self,
        mut cursor: Cursor,
        span: usize,
        mut take: impl FnMut(StreamRecord) -> bool,
    ) -> Cursor {
        let mut read = 0usize;
        loop {
            // Where the cursor is, and how far the segment is written.
            let (seg, pos, end, seg_next) = {
                let st = self.lock();
                let (first, next) = bounds(&st);
                if cursor.offset < first {
                    // Retention took it: go on from the oldest record kept.
                    cursor = Cursor::at(first);
                }
                if cursor.offset >= next {
                    return cursor;
                }
                let i = st.segments.partition_point(|s| s.next <= cursor.offset);
                let Some(s) = st.segments.get(i) else {
                    return cursor;
                };
                let pos = match cursor.at {
                    Some((f, p)) if f == s.seg.first => p,
                    _ => s.seek(cursor.offset),
                };
                (s.seg.clone(), pos, s.len, s.next)
            };
            if pos >= end {
                return cursor;
            }
            let want = ((end - pos) as usize).min(span.saturating_sub(read).max(HEADER_LEN + 16));
            let mut buf = BytesMut::zeroed(want);
            if let Err(e) = seg.read_at(&mut buf, pos) {
                tracing::error!("cannot read a stream segment: {e}");
                return cursor;
            }
            let mut data = buf.freeze();
            let mut at = 0usize;
            let mut progressed = false;
            while let Some(h) = data.get(at..at + HEADER_LEN) {
                // Damage (found here for a sealed segment, whose records recovery trusts to
                // its index file) costs the reader the rest of that segment.
                let damaged = |cursor: Cursor| {
                    tracing::error!(
                        segment = seg.first,
                        from = cursor.offset,
                        to = seg_next,
                        "damaged stream record: the reader skips the rest of its segment"
                    );
                    Cursor::at(seg_next.max(cursor.offset + 1))
                };
                let Some(len) = record::payload_len(h) else {
                    return damaged(cursor);
                };
                if at + HEADER_LEN + len > data.len() {
                    if at == 0 {
                        // One record larger than the span: read it whole.
                        let total = HEADER_LEN + len;
                        let mut big = BytesMut::zeroed(total);
                        if seg.read_at(&mut big, pos).is_err() {
                            return cursor;
                        }
                        data = big.freeze();
                        continue;
                    }
                    break;
                }
                let crc = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                let payload = &data[at + HEADER_LEN..at + HEADER_LEN + len];
                if crc32c::crc32c(payload) != crc {
                    return damaged(cursor);
                }
                let Some(r) = decode(&data, at + HEADER_LEN, len) else {
                    return damaged(cursor);
                };
                let next_at = at + HEADER_LEN + len;
                let offset = r.offset;
                if offset >= cursor.offset {
                    let go_on = take(r);
                    cursor = Cursor {
                        offset: offset + 1,
                        at: Some((seg.first, pos + next_at as u64)),
                    };
                    progressed = true;
                    if !go_on {
                        return cursor;
                    }
                }
                at = next_at;
            }
            read += at;
            if !progressed && at == 0 {
                return cursor;
            }
            if !progressed {
                // Only records before the cursor: remember where we got to.
                cursor.at = Some((seg.first, pos + at as u64));
            }
            if read >= span {
                return cursor;
            }
        }
    }

    /// Deletes the stream's files (the queue was deleted).
    pub fn destroy(&self) {
        let mut st = self.lock();
        st.segments.clear();
        st.bytes = 0;
        st.failed = true;
        if let Some(dir) = &self.dir
            && let Err(e) = std::fs::remove_dir_all(dir)
        {
            tracing::warn!(dir = %dir.display(), "cannot remove a deleted stream: {e}");
        }
    }

    /// Waits until everything appended so far is on disk (tests, shutdown).
    pub fn flush(&self) {
        if let Some(sync) = &self.sync {
            // Left for the sync thread too: it must not tell a waiter of a write that only
            // this call fsyncs, before this call has.
            let segs: Vec<Arc<Segment>> = sync.lock().dirty.clone();
            for s in segs {
                if let Bytes_::File(f) = &s.data {
                    let _ = s.write_out(false).and_then(|_| f.sync_data());
                }
            }
        }
    }
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        if let Some(sync) = &self.sync {
            sync.lock().closed = true;
            sync.wake.notify_all();
        }
    }
}

fn bounds(st: &LogState) -> (u64, u64) {
    match (st.segments.first(), st.segments.last()) {
        (Some(a), Some(b)) => (a.seg.first, b.next),
        _ => (0, 0),
    }
}

/// The length, offset and timestamp of the record at `pos` of `seg`.
fn read_head(seg: &Segment, pos: u64) -> Option<(u64, u64, u64)> {
    let mut h = [0u8; HEADER_LEN + 16];
    seg.read_at(&mut h, pos).ok()?;
    let len = record::payload_len(&h)?;
    let (offset, ts) = head(&h[HEADER_LEN..])?;
    Some(((HEADER_LEN + len) as u64, offset, ts))
}

/// Writes a sealed segment's `NNN.idx`: what `SegmentInfo` holds, as one framed record
/// (`record`), so the next start need not read the segment through. Not fsync'd: a missing,
/// torn or stale index only means a scan.
fn write_index(info: &SegmentInfo) {
    let Some(path) = &info.seg.path else {
        return;
    };
    let mut out = Vec::with_capacity(64 + info.index.len() * 24);
    record::append(&mut out, |o| {
        o.put_u64(info.seg.first);
        o.put_u64(info.next);
        o.put_u64(info.len);
        o.put_u64(info.first_ts);
        o.put_u64(info.last_ts);
        for p in &info.index {
            o.put_u64(p.offset);
            o.put_u64(p.pos);
            o.put_u64(p.timestamp);
        }
    });
    if let Err(e) = std::fs::write(path.with_extension("idx"), &out) {
        tracing::warn!(path = %path.display(), "cannot write a stream segment's index: {e}");
    }
}

/// A sealed segment's index, if its file is whole and describes the segment as it is.
fn load_index(file: &File, first: u64, path: &Path) -> Option<SegmentInfo> {
    let data = std::fs::read(path.with_extension("idx")).ok()?;
    let payload = record::record_at(&data, 0)?;
    let word = |i: usize| -> Option<u64> {
        Some(u64::from_be_bytes(
            payload.get(i * 8..i * 8 + 8)?.try_into().ok()?,
        ))
    };
    let size = file.metadata().ok()?.len();
    let (f, next, len) = (word(0)?, word(1)?, word(2)?);
    if f != first || len != size || (payload.len() - 40) % 24 != 0 {
        return None;
    }
    let index = (0..(payload.len() - 40) / 24)
        .map(|k| {
            let at = 5 + k * 3;
            Some(Point {
                offset: word(at)?,
                pos: word(at + 1)?,
                timestamp: word(at + 2)?,
            })
        })
        .collect::<Option<Vec<Point>>>()?;
    let seg = Segment::new(
        first,
        Bytes_::File(file.try_clone().ok()?),
        Some(path.to_owned()),
        len,
    );
    Some(SegmentInfo {
        seg: Arc::new(seg),
        next,
        len,
        first_ts: word(3)?,
        last_ts: word(4)?,
        index,
    })
}

/// Removes the stream directories under `streams` whose queue numbers are not in `keep`:
/// left by a stream whose deletion (or whose declaration) a crash interrupted, they must
/// not turn up in a new queue that is given the same number.
pub fn remove_orphans(streams: &Path, keep: &std::collections::HashSet<u32>) {
    let Ok(entries) = std::fs::read_dir(streams) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let id = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok());
        if id.is_some_and(|id| !keep.contains(&id)) {
            tracing::info!(dir = %e.path().display(), "removing the files of a stream that no longer exists");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Reads a segment file through, checking every record, and cuts it after the last whole
/// one in sequence.
fn scan(file: File, first: u64, path: PathBuf) -> Result<SegmentInfo, StoreError> {
    let seg = Segment::new(first, Bytes_::File(file), Some(path.clone()), 0);
    let mut info = SegmentInfo::new(seg, 0);
    let seg = info.seg.clone();
    let Bytes_::File(f) = &seg.data else {
        unreachable!("a recovered segment is a file");
    };
    let size = f
        .metadata()
        .map_err(|e| StoreError::io("reading a stream segment", e))?
        .len();
    let mut reader = std::io::BufReader::with_capacity(READ_SPAN, f);
    let mut pos = 0u64;
    let mut header = [0u8; HEADER_LEN];
    let mut payload = Vec::new();
    let mut expect = first;
    let mut zeros = false;
    while pos < size {
        if reader.read_exact(&mut header).is_err() {
            break;
        }
        if header == [0; HEADER_LEN] {
            // Zeros written ahead of the data: where it ends.
            zeros = true;
            break;
        }
        let Some(len) = record::payload_len(&header) else {
            break;
        };
        payload.resize(len, 0);
        if reader.read_exact(&mut payload).is_err() {
            break;
        }
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if crc32c::crc32c(&payload) != crc {
            break;
        }
        let Some((offset, ts)) = head(&payload) else {
            break;
        };
        if offset != expect {
            break;
        }
        info.note(offset, pos, (HEADER_LEN + len) as u64, ts);
        expect += 1;
        pos += (HEADER_LEN + len) as u64;
    }
    if pos < size {
        if !zeros {
            tracing::warn!(
                path = %path.display(),
                kept = pos,
                size,
                "stream segment ends in a torn or damaged record; cut there"
            );
        }
        f.set_len(pos)
            .and_then(|_| f.sync_all())
            .map_err(|e| StoreError::io("cutting a stream segment", e))?;
    }
    let mut u = seg.unwritten();
    (u.at, u.filled) = (pos, pos);
    drop(u);
    Ok(info)
}

/// The sync thread: writes out what was appended and, when publishers wait, fsyncs it, then
/// tells them. One turn covers every append that arrived while the previous one ran.
fn sync_loop(shared: &SyncShared) {
    // Bytes per fsync'd turn, a moving average: small turns prefill (`PREFILL_BELOW`).
    let mut turn_bytes = 0u64;
    loop {
        let (waiting, dirty, closing) = {
            let mut s = shared.lock();
            while s.waiting.is_empty() && !s.appended && !s.closed {
                s.idle = true;
                s = shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            s.idle = false;
            s.appended = false;
            let waiting = std::mem::take(&mut s.waiting);
            // Segments stay dirty until an fsync covers them.
            let dirty = match waiting.is_empty() {
                true => s.dirty.clone(),
                false => std::mem::take(&mut s.dirty),
            };
            (waiting, dirty, s.closed)
        };
        let mut ok = true;
        let prefill = !waiting.is_empty() && turn_bytes < PREFILL_BELOW;
        let mut written = 0;
        for seg in &dirty {
            let Bytes_::File(f) = &seg.data else {
                continue;
            };
            let done = match waiting.is_empty() {
                true => seg.write_out(prefill),
                false => seg
                    .write_out(prefill)
                    .and_then(|n| f.sync_data().map(|_| n)),
            };
            match done {
                Ok(n) => written += n,
                Err(e) => {
                    tracing::error!("cannot write or fsync a stream segment: {e}");
                    shared.failed.store(true, Ordering::Relaxed);
                    ok = false;
                }
            }
        }
        if !waiting.is_empty() {
            turn_bytes = (turn_bytes * 7 + written) / 8;
        }
        for (notify, token) in waiting {
            notify.settled(token, ok);
        }
        if closing {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(body: &'a [u8], ts: u64, filter: Option<&'static str>) -> NewRecord<'a> {
        NewRecord {
            timestamp: ts,
            persistent: true,
            filter,
            exchange: "x",
            routing_key: "k",
            raw_properties: &[0, 0],
            body,
        }
    }

    /// An empty directory for a test's stream, and retention with segments of `segment_bytes`.
    fn fresh_dir(name: &str, segment_bytes: u64) -> (PathBuf, Retention) {
        let dir = std::env::temp_dir().join(format!("warren-stream-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let retention = Retention {
            segment_bytes,
            ..Retention::default()
        };
        (dir, retention)
    }

    fn all(log: &StreamLog, from: u64) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut c = Cursor::at(from);
        // A short read may pass only records before the cursor: go on while it moves.
        loop {
            let before = (out.len(), c);
            c = log.read(c, 64, |r| {
                out.push((r.offset, r.body.to_vec()));
                true
            });
            if (out.len(), c) == before {
                return out;
            }
        }
    }

    #[test]
    fn appends_read_back_in_order_across_segments() {
        let retention = Retention {
            segment_bytes: 100,
            ..Retention::default()
        };
        let log = StreamLog::memory(retention);
        for i in 0..50u64 {
            let body = format!("m{i}");
            let (off, _) = log.append(&rec(body.as_bytes(), i, None), None).unwrap();
            assert_eq!(off, i);
        }
        let got = all(&log, 0);
        assert_eq!(got.len(), 50);
        assert_eq!(got[49], (49, b"m49".to_vec()));
        assert_eq!(all(&log, 30)[0].0, 30);
        assert!(log.lock().segments.len() > 5);
    }

    #[test]
    fn retention_by_bytes_removes_whole_segments_from_the_head() {
        let retention = Retention {
            segment_bytes: 200,
            max_bytes: Some(600),
            ..Retention::default()
        };
        let log = StreamLog::memory(retention);
        for i in 0..200u64 {
            log.append(&rec(&[7; 20], i, None), None).unwrap();
        }
        let (first, next) = log.bounds();
        assert_eq!(next, 200);
        assert!(first > 150, "first {first}");
        let (_, bytes) = log.size();
        assert!(bytes <= 600 + 200, "{bytes}");
        // A reader behind the head goes on from the first record kept.
        assert_eq!(all(&log, 0)[0].0, first);
    }

    #[test]
    fn retention_by_age_keeps_the_last_segment() {
        let retention = Retention {
            segment_bytes: 100,
            max_age_ms: Some(1000),
            ..Retention::default()
        };
        let log = StreamLog::memory(retention);
        for i in 0..20u64 {
            log.append(&rec(b"abc", 1000 + i, None), None).unwrap();
        }
        log.expire(1_000_000);
        let (first, next) = log.bounds();
        assert_eq!(next, 20);
        assert!(first > 0 && first < 20);
    }

    #[test]
    fn finds_records_by_time() {
        let log = StreamLog::memory(Retention {
            segment_bytes: 120,
            ..Retention::default()
        });
        for i in 0..40u64 {
            log.append(&rec(b"abc", 100 + i * 10, None), None).unwrap();
        }
        assert_eq!(log.cursor_at_time(0).offset, 0);
        assert_eq!(log.cursor_at_time(255).offset, 16);
        assert_eq!(log.cursor_at_time(260).offset, 16);
        assert_eq!(log.cursor_at_time(10_000).offset, 40);
    }

    #[test]
    fn a_damaged_record_costs_a_reader_the_rest_of_its_segment_only() {
        let (dir, retention) = fresh_dir("dmg", 150);
        {
            let log = StreamLog::open(&dir, retention).unwrap();
            for i in 0..30u64 {
                log.append(&rec(format!("b{i}").as_bytes(), i, None), None)
                    .unwrap();
            }
        }
        // Flip a body byte of the first segment's second record; its index file still
        // matches, so recovery does not read it.
        let seg = segment_path(&dir, 0);
        let mut bytes = std::fs::read(&seg).unwrap();
        let first_len = 8 + u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let second_end = first_len
            + 8
            + u32::from_be_bytes(bytes[first_len..first_len + 4].try_into().unwrap()) as usize;
        bytes[second_end - 1] ^= 0xff;
        std::fs::write(&seg, bytes).unwrap();
        let log = StreamLog::open(&dir, retention).unwrap();
        let got: Vec<u64> = all(&log, 0).iter().map(|g| g.0).collect();
        assert_eq!(got[0], 0);
        let next_segment = log.lock().segments[1].seg.first;
        assert_eq!(got[1], next_segment, "skipped to the next segment");
        assert_eq!(*got.last().unwrap(), 29);
        log.destroy();
    }

    #[test]
    fn sealed_segments_reopen_from_their_index_files() {
        let (dir, retention) = fresh_dir("idx", 150);
        {
            let log = StreamLog::open(&dir, retention).unwrap();
            for i in 0..30u64 {
                log.append(&rec(format!("b{i}").as_bytes(), 1000 + i, None), None)
                    .unwrap();
            }
        }
        let idx = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("idx".as_ref()))
            .count();
        assert!(idx > 3, "{idx} index files");
        // A torn index is ignored: that segment is read through instead.
        let stale = segment_path(&dir, 0).with_extension("idx");
        let mut bytes = std::fs::read(&stale).unwrap();
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&stale, bytes).unwrap();
        let log = StreamLog::open(&dir, retention).unwrap();
        assert_eq!(log.bounds(), (0, 30));
        let got = all(&log, 0);
        assert_eq!(got.len(), 30);
        assert_eq!(got[17], (17, b"b17".to_vec()));
        assert_eq!(log.cursor_at_time(1020).offset, 20);
        log.destroy();
    }

    /// Confirms heard, for appends that wait on the sync thread.
    #[derive(Default)]
    struct Heard {
        tokens: Mutex<Vec<(u64, bool)>>,
        changed: Condvar,
    }

    impl Durability for Heard {
        fn settled(&self, token: u64, ok: bool) {
            self.tokens.lock().unwrap().push((token, ok));
            self.changed.notify_all();
        }
    }

    impl Heard {
        fn wait_for(&self, n: usize) -> Vec<(u64, bool)> {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut t = self.tokens.lock().unwrap();
            while t.len() < n {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                assert!(!left.is_zero(), "{} of {n} confirms heard", t.len());
                t = self.changed.wait_timeout(t, left).unwrap().0;
            }
            t.clone()
        }
    }

    #[test]
    fn confirmed_appends_over_prefilled_zeros_recover_exactly() {
        let (dir, retention) = fresh_dir("zeros", 1000);
        let heard = Arc::new(Heard::default());
        {
            let log = StreamLog::open(&dir, retention).unwrap();
            for i in 0..100u64 {
                let body = format!("z{i}");
                let waiter: Waiter = (heard.clone(), i);
                let (off, waits) = log
                    .append(&rec(body.as_bytes(), i, None), Some(waiter))
                    .unwrap();
                assert_eq!((off, waits), (i, true));
                // Readable at once, whether or not the sync thread has written it yet.
                let mut got = Vec::new();
                log.read(Cursor::at(i), READ_SPAN, |r| {
                    got.push((r.offset, r.body.to_vec()));
                    true
                });
                assert_eq!(got, vec![(i, body.into_bytes())]);
            }
            let confirms = heard.wait_for(100);
            assert!(confirms.iter().all(|&(_, ok)| ok));
            let mut tokens: Vec<u64> = confirms.iter().map(|&(t, _)| t).collect();
            tokens.sort_unstable();
            assert_eq!(tokens, (0..100).collect::<Vec<_>>());
            // The last segment has zeros written ahead of its data; sealed ones do not.
            let st = log.lock();
            assert!(st.segments.len() > 1);
            for s in &st.segments {
                let size = std::fs::metadata(s.seg.path.as_ref().unwrap())
                    .unwrap()
                    .len();
                match Arc::ptr_eq(&s.seg, &st.segments.last().unwrap().seg) {
                    true => assert!(size >= s.len + PREFILL as u64 / 2, "{size} {}", s.len),
                    false => assert_eq!(size, s.len),
                }
            }
        }
        // Killed here: the zeros past the data are not a torn record.
        let log = StreamLog::open(&dir, retention).unwrap();
        assert_eq!(log.bounds(), (0, 100));
        let got = all(&log, 0);
        assert_eq!(got.len(), 100);
        assert_eq!(got[99], (99, b"z99".to_vec()));
        let (off, _) = log.append(&rec(b"after", 200, None), None).unwrap();
        assert_eq!(off, 100);
        log.flush();
        drop(log);
        let log = StreamLog::open(&dir, retention).unwrap();
        assert_eq!(all(&log, 100), vec![(100, b"after".to_vec())]);
        log.destroy();
    }

    #[test]
    fn no_room_for_zeros_ahead_costs_nothing_but_the_zeros() {
        let (dir, retention) = fresh_dir("nozeros", DEFAULT_SEGMENT_BYTES);
        let heard = Arc::new(Heard::default());
        {
            let log = StreamLog::open(&dir, retention).unwrap();
            // Unconfirmed: no turn writes zeros for it.
            log.append(&rec(b"first", 0, None), None).unwrap();
            let seg = log.lock().segments[0].seg.clone();
            seg.fail_zeros.store(true, Ordering::Relaxed);
            for i in 1..=50u64 {
                let waiter: Waiter = (heard.clone(), i);
                log.append(&rec(format!("n{i}").as_bytes(), i, None), Some(waiter))
                    .unwrap();
            }
            let confirms = heard.wait_for(50);
            assert!(confirms.iter().all(|&(_, ok)| ok), "{confirms:?}");
            let size = std::fs::metadata(seg.path.as_ref().unwrap()).unwrap().len();
            assert_eq!(size, log.lock().segments[0].len, "no zeros past the data");
            assert!(seg.unwritten().no_zeros);
        }
        let log = StreamLog::open(&dir, retention).unwrap();
        let got = all(&log, 0);
        assert_eq!(got.len(), 51);
        assert_eq!(got[50], (50, b"n50".to_vec()));
        log.destroy();
    }

    #[test]
    fn recovers_from_disk_and_cuts_a_torn_tail() {
        let (dir, retention) = fresh_dir("torn", 150);
        {
            let log = StreamLog::open(&dir, retention).unwrap();
            for i in 0..30u64 {
                log.append(&rec(format!("b{i}").as_bytes(), i, Some("f")), None)
                    .unwrap();
            }
            log.flush();
        }
        // Tear the last record of the last segment.
        let mut segs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        segs.sort();
        let last = segs.last().unwrap();
        let len = std::fs::metadata(last).unwrap().len();
        let f = OpenOptions::new().write(true).open(last).unwrap();
        f.set_len(len - 3).unwrap();
        let log = StreamLog::open(&dir, retention).unwrap();
        assert_eq!(log.bounds(), (0, 29));
        let got = all(&log, 0);
        assert_eq!(got.len(), 29);
        assert_eq!(got[28], (28, b"b28".to_vec()));
        let (off, _) = log.append(&rec(b"again", 99, None), None).unwrap();
        assert_eq!(off, 29);
        let mut c = Cursor::at(0);
        let mut filters = Vec::new();
        c = log.read(c, 1 << 20, |r| {
            filters.push(r.filter.clone());
            true
        });
        assert_eq!(c.offset, 30);
        assert_eq!(filters[0].as_deref(), Some(&b"f"[..]));
        assert_eq!(filters[29], None);
        log.destroy();
        assert!(!dir.exists());
    }
}
