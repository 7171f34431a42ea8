//! Dead-lettering: what a message becomes when it leaves a queue as rejected, expired or over
//! the length limit, and where it may go.
//!
//! The new message carries its history in the headers as RabbitMQ 4.3 writes it
//! (`mc_amqpl:death_table/7`): an `x-death` array with one table per (queue, reason), most
//! recent first, each `[original-expiration,] count, reason, queue, time, exchange,
//! routing-keys`, where `time` is the first such death and `count` grows; `x-first-death-*`
//! set once; `x-last-death-*` (3.13+) set every time; the whole header table sorted by key.
//! The expiration property is removed (kept as `original-expiration` in the entry), so the
//! message does not expire again for the same reason. Routing is left to the vhost, through
//! the same path as a client's publish.
//!
//! As in RabbitMQ 4.x, only a history the broker wrote counts: an `x-death` header that a
//! client published is replaced, not continued (4.0 release notes: "x-death headers
//! provided by clients are ignored").

use super::message::{Message, MessageContent};
use crate::protocol::{BasicProperties, FieldTable, FieldValue};
use bytes::Bytes;
use std::sync::Arc;

/// Why a message left its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Rejected,
    Expired,
    Maxlen,
    /// A quorum queue's message returned more often than its delivery limit.
    DeliveryLimit,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::Maxlen => "maxlen",
            Reason::DeliveryLimit => "delivery_limit",
        }
    }
}

fn text(s: &str) -> FieldValue {
    FieldValue::LongString(Bytes::copy_from_slice(s.as_bytes()))
}

/// A message ready to be routed from the dead-letter exchange.
pub struct DeadLettered {
    pub message: Message,
    /// The keys to route with: the queue's dead-letter routing key, or the message's own
    /// routing key and CC keys.
    pub routing_keys: Vec<String>,
    /// The (queue, reason) history, most recent first, for cycle detection.
    pub history: Vec<(String, String)>,
}

