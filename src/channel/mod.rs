//! Per-channel state: the content assembler, delivery tags and unacked messages, consumers,
//! prefetch, and confirm or transaction mode. Each AMQP method of classes exchange, queue,
//! basic, tx and confirm is handled here, against the broker core, writing replies into the
//! connection's output buffer.

pub mod assembler;
mod basic;
mod declare;
mod modes;
mod reply_to;
mod route_cache;
mod sender_selected;
mod stream;
mod trace;

use crate::broker::VHost;
use crate::broker::access::{Access, Grant, ResourceKind};
use crate::broker::connection_info::{ChannelCounters, ChannelStats};
use crate::broker::consumer::{Credit, Delivery, Outbound, QueuedMessage};
use crate::broker::diagnostics::Kind;
use crate::broker::profile::Profile;
use crate::broker::queue::Queue;
use crate::broker::queue::quorum::Return;
use crate::broker::trace::Event;
use crate::error::AmqpError;
use crate::hash::LocalMap;
use crate::protocol::Method;
use crate::protocol::frame::{FRAME_METHOD, write_frame};
use crate::protocol::properties::DIRECT_REPLY_TO;
use assembler::{Assembler, ChannelFrame, Command};
use bytes::BytesMut;
use modes::Mode;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// What a channel needs from its connection while it handles one command.
pub struct Context<'a> {
    pub vhost: &'a Arc<VHost>,
    pub connection: u64,
    /// The authenticated user, which a message's user-id property must match.
    pub user: &'a str,
    /// What the user may do in this vhost.
    pub grant: &'a Grant,
    pub frame_max: u32,
    /// The largest message body accepted (`--max-message-size`).
    pub max_message_size: u64,
    /// Where queues send deliveries for this connection's consumers.
    pub sink: &'a UnboundedSender<Outbound>,
    /// Frames to write, coalesced by the connection.
    pub out: &'a mut BytesMut,
    /// Where the message log reports that a confirm-mode publish is on disk.
    pub durability: &'a Arc<dyn crate::store::Durability>,
    /// Direct reply-to addresses, to register this channel's and to reach a requester's.
    pub replies: &'a Arc<crate::broker::reply_to::Registry>,
    /// The RabbitMQ release whose behaviour to follow.
    pub profile: crate::broker::profile::Profile,
    /// Where misuse is reported, and who this connection is in the report.
    pub diagnostics: &'a crate::broker::diagnostics::Diagnostics,
    pub origin: &'a crate::broker::diagnostics::Origin,
    /// A fault a test injected into publisher confirms, if any.
    pub confirm_fault: &'a mut Option<crate::testing::faults::ConfirmFault>,
    /// The shortest `x-consumer-timeout` a consumer or queue of this connection asked for:
    /// the connection checks its deliveries often enough for it.
    pub shortest_timeout: &'a mut Option<std::time::Duration>,
    /// Work done this turn, counted where it grows with the input (queues pushed to), so
    /// the connection can bound a turn (see `connection::WORK_PER_TURN`).
    pub work: &'a mut u32,
    /// The memory alarm, under which a consumer without a window is held back.
    pub memory: &'a Arc<crate::broker::memory::MemoryAlarm>,
}

/// Adds `q` to the queues a channel has pushed to and will dispatch, once.
fn remember_pushed(pushed: &mut Vec<Arc<Queue>>, q: &Arc<Queue>) {
    if !pushed.iter().any(|have| Arc::ptr_eq(have, q)) {
        pushed.push(q.clone());
    }
}

