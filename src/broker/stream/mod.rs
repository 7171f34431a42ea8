//! Streams (x-queue-type=stream) over AMQP 0-9-1: an append-only log per stream that
//! consumers read without consuming, each from an offset of its own.
//!
//! A stream is still a `Queue` (so lookup, bindings, routing, deletion and the management
//! API treat it as one) holding a `Stream`: its log (`store::stream`) and its readers. A
//! publish appends a record; a reader is a consumer with a cursor (the next offset it
//! reads). Delivery takes the consumer's prefetch credit as for any queue, and an ack (or a
//! nack, reject or requeue: RabbitMQ 4.3 treats every settlement of a stream delivery as
//! credit) only gives it back. Each delivery is a `QueuedMessage` whose `seq` is its offset,
//! which `Queue::delivery_properties` adds as the x-stream-offset header.
//!
//! Readers read records from the segments (on disk with a data directory), outside the
//! log's lock and at most their credit's worth at a time, so a stream of 10 GB costs its
//! small index in memory and what is in flight to consumers, not its size. One dispatch runs
//! at a time per stream; a call that finds one running leaves it a note to go round again.

pub mod offset;

pub use offset::{Filter, StartAt};

use super::consumer::{Consumer, Delivery, Outbound, QueuedMessage};
use super::message::{Message, MessageContent};
use super::queue::Queue;
use super::timer::now_ms;
use crate::protocol::{BasicProperties, FieldTable, FieldValue};
use crate::store::Durability;
use crate::store::stream::{Cursor, NewRecord, Retention, StreamLog};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Deliveries handed to one consumer per turn, so one reader cannot starve the others.
const BATCH: u32 = 256;
/// Bytes a reader reads in one turn at most (one record larger than that excepted).
const SCAN_PER_TURN: usize = 8 * 1024 * 1024;
/// Bytes a reader reads per delivered message it has credit for, at least; at most
/// `store::stream::READ_SPAN`.
const SPAN_PER_MESSAGE: usize = 4096;

/// What a consumer asked for in basic.consume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeSpec {
    pub start: StartAt,
    pub filter: Option<Filter>,
}

impl ConsumeSpec {
    /// From basic.consume's arguments; the error is RabbitMQ's term for a bad x-stream-offset.
    pub fn from_args(args: &FieldTable) -> Result<ConsumeSpec, String> {
        Ok(ConsumeSpec {
            start: offset::start_at(args.get("x-stream-offset"), now_ms())?,
            filter: Filter::from_args(
                args.get("x-stream-filter"),
                args.get("x-stream-match-unfiltered"),
            ),
        })
    }
}

#[derive(Debug)]
struct Reader {
    consumer: Consumer,
    filter: Option<Filter>,
    cursor: Mutex<Cursor>,
}

#[derive(Debug)]
pub struct Stream {
    log: StreamLog,
    readers: Mutex<Vec<Arc<Reader>>>,
    deleted: AtomicBool,
    dispatching: AtomicBool,
    again: AtomicBool,
    /// The bytes of an in-memory stream counted in the memory alarm's account.
    charged: AtomicU64,
}

impl Drop for Stream {
    fn drop(&mut self) {
        super::memory::charge(-(*self.charged.get_mut() as i64));
    }
}

/// The retention a stream's declare arguments ask for: x-max-length-bytes, x-max-age and
/// x-stream-max-segment-size-bytes (checked at declare; anything unreadable is left out),
/// each overridden by the policy's max-length-bytes, max-age and
/// stream-max-segment-size-bytes where the policy has it (for streams the policy wins).
pub fn retention(
    args: &FieldTable,
    policy: &serde_json::Map<String, serde_json::Value>,
) -> Retention {
    let mut r = declared_retention(args);
    if let Some(n) = policy.get("max-length-bytes").and_then(|v| v.as_u64()) {
        r.max_bytes = Some(n);
    }
    if let Some(ms) = policy
        .get("max-age")
        .and_then(|v| v.as_str())
        .and_then(|t| offset::interval_ms(t.as_bytes()))
    {
        r.max_age_ms = Some(ms);
    }
    if let Some(n) = policy
        .get("stream-max-segment-size-bytes")
        .and_then(|v| v.as_u64())
        .filter(|n| *n > 0)
    {
        r.segment_bytes = n;
    }
    r
}

