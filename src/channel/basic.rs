//! Class basic: publish (route, return, confirm), consume and cancel, get, ack/nack/reject,
//! recover and qos.

use super::assembler::Content;
use super::modes::{Mode, PendingPublish};
use super::route_cache;
use super::sender_selected;
use super::trace;
use super::{Channel, ChannelConsumer, Context, Settlement, Unacked};
use crate::broker::BrokerError;
use crate::broker::access::{Access, ResourceKind};
use crate::broker::consumer::{Consumer, Credit, DurabilityNotice, QueuedMessage};
use crate::broker::diagnostics::Kind;
use crate::broker::exchange::Exchange;
use crate::broker::exchange::ExchangeKind;
use crate::broker::message::{Message, MessageContent};
use crate::broker::names;
use crate::broker::profile::{MAX_MESSAGE_SIZE_4X, Profile};
use crate::broker::queue::quorum::Return;
use crate::broker::queue::{ConsumerRemoved, Queue, QueueType};
use crate::broker::trace::Event;
use crate::error::{AmqpError, code};
use crate::protocol::Method;
use crate::protocol::frame::write_content;
use crate::protocol::methods::*;
use crate::protocol::properties::PublishProperties;
use crate::protocol::publish::PublishCommand;
use crate::testing::faults::{ConfirmFault, ConfirmOutcome, FaultEvent};
use std::sync::Arc;

/// The expiration property as a TTL in milliseconds, or RabbitMQ's refusal
/// (`rabbit_basic:parse_expiration/1`): a decimal integer, 0 to ten years.
fn parse_expiration(e: &str) -> Result<u64, AmqpError> {
    let refuse = |reason: String| {
        AmqpError::from(BrokerError::InvalidExpiration {
            value: e.to_owned(),
            reason,
        })
    };
    // Erlang's string:to_integer: an optional sign, then digits; the rest is left over.
    let digits_end = e
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || i == 0 && (c == '-' || c == '+')))
        .map_or(e.len(), |(i, _)| i);
    let (number, rest) = e.split_at(digits_end);
    let Ok(n) = number.parse::<i64>() else {
        return Err(refuse("no_integer".to_owned()));
    };
    if !rest.is_empty() {
        return Err(refuse(format!("{{leftover_string,\"{rest}\"}}")));
    }
    if n < 0 {
        return Err(refuse(format!("{{value_negative,{n}}}")));
    }
    if n > crate::broker::queue::args::MAX_EXPIRY {
        return Err(refuse(format!("{{value_too_large,{n}}}")));
    }
    Ok(n as u64)
}

/// Consumers one channel may have (RabbitMQ's `consumer_max_per_channel`, unlimited by
/// default there): each costs the broker a few hundred bytes, so a client looping on
/// basic.consume must not make that unbounded. 530 NOT_ALLOWED with RabbitMQ's text.
const MAX_CONSUMERS_PER_CHANNEL: usize = 65_536;

/// Deliveries an auto-ack consumer may have in transit to its connection at once.
const NO_ACK_WINDOW: u16 = 1024;

/// Writes basic.deliver with its content.
pub(super) fn write_deliver(
    ctx: &mut Context<'_>,
    channel: u16,
    consumer_tag: &str,
    delivery_tag: u64,
    entry: &QueuedMessage,
    queue: &Queue,
) {
    let m = &entry.message;
    let annotated = queue.delivery_properties(entry);
    crate::protocol::frame::write_deliver(
        ctx.out,
        channel,
        consumer_tag,
        delivery_tag,
        entry.redelivered,
        &m.exchange,
        m.routing_key(),
        annotated.as_deref().unwrap_or(m.raw_properties()),
        m.body(),
        ctx.frame_max,
    );
}

/// Takes a consumer off its queue, deleting an auto-delete queue it was the last one of.
pub(super) fn remove_consumer(ctx: &mut Context<'_>, queue: &Arc<Queue>, channel: u16, tag: &str) {
    if queue.remove_consumer(ctx.connection, channel, tag) == ConsumerRemoved::LastOfAutoDelete {
        ctx.vhost.remove_queue(queue);
    }
}

/// A basic.publish with its content, however it was read.
struct Publish<'a> {
    exchange: &'a str,
    routing_key: &'a str,
    mandatory: bool,
    immediate: bool,
    properties: &'a PublishProperties,
    content: MessageContent<'a>,
}

