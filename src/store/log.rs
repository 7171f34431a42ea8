//! The message log of one vhost: persistent messages in append-only segment files shared by
//! all its durable queues, with a group-committing writer thread.
//!
//! # Why one log per vhost, not one per queue
//! A persistent message routed to many durable queues (fanout) is written once, listing the
//! queues it went to, instead of once per queue; and one fsync covers every queue's publishes
//! in a batch, where per-queue files would need one fsync per dirty file. Deep queues and
//! reclaiming space are served by segmenting: each segment `NNNNNNNN.seg` has a companion
//! `NNNNNNNN.ack` that records which (queue, message) pairs of *that* segment were settled
//! (acked, dropped, purged) or delivered. A segment and its ack file are deleted together once
//! every message in the segment is settled in every queue it reached, so an ack can never
//! outlive the message it cancels, and one old unacked message pins only its own segment.
//!
//! Publishes are fsync'd before their publisher is told (group commit: one fsync for all
//! that arrived while the previous one ran). Settlements are written without an fsync: losing
//! one in a crash only means a message is delivered again, which AMQP allows.

use super::StoreError;
use super::index;
use super::record::{self, Item, Scanner};
use super::run::{self, Position, Run};
use crate::protocol::wire;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A segment is closed and a new one started once it grows past this.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// A batch stops growing past this many bytes, so one slow disk write stays bounded.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

const PUBLISH: u8 = 1;
/// A message a deep queue moved out of memory that must not survive a restart (transient, or
/// in a queue that does not): read back like a publish, ignored by recovery.
const SPILL: u8 = 4;
/// PUBLISH and SPILL for a message routed to more queues than a u16 counts: the same record
/// with a u32 queue count (RabbitMQ has no such limit, and a u16 count would wrap and
/// mis-frame the rest of the record behind a valid checksum).
const PUBLISH_WIDE: u8 = 5;
const SPILL_WIDE: u8 = 6;
const SETTLED: u8 = 2;
const DELIVERED: u8 = 3;
/// A quorum queue's message came back: its return counts (acquired u32, failed u16) from
/// now on. Written before returns were logged as commands (RETURN); still read.
const RETURNED: u8 = 7;
/// A quorum queue's message came back and stayed: how (0 the consumer asked, 1 a failed
/// delivery). Replayed through the queue's state machine, which counts it.
const RETURN: u8 = 8;

/// A deep queue reads its backlog back in spans of at most this many bytes.
const READ_SPAN: u32 = 4 * 1024 * 1024;

const PENDING: u8 = 0;
const DURABLE: u8 = 1;
const FAILED: u8 = 2;

/// Where a persisted message lives, filled in by the writer when it writes the message.
/// Id 0 means "not (or no longer) on disk".
#[derive(Debug, Default)]
pub struct Slot {
    id: AtomicU64,
    segment: AtomicU32,
    offset: AtomicU32,
    /// PENDING until the write is fsync'd (DURABLE) or refused (FAILED).
    state: AtomicU8,
    /// For a spill, the one queue it belongs to; 0 for a publish record, which belongs to the
    /// surviving queues it lists.
    spilled_for: AtomicU32,
}

impl Slot {
    pub fn new() -> Arc<Slot> {
        Arc::new(Slot::default())
    }

    /// The slot of a message already on disk at `p`.
    pub fn at(p: Position) -> Arc<Slot> {
        Arc::new(Slot {
            id: AtomicU64::new(p.id),
            segment: AtomicU32::new(p.segment),
            offset: AtomicU32::new(p.offset),
            state: AtomicU8::new(DURABLE),
            spilled_for: AtomicU32::new(0),
        })
    }

    /// A slot for a spill of `queue` about to be written (`position` None) or read back.
    pub fn spill(queue: u32, position: Option<Position>) -> Arc<Slot> {
        let slot = match position {
            Some(p) => Slot::at(p),
            None => Slot::new(),
        };
        slot.spilled_for.store(queue, Ordering::Release);
        slot
    }

    /// Whether this record is one `queue` must settle: its own spill, or a publish record
    /// when the queue survives restarts (publish records list exactly those).
    pub fn belongs_to(&self, queue: u32, survives: bool) -> bool {
        match self.spilled_for.load(Ordering::Acquire) {
            0 => survives,
            q => q == queue,
        }
    }

    pub fn is_spill(&self) -> bool {
        self.spilled_for.load(Ordering::Acquire) != 0
    }

    /// A slot whose write was refused: the message stays in memory.
    pub fn failed() -> Arc<Slot> {
        let slot = Slot::new();
        slot.state.store(FAILED, Ordering::Release);
        slot
    }

    /// Where the message is, once its write is fsync'd.
    pub fn position(&self) -> Option<Position> {
        if self.state.load(Ordering::Acquire) != DURABLE {
            return None;
        }
        let (id, segment) = self.get()?;
        Some(Position {
            id,
            segment,
            offset: self.offset.load(Ordering::Acquire),
        })
    }

    /// Whether the write is still under way (neither durable nor refused).
    pub fn is_pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == PENDING
    }

    fn get(&self) -> Option<(u64, u32)> {
        match self.id.load(Ordering::Acquire) {
            0 => None,
            id => Some((id, self.segment.load(Ordering::Acquire))),
        }
    }
}