impl Context<'_> {
    pub fn send(&mut self, channel: u16, method: Method) {
        write_frame(self.out, FRAME_METHOD, channel, |out| method.encode(out));
    }

    /// Records a diagnostics item about `channel` (see `broker::diagnostics`).
    pub fn diagnose(&self, channel: u16, kind: Kind, detail: impl Into<String>) {
        self.diagnostics
            .record(self.origin, Some(channel), kind, detail, None);
    }

    /// Records the use of a feature that RabbitMQ `refused_by` refuses, when this profile
    /// lets it through.
    pub fn deprecated(&self, channel: u16, refused_by: Profile, detail: impl Into<String>) {
        if let Some(v) = self.profile.tolerates(refused_by) {
            self.diagnostics.record(
                self.origin,
                Some(channel),
                Kind::Deprecated,
                detail,
                Some(v),
            );
        }
    }

    /// Checks the user's permission, refusing with RabbitMQ's 403 where it is missing.
    pub fn check(&self, access: Access, kind: ResourceKind, name: &str) -> Result<(), AmqpError> {
        self.grant
            .check(access, kind, name)
            .map_err(AmqpError::access_refused)
    }

    /// A passive declare's check: any permission on the resource will do (RabbitMQ 4.3).
    pub fn check_any(&self, kind: ResourceKind, name: &str) -> Result<(), AmqpError> {
        self.grant
            .check_any(kind, name)
            .map_err(AmqpError::access_refused)
    }

    /// Checks a routing key against the user's topic permissions on a topic exchange.
    pub fn check_topic(&self, access: Access, exchange: &str, key: &str) -> Result<(), AmqpError> {
        if self.grant.topic.is_empty() {
            return Ok(());
        }
        self.grant
            .check_topic(access, exchange, key)
            .map_err(AmqpError::access_refused)
    }
}

/// A delivered message waiting for ack, nack or reject.
/// What a client's ack, nack or reject does with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    Ack,
    /// Back to its queue; how it came back is what a quorum queue counts.
    Requeue(Return),
    /// Refused without requeue: dead-lettered as rejected, or dropped.
    Discard,
}

impl Settlement {
    /// A nack or reject: requeued (counted as `how`) or discarded.
    fn refused(requeue: bool, how: Return) -> Settlement {
        if requeue {
            Settlement::Requeue(how)
        } else {
            Settlement::Discard
        }
    }
}

#[derive(Debug)]
struct Unacked {
    queue: Arc<Queue>,
    entry: QueuedMessage,
    /// The consumer it went to (None for basic.get), and that consumer's prefetch window.
    consumer: Option<(Arc<str>, Arc<Credit>)>,
}

/// A consumer as its channel knows it.
#[derive(Debug)]
struct ChannelConsumer {
    queue: Arc<Queue>,
    credit: Arc<Credit>,
    no_ack: bool,
    /// Its own `x-consumer-timeout` (a consume argument), before the queue's and the
    /// broker's.
    timeout: Option<std::time::Duration>,
}

#[derive(Debug)]
pub struct Channel {
    pub id: u16,
    assembler: Assembler,
    next_delivery_tag: u64,
    unacked: BTreeMap<u64, Unacked>,
    /// Scratch for `settle`: the quorum queue messages an ack settles, by the place of
    /// their queue in its list, kept between calls so an ack allocates nothing for it.
    acked_indexes: Vec<(usize, u64)>,
    consumers: LocalMap<Arc<str>, ChannelConsumer>,
    /// basic.qos global=false: the window given to consumers created from now on.
    consumer_prefetch: u16,
    /// basic.qos global=true: one window shared by all the channel's consumers.
    channel_credit: Arc<Credit>,
    channel_has_limit: bool,
    mode: Mode,
    /// The queue last declared on this channel, which an empty queue name refers to.
    last_queue: Option<String>,
    /// The last publish's exchange and route, reused while the topology is unchanged.
    route: route_cache::CachedRoute,
    /// The epoch of the grant the cached exchange was write-checked under.
    grant_epoch: u64,
    /// Queues this channel published to whose consumers lag behind: the connection stops
    /// reading from the publisher until they drain.
    congested: Vec<Arc<Queue>>,
    /// Queues this channel pushed messages to since it last dispatched them.
    pushed: Vec<Arc<Queue>>,
    /// Where `dispatch_consumed_queues` starts next.
    dispatch_turn: std::cell::Cell<usize>,
    /// The consumer of `amq.rabbitmq.reply-to`, kept apart from the queue consumers as
    /// RabbitMQ keeps it. Boxed: one pointer for the channels that never have one.
    reply: Option<Box<reply_to::ReplyConsumer>>,
    /// For the management API: plain adds on the paths that already touch the channel.
    counters: ChannelCounters,
    /// Diagnostics that repeat (`REPORTED_*`) already reported on this channel: each once.
    reported: u8,
    /// The oldest unacked delivery the consumer timeout applies to, and when the
    /// connection's timeout tick first saw it: a delivery is timed out once the same tag
    /// has been the oldest for the whole timeout, so deliveries carry no timestamp.
    oldest_seen: Option<(u64, std::time::Instant)>,
}

