//! Direct reply-to on the requester's channel: the pseudo-queue `amq.rabbitmq.reply-to`
//! (declare, consume, cancel), the rewrite of a request's reply-to to the channel's address,
//! and the delivery of replies, which come straight from the responder's publish.
//!
//! Reply codes and texts are RabbitMQ 3.10's (rabbit_channel), checked against a running
//! 3.10.8.

use super::{Channel, Context};
use crate::broker::BrokerError;
use crate::broker::error::EntityKind;
use crate::broker::message::{Message, MessageContent};
use crate::broker::names;
use crate::broker::reply_to::Registration;
use crate::error::AmqpError;
use crate::protocol::Method;
use crate::protocol::methods::*;
use crate::protocol::properties::{DIRECT_REPLY_TO, with_reply_to};
use bytes::Bytes;
use std::sync::Arc;

/// A channel's consumer of `amq.rabbitmq.reply-to` (at most one) and its address.
#[derive(Debug)]
pub(super) struct ReplyConsumer {
    tag: Arc<str>,
    registration: Registration,
}

impl Channel {
    /// queue.declare of the pseudo-queue or of any name beginning like it. RabbitMQ treats
    /// every such declare as passive whatever its flags: the pseudo-queue and a live reply
    /// address "exist" with no messages and one consumer; any other such name is not found
    /// (not refused for its `amq.` prefix).
    pub(super) fn declare_reply_to(
        &mut self,
        ctx: &mut Context<'_>,
        m: QueueDeclare,
    ) -> Result<(), AmqpError> {
        if !ctx.replies.exists(&m.queue) {
            return Err(BrokerError::NotFound {
                kind: EntityKind::Queue,
                name: m.queue,
                vhost: ctx.vhost.name.clone(),
            }
            .into());
        }
        self.last_queue = Some(m.queue.clone());
        if !m.no_wait {
            ctx.send(
                self.id,
                Method::QueueDeclareOk(QueueDeclareOk {
                    queue: m.queue,
                    message_count: 0,
                    consumer_count: 1,
                }),
            );
        }
        Ok(())
    }

    /// basic.consume of `amq.rabbitmq.reply-to`: the channel gets its reply address.
    pub(super) fn consume_reply_to(
        &mut self,
        ctx: &mut Context<'_>,
        m: BasicConsume,
    ) -> Result<(), AmqpError> {
        if self.consumers.contains_key(m.consumer_tag.as_str()) {
            return Err(AmqpError::not_allowed(format!(
                "attempt to reuse consumer tag '{}'",
                m.consumer_tag
            )));
        }
        // Replies are never stored, so there is nothing to acknowledge or requeue.
        if !m.no_ack {
            return Err(AmqpError::precondition_failed(
                "reply consumer cannot acknowledge",
            ));
        }
        if self.reply.is_some() {
            return Err(AmqpError::precondition_failed("reply consumer already set"));
        }
        let tag: Arc<str> = if m.consumer_tag.is_empty() {
            names::consumer_tag().into()
        } else {
            m.consumer_tag.into()
        };
        self.reply = Some(Box::new(ReplyConsumer {
            tag: tag.clone(),
            registration: ctx.replies.register(ctx.sink, self.id),
        }));
        self.consume_ok(ctx, m.no_wait, &tag);
        Ok(())
    }

    /// Whether basic.cancel of `tag` is for the reply consumer. RabbitMQ does not count it
    /// among the channel's consumers: a queue consumer may reuse its tag, and a cancel of
    /// that tag then ends the reply consumer.
    pub(super) fn is_reply_consumer(&self, tag: &str) -> bool {
        self.reply.as_ref().is_some_and(|r| *r.tag == *tag)
    }

    /// basic.cancel of the reply consumer: its address is gone at once, so replies sent to
    /// it from now on are dropped.
    pub(super) fn cancel_reply_to(&mut self, ctx: &mut Context<'_>, m: BasicCancel) {
        self.reply = None;
        if !m.no_wait {
            ctx.send(
                self.id,
                Method::BasicCancelOk(BasicCancelOk {
                    consumer_tag: m.consumer_tag,
                }),
            );
        }
    }

    /// The content of a request whose reply-to is `amq.rabbitmq.reply-to`, with reply-to
    /// set to this channel's address; `buf` holds the rewritten properties.
    pub(super) fn with_reply_address<'a>(
        &self,
        content: MessageContent<'a>,
        buf: &'a mut Vec<u8>,
    ) -> Result<MessageContent<'a>, AmqpError> {
        let Some(reply) = &self.reply else {
            return Err(AmqpError::precondition_failed(
                "fast reply consumer does not exist",
            ));
        };
        let address = reply.registration.address();
        let raw = match &content {
            MessageContent::Frames { raw_properties, .. } => &raw_properties[..],
            MessageContent::Borrowed { raw_properties, .. } => *raw_properties,
        };
        // The properties were checked when the header was read, so this only fails on a
        // header that did not say reply-to, which is not how we got here.
        let rewritten = with_reply_to(raw, address)
            .ok_or_else(|| AmqpError::syntax_error("cannot rewrite reply-to"))?;
        Ok(match content {
            MessageContent::Frames { body, .. } => MessageContent::Frames {
                raw_properties: Bytes::from(rewritten),
                body,
            },
            MessageContent::Borrowed { body, .. } => {
                *buf = rewritten;
                MessageContent::Borrowed {
                    raw_properties: buf,
                    body,
                }
            }
        })
    }

    /// A reply for the consumer registered at `address`: delivered as basic.deliver with
    /// the channel's next delivery tag, never redelivered, never awaiting an ack. A reply
    /// for a consumer cancelled meanwhile is dropped, as RabbitMQ drops one whose key no
    /// longer matches.
    pub fn deliver_reply(&mut self, ctx: &mut Context<'_>, address: &Arc<str>, m: Arc<Message>) {
        let Some(reply) = &self.reply else {
            return;
        };
        if !Arc::ptr_eq(reply.registration.address(), address) {
            return;
        }
        let tag = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        crate::protocol::frame::write_deliver(
            ctx.out,
            self.id,
            &reply.tag,
            tag,
            false,
            &m.exchange,
            m.routing_key(),
            m.raw_properties(),
            m.body(),
            ctx.frame_max,
        );
    }
}

/// Whether a queue.declare is for the pseudo-queue's namespace (see `declare_reply_to`).
pub(super) fn is_reply_to_name(queue: &str) -> bool {
    queue.starts_with(DIRECT_REPLY_TO)
}
