//! What the management API reads of a queue: counters kept under the queue's lock by the
//! operations that already hold it (so they cost the message path an add, not a lock or an
//! atomic), and a snapshot taken under that lock on request.

use super::{Queue, QueueState};
use std::sync::Arc;

/// Message counts since the queue was created (RabbitMQ's queue `message_stats`), and the
/// deliveries that wait for an ack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    pub publish: u64,
    /// Deliveries to consumers that ack.
    pub deliver: u64,
    pub deliver_no_ack: u64,
    /// basic.get with ack, without, and on an empty queue.
    pub get: u64,
    pub get_no_ack: u64,
    pub get_empty: u64,
    pub redeliver: u64,
    pub ack: u64,
    /// Delivered with an ack required, not yet acked, rejected or requeued.
    pub unacked: u64,
}

impl QueueCounters {
    /// Deliveries and gets of every kind (RabbitMQ's `deliver_get`).
    pub fn deliver_get(&self) -> u64 {
        self.deliver + self.deliver_no_ack + self.get + self.get_no_ack
    }

    /// `n` deliveries that needed an ack left the client's hands (acked, rejected,
    /// requeued).
    pub(super) fn settled(&mut self, n: u64) {
        self.unacked = self.unacked.saturating_sub(n);
    }
}

/// A consumer as the management API lists it.
#[derive(Debug, Clone)]
pub struct ConsumerInfo {
    pub tag: Arc<str>,
    pub connection: u64,
    pub channel: u16,
    pub ack_required: bool,
    pub exclusive: bool,
    pub priority: i32,
    /// Its prefetch window (basic.qos global=false), 0 for none.
    pub prefetch_count: u16,
    /// With single active consumer, whether it is the one that gets messages.
    pub active: bool,
}

/// A queue's state at one moment.
#[derive(Debug, Clone)]
pub struct QueueInfo {
    pub ready: u64,
    /// Body bytes of the ready messages (of those in memory, unless the queue counts bytes
    /// for x-max-length-bytes, which knows them all).
    pub ready_bytes: u64,
    /// Ready messages on disk only.
    pub paged_out: u64,
    pub counters: QueueCounters,
    pub consumers: Vec<ConsumerInfo>,
    pub single_active_consumer: bool,
    /// When it was last used (declared, consumed from, read with get), ms since the epoch.
    pub last_used: u64,
}

impl Queue {
    /// A snapshot for the management API, taken under the queue's lock.
    pub fn info(&self) -> QueueInfo {
        let st = self.lock();
        let single_active = st.args.single_active_consumer;
        let in_memory: u64 = st.buffer.levels().map(|l| l.ready.len() as u64).sum();
        let ready = st.buffer.len() as u64;
        let ready_bytes = if st.buffer.counts_bytes() {
            st.buffer.bytes()
        } else {
            st.buffer
                .levels()
                .flat_map(|l| l.ready.iter())
                .map(|e| e.message.body().len() as u64)
                .sum()
        };
        let paged_out = ready.saturating_sub(in_memory);
        // A stream's messages are its log's records.
        let (ready, ready_bytes) = self.stream().map_or((ready, ready_bytes), |s| s.size());
        QueueInfo {
            ready,
            ready_bytes,
            paged_out,
            counters: st.counters,
            consumers: st
                .consumers
                .iter()
                .enumerate()
                .map(|(i, c)| ConsumerInfo {
                    tag: c.tag.clone(),
                    connection: c.connection,
                    channel: c.channel,
                    ack_required: !c.no_ack,
                    exclusive: c.exclusive,
                    priority: c.priority,
                    prefetch_count: c.credit.limit(),
                    active: !single_active || i == 0,
                })
                .collect(),
            last_used: st.last_used,
            single_active_consumer: single_active,
        }
    }

    /// A stream handed `n` deliveries to a consumer that acks them.
    pub(crate) fn count_stream_deliveries(&self, n: u64) {
        let mut st = self.lock();
        st.counters.deliver += n;
        st.counters.unacked += n;
    }

    /// Acks of `n` deliveries of this queue, counted, then (with `dispatch`) what their
    /// credit lets through dispatched: one lock for both. A quorum queue's machine settles
    /// `indexes` (the acked messages' sequence numbers). Without `dispatch` the caller
    /// shares the freed credit out itself (a channel-wide window, see
    /// `Channel::dispatch_consumed_queues`).
    pub fn acked(&self, n: u64, indexes: impl Iterator<Item = u64>, dispatch: bool) {
        let mut st = self.lock();
        for index in indexes {
            Self::command(&mut st, super::Command::Settle { index }, &mut Vec::new());
        }
        st.counters.ack += n;
        st.counters.settled(n);
        if !dispatch {
            return;
        }
        if self.stream().is_some() {
            drop(st);
            return self.dispatch();
        }
        self.dispatch_locked(&mut st);
        self.finish(st);
    }

    /// Counts a basic.get's outcome.
    pub(super) fn count_get(st: &mut QueueState, got: Option<&super::QueuedMessage>, no_ack: bool) {
        match got {
            None => st.counters.get_empty += 1,
            Some(e) => {
                if no_ack {
                    st.counters.get_no_ack += 1;
                } else {
                    st.counters.get += 1;
                    st.counters.unacked += 1;
                }
                st.counters.redeliver += u64::from(e.redelivered);
            }
        }
    }
}