/// An unroutable publish without mandatory was reported.
const REPORTED_UNROUTABLE: u8 = 1;
/// Unacked deliveries piling up under no prefetch limit were reported.
const REPORTED_PILE_UP: u8 = 2;
/// A message over RabbitMQ 4.x's default size limit was reported.
const REPORTED_LARGE: u8 = 4;
/// A transient non-exclusive queue was reported.
const REPORTED_TRANSIENT: u8 = 8;
/// x-queue-master-locator was reported.
const REPORTED_LOCATOR: u8 = 16;
/// x-queue-version 1 was reported.
const REPORTED_CQV1: u8 = 32;
/// basic.qos global=true was reported.
const REPORTED_GLOBAL_QOS: u8 = 64;

/// Unacked deliveries on a channel whose consumer has no prefetch limit past which the
/// pile-up is reported: a consumer that forgets to ack takes everything the queue has.
pub const PILE_UP: usize = 1000;

impl Drop for Channel {
    /// Messages pushed but not yet handed to consumers are handed over whatever ends the
    /// channel.
    fn drop(&mut self) {
        self.dispatch_pushed();
    }
}

impl Channel {
    pub fn new(id: u16) -> Channel {
        Channel {
            id,
            assembler: Assembler::default(),
            next_delivery_tag: 1,
            unacked: BTreeMap::new(),
            acked_indexes: Vec::new(),
            consumers: LocalMap::default(),
            consumer_prefetch: 0,
            channel_credit: Credit::new(0),
            channel_has_limit: false,
            mode: Mode::default(),
            last_queue: None,
            route: None,
            grant_epoch: 0,
            congested: Vec::new(),
            pushed: Vec::new(),
            dispatch_turn: std::cell::Cell::new(0),
            reply: None,
            counters: ChannelCounters::default(),
            reported: 0,
            oldest_seen: None,
        }
    }

    /// The channel's state for the management API.
    pub fn stats(&self) -> ChannelStats {
        let (confirm, transactional, uncommitted, acks_uncommitted, unconfirmed) = match &self.mode
        {
            Mode::Plain => (false, false, 0, 0, 0),
            Mode::Confirm(c) => (true, false, 0, 0, c.unconfirmed()),
            Mode::Tx(t) => (
                false,
                true,
                t.publishes.len() as u32,
                t.settlements.len() as u32,
                0,
            ),
        };
        ChannelStats {
            number: self.id,
            prefetch_count: self.consumer_prefetch,
            global_prefetch_count: self.channel_credit.limit(),
            confirm,
            transactional,
            consumer_count: self.consumers.len() as u32 + u32::from(self.reply.is_some()),
            messages_unacknowledged: self.unacked.len() as u32,
            messages_unconfirmed: unconfirmed,
            messages_uncommitted: uncommitted,
            acks_uncommitted,
            counters: self.counters,
        }
    }