/// Told when a publish is durable (or could not be made durable).
pub trait Durability: Send + Sync {
    fn settled(&self, token: u64, ok: bool);
}

/// A message as the log stores it.
#[derive(Debug, Clone)]
pub struct LogMessage {
    pub exchange: String,
    pub routing_key: String,
    pub raw_properties: Bytes,
    pub body: Bytes,
    /// When the message arrived (ms since the Unix epoch), 0 if unknown. Written after the
    /// body only when set, so records of messages without a deadline keep their old shape.
    pub timestamp: u64,
}

impl LogMessage {
    /// About what a spilled message holds in memory until written: its bytes, plus the
    /// message, slot, queue entry and writer op around them.
    fn footprint(&self) -> usize {
        self.exchange.len()
            + self.routing_key.len()
            + self.raw_properties.len()
            + self.body.len()
            + 256
    }
}

enum Op {
    Publish {
        slot: Arc<Slot>,
        queues: Vec<u32>,
        message: LogMessage,
        notify: Option<(Arc<dyn Durability>, u64)>,
        /// A spill: written without an fsync, ignored by recovery.
        spill: bool,
    },
    Settled(u32, Arc<Slot>),
    /// Settles messages that were only in a queue's on-disk backlog.
    SettledAt(u32, Vec<Position>),
    Delivered(u32, Arc<Slot>),
    Returned(u32, Arc<Slot>, bool),
    /// Answered once everything before it is written and fsync'd.
    Sync(Sender<()>),
}

/// A message found on disk at start-up, for one queue.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub message: Arc<LogMessage>,
    pub slot: Arc<Slot>,
    pub redelivered: bool,
}

/// What one queue gets back at start-up: its head read into memory, the rest as positions.
#[derive(Debug, Default)]
pub struct RecoveredQueue {
    pub loaded: Vec<Recovered>,
    pub backlog: Vec<Run>,
    /// A quorum queue's records of its messages that have any besides the publish, by
    /// message id, in log order: what its state machine replays.
    pub history: HashMap<u64, Vec<Event>>,
    /// Recovered by scanning the log, as after a crash, not from a clean stop's index.
    pub after_crash: bool,
}

impl RecoveredQueue {
    pub fn len(&self) -> usize {
        self.loaded.len() + self.backlog.iter().map(Run::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Flags every message redelivered: after a crash a classic queue cannot know which of
    /// its messages had reached a consumer (a delivery is not written before it is sent), so
    /// it says any of them may have, as RabbitMQ does (3.10.8 after kill -9; 4.x's
    /// `rabbit_variable_queue:init/11` takes every message below the highest sequence id as
    /// delivered after a non-clean shutdown).
    pub fn flag_all_redelivered(&mut self) {
        for r in &mut self.loaded {
            r.redelivered = true;
        }
        for run in &mut self.backlog {
            run.redelivered = true;
        }
    }
}

/// A record of the log about one message of a queue, after its publish (see `history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Delivered,
    Returned {
        failed: bool,
    },
    /// An old log's RETURNED record: the counts (acquired, failed) after a return.
    Counted(u32, u16),
}

/// The handle the broker publishes and settles through.
pub struct MessageLog {
    dir: PathBuf,
    /// Read handles of segments that backlogs were read from.
    readers: Mutex<HashMap<u32, Arc<File>>>,
    ops: Mutex<Option<Sender<Op>>>,
    /// The writer thread; it returns the next message id when it stops.
    thread: Mutex<Option<JoinHandle<u64>>>,
    /// Set once the writer has stopped: the next message id, for the shutdown index.
    stopped_at: Mutex<Option<u64>>,
    fault: Arc<Mutex<Option<std::io::ErrorKind>>>,
    /// Tests hold backlog reads here (`hold_reads`) to show what goes on during one.
    read_hold: ReadHold,
    /// Bytes of spills handed to the writer and not yet written. Nobody waits for a spill, so
    /// publishers could outrun a slow disk and pile them up in memory; queues report
    /// congestion while this is high (see `spill_backlog`).
    spilling: Arc<AtomicUsize>,
}

impl std::fmt::Debug for MessageLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageLog")
    }
}

fn seg_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}.seg"))
}

fn ack_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}.ack"))
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut b = BytesMut::new();
    wire::put_shortstr(&mut b, s);
    out.put_slice(&b);
}