impl Channel {
    /// An empty queue name means the queue last declared on this channel.
    pub(super) fn resolve_queue(&self, name: &str) -> Result<String, AmqpError> {
        if !name.is_empty() {
            return Ok(name.to_owned());
        }
        self.last_queue
            .clone()
            .ok_or_else(|| AmqpError::not_found("no previously declared queue"))
    }

    /// Reports the channel's first message dropped as unroutable (no mandatory flag, no
    /// queue bound for it): the publisher never hears of it.
    fn unroutable(reported: &mut u8, channel: u16, ctx: &Context<'_>, message: &Message) {
        if *reported & super::REPORTED_UNROUTABLE != 0 {
            return;
        }
        *reported |= super::REPORTED_UNROUTABLE;
        let exchange = match &*message.exchange {
            "" => "the default exchange",
            name => name,
        };
        ctx.diagnose(
            channel,
            Kind::Unroutable,
            format!(
                "message to '{exchange}' with routing key '{}' reached no queue and was dropped (published without mandatory); later ones on this channel are not reported",
                message.routing_key()
            ),
        );
    }

    /// basic.publish as the assembler completed it.
    pub(super) fn basic_publish(
        &mut self,
        ctx: &mut Context<'_>,
        m: BasicPublish,
        content: Content,
    ) -> Result<(), AmqpError> {
        // Bodies this large never take the in-place path, so only this one checks them.
        if content.body.len() as u64 > MAX_MESSAGE_SIZE_4X {
            let len = content.body.len();
            self.deprecated_once(ctx, super::REPORTED_LARGE, Profile::V4_0, || {
                format!("a {len} byte message: RabbitMQ 4.x refuses bodies over 16 MiB by default")
            });
        }
        let publish = Publish {
            exchange: &m.exchange,
            routing_key: &m.routing_key,
            mandatory: m.mandatory,
            immediate: m.immediate,
            properties: &content.header.properties,
            content: MessageContent::Frames {
                raw_properties: content.header.raw_properties,
                body: content.body,
            },
        };
        self.publish(ctx, publish)
    }

    /// basic.publish read in place from the connection's buffer (see `PublishCommand`).
    pub fn publish_in_place(
        &mut self,
        ctx: &mut Context<'_>,
        p: PublishCommand<'_>,
    ) -> Result<(), AmqpError> {
        let publish = Publish {
            exchange: p.exchange,
            routing_key: p.routing_key,
            mandatory: p.mandatory,
            immediate: p.immediate,
            properties: &p.properties,
            content: MessageContent::Borrowed {
                raw_properties: p.raw_properties,
                body: p.body,
            },
        };
        self.publish(ctx, publish).map_err(|e| e.during(60, 40))
    }

    fn publish(&mut self, ctx: &mut Context<'_>, p: Publish<'_>) -> Result<(), AmqpError> {
        if p.immediate {
            return Err(AmqpError::not_implemented("immediate=true"));
        }
        // A cached exchange passed the write check when it was cached, under the same grant.
        let (exchange, exchange_name) =
            match route_cache::exchange(&self.route, ctx.vhost, p.exchange) {
                Some(hit) if self.grant_epoch == ctx.grant.epoch => hit,
                _ => {
                    ctx.check(Access::Write, ResourceKind::Exchange, p.exchange)?;
                    self.grant_epoch = ctx.grant.epoch;
                    (ctx.vhost.publishable(p.exchange)?, Arc::from(p.exchange))
                }
            };
        // The rest in RabbitMQ 4.3's order: expiration, topic permissions (the routing key,
        // CC and BCC), user-id.
        let expiration = match &p.properties.expiration {
            Some(e) => Some(parse_expiration(e)?),
            None => None,
        };
        // RabbitMQ rewrites a direct reply-to request before it checks user-id.
        let mut reply_properties = Vec::new();
        let content = if p.properties.direct_reply_to {
            self.with_reply_address(p.content, &mut reply_properties)?
        } else {
            p.content
        };
        let (content, more_keys) = if p.properties.sender_selected {
            sender_selected::keys(content)?
        } else {
            (content, Vec::new())
        };
        if exchange.settings.kind == ExchangeKind::Topic {
            for key in std::iter::once(p.routing_key).chain(more_keys.iter().map(String::as_str)) {
                ctx.check_topic(Access::Write, p.exchange, key)?;
            }
        }
        // A user tagged impersonator may publish on behalf of others.
        if let Some(user_id) = &p.properties.user_id
            && **user_id != *ctx.user
            && !ctx.grant.impersonator
        {
            return Err(AmqpError::precondition_failed(format!(
                "user_id property set to '{user_id}' but authenticated user was '{}'",
                ctx.user
            )));
        }
        let mut message = Message::new(
            exchange_name,
            p.routing_key,
            p.properties.persistent,
            content,
        );
        message.priority = p.properties.priority;
        message.set_expiration(expiration);
        // Up to 3.13 a republished x-death header is history that dead-lettering continues.
        if p.properties.death_history && ctx.profile.continues_client_x_death() {
            message.dead_lettered = true;
        }
        let message = Arc::new(message);
        if let Mode::Tx(tx) = &mut self.mode {
            tx.publishes.push(PendingPublish {
                exchange,
                message,
                mandatory: p.mandatory,
                more_keys,
            });
            return Ok(());
        }
        let notify = self.mode.next_confirm_seq().map(|seq| {
            let n: (Arc<dyn crate::store::Durability>, u64) = (
                ctx.durability.clone(),
                DurabilityNotice::token(self.id, seq),
            );
            n
        });
        let fault = match self.mode.next_confirm_seq() {
            Some(_) => ConfirmFault::take(ctx.confirm_fault),
            None => None,
        };
        let (awaits_disk, refused) =
            self.route_and_push(ctx, &exchange, message, p.mandatory, notify, &more_keys);
        if let Some(seq) = self.mode.published(awaits_disk, refused, fault)
            && let Some(ConfirmOutcome::Delay(by)) = fault
        {
            crate::connection::send_later(
                ctx.sink.clone(),
                by,
                FaultEvent::ConfirmDue {
                    channel: self.id,
                    seq,
                },
            );
        }
        Ok(())
    }

