//! Churn: how many connections, channels and queues came and went since the broker started
//! (RabbitMQ's `connection_churn_metrics`, read by rabbitmq_prometheus and the management
//! UI's churn rates). Each counter moves once per open, close, declare or delete, never per
//! message, so relaxed atomics cost nothing on the message path.

use std::sync::atomic::{AtomicU64, Ordering};

/// The node's connection and channel churn. Queue churn is counted by each vhost
/// ([`QueueChurn`]); a deleted vhost's counts are kept here so the totals never go back.
#[derive(Debug, Default)]
pub struct Churn {
    pub connections_opened: AtomicU64,
    pub connections_closed: AtomicU64,
    pub channels_opened: AtomicU64,
    pub channels_closed: AtomicU64,
    pub(crate) retired_queues: QueueChurn,
}

/// Queue declares (every queue.declare that succeeded, new or not), creations and deletions.
#[derive(Debug, Default)]
pub struct QueueChurn {
    pub declared: AtomicU64,
    pub created: AtomicU64,
    pub deleted: AtomicU64,
}

impl QueueChurn {
    pub fn add_to(&self, other: &QueueChurn) {
        let add = |to: &AtomicU64, from: &AtomicU64| {
            to.fetch_add(from.load(Ordering::Relaxed), Ordering::Relaxed);
        };
        add(&other.declared, &self.declared);
        add(&other.created, &self.created);
        add(&other.deleted, &self.deleted);
    }
}

/// The churn counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChurnCounts {
    pub connections_opened: u64,
    pub connections_closed: u64,
    pub channels_opened: u64,
    pub channels_closed: u64,
    pub queues_declared: u64,
    pub queues_created: u64,
    pub queues_deleted: u64,
}

impl ChurnCounts {
    pub(crate) fn add_queues(&mut self, q: &QueueChurn) {
        self.queues_declared += q.declared.load(Ordering::Relaxed);
        self.queues_created += q.created.load(Ordering::Relaxed);
        self.queues_deleted += q.deleted.load(Ordering::Relaxed);
    }
}

/// Adds one to a churn counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