fn declared_retention(args: &FieldTable) -> Retention {
    let int = |k: &str| {
        args.get(k)
            .and_then(FieldValue::as_i64)
            .and_then(|v| u64::try_from(v).ok())
    };
    let max_age_ms = match args.get("x-max-age") {
        Some(FieldValue::LongString(s)) => offset::interval_ms(s),
        _ => None,
    };
    Retention {
        max_bytes: int("x-max-length-bytes"),
        max_age_ms,
        segment_bytes: int("x-stream-max-segment-size-bytes")
            .filter(|n| *n > 0)
            .unwrap_or(crate::store::stream::DEFAULT_SEGMENT_BYTES),
    }
}

/// Counts down the confirms a publish waits for (the message log and each stream it
/// reached) and tells the publisher once, when the last is in.
struct Joint {
    inner: Arc<dyn Durability>,
    left: AtomicUsize,
    ok: AtomicBool,
}

impl Durability for Joint {
    fn settled(&self, token: u64, ok: bool) {
        if !ok {
            self.ok.store(false, Ordering::Release);
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.settled(token, self.ok.load(Ordering::Acquire));
        }
    }
}

/// `notify` shared by `n` writers that each settle it once: unchanged for one.
pub fn joint_notify(
    notify: Option<(Arc<dyn Durability>, u64)>,
    n: usize,
) -> Option<(Arc<dyn Durability>, u64)> {
    match notify {
        Some((inner, token)) if n > 1 => {
            let joint: Arc<dyn Durability> = Arc::new(Joint {
                inner,
                left: AtomicUsize::new(n),
                ok: AtomicBool::new(true),
            });
            Some((joint, token))
        }
        other => other,
    }
}

/// The x-stream-filter-value header of a publish, if it has one (a string).
fn filter_value(raw_properties: &[u8]) -> Option<Vec<u8>> {
    // The headers flag (bit 13): most publishes have none, and skip the decode.
    if raw_properties.len() < 2 || raw_properties[0] & 0x20 == 0 {
        return None;
    }
    let (_, p) = BasicProperties::decode(raw_properties).ok()?;
    match p.headers?.get("x-stream-filter-value")? {
        FieldValue::LongString(s) => Some(s.to_vec()),
        _ => None,
    }
}

impl Stream {
    /// The stream of a queue: on disk in `dir` when given, else in memory.
    pub fn open(dir: Option<std::path::PathBuf>, retention: Retention) -> Stream {
        let log = match dir {
            Some(dir) => StreamLog::open(&dir, retention).unwrap_or_else(|e| {
                tracing::error!(dir = %dir.display(), "cannot open a stream, kept in memory: {e}");
                StreamLog::memory(retention)
            }),
            None => StreamLog::memory(retention),
        };
        Stream {
            log,
            readers: Mutex::new(Vec::new()),
            deleted: AtomicBool::new(false),
            dispatching: AtomicBool::new(false),
            again: AtomicBool::new(false),
            charged: AtomicU64::new(0),
        }
    }

    /// Brings the memory alarm's account up to date with an in-memory stream's size.
    fn account(&self) {
        if self.on_disk() {
            return;
        }
        let (_, bytes) = self.log.size();
        let before = self.charged.swap(bytes, Ordering::AcqRel);
        super::memory::charge(bytes as i64 - before as i64);
    }

    fn readers(&self) -> MutexGuard<'_, Vec<Arc<Reader>>> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a confirm waits for this stream's fsync.
    pub fn on_disk(&self) -> bool {
        self.log.on_disk()
    }

