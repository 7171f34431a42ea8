//! A published message as queues hold it: shared, never copied, between every queue it reaches.

use crate::protocol::BasicProperties;
use crate::store::Slot;
use bytes::Bytes;
use std::sync::{Arc, OnceLock};

#[derive(Debug)]
pub struct Message {
    pub exchange: String,
    pub routing_key: String,
    /// Parsed once at publish for routing (headers exchange) and the broker's own decisions.
    pub properties: BasicProperties,
    /// The property flags and list exactly as the publisher sent them, re-sent unchanged.
    pub raw_properties: Bytes,
    pub body: Bytes,
    /// Set when the message is written to the message log (persistent, reached a durable
    /// queue); queues settle it there when it leaves them.
    pub slot: OnceLock<Arc<Slot>>,
}

impl Message {
    pub fn new(
        exchange: String,
        routing_key: String,
        properties: BasicProperties,
        raw_properties: Bytes,
        body: Bytes,
    ) -> Message {
        Message {
            exchange,
            routing_key,
            properties,
            raw_properties,
            body,
            slot: OnceLock::new(),
        }
    }
}