    /// Feeds one frame; a completed command is handled at once.
    pub fn on_frame(
        &mut self,
        ctx: &mut Context<'_>,
        frame: ChannelFrame,
    ) -> Result<(), AmqpError> {
        if let Some(cmd) = self.assembler.feed(frame, ctx.max_message_size)? {
            let ids = (cmd.method.class_id(), cmd.method.method_id());
            self.handle(ctx, cmd).map_err(|e| e.during(ids.0, ids.1))?;
        }
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Context<'_>, cmd: Command) -> Result<(), AmqpError> {
        use crate::protocol::methods::*;
        let ch = self.id;
        // What this channel published is handed to consumers before anything else it asks
        // for: a basic.get (or a declare's count, a new consumer) right behind a publish
        // must not see a message that RabbitMQ would already have delivered.
        if !self.pushed.is_empty() && !matches!(cmd.method, Method::BasicPublish(_)) {
            self.dispatch_pushed();
        }
        match cmd.method {
            Method::ChannelFlow(m) => {
                // RabbitMQ never stops deliveries on a client's word.
                if !m.active {
                    return Err(AmqpError::not_implemented("active=false"));
                }
                ctx.send(ch, Method::ChannelFlowOk(ChannelFlowOk { active: true }));
            }
            Method::AccessRequest(_) => ctx.send(
                ch,
                Method::AccessRequestOk(AccessRequestOk { reserved_1: 1 }),
            ),
            Method::ExchangeDeclare(m) => self.exchange_declare(ctx, m)?,
            Method::ExchangeDelete(m) => self.exchange_delete(ctx, m)?,
            Method::ExchangeBind(m) => self.exchange_bind(ctx, m)?,
            Method::ExchangeUnbind(m) => self.exchange_unbind(ctx, m)?,
            Method::QueueDeclare(m) if reply_to::is_reply_to_name(&m.queue) => {
                self.declare_reply_to(ctx, m)?
            }
            Method::QueueDeclare(m) => self.queue_declare(ctx, m)?,
            Method::QueueBind(m) => self.queue_bind(ctx, m)?,
            Method::QueueUnbind(m) => self.queue_unbind(ctx, m)?,
            Method::QueuePurge(m) => self.queue_purge(ctx, m)?,
            Method::QueueDelete(m) => self.queue_delete(ctx, m)?,
            Method::BasicQos(m) => self.basic_qos(ctx, m)?,
            Method::BasicConsume(m) if m.queue == DIRECT_REPLY_TO => {
                self.consume_reply_to(ctx, m)?
            }
            Method::BasicConsume(m) => self.basic_consume(ctx, m)?,
            Method::BasicCancel(m) if self.is_reply_consumer(&m.consumer_tag) => {
                self.cancel_reply_to(ctx, m)
            }
            Method::BasicCancel(m) => self.basic_cancel(ctx, m),
            Method::BasicPublish(m) => match cmd.content {
                Some(content) => self.basic_publish(ctx, m, content)?,
                None => return Err(AmqpError::frame_error("basic.publish without content")),
            },
            Method::BasicGet(m) => self.basic_get(ctx, m)?,
            Method::BasicAck(m) => self
                .basic_ack(m.delivery_tag, m.multiple)
                .inspect_err(|_| self.bad_tag(ctx, "basic.ack", m.delivery_tag))?,
            Method::BasicReject(m) => {
                self.refuse_stream_nack(ctx.profile, m.delivery_tag, false)?;
                self.settle_tags(
                    m.delivery_tag,
                    false,
                    Settlement::refused(m.requeue, Return::Failed),
                )
                .inspect_err(|_| self.bad_tag(ctx, "basic.reject", m.delivery_tag))?
            }
            Method::BasicNack(m) => {
                self.refuse_stream_nack(ctx.profile, m.delivery_tag, m.multiple)?;
                self.settle_tags(
                    m.delivery_tag,
                    m.multiple,
                    Settlement::refused(m.requeue, Return::Requeued),
                )
                .inspect_err(|_| self.bad_tag(ctx, "basic.nack", m.delivery_tag))?
            }
            Method::BasicRecoverAsync(BasicRecoverAsync { requeue: false })
            | Method::BasicRecover(BasicRecover { requeue: false }) => {
                return Err(AmqpError::not_implemented("requeue=false"));
            }
            Method::BasicRecoverAsync(_) => self.basic_recover(),
            Method::BasicRecover(_) => {
                // recover-ok first: clients reset their view of the channel on it, and the
                // redeliveries must come after.
                ctx.send(ch, Method::BasicRecoverOk(BasicRecoverOk {}));
                self.basic_recover();
            }
            Method::ConfirmSelect(m) => self.confirm_select(ctx, m.no_wait)?,
            Method::TxSelect(_) => self.tx_select(ctx)?,
            Method::TxCommit(_) => self.tx_commit(ctx)?,
            Method::TxRollback(_) => self.tx_rollback(ctx)?,
            _ => return Err(AmqpError::command_invalid("unimplemented method")),
        }
        Ok(())
    }

