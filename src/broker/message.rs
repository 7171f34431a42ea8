//! A published message as queues hold it: shared, never copied, between every queue it reaches.

use crate::protocol::BasicProperties;
use bytes::Bytes;

#[derive(Debug)]
pub struct Message {
    pub exchange: String,
    pub routing_key: String,
    /// Parsed once at publish for routing (headers exchange) and the broker's own decisions.
    pub properties: BasicProperties,
    /// The property flags and list exactly as the publisher sent them, re-sent unchanged.
    pub raw_properties: Bytes,
    pub body: Bytes,
}