impl MessageLog {
    /// Opens the log in `dir`, recovering every message still owed to one of `queues`.
    /// Returns the messages per queue id, in the order they were published: the first
    /// `keep_in_memory` of each queue read, the rest as positions.
    pub fn open(
        dir: &Path,
        queues: &HashSet<u32>,
        keep_in_memory: usize,
    ) -> Result<(MessageLog, HashMap<u32, RecoveredQueue>), StoreError> {
        fs::create_dir_all(dir).map_err(|e| StoreError::io("creating the message log", e))?;
        let segs = segments(dir)?;
        let mut recovery = match index::load(dir, queues, &segs) {
            Some(ix) => from_index(dir, ix, &segs),
            None => {
                let mut r = recover(dir, queues, keep_in_memory)?;
                for q in r.queues.values_mut() {
                    q.after_crash = true;
                }
                r
            }
        };
        let live: Vec<u32> = recovery.live.keys().copied().collect();
        attach_histories(&mut recovery.queues, histories(dir, &live));
        // From here on the log changes; an index would describe the past.
        index::remove(dir)?;
        let segment = recovery.last_segment + 1;
        let file = open_append(&seg_path(dir, segment))?;
        sync_dir(dir)?;
        let writer = Writer {
            dir: dir.to_owned(),
            file,
            segment,
            size: 0,
            next_id: recovery.max_id + 1,
            live: recovery.live,
            ack_files: HashMap::new(),
            fault: Arc::new(Mutex::new(None)),
            spilling: Arc::new(AtomicUsize::new(0)),
        };
        let fault = writer.fault.clone();
        let spilling = writer.spilling.clone();
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("warren-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::io("starting the store writer", e))?;
        Ok((
            MessageLog {
                dir: dir.to_owned(),
                readers: Mutex::new(HashMap::new()),
                ops: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                stopped_at: Mutex::new(None),
                fault,
                read_hold: ReadHold::default(),
                spilling,
            },
            recovery.queues,
        ))
    }

    /// Hands `op` to the writer; a publish the writer can no longer take is refused (nacked).
    fn send(&self, op: Op) {
        let guard = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let refused = match guard.as_ref() {
            Some(tx) => tx.send(op).err().map(|e| e.0),
            None => Some(op),
        };
        if let Some(Op::Publish {
            notify,
            message,
            spill,
            ..
        }) = refused
        {
            if let Some((n, token)) = notify {
                n.settled(token, false);
            }
            if spill {
                self.spilling
                    .fetch_sub(message.footprint(), Ordering::Relaxed);
            }
        }
    }

    /// Bytes of spilled messages still waiting for the writer.
    pub fn spill_backlog(&self) -> usize {
        self.spilling.load(Ordering::Relaxed)
    }

    /// Writes a message for `queues`; `notify` hears once it is fsync'd.
    pub fn publish(
        &self,
        slot: Arc<Slot>,
        queues: Vec<u32>,
        message: LogMessage,
        notify: Option<(Arc<dyn Durability>, u64)>,
    ) {
        self.send(Op::Publish {
            slot,
            queues,
            message,
            notify,
            spill: false,
        });
    }

    /// Writes a message of `queue` that is to leave memory but not to survive a restart;
    /// `slot` gets its position once written.
    pub fn spill(&self, slot: Arc<Slot>, queue: u32, message: LogMessage) {
        self.spilling
            .fetch_add(message.footprint(), Ordering::Relaxed);
        self.send(Op::Publish {
            slot,
            queues: vec![queue],
            message,
            notify: None,
            spill: true,
        });
    }

    /// The message left `queue` for good (acked, dropped, purged, queue deleted).
    pub fn settled(&self, queue: u32, slot: &Arc<Slot>) {
        self.send(Op::Settled(queue, slot.clone()));
    }

    /// Messages known only by position left `queue` for good (a backlog purged or deleted).
    pub fn settled_at(&self, queue: u32, positions: Vec<Position>) {
        if !positions.is_empty() {
            self.send(Op::SettledAt(queue, positions));
        }
    }

    /// Reads messages back from their positions (a deep queue's backlog), in order. A message
    /// that cannot be read or does not check out is an error saying why; nothing is logged
    /// here, as the reader runs without its queue's lock and only the queue knows, after,
    /// whether the messages were still its own (a purge may have settled them meanwhile).
    pub fn read(&self, positions: &[Position]) -> Vec<Result<LogMessage, String>> {
        self.read_hold.wait();
        let mut out = Vec::with_capacity(positions.len());
        let mut rest = positions;
        while let Some(first) = rest.first() {
            // One read per span of increasing offsets in one segment.
            let n = 1 + rest
                .windows(2)
                .take_while(|w| {
                    w[1].segment == first.segment
                        && w[1].offset > w[0].offset
                        && w[1].offset - first.offset < READ_SPAN
                })
                .count();
            let (span, tail) = rest.split_at(n);
            match self.read_span(span) {
                Ok(found) => out.extend(found),
                // A span that cannot be read whole (a segment cut short) is read message by
                // message, so only those past the damage are lost.
                Err(_) if span.len() > 1 => {
                    for p in span {
                        match self.read_span(std::slice::from_ref(p)) {
                            Ok(found) => out.extend(found),
                            Err(e) => out.push(Err(unreadable(p, e))),
                        }
                    }
                }
                Err(e) => out.extend(span.iter().map(|p| Err(unreadable(p, &e)))),
            }
            rest = tail;
        }
        out
    }

    fn read_span(&self, span: &[Position]) -> std::io::Result<Vec<Result<LogMessage, String>>> {
        let (Some(first), Some(last)) = (span.first(), span.last()) else {
            return Ok(Vec::new());
        };
        let file = self.reader(first.segment)?;
        let mut header = [0u8; record::HEADER_LEN];
        file.read_exact_at(&mut header, u64::from(last.offset))?;
        let last_len = record::payload_len(&header).unwrap_or(0);
        let end = u64::from(last.offset) + (record::HEADER_LEN + last_len) as u64;
        let mut data = vec![0u8; (end - u64::from(first.offset)) as usize];
        file.read_exact_at(&mut data, u64::from(first.offset))?;
        Ok(span
            .iter()
            .map(|p| {
                let at = (p.offset - first.offset) as usize;
                record::record_at(&data, at)
                    .and_then(parse_publish)
                    .filter(|(id, _, _)| *id == p.id)
                    .map(|(_, _, m)| m)
                    .ok_or_else(|| unreadable(p, "not there or damaged"))
            })
            .collect())
    }

    fn reader(&self, segment: u32) -> std::io::Result<Arc<File>> {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = readers.get(&segment) {
            return Ok(f.clone());
        }
        // Backlogs read mostly from a few segments; forget the rest rather than pile up handles.
        if readers.len() >= 16 {
            readers.clear();
        }
        let f = Arc::new(File::open(seg_path(&self.dir, segment))?);
        readers.insert(segment, f.clone());
        Ok(f)
    }

    /// The message was handed to a consumer that must ack it; after a restart it is
    /// redelivered.
    pub fn delivered(&self, queue: u32, slot: &Arc<Slot>) {
        self.send(Op::Delivered(queue, slot.clone()));
    }

    /// A quorum queue's message came back and stayed (`failed`: as a failed delivery).
    pub fn returned(&self, queue: u32, slot: &Arc<Slot>, failed: bool) {
        self.send(Op::Returned(queue, slot.clone(), failed));
    }

    /// Holds every later backlog read before it starts (true) until released (false), so
    /// tests can show that a queue serves others while its backlog is read.
    #[doc(hidden)]
    pub fn hold_reads(&self, hold: bool) {
        self.read_hold.hold.store(hold, Ordering::Release);
    }

    /// Backlog reads waiting at `hold_reads` now.
    #[doc(hidden)]
    pub fn held_reads(&self) -> usize {
        self.read_hold.waiting.load(Ordering::Acquire)
    }

    /// Makes every later write fail with `kind` after writing half its bytes (None: stop),
    /// so tests can show what a full or failing disk does.
    #[doc(hidden)]
    pub fn inject_write_fault(&self, kind: Option<std::io::ErrorKind>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = kind;
    }

    /// Waits until everything sent so far is on disk.
    pub fn sync(&self) {
        let (tx, rx) = channel();
        self.send(Op::Sync(tx));
        let _ = rx.recv();
    }

    /// Writes what is queued, fsyncs, and stops the writer.
    pub fn close(&self) {
        drop(self.ops.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take()
            && let Ok(next_id) = t.join()
        {
            *self.stopped_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(next_id);
        }
    }

    /// After `close`, on a clean stop: records what every durable queue holds (`queues`, runs
    /// in queue order) so the next start need not scan the log.
    pub fn write_index(&self, queues: &[(u32, Vec<Run>)]) -> Result<(), StoreError> {
        let next_id = *self.stopped_at.lock().unwrap_or_else(|p| p.into_inner());
        match next_id {
            Some(next_id) => index::write(&self.dir, next_id, queues),
            None => Ok(()),
        }
    }
}

impl Drop for MessageLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn open_append(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing the log directory", e))
}

struct Writer {
    dir: PathBuf,
    file: File,
    segment: u32,
    size: u64,
    next_id: u64,
    /// Per segment: (queue, message) pairs not yet settled.
    live: BTreeMap<u32, u64>,
    ack_files: HashMap<u32, File>,
    fault: Arc<Mutex<Option<std::io::ErrorKind>>>,
    spilling: Arc<AtomicUsize>,
}

/// Why the message at `p` cannot be read back, for the queue to log.
fn unreadable(p: &Position, why: impl std::fmt::Display) -> String {
    format!(
        "segment {} offset {}: message {} cannot be read back: {why}",
        p.segment, p.offset, p.id
    )
}

/// The test hook of `hold_reads`: one atomic load per read otherwise.
#[derive(Debug, Default)]
struct ReadHold {
    hold: AtomicBool,
    waiting: AtomicUsize,
}

impl ReadHold {
    fn wait(&self) {
        if !self.hold.load(Ordering::Acquire) {
            return;
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        while self.hold.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Writer {
    /// An injected fault: half the batch reaches the file, then the write fails.
    fn write_with_fault(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let fault = *self.fault.lock().unwrap_or_else(|p| p.into_inner());
        match fault {
            Some(kind) => {
                self.file.write_all(&buf[..buf.len() / 2])?;
                Err(std::io::Error::from(kind))
            }
            None => self.file.write_all(buf),
        }
    }

    fn run(mut self, rx: Receiver<Op>) -> u64 {
        let mut batch = Vec::new();
        while let Ok(first) = rx.recv() {
            batch.push(first);
            let mut bytes = 0usize;
            while bytes < BATCH_BYTES {
                match rx.try_recv() {
                    Ok(op) => {
                        if let Op::Publish { message, .. } = &op {
                            bytes += message.body.len() + 64;
                        }
                        batch.push(op);
                    }
                    Err(_) => break,
                }
            }
            self.write_batch(&mut batch);
        }
        // Shutting down: whatever settlements are buffered in the OS go to disk too.
        let _ = self.file.sync_data();
        for f in self.ack_files.values() {
            let _ = f.sync_data();
        }
        self.next_id
    }

    fn write_batch(&mut self, batch: &mut Vec<Op>) {
        let mut buf = Vec::new();
        let mut published: Vec<(Arc<Slot>, usize)> = Vec::new();
        let base = self.size;
        let mut notify = Vec::new();
        let mut syncs = Vec::new();
        let mut per_segment: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        let mut settled_segments = Vec::new();
        // Spills alone need no fsync: nothing is promised about them.
        let mut needs_sync = false;
        for op in batch.drain(..) {
            match op {
                Op::Publish {
                    slot,
                    queues,
                    message,
                    notify: n,
                    spill,
                } => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let offset = base + buf.len() as u64;
                    needs_sync |= !spill;
                    record::append(&mut buf, |o| {
                        match u16::try_from(queues.len()) {
                            Ok(n) => {
                                o.put_u8(if spill { SPILL } else { PUBLISH });
                                o.put_u64(id);
                                o.put_u16(n);
                            }
                            Err(_) => {
                                o.put_u8(if spill { SPILL_WIDE } else { PUBLISH_WIDE });
                                o.put_u64(id);
                                o.put_u32(queues.len() as u32);
                            }
                        }
                        for q in &queues {
                            o.put_u32(*q);
                        }
                        put_str(o, &message.exchange);
                        put_str(o, &message.routing_key);
                        o.put_u32(message.raw_properties.len() as u32);
                        o.put_slice(&message.raw_properties);
                        o.put_u32(message.body.len() as u32);
                        o.put_slice(&message.body);
                        if message.timestamp != 0 {
                            o.put_u64(message.timestamp);
                        }
                    });
                    slot.segment.store(self.segment, Ordering::Release);
                    slot.offset.store(offset as u32, Ordering::Release);
                    slot.id.store(id, Ordering::Release);
                    published.push((slot, queues.len()));
                    notify.extend(n);
                    if spill {
                        self.spilling
                            .fetch_sub(message.footprint(), Ordering::Relaxed);
                    }
                }
                Op::Settled(queue, slot) => {
                    if let Some((id, seg)) = slot.get() {
                        let out = per_segment.entry(seg).or_default();
                        record::append(out, |o| {
                            o.put_u8(SETTLED);
                            o.put_u32(queue);
                            o.put_u64(id);
                        });
                        settled_segments.push(seg);
                    }
                }
                Op::SettledAt(queue, positions) => {
                    for p in positions {
                        let out = per_segment.entry(p.segment).or_default();
                        record::append(out, |o| {
                            o.put_u8(SETTLED);
                            o.put_u32(queue);
                            o.put_u64(p.id);
                        });
                        settled_segments.push(p.segment);
                    }
                }
                Op::Delivered(queue, slot) => {
                    if let Some((id, seg)) = slot.get() {
                        let out = per_segment.entry(seg).or_default();
                        record::append(out, |o| {
                            o.put_u8(DELIVERED);
                            o.put_u32(queue);
                            o.put_u64(id);
                        });
                    }
                }
                Op::Returned(queue, slot, failed) => {
                    if let Some((id, seg)) = slot.get() {
                        let out = per_segment.entry(seg).or_default();
                        record::append(out, |o| {
                            o.put_u8(RETURN);
                            o.put_u32(queue);
                            o.put_u64(id);
                            o.put_u8(u8::from(failed));
                        });
                    }
                }
                Op::Sync(tx) => syncs.push(tx),
            }
        }
        let result = self.append_and_sync(&buf, needs_sync || !syncs.is_empty());
        match &result {
            Ok(()) => {
                for (slot, refs) in &published {
                    *self.live.entry(self.segment).or_default() += *refs as u64;
                    slot.state.store(DURABLE, Ordering::Release);
                }
            }
            Err(e) => {
                tracing::error!("message store write failed, publishes are refused: {e}");
                for (slot, _) in &published {
                    slot.id.store(0, Ordering::Release);
                    slot.state.store(FAILED, Ordering::Release);
                }
            }
        }
        for (n, token) in notify {
            n.settled(token, result.is_ok());
        }
        for (seg, bytes) in per_segment {
            self.append_settlements(seg, &bytes);
        }
        for seg in settled_segments {
            self.release(seg);
        }
        if !syncs.is_empty() {
            for f in self.ack_files.values() {
                let _ = f.sync_data();
            }
        }
        for tx in syncs {
            let _ = tx.send(());
        }
        if self.size >= SEGMENT_BYTES {
            self.roll();
        }
    }

    /// Appends to the active segment; on failure the segment is cut back to where it was, so
    /// a half-written batch never reaches the disk's idea of the log.
    fn append_and_sync(&mut self, buf: &[u8], sync: bool) -> std::io::Result<()> {
        if !buf.is_empty() {
            if let Err(e) = self.write_with_fault(buf) {
                let _ = self.file.set_len(self.size);
                return Err(e);
            }
            self.size += buf.len() as u64;
        }
        if sync && let Err(e) = self.file.sync_data() {
            self.size -= buf.len() as u64;
            let _ = self.file.set_len(self.size);
            return Err(e);
        }
        Ok(())
    }

    fn append_settlements(&mut self, seg: u32, bytes: &[u8]) {
        if !self.live.contains_key(&seg) {
            return;
        }
        let file = match self.ack_files.entry(seg) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                match open_append(&ack_path(&self.dir, seg)) {
                    Ok(f) => v.insert(f),
                    Err(e) => {
                        tracing::error!("cannot record settlements: {e}");
                        return;
                    }
                }
            }
        };
        if let Err(e) = file.write_all(bytes) {
            tracing::error!("cannot record settlements for segment {seg}: {e}");
        }
    }

    /// One (queue, message) pair of `seg` is settled; a segment with none left goes away.
    fn release(&mut self, seg: u32) {
        let Some(n) = self.live.get_mut(&seg) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 && seg != self.segment {
            self.remove_segment(seg);
        }
    }

    fn remove_segment(&mut self, seg: u32) {
        self.live.remove(&seg);
        self.ack_files.remove(&seg);
        for p in [seg_path(&self.dir, seg), ack_path(&self.dir, seg)] {
            if let Err(e) = fs::remove_file(&p)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("cannot remove {}: {e}", p.display());
            }
        }
    }

    fn roll(&mut self) {
        let next = self.segment + 1;
        match open_append(&seg_path(&self.dir, next)) {
            Ok(f) => {
                let _ = self.file.sync_data();
                let old = self.segment;
                self.file = f;
                self.segment = next;
                self.size = 0;
                let _ = sync_dir(&self.dir);
                // The closed segment may already be fully settled.
                if self.live.get(&old).copied().unwrap_or(0) == 0 {
                    self.remove_segment(old);
                }
            }
            Err(e) => tracing::error!("cannot start a new segment: {e}"),
        }
    }
}

struct Recovery {
    queues: HashMap<u32, RecoveredQueue>,
    live: BTreeMap<u32, u64>,
    max_id: u64,
    last_segment: u32,
}

fn segments(dir: &Path) -> Result<Vec<u32>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io("listing the message log", e))? {
        let entry = entry.map_err(|e| StoreError::io("listing the message log", e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads a file's records, truncating a torn tail (warning) and skipping damage (error).
fn read_records(path: &Path, truncate_tail: bool) -> Result<Vec<u8>, StoreError> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("reading {}", path.display()), e)),
    };
    let tail = Scanner::new(&data).find_map(|i| match i {
        Item::Tail { at } => Some(at),
        _ => None,
    });
    if let Some(at) = tail {
        tracing::warn!(
            "{}: torn or corrupt tail at byte {at} of {}, truncated",
            path.display(),
            data.len()
        );
        if truncate_tail {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| StoreError::io("truncating a torn tail", e))?;
            f.set_len(at as u64)
                .and_then(|_| f.sync_all())
                .map_err(|e| StoreError::io("truncating a torn tail", e))?;
        }
        return Ok(data[..at].to_vec());
    }
    Ok(data)
}