    /// Reports a settlement of a tag the channel does not hold: one it never handed out, or
    /// one already settled (tags are handed out in order, so a lower one was).
    fn bad_tag(&self, ctx: &Context<'_>, method: &str, tag: u64) {
        let (kind, what) = if tag != 0 && tag < self.next_delivery_tag {
            (
                Kind::AlreadyAckedDeliveryTag,
                "was already acked, nacked or rejected",
            )
        } else {
            (
                Kind::UnknownDeliveryTag,
                "was never delivered on this channel",
            )
        };
        ctx.diagnose(
            self.id,
            kind,
            format!("{method} of delivery tag {tag}, which {what}"),
        );
    }

    /// Hands messages from a queue to one of this channel's consumers, or gives them back to
    /// the queue when the consumer has gone meanwhile.
    pub fn deliver(&mut self, ctx: &mut Context<'_>, d: Delivery) {
        let Some(consumer) = self.consumers.get(&d.consumer_tag) else {
            if d.credited {
                self.channel_credit.release(d.entries.len() as u32);
            }
            d.queue.requeue_undelivered(d.entries, d.credited);
            return;
        };
        let n = d.entries.len() as u32;
        if consumer.no_ack {
            self.counters.deliver_no_ack += u64::from(n);
        } else {
            self.counters.deliver += u64::from(n);
        }
        for entry in d.entries {
            self.counters.redeliver += u64::from(entry.redelivered);
            let tag = self.next_delivery_tag;
            self.next_delivery_tag += 1;
            basic::write_deliver(ctx, self.id, &d.consumer_tag, tag, &entry, &d.queue);
            let delivered = Event::Delivered {
                queue: &d.queue.name,
                redelivered: entry.redelivered,
            };
            trace::trace(ctx, self.id, &mut self.pushed, &entry.message, delivered);
            if consumer.no_ack {
                d.queue.settle(&entry);
            } else {
                d.queue.mark_delivered(&entry);
                self.unacked.insert(
                    tag,
                    Unacked {
                        queue: d.queue.clone(),
                        entry,
                        consumer: Some((d.consumer_tag.clone(), consumer.credit.clone())),
                    },
                );
            }
        }
        if consumer.no_ack && consumer.credit.release_was_full(n) {
            d.queue.dispatch();
        }
        // Once per batch, not per message: a manual-ack consumer without any prefetch limit
        // whose deliveries pile up unacked.
        if self.unacked.len() >= PILE_UP
            && self.reported & REPORTED_PILE_UP == 0
            && !consumer.no_ack
            && consumer.credit.limit() == 0
            && !self.channel_has_limit
        {
            self.reported |= REPORTED_PILE_UP;
            ctx.diagnose(
                self.id,
                Kind::UnlimitedPrefetchPileUp,
                format!(
                    "{} deliveries unacked on a channel whose consumer '{}' has no prefetch limit (basic.qos 0) and acks manually",
                    self.unacked.len(),
                    d.consumer_tag
                ),
            );
        }
    }

    /// Hands what this channel published to the queues' consumers (see `Queue::push`).
    pub fn dispatch_pushed(&mut self) {
        for q in self.pushed.drain(..) {
            q.dispatch();
        }
    }

    /// The message log has (or has not) made a confirm-mode publish durable.
    pub fn on_persisted(&mut self, seq: u64, ok: bool) {
        self.mode.persisted(seq, ok);
    }

    /// A confirm an injected fault delayed may go out now.
    pub fn confirm_due(&mut self, seq: u64) {
        self.mode.confirm_due(seq);
    }

