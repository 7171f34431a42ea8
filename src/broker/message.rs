//! A published message as queues hold it: shared, never copied, between every queue it reaches.

use crate::protocol::wire::{PResult, finish};
use crate::protocol::{BasicProperties, FieldTable};
use crate::store::Slot;
use bytes::{Bytes, BytesMut};
use std::sync::{Arc, OnceLock};

/// Bodies up to this size are copied, with their properties, into one allocation of their own
/// rather than keeping a slice of the connection's read buffer alive.
const COMPACT_BELOW: usize = 4096;

#[derive(Debug)]
pub struct Message {
    pub exchange: Arc<str>,
    pub routing_key: Box<str>,
    /// The property flags and list exactly as the publisher sent them, re-sent unchanged and
    /// parsed again only where a decision needs a property (headers exchange routing).
    pub raw_properties: Bytes,
    pub body: Bytes,
    /// delivery-mode 2.
    pub persistent: bool,
    /// Set when the message is written to the message log (persistent, reached a durable
    /// queue); queues settle it there when it leaves them.
    pub slot: OnceLock<Arc<Slot>>,
}

impl Message {
    pub fn new(
        exchange: Arc<str>,
        routing_key: &str,
        persistent: bool,
        raw_properties: Bytes,
        body: Bytes,
    ) -> Message {
        let (raw_properties, body) = if body.len() < COMPACT_BELOW {
            let mut both = BytesMut::with_capacity(raw_properties.len() + body.len());
            both.extend_from_slice(&raw_properties);
            both.extend_from_slice(&body);
            let both = both.freeze();
            (
                both.slice(..raw_properties.len()),
                both.slice(raw_properties.len()..),
            )
        } else {
            (raw_properties, body)
        };
        Message {
            exchange,
            routing_key: routing_key.into(),
            raw_properties,
            body,
            persistent,
            slot: OnceLock::new(),
        }
    }

    /// The properties, decoded from the raw bytes (already validated at publish).
    pub fn properties(&self) -> Option<BasicProperties> {
        let r: PResult<'_, BasicProperties> = BasicProperties::decode(&self.raw_properties);
        finish(r).ok()
    }

    /// The headers table, for headers-exchange routing.
    pub fn headers(&self) -> Option<FieldTable> {
        self.properties().and_then(|p| p.headers)
    }
}
