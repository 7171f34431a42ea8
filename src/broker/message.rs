//! A published message as queues hold it: shared, never copied, between every queue it reaches.

use crate::protocol::wire::{PResult, finish};
use crate::protocol::{BasicProperties, FieldTable};
use crate::store::Slot;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The largest message body accepted unless configured otherwise: RabbitMQ 4.x's default
/// `max_message_size` (16 MiB; 3.x allowed 128 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;

/// The most `--max-message-size` may be set to: RabbitMQ's own ceiling (512 MiB), past which a
/// single body would hold the connection's memory hostage.
pub const MAX_MESSAGE_SIZE_CAP: u64 = 512 * 1024 * 1024;

/// Bodies below this size are copied, with their routing key and properties, into one
/// allocation of their own: a queued small message then costs two allocations (this and the
/// `Message`), and keeps no slice of the connection's read buffer alive.
pub const INLINE_BELOW: usize = 4096;

/// `Message::expiration` when there is none.
const NO_EXPIRATION: u64 = u64::MAX;

/// Where a new message's properties and body come from.
pub enum MessageContent<'a> {
    /// The frames' own bytes, as the assembler collected them: kept shared when large.
    Frames { raw_properties: Bytes, body: Bytes },
    /// Borrowed from the connection's read buffer (see `PublishCommand`): copied.
    Borrowed {
        raw_properties: &'a [u8],
        body: &'a [u8],
    },
}

impl MessageContent<'_> {
    fn parts(&self) -> (&[u8], &[u8]) {
        match self {
            MessageContent::Frames {
                raw_properties,
                body,
            } => (raw_properties, body),
            MessageContent::Borrowed {
                raw_properties,
                body,
            } => (raw_properties, body),
        }
    }
}

#[derive(Debug)]
pub struct Message {
    pub exchange: Arc<str>,
    payload: Payload,
    /// delivery-mode 2.
    pub persistent: bool,
    /// The priority property; a priority queue clamps it to its maximum, and gives one
    /// without it its own default (0 for classic queues, 4 for quorum queues).
    pub priority: Option<u8>,
    /// The expiration property, in milliseconds, once checked; `NO_EXPIRATION` for none.
    /// Not an `Option<u64>`: a message is allocated per publish, and this keeps it 8 bytes
    /// smaller (see `expiration`).
    expiration: u64,
    /// When the message reached the broker (ms since the Unix epoch), stamped only when a
    /// deadline depends on it (an expiration, or a queue with a message TTL); 0 otherwise.
    /// Kept in the log, so deadlines survive a restart.
    arrived: AtomicU64,
    /// Made by dead-lettering: its x-death header is the broker's own history, which a
    /// further dead-lettering continues (a client's x-death header is not trusted).
    pub dead_lettered: bool,
    /// Set when the message is written to the message log (persistent, reached a durable
    /// queue); queues settle it there when it leaves them.
    pub slot: OnceLock<Arc<Slot>>,
}

impl Drop for Message {
    fn drop(&mut self) {
        super::memory::charge(-(self.footprint() as i64));
    }
}

/// Routing key, raw properties and body: inline for small messages, shared slices of the
/// frames they came in for large ones (no copy of a large body).
#[derive(Debug)]
enum Payload {
    /// `routing key | properties | body` in one allocation.
    Inline {
        data: Box<[u8]>,
        key_len: u8,
        props_len: u32,
    },
    /// Boxed, so the common inline case keeps `Message` small.
    Shared(Box<SharedPayload>),
}

#[derive(Debug)]
struct SharedPayload {
    routing_key: Box<str>,
    raw_properties: Bytes,
    body: Bytes,
}

impl Message {
    pub fn new(
        exchange: Arc<str>,
        routing_key: &str,
        persistent: bool,
        content: MessageContent<'_>,
    ) -> Message {
        let (raw_properties, body) = content.parts();
        let payload = if body.len() < INLINE_BELOW && routing_key.len() <= 255 {
            let mut data =
                Vec::with_capacity(routing_key.len() + raw_properties.len() + body.len());
            data.extend_from_slice(routing_key.as_bytes());
            data.extend_from_slice(raw_properties);
            data.extend_from_slice(body);
            Payload::Inline {
                data: data.into_boxed_slice(),
                key_len: routing_key.len() as u8,
                props_len: raw_properties.len() as u32,
            }
        } else {
            let (raw_properties, body) = match content {
                MessageContent::Frames {
                    raw_properties,
                    body,
                } => (raw_properties, body),
                MessageContent::Borrowed { .. } => (
                    Bytes::copy_from_slice(raw_properties),
                    Bytes::copy_from_slice(body),
                ),
            };
            Payload::Shared(Box::new(SharedPayload {
                routing_key: routing_key.into(),
                raw_properties,
                body,
            }))
        };
        let m = Message {
            exchange,
            payload,
            persistent,
            priority: None,
            expiration: NO_EXPIRATION,
            arrived: AtomicU64::new(0),
            dead_lettered: false,
            slot: OnceLock::new(),
        };
        super::memory::charge(m.footprint() as i64);
        m
    }

    /// What the message takes from the allocator for the memory alarm's account: its
    /// payload and its `Arc` (counts and struct), each at its size class (the queue entry
    /// that holds it is left out). Fixed from `new` on, so the drop gives back exactly what
    /// `new` charged.
    fn footprint(&self) -> usize {
        use super::memory::allocated;
        allocated(std::mem::size_of::<Message>() + 2 * std::mem::size_of::<usize>())
            + match &self.payload {
                Payload::Inline { data, .. } => allocated(data.len()),
                Payload::Shared(p) => {
                    allocated(std::mem::size_of::<SharedPayload>())
                        + allocated(p.routing_key.len())
                        + allocated(p.raw_properties.len())
                        + allocated(p.body.len())
                }
            }
    }