/// Recovery from a clean stop's index: every queue's messages as positions, nothing read;
/// segments no queue needs are deleted.
fn from_index(dir: &Path, ix: index::Index, segs: &[u32]) -> Recovery {
    let mut live: BTreeMap<u32, u64> = BTreeMap::new();
    for r in ix.queues.values().flatten() {
        *live.entry(r.segment).or_default() += r.len() as u64;
    }
    for seg in segs.iter().filter(|s| !live.contains_key(s)) {
        for p in [seg_path(dir, *seg), ack_path(dir, *seg)] {
            let _ = fs::remove_file(p);
        }
    }
    Recovery {
        queues: ix
            .queues
            .into_iter()
            .map(|(q, backlog)| {
                (
                    q,
                    RecoveredQueue {
                        loaded: Vec::new(),
                        backlog,
                        history: HashMap::new(),
                        after_crash: false,
                    },
                )
            })
            .collect(),
        live,
        max_id: ix.next_id.saturating_sub(1),
        last_segment: segs.last().copied().unwrap_or(0),
    }
}

fn recover(dir: &Path, known: &HashSet<u32>, keep: usize) -> Result<Recovery, StoreError> {
    let segs = segments(dir)?;
    let mut r = Recovery {
        queues: HashMap::new(),
        live: BTreeMap::new(),
        max_id: 0,
        last_segment: segs.last().copied().unwrap_or(0),
    };
    for &seg in &segs {
        let mut settled = HashSet::new();
        let mut delivered = HashSet::new();
        let acks = read_records(&ack_path(dir, seg), true)?;
        for item in Scanner::new(&acks) {
            match item {
                Item::Record { payload, .. } => {
                    if let Some((kind, q, id)) = parse_settlement(payload) {
                        if kind == SETTLED {
                            settled.insert((q, id));
                        } else {
                            delivered.insert((q, id));
                        }
                    }
                }
                Item::Skipped { from, to } => tracing::error!(
                    "{}: corrupt bytes {from}..{to} skipped",
                    ack_path(dir, seg).display()
                ),
                Item::Tail { .. } => {}
            }
        }
        let data = read_records(&seg_path(dir, seg), true)?;
        let mut live = 0u64;
        for item in Scanner::new(&data) {
            match item {
                Item::Record { payload, offset } => {
                    let Some((id, queues, message)) = parse_publish(payload) else {
                        tracing::error!(
                            "{}: undecodable record at {offset} skipped",
                            seg_path(dir, seg).display()
                        );
                        continue;
                    };
                    r.max_id = r.max_id.max(id);
                    if matches!(payload.first(), Some(&(SPILL | SPILL_WIDE))) {
                        continue;
                    }
                    let position = Position {
                        id,
                        segment: seg,
                        offset: offset as u32,
                    };
                    let slot = Slot::at(position);
                    let message = Arc::new(message);
                    for q in queues {
                        if known.contains(&q) && !settled.contains(&(q, id)) {
                            live += 1;
                            let redelivered = delivered.contains(&(q, id));
                            let rq = r.queues.entry(q).or_default();
                            if rq.loaded.len() < keep && rq.backlog.is_empty() {
                                rq.loaded.push(Recovered {
                                    message: message.clone(),
                                    slot: slot.clone(),
                                    redelivered,
                                });
                            } else {
                                run::push_position(&mut rq.backlog, position, redelivered);
                            }
                        }
                    }
                }
                Item::Skipped { from, to } => tracing::error!(
                    "{}: corrupt bytes {from}..{to} skipped, the messages there are lost",
                    seg_path(dir, seg).display()
                ),
                Item::Tail { .. } => {}
            }
        }
        if live == 0 {
            for p in [seg_path(dir, seg), ack_path(dir, seg)] {
                let _ = fs::remove_file(p);
            }
        } else {
            r.live.insert(seg, live);
        }
    }
    Ok(r)
}