    /// Routes a message into its queues; returns it to the publisher if it is mandatory and
    /// reached none (before any confirm for it goes out). A persistent message that reached a
    /// durable queue is written to the message log first. Returns whether `notify` will hear
    /// when it is on disk, and whether a queue refused it (x-overflow reject-publish).
    pub(super) fn route_and_push(
        &mut self,
        ctx: &mut Context<'_>,
        exchange: &Arc<Exchange>,
        message: Arc<Message>,
        mandatory: bool,
        notify: Option<(Arc<dyn crate::store::Durability>, u64)>,
        more_keys: &[String],
    ) -> (bool, bool) {
        let vhost = ctx.vhost;
        let routed;
        // Routing work that grows with the key and the bindings (see `take_route_work`),
        // taken only when a route was computed: a cached one costs nothing.
        let mut route_work = 0;
        let queues: &[Arc<Queue>] = if more_keys.is_empty() {
            route_cache::queues(
                &mut self.route,
                vhost,
                (exchange, &message.exchange),
                message.routing_key(),
                || {
                    let queues = vhost.route(exchange, &message);
                    route_work = crate::broker::exchange::take_route_work();
                    queues
                },
            )
        } else {
            routed = vhost.route_keys(exchange, &message, more_keys);
            route_work = crate::broker::exchange::take_route_work();
            &routed
        };
        // A reply to a direct reply-to address passes no queue; as in RabbitMQ 4.x (where the
        // address is a volatile queue) it counts as routed.
        let replied = queues.is_empty()
            && message.exchange.is_empty()
            && ctx.replies.forward(message.routing_key(), &message);
        self.counters.publish += 1;
        // Each queue pushed to is a unit of the connection's turn, and so is routing work.
        *ctx.work = ctx
            .work
            .saturating_add(queues.len() as u32)
            .saturating_add(route_work);
        if matches!(self.mode, Mode::Confirm(_)) {
            self.counters.confirm += 1;
        }
        if queues.is_empty() && !replied {
            if mandatory {
                self.counters.return_unroutable += 1;
            } else {
                self.counters.drop_unroutable += 1;
                Self::unroutable(&mut self.reported, self.id, ctx, &message);
            }
        }
        if queues.is_empty() && mandatory && !replied {
            let method = Method::BasicReturn(BasicReturn {
                reply_code: code::NO_ROUTE,
                reply_text: "NO_ROUTE".to_owned(),
                exchange: message.exchange.to_string(),
                routing_key: message.routing_key().to_owned(),
            });
            write_content(
                ctx.out,
                self.id,
                &method,
                message.raw_properties(),
                message.body(),
                ctx.frame_max,
            );
        }
        let published = Event::Published {
            more_keys,
            routed: queues,
        };
        trace::trace(ctx, self.id, &mut self.pushed, &message, published);
        let mut refused = false;
        let (congested, pushed) = (&mut self.congested, &mut self.pushed);
        let awaits_disk = vhost.store_and_push(queues, message, notify, |q, p| {
            refused |= p.refused;
            if p.congested && !congested.iter().any(|c| Arc::ptr_eq(c, q)) {
                congested.push(q.clone());
            }
            super::remember_pushed(pushed, q);
        });
        (awaits_disk, refused)
    }

