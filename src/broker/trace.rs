//! The firehose tracer (RabbitMQ's `rabbit_trace`, docs/firehose.md). With tracing on in a
//! vhost (`rabbitmqctl trace_on`, or `"tracing": true` on the vhost over HTTP), every
//! message published into the vhost and every message delivered from its queues is copied
//! to the vhost's internal topic exchange `amq.rabbitmq.trace`, keyed `publish.<exchange>`
//! or `deliver.<queue>`, with what happened in its headers and the original body.
//!
//! Tracing is off when a vhost is made and after a restart, as RabbitMQ keeps it in node
//! memory only; while off it costs the publish and delivery paths one atomic load each.

use super::message::{Message, MessageContent};
use super::queue::Queue;
use super::vhost::VHost;
use crate::protocol::{BasicProperties, FieldTable, FieldValue};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;

/// The exchange trace messages go to, which every vhost has.
pub const EXCHANGE: &str = "amq.rabbitmq.trace";

/// Where a traced message was seen, and who saw it: the headers that follow the message's own.
pub struct Tap<'a> {
    /// RabbitMQ's connection name, "peer -> local".
    pub connection: &'a str,
    pub channel: u16,
    pub user: &'a str,
}

/// What happened to the traced message.
pub enum Event<'a> {
    /// It was published: `more_keys` are its CC and BCC keys, `routed` the queues it reached.
    Published {
        more_keys: &'a [String],
        routed: &'a [Arc<Queue>],
    },
    /// It was delivered (to a consumer, or by basic.get) from `queue`.
    Delivered { queue: &'a str, redelivered: bool },
}

fn text(s: &str) -> FieldValue {
    FieldValue::LongString(Bytes::copy_from_slice(s.as_bytes()))
}

fn int(n: impl Into<i32>) -> FieldValue {
    FieldValue::I32(n.into())
}

/// The message's properties as a table, in RabbitMQ's order: it folds the basic class's
/// fields into a list head first, so the last property comes first. Integers are signed
/// 32-bit ('I'), whatever their width on the wire, as RabbitMQ types them.
fn properties_table(p: &BasicProperties) -> FieldTable {
    let mut t = FieldTable::new();
    let mut put = |name: &str, value: Option<FieldValue>| {
        if let Some(v) = value {
            t.0.push((name.to_owned(), v));
        }
    };
    put("cluster_id", p.cluster_id.as_deref().map(text));
    put("app_id", p.app_id.as_deref().map(text));
    put("user_id", p.user_id.as_deref().map(text));
    put("type", p.kind.as_deref().map(text));
    put("timestamp", p.timestamp.map(|t| FieldValue::I32(t as i32)));
    put("message_id", p.message_id.as_deref().map(text));
    put("expiration", p.expiration.as_deref().map(text));
    put("reply_to", p.reply_to.as_deref().map(text));
    put("correlation_id", p.correlation_id.as_deref().map(text));
    put("priority", p.priority.map(int));
    put("delivery_mode", p.delivery_mode.map(int));
    put("headers", p.headers.clone().map(FieldValue::Table));
    put("content_encoding", p.content_encoding.as_deref().map(text));
    put("content_type", p.content_type.as_deref().map(text));
    t
}

/// A delivered message's routing keys: its key and its CC header. (RabbitMQ also lists the
/// BCC keys, which Warren drops with the header when the message is published.)
fn stored_keys(message: &Message, p: &BasicProperties) -> Vec<FieldValue> {
    let mut keys = vec![text(message.routing_key())];
    if let Some(FieldValue::Array(cc)) = p.headers.as_ref().and_then(|h| h.get("CC")) {
        keys.extend(cc.iter().filter_map(FieldValue::as_str).map(text));
    }
    keys
}

impl VHost {
    /// Copies `message` to `amq.rabbitmq.trace` if tracing is on; returns the queues the copy
    /// was pushed to, for the caller to dispatch. Messages that came through the trace
    /// exchange are not traced again, so a consumer of a trace queue makes no loop.
    pub fn trace(&self, message: &Message, event: Event<'_>, tap: &Tap<'_>) -> Vec<Arc<Queue>> {
        if !self.tracing() || &*message.exchange == EXCHANGE {
            return Vec::new();
        }
        let Ok(exchange) = self.exchange(EXCHANGE) else {
            return Vec::new();
        };
        let props = message.properties().unwrap_or_default();
        let (key, routing_keys) = match &event {
            Event::Published { more_keys, .. } => (
                format!("publish.{}", message.exchange),
                std::iter::once(message.routing_key())
                    .chain(more_keys.iter().map(String::as_str))
                    .map(text)
                    .collect(),
            ),
            Event::Delivered { queue, .. } => {
                (format!("deliver.{queue}"), stored_keys(message, &props))
            }
        };
        let mut headers = FieldTable::new();
        let mut put = |name: &str, value| headers.0.push((name.to_owned(), value));
        put("exchange_name", text(&message.exchange));
        put("routing_keys", FieldValue::Array(routing_keys));
        put("properties", FieldValue::Table(properties_table(&props)));
        put("node", text(super::node::name()));
        if let Event::Delivered { redelivered, .. } = event {
            put("redelivered", int(i32::from(redelivered)));
        }
        put("vhost", text(&self.name));
        put("connection", text(tap.connection));
        put("channel", int(tap.channel));
        put("user", text(tap.user));
        if let Event::Published { routed, .. } = event {
            let names = routed.iter().map(|q| text(&q.name)).collect();
            put("routed_queues", FieldValue::Array(names));
        }
        let mut raw_properties = BytesMut::new();
        BasicProperties {
            headers: Some(headers),
            ..Default::default()
        }
        .encode(&mut raw_properties);
        let copy = Message::new(
            Arc::from(EXCHANGE),
            &key,
            false,
            MessageContent::Borrowed {
                raw_properties: &raw_properties,
                body: message.body(),
            },
        );
        let (queues, _) = self.route(&exchange, &copy);
        let mut pushed = Vec::new();
        self.store_and_push(&queues, Arc::new(copy), None, |q, _| pushed.push(q.clone()));
        pushed
    }
}
