//! Consumers as a queue sees them, prefetch credit, and what a queue hands to a connection.

use super::memory::MemoryAlarm;
use super::message::Message;
use super::queue::Queue;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::mpsc::UnboundedSender;

/// A prefetch window: how many deliveries may be unacknowledged at once (0 = no limit).
/// Shared between a queue (which takes credit to deliver) and a channel (which returns it on
/// ack), so neither has to lock the other.
#[derive(Debug, Default)]
pub struct Credit {
    limit: AtomicU32,
    in_flight: AtomicU32,
    /// For a consumer that acks without any window: the memory alarm under which it is held
    /// at `UNACKED_UNDER_MEMORY_ALARM` (see `for_acking_consumer`).
    memory: Option<Arc<MemoryAlarm>>,
}

/// Unacked deliveries past which a consumer with no prefetch window gets nothing more while
/// the memory alarm is up. Unacked messages stay in memory until settled, so a consumer that
/// never acks would otherwise pull a whole paged-out backlog into memory, past any watermark
/// (publishers are blocked by then, consumers are not). Below the alarm, and for consumers
/// with a window, nothing changes: RabbitMQ has no such bound.
pub const UNACKED_UNDER_MEMORY_ALARM: u32 = 1000;

impl Credit {
    pub fn new(limit: u16) -> Arc<Credit> {
        Arc::new(Credit {
            limit: AtomicU32::new(limit.into()),
            in_flight: AtomicU32::new(0),
            memory: None,
        })
    }

    /// A manual-ack consumer's window: `limit`, or for none (0) unlimited except while the
    /// memory alarm is up, when it holds at `UNACKED_UNDER_MEMORY_ALARM`. Acks free room as
    /// usual; when the alarm clears the broker asks every queue to dispatch again.
    pub fn for_acking_consumer(limit: u16, memory: &Arc<MemoryAlarm>) -> Arc<Credit> {
        Arc::new(Credit {
            limit: AtomicU32::new(limit.into()),
            in_flight: AtomicU32::new(0),
            memory: (limit == 0).then(|| memory.clone()),
        })
    }

    /// Whether a window-less consumer is held back: memory is looked at now, not on the
    /// monitor's clock, as a paged queue hands over messages far faster than it ticks. Below
    /// the alarm this reads a few atomics and writes nothing.
    fn held_by_alarm(&self) -> bool {
        self.memory.as_ref().is_some_and(|memory| {
            self.in_flight.load(Ordering::Acquire) >= UNACKED_UNDER_MEMORY_ALARM
                && memory.holds_back()
        })
    }

    /// The window's size, 0 for none.
    pub fn limit(&self) -> u16 {
        self.limit.load(Ordering::Relaxed) as u16
    }

    pub fn set_limit(&self, limit: u16) {
        self.limit.store(limit.into(), Ordering::Release);
    }

    /// Whether the window is set and has no room left.
    pub fn is_full(&self) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        limit != 0 && self.in_flight.load(Ordering::Acquire) >= limit
    }

    /// Takes one unit of credit if the window has room.
    pub fn try_take(&self) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        if limit == 0 {
            if self.held_by_alarm() {
                return false;
            }
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Returns credit; says whether the window was full before, i.e. whether the queue may
    /// have stopped delivering and should be asked to go on.
    pub fn release_was_full(&self, n: u32) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        let before = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            })
            .unwrap_or(0);
        limit != 0 && before >= limit
    }

    pub fn release(&self, n: u32) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
    }
}

/// What a queue sends to the connection that owns a consumer.
#[derive(Debug)]
pub enum Outbound {
    Deliver(Delivery),
    /// The queue went away under the consumer: the client gets basic.cancel.
    Cancelled {
        channel: u16,
        consumer_tag: Arc<str>,
    },
    /// A direct reply for the reply consumer registered at `address` (see `reply_to`); it
    /// passes no queue.
    Reply {
        channel: u16,
        address: Arc<str>,
        message: Arc<Message>,
    },
    /// The broker closes the connection (its vhost or user was deleted, the management API
    /// was asked to): connection.close 320 CONNECTION_FORCED with `reason`. `written`, if
    /// any, hears once that close is on the socket or the connection is gone: RabbitMQ's
    /// management API answers a DELETE only after the close went out, and clients that
    /// test recovery rely on that order.
    ForceClose {
        reason: String,
        written: Option<tokio::sync::oneshot::Sender<()>>,
    },
    /// The management API asks for the connection's state.
    Describe(super::connection_info::Describe),
    /// Fault injection for tests (`crate::testing::faults`).
    Fault(crate::testing::faults::FaultEvent),
    /// A confirm-mode publish reached the disk (or failed to): the publisher gets its ack/nack.
    Persisted {
        channel: u16,
        seq: u64,
        ok: bool,
    },
}