    pub(super) fn basic_consume(
        &mut self,
        ctx: &mut Context<'_>,
        m: BasicConsume,
    ) -> Result<(), AmqpError> {
        let name = self.resolve_queue(&m.queue)?;
        ctx.check(Access::Read, ResourceKind::Queue, &name)?;
        let queue = ctx.vhost.queue(&name, ctx.connection)?;
        let tag = if m.consumer_tag.is_empty() {
            names::consumer_tag()
        } else {
            m.consumer_tag
        };
        if self.consumers.contains_key(tag.as_str()) {
            return Err(AmqpError::not_allowed(format!(
                "attempt to reuse consumer tag '{tag}'"
            )));
        }
        if self.consumers.len() >= MAX_CONSUMERS_PER_CHANNEL {
            tracing::warn!(
                channel = self.id,
                "consumer refused: {MAX_CONSUMERS_PER_CHANNEL} on the channel already"
            );
            return Err(AmqpError::not_allowed(format!(
                "reached maximum ({MAX_CONSUMERS_PER_CHANNEL}) of consumers per channel"
            )));
        }
        let tag: Arc<str> = Arc::from(tag);
        // A stream checks its consumer's arguments its own way (before the others).
        let stream = match queue.stream() {
            Some(_) => Some(super::stream::consume_spec(
                &queue,
                ctx.profile,
                self.consumer_prefetch,
                m.no_ack,
                self.channel_has_limit,
                &m.arguments,
            )?),
            None => None,
        };
        let priority = crate::broker::queue::args::consumer_priority(&m.arguments)
            .map_err(|e| BrokerError::invalid_argument(&queue.name, &queue.vhost, e))?;
        let kind = queue.declared.kind;
        crate::broker::queue::args::refused_consumer_arg(kind, &m.arguments)
            .map_err(|e| BrokerError::invalid_argument(&queue.name, &queue.vhost, e))?;
        // A quorum queue has no channel-wide window (RabbitMQ 4.3 takes global qos as per
        // consumer only where the deprecated feature is denied: its pinned profile).
        if kind == QueueType::Quorum && self.channel_has_limit {
            return Err(AmqpError::not_implemented(format!(
                "queue '{}' in vhost '{}' does not support global qos",
                queue.name, queue.vhost
            )));
        }
        let own_timeout = crate::broker::queue::args::consumer_timeout(&m.arguments)
            .map_err(|e| BrokerError::invalid_argument(&queue.name, &queue.vhost, e))?
            .map(std::time::Duration::from_millis);
        if let Some(t) = own_timeout
            .or(queue
                .declared
                .consumer_timeout
                .map(std::time::Duration::from_millis))
            .filter(|t| !t.is_zero())
            && ctx.shortest_timeout.is_none_or(|s| t < s)
        {
            *ctx.shortest_timeout = Some(t);
        }
        let credit = if m.no_ack {
            Credit::new(NO_ACK_WINDOW)
        } else {
            Credit::for_acking_consumer(self.consumer_prefetch, ctx.memory)
        };
        let consumer = Consumer {
            tag: tag.clone(),
            channel: self.id,
            connection: ctx.connection,
            no_ack: m.no_ack,
            exclusive: m.exclusive,
            priority,
            credit: credit.clone(),
            channel_credit: self.channel_credit.clone(),
            sink: ctx.sink.clone(),
        };
        if let Some(spec) = stream {
            queue.add_stream_consumer(consumer, spec);
        } else if !queue.try_add_consumer(consumer) {
            return Err(BrokerError::ExclusiveConsumer {
                name: queue.name.to_string(),
                vhost: queue.vhost.to_string(),
            }
            .into());
        }
        self.consumers.insert(
            tag.clone(),
            ChannelConsumer {
                timeout: own_timeout,
                queue,
                credit,
                no_ack: m.no_ack,
            },
        );
        // Deliveries reach the connection through its event queue, so they follow this.
        self.consume_ok(ctx, m.no_wait, &tag);
        Ok(())
    }