    /// Appends a publish. `notify`, when given for a stream `on_disk`, is settled exactly
    /// once: after the fsync, or at once if the record could not be written. Returns
    /// whether the append was refused (the publisher hears a nack).
    pub fn push(&self, message: &Message, notify: Option<(Arc<dyn Durability>, u64)>) -> bool {
        if self.deleted.load(Ordering::Acquire) {
            if let Some((n, token)) = notify.filter(|_| self.on_disk()) {
                n.settled(token, true);
            }
            return false;
        }
        let filter = filter_value(message.raw_properties());
        let filter = filter.as_deref().and_then(|f| std::str::from_utf8(f).ok());
        let record = NewRecord {
            timestamp: now_ms(),
            persistent: message.persistent,
            filter,
            exchange: &message.exchange,
            routing_key: message.routing_key(),
            raw_properties: message.raw_properties(),
            body: message.body(),
        };
        let on_disk = self.on_disk();
        let notify = notify.filter(|_| on_disk);
        match self.log.append(&record, notify.clone()) {
            Ok(_) => {
                self.account();
                false
            }
            Err(_) => {
                if let Some((n, token)) = notify {
                    n.settled(token, false);
                }
                true
            }
        }
    }

    /// Puts new retention settings into effect (a policy changed).
    pub fn set_retention(&self, retention: Retention) {
        self.log.set_retention(retention, now_ms());
        self.account();
    }

    /// With an x-max-age, how often to look for segments that have grown too old (besides
    /// when a segment is full): a tenth of the age, between a second and a minute.
    pub fn age_check_every(&self) -> Option<u64> {
        let age = self.log.retention().max_age_ms?;
        Some((age / 10).clamp(1000, 60_000))
    }

    /// Drops the segments x-max-age no longer keeps.
    pub fn expire(&self, now: u64) {
        self.log.expire(now);
        self.account();
    }

    /// Waits until every record appended so far is on disk (tx.commit).
    pub fn sync(&self) {
        self.log.flush();
    }

    /// Records kept (declare-ok's message count, the management API's messages).
    pub fn message_count(&self) -> u64 {
        self.log.size().0
    }

    /// Records and bytes kept.
    pub fn size(&self) -> (u64, u64) {
        self.log.size()
    }

    /// Adds a reader for `consumer`, starting where `spec` says.
    pub fn add_reader(&self, consumer: Consumer, spec: ConsumeSpec) {
        self.log.expire(now_ms());
        let (first, next) = self.log.bounds();
        let cursor = match spec.start {
            StartAt::First => Cursor::at(first),
            StartAt::Last => Cursor::at(next.saturating_sub(1).max(first)),
            StartAt::Next => Cursor::at(next),
            StartAt::Offset(n) => Cursor::at(n.clamp(first, next)),
            StartAt::Timestamp(ts) => self.log.cursor_at_time(ts),
        };
        self.readers().push(Arc::new(Reader {
            consumer,
            filter: spec.filter,
            cursor: Mutex::new(cursor),
        }));
    }

    /// Removes the readers of the consumers `gone` says yes to (cancelled, or their
    /// channel closed).
    pub fn remove_readers_where(&self, mut gone: impl FnMut(&Consumer) -> bool) {
        self.readers().retain(|r| !gone(&r.consumer));
    }

    /// The queue was deleted: no reader is served again, and the log's files go.
    pub fn destroy(&self) {
        self.deleted.store(true, Ordering::Release);
        self.readers().clear();
        self.log.destroy();
        self.account();
    }

    /// Serves every reader with credit what it has not read yet. Called after publishes,
    /// acks and new consumers; runs once at a time, the calls that meet a running one
    /// leaving it to go round again.
    pub fn dispatch(&self, queue: &Arc<Queue>) {
        self.again.store(true, Ordering::Release);
        loop {
            if self.dispatching.swap(true, Ordering::AcqRel) {
                return;
            }
            while self.again.swap(false, Ordering::AcqRel) {
                let readers: Vec<Arc<Reader>> = self.readers().clone();
                let mut progressed = true;
                while progressed && !self.deleted.load(Ordering::Acquire) {
                    progressed = false;
                    for r in &readers {
                        progressed |= self.serve(queue, r);
                    }
                }
            }
            self.dispatching.store(false, Ordering::Release);
            if !self.again.load(Ordering::Acquire) {
                return;
            }
        }
    }