    /// The expiration property in milliseconds, if it has one.
    pub fn expiration(&self) -> Option<u64> {
        (self.expiration != NO_EXPIRATION).then_some(self.expiration)
    }

    pub fn set_expiration(&mut self, ms: Option<u64>) {
        self.expiration = ms.map_or(NO_EXPIRATION, |ms| ms.min(NO_EXPIRATION - 1));
    }

    /// When the message arrived, stamping it with `now` if it was not yet.
    pub fn arrived_or(&self, now: u64) -> u64 {
        match self
            .arrived
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => now,
            Err(before) => before,
        }
    }

    /// The arrival stamp, 0 if none was needed.
    pub fn arrived(&self) -> u64 {
        self.arrived.load(Ordering::Acquire)
    }

    /// The same message, not written anywhere: what a transient message that a quorum queue
    /// logs is for the other queues it reaches (see `VHost::store_and_push`).
    pub fn unlogged_copy(&self) -> Message {
        let (raw_properties, body) = self.to_bytes();
        let mut m = Message::new(
            self.exchange.clone(),
            self.routing_key(),
            self.persistent,
            MessageContent::Frames {
                raw_properties,
                body,
            },
        );
        m.priority = self.priority;
        m.expiration = self.expiration;
        m.dead_lettered = self.dead_lettered;
        m.arrived = AtomicU64::new(self.arrived());
        m
    }

    /// A persistent message read back from the log, at `slot`.
    pub fn from_log(m: crate::store::LogMessage, slot: Arc<Slot>) -> Message {
        let timestamp = m.timestamp;
        let mut message = Message::new(
            Arc::from(m.exchange.as_str()),
            &m.routing_key,
            true,
            MessageContent::Frames {
                raw_properties: m.raw_properties,
                body: m.body,
            },
        );
        message.read_deadline_properties();
        message.arrived = AtomicU64::new(timestamp);
        let _ = message.slot.set(slot);
        message
    }

    /// Sets `priority` and `expiration` from the raw properties (a message read back from
    /// disk; they were checked when it was published).
    pub fn read_deadline_properties(&mut self) {
        let scanned = finish(crate::protocol::properties::PublishProperties::scan(
            self.raw_properties(),
        ));
        if let Ok(p) = scanned {
            self.priority = p.priority;
            self.set_expiration(p.expiration.and_then(|e| e.parse().ok()));
            self.dead_lettered = p.death_history;
        }
    }

    /// The message as the log stores it.
    pub fn to_log(&self) -> crate::store::LogMessage {
        let (raw_properties, body) = self.to_bytes();
        crate::store::LogMessage {
            exchange: self.exchange.to_string(),
            routing_key: self.routing_key().to_owned(),
            raw_properties,
            body,
            timestamp: self.arrived(),
        }
    }

    pub fn routing_key(&self) -> &str {
        match &self.payload {
            // The key was copied from a `&str` whole, so it is valid UTF-8.
            Payload::Inline { data, key_len, .. } => {
                std::str::from_utf8(&data[..*key_len as usize]).unwrap_or("")
            }
            Payload::Shared(p) => &p.routing_key,
        }
    }

    /// The property flags and list exactly as the publisher sent them, re-sent unchanged.
    pub fn raw_properties(&self) -> &[u8] {
        match &self.payload {
            Payload::Inline {
                data,
                key_len,
                props_len,
            } => {
                let from = *key_len as usize;
                &data[from..from + *props_len as usize]
            }
            Payload::Shared(p) => &p.raw_properties,
        }
    }

    pub fn body(&self) -> &[u8] {
        match &self.payload {
            Payload::Inline {
                data,
                key_len,
                props_len,
            } => &data[*key_len as usize + *props_len as usize..],
            Payload::Shared(p) => &p.body,
        }
    }

    /// Properties and body as owned bytes, for the message log: shared where they already
    /// are, copied (they are small) where inline.
    pub fn to_bytes(&self) -> (Bytes, Bytes) {
        match &self.payload {
            Payload::Shared(p) => (p.raw_properties.clone(), p.body.clone()),
            Payload::Inline { .. } => (
                Bytes::copy_from_slice(self.raw_properties()),
                Bytes::copy_from_slice(self.body()),
            ),
        }
    }

    /// The properties, decoded from the raw bytes (already validated at publish).
    pub fn properties(&self) -> Option<BasicProperties> {
        let r: PResult<'_, BasicProperties> = BasicProperties::decode(self.raw_properties());
        finish(r).ok()
    }

    /// The headers table, for headers-exchange routing.
    pub fn headers(&self) -> Option<FieldTable> {
        self.properties().and_then(|p| p.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_messages_read_back_the_same() {
        for size in [0, 16, 5000] {
            let body = Bytes::from(vec![7u8; size]);
            let props: &[u8] = &[0x80, 0, 1, b't'];
            let shared = MessageContent::Frames {
                raw_properties: Bytes::from_static(props),
                body: body.clone(),
            };
            let borrowed = MessageContent::Borrowed {
                raw_properties: props,
                body: &body,
            };
            for content in [shared, borrowed] {
                let m = Message::new(Arc::from("x"), "a.key", false, content);
                assert_eq!(m.routing_key(), "a.key");
                assert_eq!(m.raw_properties(), props);
                assert_eq!(m.body(), &body[..]);
            }
        }
    }
}