/// The message `m` becomes when it is dead-lettered from `queue` for `reason` at `now_ms`,
/// published to `exchange`; None if its properties cannot be read (never the case for a
/// message that was accepted).
pub fn dead_letter(
    m: &Message,
    queue: &str,
    reason: Reason,
    exchange: &str,
    routing_key: Option<&str>,
    now_ms: u64,
    last_death_headers: bool,
) -> Option<DeadLettered> {
    let mut props: BasicProperties = m.properties()?;
    let mut headers = props.headers.take().unwrap_or_default();
    let cc = string_array(headers.get("CC"));
    // The keys the message was published with: its routing key and CC (BCC is gone).
    let mut original_keys = vec![m.routing_key().to_owned()];
    original_keys.extend(cc);
    let mut deaths: Vec<FieldTable> = if m.dead_lettered {
        match headers.get("x-death") {
            Some(FieldValue::Array(a)) => a.iter().filter_map(|v| v.as_table().cloned()).collect(),
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    props.expiration = None;
    let same = |t: &FieldTable| {
        t.get("queue").and_then(FieldValue::as_str) == Some(queue)
            && t.get("reason").and_then(FieldValue::as_str) == Some(reason.as_str())
    };
    let entry = match deaths.iter().position(same) {
        Some(at) => {
            let mut t = deaths.remove(at);
            let count = t.get("count").and_then(FieldValue::as_i64).unwrap_or(0);
            set(&mut t, "count", FieldValue::I64(count + 1));
            t
        }
        None => {
            let mut t = FieldTable::new();
            // RabbitMQ 4.3 keeps the TTL as a number and writes it back first.
            if let Some(ttl) = m.expiration() {
                t.insert("original-expiration", text(&ttl.to_string()));
            }
            t.insert("count", FieldValue::I64(1));
            t.insert("reason", text(reason.as_str()));
            t.insert("queue", text(queue));
            t.insert("time", FieldValue::Timestamp(now_ms / 1000));
            t.insert("exchange", text(&m.exchange));
            t.insert(
                "routing-keys",
                FieldValue::Array(original_keys.iter().map(|k| text(k)).collect()),
            );
            t
        }
    };
    deaths.insert(0, entry);
    let history = deaths
        .iter()
        .map(|t| {
            let s = |k| {
                t.get(k)
                    .and_then(FieldValue::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            (s("queue"), s("reason"))
        })
        .collect();
    if !m.dead_lettered || headers.get("x-first-death-reason").is_none() {
        set(&mut headers, "x-first-death-exchange", text(&m.exchange));
        set(&mut headers, "x-first-death-queue", text(queue));
        set(&mut headers, "x-first-death-reason", text(reason.as_str()));
    }
    // Profiles before 3.13 write only the x-first-death-* headers.
    if last_death_headers {
        set(&mut headers, "x-last-death-exchange", text(&m.exchange));
        set(&mut headers, "x-last-death-queue", text(queue));
        set(&mut headers, "x-last-death-reason", text(reason.as_str()));
    }
    set(
        &mut headers,
        "x-death",
        FieldValue::Array(deaths.into_iter().map(FieldValue::Table).collect()),
    );
    let routing_keys = match routing_key {
        Some(k) => {
            // A message sent on with a new key no longer goes to its CC keys.
            headers.0.retain(|(k, _)| k != "CC");
            vec![k.to_owned()]
        }
        None => original_keys,
    };
    // RabbitMQ 4.3 hands the headers out sorted by key.
    headers.0.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    props.headers = Some(headers);
    let raw_properties = props.to_bytes();
    let (_, body) = m.to_bytes();
    let mut message = Message::new(
        Arc::from(exchange),
        &routing_keys[0],
        m.persistent,
        MessageContent::Frames {
            raw_properties,
            body,
        },
    );
    message.priority = m.priority;
    message.dead_lettered = true;
    Some(DeadLettered {
        message,
        routing_keys,
        history,
    })
}

/// Replaces `key`'s value, keeping its place, or appends it.
fn set(t: &mut FieldTable, key: &str, value: FieldValue) {
    match t.0.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value,
        None => t.insert(key, value),
    }
}

/// The strings of a CC or BCC header (an array of long strings).
pub fn string_array(v: Option<&FieldValue>) -> Vec<String> {
    match v {
        Some(FieldValue::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether dead-lettering into `target` would close a cycle RabbitMQ drops: the message
/// already died in `target`, and nothing since (including that death) was a rejection,
/// so nothing but time or length would ever move it on (`rabbit_dead_letter:is_cycle/2`).
/// A rejection anywhere in the cycle means a client decided, and the message goes on.
pub fn is_cycle(target: &str, reason: Reason, history: &[(String, String)]) -> bool {
    if reason == Reason::Rejected {
        return false;
    }
    match history.iter().position(|(q, _)| q == target) {
        None => false,
        Some(at) => history[..=at].iter().all(|(_, r)| r != "rejected"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(entries: &[(&str, &str)]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|(q, r)| (q.to_string(), r.to_string()))
            .collect()
    }

    #[test]
    fn cycles_are_dropped_unless_a_client_rejected_on_the_way() {
        // A TTL queue dead-lettering to itself.
        assert!(is_cycle("q", Reason::Expired, &h(&[("q", "expired")])));
        // Retry with delay: work -(rejected)-> delay -(expired)-> work.
        let retry = h(&[("delay", "expired"), ("work", "rejected")]);
        assert!(!is_cycle("work", Reason::Expired, &retry));
        // Two TTL queues feeding each other.
        let loop_ = h(&[("b", "expired"), ("a", "expired")]);
        assert!(is_cycle("a", Reason::Expired, &loop_));
        assert!(!is_cycle("c", Reason::Expired, &loop_));
        assert!(!is_cycle("q", Reason::Rejected, &h(&[("q", "rejected")])));
    }
}