    /// Hands one reader up to a batch of what it has credit for; whether it got any.
    fn serve(&self, queue: &Arc<Queue>, r: &Reader) -> bool {
        let mut cursor = r.cursor.lock().unwrap_or_else(|p| p.into_inner());
        let (_, next) = self.log.bounds();
        if cursor.offset >= next {
            return false;
        }
        let mut credit = 0;
        while credit < BATCH && r.consumer.try_take_credit() {
            credit += 1;
        }
        if credit == 0 {
            return false;
        }
        let span = (credit as usize * SPAN_PER_MESSAGE).min(crate::store::stream::READ_SPAN);
        let mut entries: Vec<QueuedMessage> = Vec::new();
        let start = *cursor;
        // A filtered reader may pass over many records to fill its batch, and a reader that
        // starts between two index points over the records before it: read on until the
        // batch is full, the log ends, or `SCAN_PER_TURN` was read (the next turn goes on).
        let mut turns = SCAN_PER_TURN / span;
        while (entries.len() as u32) < credit && turns > 0 {
            turns -= 1;
            let before = *cursor;
            *cursor = self.log.read(*cursor, span, |rec| {
                if let Some(f) = &r.filter
                    && !f.passes(rec.filter.as_deref())
                {
                    return true;
                }
                entries.push(queued(rec));
                (entries.len() as u32) < credit
            });
            if *cursor == before || cursor.offset >= self.log.bounds().1 {
                break;
            }
        }
        let moved = *cursor != start;
        drop(cursor);
        let n = entries.len() as u32;
        if n < credit {
            r.consumer.return_credit(credit - n);
        }
        if entries.is_empty() {
            // Nothing for it yet, but the cursor moved on: give it another turn.
            return moved;
        }
        let c = &r.consumer;
        let delivery = Delivery {
            channel: c.channel,
            consumer_tag: c.tag.clone(),
            queue: queue.clone(),
            entries,
            credited: true,
        };
        if c.sink.send(Outbound::Deliver(delivery)).is_err() {
            // The connection is gone; its cleanup removes the consumer.
            c.return_credit(n);
            return false;
        }
        queue.count_stream_deliveries(u64::from(n));
        true
    }
}

/// A record as a delivery: its properties and body stay slices of what was read.
fn queued(rec: crate::store::stream::StreamRecord) -> QueuedMessage {
    let exchange = String::from_utf8_lossy(&rec.exchange);
    let routing_key = String::from_utf8_lossy(&rec.routing_key);
    let message = Message::new(
        Arc::from(&*exchange),
        &routing_key,
        rec.persistent,
        MessageContent::Frames {
            raw_properties: rec.raw_properties,
            body: rec.body,
        },
    );
    QueuedMessage {
        seq: rec.offset,
        message: Arc::new(message),
        redelivered: false,
        deadline: 0,
        acquired: 0,
        failed: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Heard(Mutex<Vec<(u64, bool)>>);

    impl Durability for Heard {
        fn settled(&self, token: u64, ok: bool) {
            self.0.lock().unwrap().push((token, ok));
        }
    }

    #[test]
    fn a_joint_confirm_is_heard_once_after_every_writer_and_fails_if_one_did() {
        let heard = Arc::new(Heard::default());
        let (n, token) = joint_notify(Some((heard.clone(), 7)), 3).unwrap();
        n.settled(token, true);
        n.settled(token, false);
        assert!(heard.0.lock().unwrap().is_empty());
        n.settled(token, true);
        assert_eq!(*heard.0.lock().unwrap(), vec![(7, false)]);
        // One writer: the publisher's own notice, unchanged.
        let (one, _) = joint_notify(Some((heard.clone(), 8)), 1).unwrap();
        one.settled(8, true);
        assert_eq!(heard.0.lock().unwrap().last(), Some(&(8, true)));
    }
}