    /// The queue under a consumer was deleted: forget the consumer and tell the client.
    pub fn consumer_cancelled(&mut self, ctx: &mut Context<'_>, tag: &str, notify: bool) {
        if self.consumers.remove(tag).is_some() && notify {
            ctx.send(
                self.id,
                Method::BasicCancel(crate::protocol::methods::BasicCancel {
                    consumer_tag: tag.to_owned(),
                    no_wait: true,
                }),
            );
        }
    }

    /// Whether a queue this channel publishes to is congested; forgets the ones that drained.
    pub fn is_throttled(&mut self) -> bool {
        self.congested.retain(|q| q.is_congested());
        !self.congested.is_empty()
    }

    /// The body bytes this channel's content in progress announced (see `Assembler`).
    pub fn content_announced(&self) -> u64 {
        self.assembler.announced()
    }

    /// Whether the assembler is in the middle of a content-bearing command.
    pub fn is_idle(&self) -> bool {
        matches!(self.assembler, Assembler::Idle)
    }

    /// Sends the publisher confirms owed since the last flush, as one `multiple` ack.
    pub fn flush_confirms(&mut self, ctx: &mut Context<'_>) {
        self.mode.flush_confirms(ctx, self.id);
    }

    /// The channel is closing: cancel its consumers and requeue what it had not acked.
    pub fn teardown(&mut self, ctx: &mut Context<'_>) {
        self.reply = None;
        let held = self
            .unacked
            .values()
            .filter(|u| u.consumer.is_some())
            .count();
        if held > 0 {
            ctx.diagnose(
                self.id,
                Kind::UnackedAtClose,
                format!(
                    "channel closed while its consumers held {held} unacked deliveries; they go back to their queues as redeliveries"
                ),
            );
        }
        // Each queue once, whatever the number of this channel's consumers on it.
        let mut queues: Vec<Arc<Queue>> = self.consumers.drain().map(|(_, c)| c.queue).collect();
        queues.sort_by_key(|q| Arc::as_ptr(q) as usize);
        queues.dedup_by(|a, b| Arc::ptr_eq(a, b));
        for q in queues {
            if q.remove_channel_consumers(ctx.connection, self.id)
                == crate::broker::queue::ConsumerRemoved::LastOfAutoDelete
            {
                ctx.vhost.remove_queue(&q);
            }
        }
        self.mode.rollback(&mut self.unacked);
        let unacked = std::mem::take(&mut self.unacked);
        self.requeue_all(unacked.into_values(), Return::Failed);
    }

    /// Reports a use of a feature that RabbitMQ `refused_by` refuses, once per channel for
    /// each `flag` (an application that declares a transient queue per request would fill
    /// the report with one item).
    fn deprecated_once(
        &mut self,
        ctx: &Context<'_>,
        flag: u8,
        refused_by: Profile,
        detail: impl FnOnce() -> String,
    ) {
        if self.reported & flag == 0 && ctx.profile.tolerates(refused_by).is_some() {
            self.reported |= flag;
            ctx.deprecated(self.id, refused_by, detail());
        }
    }