    /// basic.consume-ok, unless the client asked for none.
    pub(super) fn consume_ok(&self, ctx: &mut Context<'_>, no_wait: bool, tag: &str) {
        if !no_wait {
            ctx.send(
                self.id,
                Method::BasicConsumeOk(BasicConsumeOk {
                    consumer_tag: tag.to_owned(),
                }),
            );
        }
    }

    pub(super) fn basic_cancel(&mut self, ctx: &mut Context<'_>, m: BasicCancel) {
        if let Some(c) = self.consumers.remove(m.consumer_tag.as_str()) {
            remove_consumer(ctx, &c.queue, self.id, &m.consumer_tag);
        }
        if !m.no_wait {
            ctx.send(
                self.id,
                Method::BasicCancelOk(BasicCancelOk {
                    consumer_tag: m.consumer_tag,
                }),
            );
        }
    }

    pub(super) fn basic_get(
        &mut self,
        ctx: &mut Context<'_>,
        m: BasicGet,
    ) -> Result<(), AmqpError> {
        let name = self.resolve_queue(&m.queue)?;
        ctx.check(Access::Read, ResourceKind::Queue, &name)?;
        let queue = ctx.vhost.queue(&name, ctx.connection)?;
        super::stream::refuse_get(&queue)?;
        let holder = crate::broker::queue::quorum::machine::holder(ctx.connection, self.id);
        let got = queue.get(m.no_ack, holder);
        let k = &mut self.counters;
        match &got {
            None => k.get_empty += 1,
            Some((e, _)) => {
                k.redeliver += u64::from(e.redelivered);
                if m.no_ack {
                    k.get_no_ack += 1;
                } else {
                    k.get += 1;
                }
            }
        }
        let Some((entry, message_count)) = got else {
            ctx.send(
                self.id,
                Method::BasicGetEmpty(BasicGetEmpty {
                    reserved_1: String::new(),
                }),
            );
            return Ok(());
        };
        let tag = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        let method = Method::BasicGetOk(BasicGetOk {
            delivery_tag: tag,
            redelivered: entry.redelivered,
            exchange: entry.message.exchange.to_string(),
            routing_key: entry.message.routing_key().to_owned(),
            message_count,
        });
        let annotated = queue.delivery_properties(&entry);
        write_content(
            ctx.out,
            self.id,
            &method,
            annotated
                .as_deref()
                .unwrap_or(entry.message.raw_properties()),
            entry.message.body(),
            ctx.frame_max,
        );
        let delivered = Event::Delivered {
            queue: &queue.name,
            redelivered: entry.redelivered,
        };
        trace::trace(ctx, self.id, &mut self.pushed, &entry.message, delivered);
        if m.no_ack {
            queue.settle(&entry);
        } else {
            queue.mark_delivered(&entry);
            self.unacked.insert(
                tag,
                Unacked {
                    queue,
                    entry,
                    consumer: None,
                },
            );
        }
        Ok(())
    }

    /// Removes the deliveries an ack/nack/reject names: `tag` alone, or with `multiple`
    /// everything up to it (tag 0 with `multiple`: everything).
    fn take_unacked(&mut self, tag: u64, multiple: bool) -> Result<Vec<(u64, Unacked)>, AmqpError> {
        if multiple && tag == 0 {
            return Ok(std::mem::take(&mut self.unacked).into_iter().collect());
        }
        if !self.unacked.contains_key(&tag) {
            return Err(AmqpError::precondition_failed(format!(
                "unknown delivery tag {tag}"
            )));
        }
        if multiple {
            let rest = self.unacked.split_off(&(tag + 1));
            Ok(std::mem::replace(&mut self.unacked, rest)
                .into_iter()
                .collect())
        } else {
            Ok(self
                .unacked
                .remove(&tag)
                .map(|u| (tag, u))
                .into_iter()
                .collect())
        }
    }

    pub(super) fn basic_ack(&mut self, tag: u64, multiple: bool) -> Result<(), AmqpError> {
        self.settle_tags(tag, multiple, Settlement::Ack)
    }

    /// Settles the deliveries an ack, nack or reject names.
    pub(super) fn settle_tags(
        &mut self,
        tag: u64,
        multiple: bool,
        requeue: Settlement,
    ) -> Result<(), AmqpError> {
        let taken = self.take_unacked(tag, multiple)?;
        if let Mode::Tx(tx) = &mut self.mode {
            tx.settlements
                .extend(taken.into_iter().map(|(t, u)| (t, u, requeue)));
            return Ok(());
        }
        self.settle(taken.into_iter().map(|(_, u)| (u, requeue)));
        Ok(())
    }

