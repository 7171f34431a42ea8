//! The broker's state at one moment, as data a test asserts on: queues with their depths and
//! consumers, exchanges, bindings, connections. Serialised as-is by
//! `GET /api/warren/snapshot`, so tests in any language read the same shape.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Snapshot {
    pub vhosts: Vec<VhostSnapshot>,
    pub connections: Vec<ConnectionSnapshot>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct VhostSnapshot {
    pub name: String,
    pub queues: Vec<QueueSnapshot>,
    /// Every exchange but the default one and the amq.* ones each vhost starts with.
    pub exchanges: Vec<ExchangeSnapshot>,
    /// Bindings between any exchanges (the default one's implicit bindings left out) and
    /// their destinations.
    pub bindings: Vec<BindingSnapshot>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueSnapshot {
    pub name: String,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: serde_json::Value,
    /// Messages waiting for a consumer.
    pub messages_ready: u64,
    /// Messages delivered and not yet acked.
    pub messages_unacknowledged: u64,
    /// Ready and unacked together, as RabbitMQ's `messages`.
    pub messages: u64,
    /// A quorum queue's state machine: what it counts ready and checked out, and how many
    /// commands it refused (each a disagreement with the queue). Tests compare it with the
    /// counts above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineSnapshot>,
    pub consumers: Vec<ConsumerSnapshot>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct MachineSnapshot {
    pub ready: u64,
    pub checked_out: u64,
    pub refused: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConsumerSnapshot {
    pub tag: String,
    pub channel: u16,
    pub ack_required: bool,
    pub prefetch_count: u16,
    /// Whether it is the one that gets messages (single active consumer); true otherwise.
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExchangeSnapshot {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BindingSnapshot {
    pub source: String,
    pub destination: String,
    /// "queue" or "exchange", as RabbitMQ's `destination_type`.
    pub destination_type: &'static str,
    pub routing_key: String,
    pub arguments: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConnectionSnapshot {
    /// RabbitMQ's name for it ("PEER -> LOCAL"), what a fault's `connection` target takes.
    pub name: String,
    /// The `connection_name` the client gave, if any.
    pub connection_name: Option<String>,
    pub user: String,
    pub vhost: String,
    /// Channels open on it.
    pub channels: u32,
}

impl Snapshot {
    pub fn vhost(&self, name: &str) -> Option<&VhostSnapshot> {
        self.vhosts.iter().find(|v| v.name == name)
    }

    /// A queue of vhost "/".
    pub fn queue(&self, name: &str) -> Option<&QueueSnapshot> {
        self.queue_in("/", name)
    }

    pub fn queue_in(&self, vhost: &str, name: &str) -> Option<&QueueSnapshot> {
        self.vhost(vhost)?.queues.iter().find(|q| q.name == name)
    }

    /// Ready messages of a queue of vhost "/"; 0 if it does not exist.
    pub fn ready(&self, queue: &str) -> u64 {
        self.queue(queue).map_or(0, |q| q.messages_ready)
    }

    /// Unacked messages of a queue of vhost "/"; 0 if it does not exist.
    pub fn unacked(&self, queue: &str) -> u64 {
        self.queue(queue).map_or(0, |q| q.messages_unacknowledged)
    }

    /// Consumers of a queue of vhost "/"; 0 if it does not exist.
    pub fn consumer_count(&self, queue: &str) -> usize {
        self.queue(queue).map_or(0, |q| q.consumers.len())
    }

    /// The connection a client named `connection_name`, if it is open.
    pub fn connection_named(&self, connection_name: &str) -> Option<&ConnectionSnapshot> {
        self.connections
            .iter()
            .find(|c| c.connection_name.as_deref() == Some(connection_name))
    }
}