    /// The connection's consumer-timeout tick (see `oldest_seen`): up to RabbitMQ 4.2 a
    /// timed-out delivery closes the channel (the error returned); from 4.3 on only quorum
    /// queues time out, and the consumer holding the delivery is cancelled, its messages
    /// returned, with basic.cancel to a client that takes it (406 otherwise).
    ///
    /// A delivery's limit is its consumer's `x-consumer-timeout`, else its queue's, else
    /// `default` (`--consumer-timeout`); the oldest delivery that has a limit is the one
    /// watched.
    pub fn consumer_timeout(
        &mut self,
        ctx: &mut Context<'_>,
        now: std::time::Instant,
        default: Option<std::time::Duration>,
        notify: bool,
    ) -> Result<(), AmqpError> {
        let cancels = ctx.profile.consumer_timeout_cancels();
        let only_quorum = ctx.profile.consumer_timeout_only_quorum();
        let consumers = &self.consumers;
        let limit_of = |u: &Unacked| {
            let own = u
                .consumer
                .as_ref()
                .and_then(|(t, _)| consumers.get(t))
                .and_then(|c| c.timeout);
            own.or(u
                .queue
                .declared
                .consumer_timeout
                .map(std::time::Duration::from_millis))
                .or(default)
                .filter(|d| !d.is_zero())
        };
        let oldest = self
            .unacked
            .iter()
            .filter(|(_, u)| {
                !only_quorum || u.queue.declared.kind == crate::broker::queue::QueueType::Quorum
            })
            .find_map(|(tag, u)| Some((*tag, limit_of(u)?)));
        let Some((tag, limit)) = oldest else {
            self.oldest_seen = None;
            return Ok(());
        };
        match self.oldest_seen {
            Some((seen, since)) if seen == tag && now.duration_since(since) >= limit => {}
            Some((seen, _)) if seen == tag => return Ok(()),
            _ => {
                self.oldest_seen = Some((tag, now));
                return Ok(());
            }
        }
        self.oldest_seen = None;
        let timed_out = |ms: i128| {
            AmqpError::precondition_failed(format!(
                "delivery acknowledgement on channel {} timed out. Timeout value used: {ms} ms. This timeout value can be configured, see consumers doc guide to learn more",
                self.id
            ))
        };
        if !cancels {
            return Err(timed_out(limit.as_millis() as i128));
        }
        let consumer = self
            .unacked
            .get(&tag)
            .and_then(|u| u.consumer.as_ref())
            .map(|(t, _)| t.clone());
        let Some(consumer_tag) = consumer else {
            // A basic.get delivery: no consumer to cancel, the message goes back.
            if let Some(u) = self.unacked.remove(&tag) {
                self.requeue_all([u], Return::Failed);
            }
            return Ok(());
        };
        if !notify {
            return Err(timed_out(-1));
        }
        if let Some(c) = self.consumers.remove(&consumer_tag) {
            basic::remove_consumer(ctx, &c.queue, self.id, &consumer_tag);
        }
        let held: Vec<u64> = self
            .unacked
            .iter()
            .filter(|(_, u)| u.consumer.as_ref().is_some_and(|(t, _)| *t == consumer_tag))
            .map(|(t, _)| *t)
            .collect();
        let returned: Vec<Unacked> = held.iter().filter_map(|t| self.unacked.remove(t)).collect();
        self.requeue_all(returned, Return::Failed);
        ctx.send(
            self.id,
            Method::BasicCancel(crate::protocol::methods::BasicCancel {
                consumer_tag: consumer_tag.to_string(),
                no_wait: true,
            }),
        );
        Ok(())
    }

    /// Asks each consumed queue to deliver what credit allows, starting one further along
    /// each time: under a channel-wide window the first queue asked takes the freed credit,
    /// and RabbitMQ's limiter likewise varies which blocked queue it resumes first, so no
    /// queue is left behind.
    fn dispatch_consumed_queues(&self) {
        let n = self.consumers.len();
        if n == 0 {
            return;
        }
        let start = self.dispatch_turn.get() % n;
        self.dispatch_turn.set(start + 1);
        for c in self.consumers.values().cycle().skip(start).take(n) {
            c.queue.dispatch();
        }
    }
}

impl Channel {
    /// Returns the prefetch credit a delivery held, on its consumer and on the channel.
    fn release_credit(&self, u: &Unacked) {
        if let Some((_, credit)) = &u.consumer {
            credit.release(1);
            self.channel_credit.release(1);
        }
    }

    /// Puts messages back in their queues (marked redelivered), returning their credit.
    fn requeue_all(&self, entries: impl IntoIterator<Item = Unacked>, how: Return) {
        let mut by_queue: Vec<(Arc<Queue>, Vec<QueuedMessage>)> = Vec::new();
        for u in entries {
            self.release_credit(&u);
            match by_queue.iter_mut().find(|(q, _)| Arc::ptr_eq(q, &u.queue)) {
                Some((_, v)) => v.push(u.entry),
                None => by_queue.push((u.queue, vec![u.entry])),
            }
        }
        for (q, entries) in by_queue {
            q.requeue(entries, how);
        }
    }
}
