//! What the broker knows of an open connection for the management API: what was settled
//! when it opened (kept by the registry), and what changes while it runs (asked of the
//! connection's own task, which keeps it in plain fields: nothing on the message path pays
//! for statistics nobody reads).

use crate::protocol::FieldTable;
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// A connection as it opened.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub id: u64,
    /// RabbitMQ's name for it: "PEER -> LOCAL", e.g. "127.0.0.1:43038 -> 127.0.0.1:5672".
    pub name: String,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub tls: bool,
    pub user: String,
    pub vhost: String,
    pub client_properties: FieldTable,
    pub auth_mechanism: String,
    /// ms since the Unix epoch.
    pub connected_at: u64,
    pub channel_max: u16,
    pub frame_max: u32,
    /// Seconds; 0 for none.
    pub heartbeat: u16,
}

impl ConnectionInfo {
    /// RabbitMQ's connection name for a socket.
    pub fn name_of(peer: SocketAddr, local: SocketAddr) -> String {
        format!("{peer} -> {local}")
    }

    /// The `connection_name` a client gave in its client properties, if any.
    pub fn user_provided_name(&self) -> Option<&str> {
        match self.client_properties.get("connection_name") {
            Some(crate::protocol::FieldValue::LongString(s)) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }
}

/// Message counts of a channel since it opened (RabbitMQ's channel `message_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCounters {
    pub publish: u64,
    pub confirm: u64,
    pub return_unroutable: u64,
    pub drop_unroutable: u64,
    pub deliver: u64,
    pub deliver_no_ack: u64,
    pub get: u64,
    pub get_no_ack: u64,
    pub get_empty: u64,
    pub redeliver: u64,
    pub ack: u64,
}

impl ChannelCounters {
    pub fn add(&mut self, o: &ChannelCounters) {
        self.publish += o.publish;
        self.confirm += o.confirm;
        self.return_unroutable += o.return_unroutable;
        self.drop_unroutable += o.drop_unroutable;
        self.deliver += o.deliver;
        self.deliver_no_ack += o.deliver_no_ack;
        self.get += o.get;
        self.get_no_ack += o.get_no_ack;
        self.get_empty += o.get_empty;
        self.redeliver += o.redeliver;
        self.ack += o.ack;
    }

    pub fn deliver_get(&self) -> u64 {
        self.deliver + self.deliver_no_ack + self.get + self.get_no_ack
    }
}

/// A channel at one moment.
#[derive(Debug, Clone, Default)]
pub struct ChannelStats {
    pub number: u16,
    pub prefetch_count: u16,
    pub global_prefetch_count: u16,
    pub confirm: bool,
    pub transactional: bool,
    pub consumer_count: u32,
    pub messages_unacknowledged: u32,
    pub messages_unconfirmed: u32,
    pub messages_uncommitted: u32,
    pub acks_uncommitted: u32,
    pub counters: ChannelCounters,
}

/// A connection at one moment.
#[derive(Debug, Clone, Default)]
pub struct ConnectionStats {
    pub recv_oct: u64,
    pub recv_cnt: u64,
    pub send_oct: u64,
    pub send_cnt: u64,
    /// Held by an alarm (RabbitMQ's state "blocked").
    pub blocked: bool,
    pub channels: Vec<ChannelStats>,
}

/// The question a connection's task answers with its `ConnectionStats`.
pub type Describe = oneshot::Sender<ConnectionStats>;
