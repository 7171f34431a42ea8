//! Direct reply-to addresses: which channel a reply published to `amq.rabbitmq.reply-to.<token>`
//! goes to.
//!
//! A requester's channel consumes the pseudo-queue `amq.rabbitmq.reply-to` and gets an address
//! of its own, registered here for as long as that consumer lives. A reply published to the
//! default exchange with the address as routing key skips queues altogether: it is handed to
//! the requester's connection, as RabbitMQ's channel process casts it to the requester's
//! channel process. The token is random, so knowing one address tells nothing about another,
//! and holds no channel number or connection id a client could forge.

use super::consumer::Outbound;
use super::message::Message;
use super::names;
use crate::protocol::properties::DIRECT_REPLY_TO;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// What every reply address starts with.
pub const ADDRESS_PREFIX: &str = "amq.rabbitmq.reply-to.";

/// Where a reply address leads.
#[derive(Debug)]
struct Target {
    sink: UnboundedSender<Outbound>,
    channel: u16,
    /// The address as the channel holds it, so the channel can tell a reply for its current
    /// consumer from one sent to a consumer it has since cancelled.
    address: Arc<str>,
}

/// Every live reply address of the broker. Like RabbitMQ's, an address is valid from any
/// vhost: it names a channel, not a queue.
#[derive(Debug, Default)]
pub struct Registry {
    targets: DashMap<Arc<str>, Target>,
}

impl Registry {
    /// Gives a channel's reply consumer an address; it lasts as long as the returned value.
    pub fn register(
        self: &Arc<Self>,
        sink: &UnboundedSender<Outbound>,
        channel: u16,
    ) -> Registration {
        loop {
            let address: Arc<str> = Arc::from(names::reply_address());
            // 128 random bits do not collide in practice; a collision must still not
            // redirect another channel's replies.
            if let Entry::Vacant(slot) = self.targets.entry(address.clone()) {
                slot.insert(Target {
                    sink: sink.clone(),
                    channel,
                    address: address.clone(),
                });
                return Registration {
                    registry: self.clone(),
                    address,
                };
            }
        }
    }

    /// Whether `name` is the pseudo-queue or a live reply address: a queue.declare of such a
    /// name succeeds (passive or not), as it does on RabbitMQ.
    pub fn exists(&self, name: &str) -> bool {
        name == DIRECT_REPLY_TO || self.targets.contains_key(name)
    }

    /// Hands a message published to the default exchange with `routing_key` to the reply
    /// consumer that key addresses, if it is one of ours; says whether it was handed over.
    /// As on RabbitMQ, a reply to an address that is gone is dropped.
    pub fn forward(&self, routing_key: &str, message: &Arc<Message>) -> bool {
        if !routing_key.starts_with(ADDRESS_PREFIX) {
            return false;
        }
        let Some(target) = self.targets.get(routing_key) else {
            return false;
        };
        target
            .sink
            .send(Outbound::Reply {
                channel: target.channel,
                address: target.address.clone(),
                message: message.clone(),
            })
            .is_ok()
    }
}

/// A registered reply address; unregistered when dropped, however the consumer ends
/// (basic.cancel, channel or connection closed).
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    address: Arc<str>,
}

impl Registration {
    pub fn address(&self) -> &Arc<str> {
        &self.address
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.targets.remove(&self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::message::MessageContent;

    fn message(key: &str) -> Arc<Message> {
        Arc::new(Message::new(
            Arc::from(""),
            key,
            false,
            MessageContent::Borrowed {
                raw_properties: &[0, 0],
                body: b"reply",
            },
        ))
    }

    #[test]
    fn an_address_lives_as_long_as_its_registration() {
        let registry = Arc::new(Registry::default());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let reg = registry.register(&tx, 7);
        let address = reg.address().to_string();
        assert!(address.starts_with(ADDRESS_PREFIX));
        assert!(registry.exists(&address) && registry.exists(DIRECT_REPLY_TO));

        assert!(registry.forward(&address, &message(&address)));
        match rx.try_recv() {
            Ok(Outbound::Reply {
                channel,
                address: a,
                ..
            }) => assert_eq!((channel, &*a), (7, address.as_str())),
            other => panic!("expected a reply, got {other:?}"),
        }

        drop(reg);
        assert!(!registry.exists(&address));
        assert!(!registry.forward(&address, &message(&address)));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn addresses_differ_and_unknown_ones_go_nowhere() {
        let registry = Arc::new(Registry::default());
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let a = registry.register(&tx, 1);
        let b = registry.register(&tx, 1);
        assert_ne!(a.address(), b.address());
        for key in [DIRECT_REPLY_TO, "amq.rabbitmq.reply-to.junk", "q", ""] {
            assert!(!registry.forward(key, &message(key)), "{key}");
        }
    }
}