/// Reads one record payload of a segment or an ack file as recovery does: the fuzz
/// targets' way in to the parsers, which are private. Whether it was either.
#[doc(hidden)]
pub fn parse_any_record(payload: &[u8]) -> bool {
    parse_publish(payload).is_some()
        || parse_settlement(payload).is_some()
        || parse_returned(payload).is_some()
}

/// A RETURNED or RETURN record: queue, message id and what it says; nothing may follow.
fn parse_returned(p: &[u8]) -> Option<(u32, u64, Event)> {
    let (i, kind) = wire::octet(p).ok()?;
    let (i, q) = wire::long(i).ok()?;
    let (i, id) = wire::longlong(i).ok()?;
    let (i, event) = match kind {
        RETURNED => {
            let (i, acquired) = wire::long(i).ok()?;
            let (i, failed) = wire::short(i).ok()?;
            (i, Event::Counted(acquired, failed))
        }
        RETURN => match wire::octet(i).ok()? {
            (i, 0) => (i, Event::Returned { failed: false }),
            (i, 1) => (i, Event::Returned { failed: true }),
            _ => return None,
        },
        _ => return None,
    };
    i.is_empty().then_some((q, id, event))
}

/// The records the ack files of `segs` hold about each (queue, message id) still live, in
/// log order (a segment's ack file holds the records of that segment's messages only).
fn histories(dir: &Path, segs: &[u32]) -> HashMap<(u32, u64), Vec<Event>> {
    let mut out: HashMap<(u32, u64), Vec<Event>> = HashMap::new();
    for &seg in segs {
        let Ok(acks) = read_records(&ack_path(dir, seg), true) else {
            continue;
        };
        for item in Scanner::new(&acks) {
            let Item::Record { payload, .. } = item else {
                continue;
            };
            if let Some((q, id, event)) = parse_returned(payload) {
                out.entry((q, id)).or_default().push(event);
            } else if let Some((kind, q, id)) = parse_settlement(payload) {
                if kind == SETTLED {
                    out.remove(&(q, id));
                } else {
                    out.entry((q, id)).or_default().push(Event::Delivered);
                }
            }
        }
    }
    out
}

