//! What can go wrong in the broker core, in its own terms. `crate::error` maps each case to the
//! AMQP reply code and text RabbitMQ would send.

use super::queue::args::Refusal;
use crate::protocol::FieldValue;

/// RabbitMQ words a refused queue or consumer argument in one of three templates.
fn invalid_argument(queue: &str, vhost: &str, arg: &str, refusal: &Refusal) -> String {
    match refusal {
        Refusal::InvalidType(t) => {
            format!("invalid type '{t}' for arg '{arg}' in queue '{queue}' in vhost '{vhost}'")
        }
        Refusal::NotForType(kind) => format!(
            "invalid arg '{arg}' for queue '{queue}' in vhost '{vhost}' of queue type {}",
            kind.module()
        ),
        Refusal::Text(text) => (*text).to_owned(),
        other => format!("invalid arg '{arg}' for queue '{queue}' in vhost '{vhost}': {other}"),
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrokerError {
    #[error("no {kind} '{name}' in vhost '{vhost}'")]
    NotFound {
        kind: EntityKind,
        name: String,
        vhost: String,
    },
    #[error("inequivalent arg '{}' for {} '{}' in vhost '{}'", .0.arg, .0.kind, .0.name, .0.vhost)]
    Inequivalent(Box<Inequivalence>),
    #[error("{kind} name '{name}' contains reserved prefix 'amq.*'")]
    ReservedName { kind: EntityKind, name: String },
    #[error("operation not permitted on the default exchange")]
    DefaultExchange,
    #[error("deletion of system exchange '{name}' in vhost '{vhost}' not allowed")]
    SystemExchange { name: String, vhost: String },
    #[error("cannot publish to internal exchange '{name}' in vhost '{vhost}'")]
    InternalExchange { name: String, vhost: String },
    #[error("cannot obtain exclusive access to locked queue '{name}' in vhost '{vhost}'")]
    ExclusiveLocked { name: String, vhost: String },
    #[error("queue '{name}' in vhost '{vhost}' in exclusive use")]
    ExclusiveConsumer { name: String, vhost: String },
    #[error("{kind} '{name}' in vhost '{vhost}' in use")]
    InUse {
        kind: EntityKind,
        name: String,
        vhost: String,
    },
    #[error("queue '{name}' in vhost '{vhost}' not empty")]
    NotEmpty { name: String, vhost: String },
    #[error("unknown exchange type '{0}'")]
    UnknownExchangeType(String),
    #[error("{}", invalid_argument(.queue, .vhost, .arg, .refusal))]
    InvalidArgument {
        queue: String,
        vhost: String,
        arg: String,
        refusal: Refusal,
    },
    /// A property the queue's type cannot have (a non-durable quorum queue, ...).
    #[error("invalid property '{property}' for queue '{queue}' in vhost '{vhost}'")]
    InvalidProperty {
        property: &'static str,
        queue: String,
        vhost: String,
    },
    /// queue.delete if-unused / if-empty on a quorum queue: 540 NOT_IMPLEMENTED.
    #[error(
        "cannot delete queue '{name}' in vhost '{vhost}'. queue.delete operations with {flag} flag set are not supported by quorum queues"
    )]
    QuorumDeleteFlag {
        name: String,
        vhost: String,
        flag: &'static str,
    },
    #[error("Cannot declare a server-named queue for type {0}")]
    ServerNamed(&'static str),
    #[error("cannot declare queue '{queue}': queue limit in vhost '{vhost}' ({max}) is reached")]
    QueueLimit {
        queue: String,
        vhost: String,
        max: u64,
    },
    /// A headers binding whose x-match is not one RabbitMQ knows.
    #[error("{0}")]
    InvalidXMatch(String),
    /// A binding the exchange's type does not take (RabbitMQ's `binding_invalid`).
    #[error("{0}")]
    BindingInvalid(String),
    /// A publish's expiration property that is not a non-negative integer string.
    #[error("invalid expiration '{value}': {reason}")]
    InvalidExpiration { value: String, reason: String },
}

impl BrokerError {
    /// A queue or consumer argument refused by `queue::args`, named for its queue.
    pub fn invalid_argument(queue: &str, vhost: &str, (arg, refusal): (&str, Refusal)) -> Self {
        BrokerError::InvalidArgument {
            queue: queue.to_owned(),
            vhost: vhost.to_owned(),
            arg: arg.to_owned(),
            refusal,
        }
    }
}

/// A redeclare that differs from what exists: which argument, and both values.
#[derive(Debug, Clone, PartialEq)]
pub struct Inequivalence {
    pub kind: EntityKind,
    pub name: String,
    pub vhost: String,
    pub arg: String,
    pub received: Option<FieldValue>,
    pub current: Option<FieldValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Exchange,
    Queue,
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntityKind::Exchange => "exchange",
            EntityKind::Queue => "queue",
        })
    }
}