/// Routes the message log's "this publish is on disk" back to the publishing connection.
/// The token packs the channel (high 16 bits) and the publish sequence number.
#[derive(Debug)]
pub struct DurabilityNotice(pub UnboundedSender<Outbound>);

impl DurabilityNotice {
    pub fn token(channel: u16, seq: u64) -> u64 {
        (u64::from(channel) << 48) | (seq & ((1 << 48) - 1))
    }
}

impl crate::store::Durability for DurabilityNotice {
    fn settled(&self, token: u64, ok: bool) {
        let _ = self.0.send(Outbound::Persisted {
            channel: (token >> 48) as u16,
            seq: token & ((1 << 48) - 1),
            ok,
        });
    }
}

/// Messages on their way to one consumer, in queue order; the connection gives each a
/// delivery tag. A queue hands over everything one dispatch gives a consumer at once, so the
/// hand-over (a channel send, a wake, two reference counts) is paid per batch, not per message.
#[derive(Debug)]
pub struct Delivery {
    pub channel: u16,
    pub consumer_tag: Arc<str>,
    pub queue: Arc<Queue>,
    pub entries: Vec<QueuedMessage>,
    /// Whether the deliveries took prefetch credit (consumers that ack).
    pub credited: bool,
}

/// A message in a queue, with its place (`seq`) so a requeue can put it back where it was.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub seq: u64,
    pub message: Arc<Message>,
    pub redelivered: bool,
    /// When it expires in this queue (ms since the Unix epoch); 0 for never. A requeued
    /// message keeps it.
    pub deadline: u64,
    /// A quorum queue's counts of its returns (`queue::quorum::Counts`), kept as two
    /// fields so an entry stays 32 bytes.
    pub acquired: u32,
    pub failed: u16,
}

// Queues hold millions of these: the quorum counts fit in what was padding.
const _: () = assert!(std::mem::size_of::<QueuedMessage>() == 32);

impl QueuedMessage {
    /// A message as it enters a queue: never returned.
    pub fn new(seq: u64, message: Arc<Message>, redelivered: bool, deadline: u64) -> Self {
        QueuedMessage {
            seq,
            message,
            redelivered,
            deadline,
            acquired: 0,
            failed: 0,
        }
    }

    pub fn counts(&self) -> super::queue::quorum::Counts {
        super::queue::quorum::Counts {
            acquired: self.acquired,
            failed: self.failed,
        }
    }
}

/// A consumer registered on a queue.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub tag: Arc<str>,
    pub channel: u16,
    pub connection: u64,
    pub no_ack: bool,
    pub exclusive: bool,
    /// x-priority: higher gets messages first while it has credit.
    pub priority: i32,
    /// Per-consumer prefetch (basic.qos global=false).
    pub credit: Arc<Credit>,
    /// Channel-wide prefetch (basic.qos global=true).
    pub channel_credit: Arc<Credit>,
    pub sink: UnboundedSender<Outbound>,
}

impl Consumer {
    /// Takes credit from both windows, or from neither. Auto-ack consumers have no window.
    pub fn try_take_credit(&self) -> bool {
        if self.no_ack {
            // A full channel-wide window holds back the channel's auto-ack consumers too,
            // though they take none of it (RabbitMQ's limiter: `can_send` answers false
            // once the limit is reached, whatever the ack mode).
            if self.channel_credit.is_full() {
                return false;
            }
            // Auto-ack consumers get a window too, of deliveries not yet encoded by their
            // connection, so a slow reader leaves messages in the queue, not in transit.
            return self.credit.try_take();
        }
        if !self.credit.try_take() {
            return false;
        }
        if !self.channel_credit.try_take() {
            self.credit.release(1);
            return false;
        }
        true
    }

    /// Gives back what `try_take_credit` took for `n` messages.
    pub fn return_credit(&self, n: u32) {
        self.credit.release(n);
        if !self.no_ack {
            self.channel_credit.release(n);
        }
    }
}