/// Hands each recovered queue the histories of the messages it recovered.
fn attach_histories(
    queues: &mut HashMap<u32, RecoveredQueue>,
    mut histories: HashMap<(u32, u64), Vec<Event>>,
) {
    if histories.is_empty() {
        return;
    }
    for (q, rq) in queues.iter_mut() {
        let loaded = rq.loaded.iter().filter_map(|r| r.slot.position());
        let backlog = rq.backlog.iter().flat_map(Run::iter);
        for p in loaded.chain(backlog) {
            if let Some(h) = histories.remove(&(*q, p.id)) {
                rq.history.insert(p.id, h);
            }
        }
    }
}

fn parse_settlement(p: &[u8]) -> Option<(u8, u32, u64)> {
    let (i, kind) = wire::octet(p).ok()?;
    let (i, q) = wire::long(i).ok()?;
    let (_, id) = wire::longlong(i).ok()?;
    matches!(kind, SETTLED | DELIVERED).then_some((kind, q, id))
}

fn parse_publish(p: &[u8]) -> Option<(u64, Vec<u32>, LogMessage)> {
    let (i, kind) = wire::octet(p).ok()?;
    let (mut i, id) = wire::longlong(i).ok()?;
    let n = match kind {
        PUBLISH | SPILL => {
            let (rest, n) = wire::short(i).ok()?;
            i = rest;
            u32::from(n)
        }
        PUBLISH_WIDE | SPILL_WIDE => {
            let (rest, n) = wire::long(i).ok()?;
            i = rest;
            n
        }
        _ => return None,
    };
    // Four bytes per queue must be there before anything is allocated for them.
    if i.len() / 4 < n as usize {
        return None;
    }
    let mut queues = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (rest, q) = wire::long(i).ok()?;
        queues.push(q);
        i = rest;
    }
    let (i, exchange) = wire::shortstr(i).ok()?;
    let (i, routing_key) = wire::shortstr(i).ok()?;
    let (i, props_len) = wire::long(i).ok()?;
    let props = i.get(..props_len as usize)?;
    let i = i.get(props_len as usize..)?;
    let (i, body_len) = wire::long(i).ok()?;
    let body = i.get(..body_len as usize)?;
    let timestamp = match i.get(body_len as usize..) {
        Some([]) | None => 0,
        Some(rest) if rest.len() == 8 => wire::longlong(rest).ok()?.1,
        // Bytes after the body that are not a timestamp: not a record this log wrote.
        Some(_) => return None,
    };
    Some((
        id,
        queues,
        LogMessage {
            exchange,
            routing_key,
            raw_properties: Bytes::copy_from_slice(props),
            body: Bytes::copy_from_slice(body),
            timestamp,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &[u8]) -> LogMessage {
        LogMessage {
            exchange: String::new(),
            routing_key: "q".into(),
            raw_properties: Bytes::from_static(&[0, 0]),
            body: Bytes::copy_from_slice(body),
            timestamp: 0,
        }
    }

    /// A message routed to more queues than a u16 counts is written and recovered whole
    /// (a u16 count once wrapped and mis-framed the record behind a valid checksum).
    #[test]
    fn a_fanout_past_65535_queues_round_trips() {
        let dir = std::env::temp_dir().join(format!("warren-wide-fanout-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let queues: Vec<u32> = (1..=70_000).collect();
        let known: HashSet<u32> = queues.iter().copied().collect();
        let (log, _) = MessageLog::open(&dir, &known, 16).expect("open");
        log.publish(Slot::new(), queues.clone(), message(b"wide"), None);
        log.publish(Slot::new(), vec![7], message(b"narrow"), None);
        log.sync();
        log.close();
        let (_, recovered) = MessageLog::open(&dir, &known, 16).expect("reopen");
        assert_eq!(recovered.len(), 70_000, "every queue has the wide message");
        assert_eq!(recovered[&7].len(), 2);
        assert_eq!(recovered[&70_000].len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn publish_records_with_lying_counts_do_not_parse() {
        let mut rec = vec![PUBLISH];
        rec.extend_from_slice(&1u64.to_be_bytes());
        rec.extend_from_slice(&u16::MAX.to_be_bytes()); // claims 65535 queues, has one
        rec.extend_from_slice(&9u32.to_be_bytes());
        assert!(parse_publish(&rec).is_none());
        let mut wide = vec![PUBLISH_WIDE];
        wide.extend_from_slice(&1u64.to_be_bytes());
        wide.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(
            parse_publish(&wide).is_none(),
            "nothing allocated for 4 billion queues"
        );
    }

    /// A quorum queue's records of each live message come back in log order, old RETURNED
    /// records (counts) too; a settled message has none.
    #[test]
    fn histories_come_back_in_log_order() {
        let dir = std::env::temp_dir().join(format!("warren-histories-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let known: HashSet<u32> = [1].into();
        let (log, _) = MessageLog::open(&dir, &known, 16).expect("open");
        let slots: Vec<Arc<Slot>> = (0..3).map(|_| Slot::new()).collect();
        for (i, s) in slots.iter().enumerate() {
            log.publish(s.clone(), vec![1], message(&[i as u8]), None);
        }
        log.delivered(1, &slots[0]);
        log.returned(1, &slots[0], true);
        log.delivered(1, &slots[0]);
        log.delivered(1, &slots[1]);
        log.settled(1, &slots[1]);
        log.sync();
        log.close();
        // What an older Warren wrote for a return: the counts after it.
        let (id, seg) = slots[2].get().expect("written");
        let mut old = Vec::new();
        record::append(&mut old, |o| {
            o.put_u8(RETURNED);
            o.put_u32(1);
            o.put_u64(id);
            o.put_u32(3);
            o.put_u16(2);
        });
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(ack_path(&dir, seg))
            .expect("ack file");
        f.write_all(&old).expect("append");
        drop(f);
        let (_, recovered) = MessageLog::open(&dir, &known, 16).expect("reopen");
        let q = &recovered[&1];
        assert_eq!(q.len(), 2);
        let id_of = |s: &Arc<Slot>| s.get().expect("written").0;
        assert_eq!(
            q.history.get(&id_of(&slots[0])),
            Some(&vec![
                Event::Delivered,
                Event::Returned { failed: true },
                Event::Delivered
            ])
        );
        assert_eq!(q.history.get(&id_of(&slots[1])), None);
        assert_eq!(q.history.get(&id), Some(&vec![Event::Counted(3, 2)]));
        let _ = fs::remove_dir_all(&dir);
    }

    /// The spill backlog counts what waits for the writer and goes back to zero once it is
    /// written, also when writes fail and after the writer stopped: a leak would throttle
    /// publishers for good.
    #[test]
    fn the_spill_backlog_drains_to_zero() {
        let dir = std::env::temp_dir().join(format!("warren-spill-backlog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (log, _) = MessageLog::open(&dir, &HashSet::new(), 16).expect("open");
        for i in 0..1000u32 {
            log.spill(Slot::spill(1, None), 1, message(&i.to_be_bytes()));
        }
        assert!(log.spill_backlog() <= 1000 * message(&[0; 4]).footprint());
        log.sync();
        assert_eq!(log.spill_backlog(), 0);
        log.inject_write_fault(Some(std::io::ErrorKind::StorageFull));
        for _ in 0..10 {
            log.spill(Slot::spill(1, None), 1, message(b"full"));
        }
        log.sync();
        assert_eq!(log.spill_backlog(), 0);
        log.inject_write_fault(None);
        log.close();
        log.spill(Slot::spill(1, None), 1, message(b"late"));
        assert_eq!(log.spill_backlog(), 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
