//! Misuse diagnostics: what a client did that usually hides a bug (an ack of a tag it never
//! got, a publish to an exchange that is not there, a connection without heartbeats…) and
//! each call that a RabbitMQ 4.x release refuses while this profile lets it through.
//!
//! Each item is logged as it happens and kept in a bounded ring (`Broker::diagnostics`,
//! `GET /api/warren/diagnostics`), so a misbehaving client cannot grow the broker's memory:
//! past `CAPACITY` the oldest items go. Items are recorded on error paths, at open or close,
//! or once per channel for the ones that repeat (unroutable publishes, a pile of unacked
//! deliveries); the publish and deliver paths themselves do no new work.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many items the ring keeps.
pub const CAPACITY: usize = 1000;

/// What the client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// basic.ack, nack or reject of a delivery tag the channel never handed out.
    UnknownDeliveryTag,
    /// basic.ack, nack or reject of a delivery tag already settled.
    AlreadyAckedDeliveryTag,
    /// A channel closed (or its connection ended) while its consumers held unacked
    /// deliveries, which go back to their queues as redeliveries.
    UnackedAtClose,
    /// Channels left open: many at once on one connection, or still open when the socket
    /// dropped without connection.close.
    ChannelsNeverClosed,
    /// basic.publish to an exchange that does not exist (404).
    PublishToMissingExchange,
    /// A message that reached no queue, published without mandatory: dropped unseen.
    Unroutable,
    /// A declare of an existing queue or exchange with other arguments or flags (406).
    RedeclareDifferent,
    /// A consumer with manual acks and no prefetch limit whose channel piles up unacked
    /// deliveries.
    UnlimitedPrefetchPileUp,
    /// A connection that negotiated heartbeat 0: a dead peer goes unnoticed.
    NoHeartbeat,
    /// A method frame in the middle of another command's content on one channel: the
    /// channel is shared by several threads without a lock.
    InterleavedContent,
    /// A feature RabbitMQ 4.x deprecated or removed; `refused_by` names the release.
    Deprecated,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UnknownDeliveryTag => "unknown_delivery_tag",
            Kind::AlreadyAckedDeliveryTag => "already_acked_delivery_tag",
            Kind::UnackedAtClose => "unacked_at_close",
            Kind::ChannelsNeverClosed => "channels_never_closed",
            Kind::PublishToMissingExchange => "publish_to_missing_exchange",
            Kind::Unroutable => "unroutable",
            Kind::RedeclareDifferent => "redeclare_different",
            Kind::UnlimitedPrefetchPileUp => "unlimited_prefetch_pile_up",
            Kind::NoHeartbeat => "no_heartbeat",
            Kind::InterleavedContent => "interleaved_content",
            Kind::Deprecated => "deprecated",
        }
    }
}

/// Which connection an item is about: kept by the connection, lent to its channels.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The broker's connection id.
    pub id: u64,
    /// RabbitMQ's connection name, "peer -> local".
    pub name: String,
    /// The `connection_name` client property, when the client sent one.
    pub client_name: Option<String>,
    pub user: String,
    pub vhost: String,
}

/// One item of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Increasing over the broker's life, so a reader can tell what is new.
    pub seq: u64,
    /// When (ms since the Unix epoch).
    pub at: u64,
    pub kind: Kind,
    /// RabbitMQ's connection name, "peer -> local".
    pub connection: String,
    /// The `connection_name` client property, if sent.
    pub connection_name: Option<String>,
    pub user: String,
    pub vhost: String,
    /// The channel, for items about one.
    pub channel: Option<u16>,
    pub detail: String,
    /// The RabbitMQ release that refuses this call, for deprecated features.
    pub refused_by: Option<&'static str>,
}

/// The ring of items, shared by every connection.
#[derive(Debug, Default)]
pub struct Diagnostics {
    ring: Mutex<VecDeque<Diagnostic>>,
    next_seq: AtomicU64,
}

impl Diagnostics {
    /// Logs an item and keeps it, dropping the oldest past `CAPACITY`.
    pub fn record(
        &self,
        origin: &Origin,
        channel: Option<u16>,
        kind: Kind,
        detail: impl Into<String>,
        refused_by: Option<&'static str>,
    ) {
        let detail = detail.into();
        tracing::warn!(
            connection = %origin.name,
            connection_name = origin.client_name.as_deref().unwrap_or(""),
            channel = channel.unwrap_or(0),
            refused_by = refused_by.unwrap_or(""),
            "diagnostic {}: {detail}",
            kind.as_str()
        );
        let item = Diagnostic {
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed) + 1,
            at: super::timer::now_ms(),
            kind,
            connection: origin.name.clone(),
            connection_name: origin.client_name.clone(),
            user: origin.user.clone(),
            vhost: origin.vhost.clone(),
            channel,
            detail,
            refused_by,
        };
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == CAPACITY {
            ring.pop_front();
        }
        ring.push_back(item);
    }

    /// What the ring holds, oldest first.
    pub fn snapshot(&self) -> Vec<Diagnostic> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter().cloned().collect()
    }

    /// Empties the ring (sequence numbers go on).
    pub fn clear(&self) {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest() {
        let d = Diagnostics::default();
        let o = Origin::default();
        for i in 0..CAPACITY + 5 {
            d.record(&o, Some(1), Kind::Unroutable, i.to_string(), None);
        }
        let all = d.snapshot();
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].detail, "5");
        assert_eq!(all[CAPACITY - 1].seq, (CAPACITY + 5) as u64);
        d.clear();
        assert!(d.snapshot().is_empty());
    }
}