    /// Acks, requeues or refuses deliveries, then lets the queues use the credit that freed.
    pub(super) fn settle(&mut self, items: impl IntoIterator<Item = (Unacked, Settlement)>) {
        // Each queue touched, with how many of its deliveries were acked (and which, for a
        // quorum queue's machine, in `acked_indexes`).
        let mut touched: Vec<(Arc<Queue>, u64)> = Vec::new();
        let mut acked_indexes = std::mem::take(&mut self.acked_indexes);
        let mut requeue: Vec<(Unacked, Return)> = Vec::new();
        let mut rejected: Vec<(Arc<Queue>, Vec<QueuedMessage>)> = Vec::new();
        for (u, how) in items {
            if let Settlement::Requeue(kind) = how {
                requeue.push((u, kind));
                continue;
            }
            self.release_credit(&u);
            let index = u.entry.seq;
            if how == Settlement::Discard {
                match rejected.iter_mut().find(|(q, _)| Arc::ptr_eq(q, &u.queue)) {
                    Some((_, v)) => v.push(u.entry),
                    None => rejected.push((u.queue.clone(), vec![u.entry])),
                }
            } else {
                u.queue.settle(&u.entry);
            }
            let acked = u64::from(how == Settlement::Ack);
            self.counters.ack += acked;
            let at = match touched.iter().position(|(q, _)| Arc::ptr_eq(q, &u.queue)) {
                Some(at) => at,
                None => {
                    touched.push((u.queue.clone(), 0));
                    touched.len() - 1
                }
            };
            let (q, n) = &mut touched[at];
            *n += acked;
            if acked == 1 && q.is_quorum() {
                acked_indexes.push((at, index));
            }
        }
        for (q, entries) in rejected {
            q.discard(entries);
        }
        // A quorum queue counts a reject's return as a failed delivery, a nack's not.
        let (failed, asked): (Vec<_>, Vec<_>) =
            requeue.into_iter().partition(|(_, k)| *k == Return::Failed);
        for (these, kind) in [(asked, Return::Requeued), (failed, Return::Failed)] {
            if !these.is_empty() {
                self.requeue_all(these.into_iter().map(|(u, _)| u), kind);
            }
        }
        for (at, (q, acked)) in touched.into_iter().enumerate() {
            let indexes = acked_indexes.iter().filter(|(a, _)| *a == at);
            q.acked(acked, indexes.map(|(_, i)| *i), !self.channel_has_limit);
        }
        acked_indexes.clear();
        self.acked_indexes = acked_indexes;
        self.dispatch_if_channel_limited();
    }

    /// With a channel-wide window, freed credit may serve a consumer on any queue: the
    /// queues are asked in turn, not the acked one first (`dispatch_consumed_queues`).
    fn dispatch_if_channel_limited(&self) {
        if self.channel_has_limit {
            self.dispatch_consumed_queues();
        }
    }

    /// basic.recover requeue=true: every unacked delivery goes back to its queue.
    pub(super) fn basic_recover(&mut self) {
        let all = std::mem::take(&mut self.unacked);
        self.requeue_all(all.into_values(), Return::Requeued);
    }

    pub(super) fn basic_qos(
        &mut self,
        ctx: &mut Context<'_>,
        m: BasicQos,
    ) -> Result<(), AmqpError> {
        if m.prefetch_size != 0 {
            return Err(AmqpError::not_implemented(format!(
                "prefetch_size!=0 ({})",
                m.prefetch_size
            )));
        }
        // RabbitMQ 4.3 denies global qos and takes it as per-consumer, without a word.
        let global = m.global && !ctx.profile.global_qos_is_per_consumer();
        if m.global {
            let n = m.prefetch_count;
            self.deprecated_once(ctx, super::REPORTED_GLOBAL_QOS, Profile::V4_3, || {
                format!(
                    "basic.qos global=true (prefetch {n}): RabbitMQ 4.3 applies it per consumer"
                )
            });
        }
        if global {
            self.channel_credit.set_limit(m.prefetch_count);
            self.channel_has_limit = m.prefetch_count > 0;
            self.dispatch_consumed_queues();
        } else {
            self.consumer_prefetch = m.prefetch_count;
        }
        ctx.send(self.id, Method::BasicQosOk(BasicQosOk {}));
        Ok(())
    }
}
