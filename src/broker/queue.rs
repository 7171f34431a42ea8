//! A queue: ready messages in order, its consumers, and round-robin dispatch under prefetch.

use super::backlog::{Backlog, Taken};
use super::consumer::{Consumer, Delivery, Outbound, QueuedMessage};
use super::message::Message;
use crate::protocol::FieldTable;
use crate::store::{Run, Slot, VhostStore};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// How a queue was declared; compared on redeclare.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

#[derive(Debug)]
pub struct Queue {
    pub name: String,
    pub vhost: String,
    pub settings: QueueSettings,
    /// The connection that owns an exclusive queue.
    pub owner: Option<u64>,
    /// With a data directory: the store and the queue's number in its log.
    log: Option<(Arc<VhostStore>, u32)>,
    /// Durable and not exclusive: the queue and its persistent messages outlive the broker.
    survives: bool,
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    /// Ready messages in memory, ascending `seq`.
    ready: VecDeque<QueuedMessage>,
    /// Ready messages after `ready`, on disk (queues past their memory limit, see `push`).
    backlog: Backlog,
    next_seq: u64,
    consumers: Vec<Consumer>,
    /// Where round-robin resumes.
    next_consumer: usize,
    /// Auto-delete applies only once a queue has had a consumer.
    had_consumer: bool,
    deleted: bool,
}

/// Ready messages past which a queue with consumers throttles its publishers.
const CONGESTED_ABOVE: usize = 20_000;
/// Throttled publishers resume once the queue is below this.
const RELIEVED_BELOW: usize = 10_000;

/// Spilled bytes waiting for the disk past which publishers to spilling queues pause, so a
/// disk slower than they are cannot make memory grow; they resume below half of it. Each
/// spill in flight holds its message, slot and log record (about 400 bytes of heap for a
/// 16-byte message), and the allocator keeps the peak, so this bounds a filling broker's
/// memory: 16 MB let a million queued messages cost 50-70 MB of RSS when the writer thread
/// fell behind, 2 MB about 11 MB, at the same filling rate.
const SPILL_BACKLOG_ABOVE: usize = 2 << 20;

/// Ready messages a durable queue keeps in memory; past this, what arrives stays on disk
/// only (see `backlog`), so a deep queue costs bytes per message, not its bodies.
pub const MEMORY_LIMIT: usize = 16_384;
/// The limit while the queue has consumers. Flow control holds such a queue near
/// `CONGESTED_ABOVE`, and paging a queue that is being drained would only add disk writes to
/// a busy broker; past this the consumers are not keeping up by far and memory wins.
const MEMORY_LIMIT_CONSUMED: usize = 4 * MEMORY_LIMIT;
/// Messages read back from disk at once when the in-memory head runs dry.
const LOAD_BATCH: usize = 2048;

impl QueueState {
    fn congested(&self, above: usize) -> bool {
        !self.consumers.is_empty() && self.len() > above
    }

    /// Every ready message, in memory or not.
    fn len(&self) -> usize {
        self.ready.len() + self.backlog.len()
    }

    /// Puts a message that left the queue back in its original place (by `seq`).
    fn put_in_place(&mut self, entry: QueuedMessage) {
        let at = self.ready.partition_point(|m| m.seq < entry.seq);
        self.ready.insert(at, entry);
    }
}

/// What removing a consumer left behind.
#[derive(Debug, PartialEq, Eq)]
pub enum ConsumerRemoved {
    NotFound,
    Removed,
    /// It was the last consumer of an auto-delete queue: the caller deletes the queue.
    LastOfAutoDelete,
}

impl Queue {
    pub fn new(
        name: String,
        vhost: String,
        settings: QueueSettings,
        owner: Option<u64>,
        log: Option<(Arc<VhostStore>, u32)>,
    ) -> Queue {
        let survives = settings.durable && !settings.exclusive;
        Queue {
            name,
            vhost,
            settings,
            owner,
            log,
            survives,
            state: Mutex::new(QueueState::default()),
        }
    }

    /// The queue's number in the message log, if its messages are kept on disk.
    pub fn store_id(&self) -> Option<u32> {
        self.log
            .as_ref()
            .filter(|_| self.survives)
            .map(|(_, id)| *id)
    }

    /// A message left this queue for good: the log forgets it here.
    pub fn settle(&self, entry: &QueuedMessage) {
        if let Some((store, id, slot)) = self.own_record(entry) {
            store.log.settled(id, slot);
        }
    }

    /// The log record of `entry` that this queue answers for, if there is one.
    fn own_record<'a>(
        &'a self,
        entry: &'a QueuedMessage,
    ) -> Option<(&'a VhostStore, u32, &'a Arc<Slot>)> {
        let (store, id) = self.log.as_ref()?;
        let slot = entry.message.slot.get()?;
        slot.belongs_to(*id, self.survives)
            .then_some((store.as_ref(), *id, slot))
    }

    /// A message went to a consumer that must ack it; after a restart it counts as redelivered.
    pub fn mark_delivered(&self, entry: &QueuedMessage) {
        if self.survives
            && let Some((store, id, slot)) = self.own_record(entry)
        {
            store.log.delivered(id, slot);
        }
    }

    /// Where every ready message is in the log, in order, for the shutdown index.
    pub fn positions(&self) -> Vec<Run> {
        let st = self.lock();
        let mut out = Vec::new();
        for e in &st.ready {
            super::backlog::push_position_of(e, &mut out);
        }
        st.backlog.positions(&mut out);
        out
    }

    /// Appends positions of messages recovered from disk but not read into memory.
    pub fn restore_backlog(&self, runs: Vec<Run>) {
        self.lock().backlog.push_runs(runs);
    }

    /// Loads a message recovered from disk, in order, before any client connects.
    pub fn restore(&self, message: Arc<Message>, redelivered: bool) {
        let mut st = self.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        st.ready.push_back(QueuedMessage {
            seq,
            message,
            redelivered,
        });
    }

    /// A poisoned lock only means another thread panicked mid-update; the queue's invariants
    /// hold between statements, so carry on rather than take the broker down.
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a message; returns whether the queue is congested (see `is_congested`). The
    /// caller dispatches (`dispatch`) once it has pushed what it had: a publisher pushes a
    /// read buffer's worth of messages and the queue's consumers get them in one hand-over.
    pub fn push(self: &Arc<Self>, message: Arc<Message>) -> bool {
        let mut st = self.lock();
        if st.deleted {
            return false;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let entry = QueuedMessage {
            seq,
            message,
            redelivered: false,
        };
        let limit = if st.consumers.is_empty() {
            MEMORY_LIMIT
        } else {
            MEMORY_LIMIT_CONSUMED
        };
        match &self.log {
            Some((store, id)) if !st.backlog.is_empty() || st.ready.len() >= limit => {
                // In the log already, or spilled there now.
                let slot = match entry.message.slot.get() {
                    Some(s) if self.survives => s.clone(),
                    _ => {
                        let s = Slot::spill(*id, None);
                        store.log.spill(s.clone(), *id, entry.message.to_log());
                        s
                    }
                };
                st.backlog.push(entry, Some(slot));
            }
            _ => st.ready.push_back(entry),
        }
        st.congested(CONGESTED_ABOVE) || self.spill_lagging(SPILL_BACKLOG_ABOVE)
    }

    /// Whether this queue spills and the disk is behind by more than `above` bytes of spills.
    fn spill_lagging(&self, above: usize) -> bool {
        match &self.log {
            Some((store, _)) => store.log.spill_backlog() > above,
            None => false,
        }
    }

    /// Whether consumers are this far behind: ready messages piling up while the queue has
    /// consumers. Publishers to a congested queue pause (flow control, as RabbitMQ's credit
    /// flow does) until it drains below `RELIEVED_BELOW`; a queue with no consumers is only
    /// filling, which never throttles, unless its spills wait for a disk that lags behind.
    pub fn is_congested(&self) -> bool {
        self.lock().congested(RELIEVED_BELOW) || self.spill_lagging(SPILL_BACKLOG_ABOVE / 2)
    }

    /// Puts messages back in their original places, marked redelivered.
    pub fn requeue(self: &Arc<Self>, entries: impl IntoIterator<Item = QueuedMessage>) {
        self.put_back(entries.into_iter().map(|mut e| {
            e.redelivered = true;
            e
        }));
    }

    /// Takes back a message that never reached its consumer (it was cancelled meanwhile).
    pub fn requeue_undelivered(self: &Arc<Self>, entries: Vec<QueuedMessage>) {
        self.put_back(entries.into_iter());
    }

    fn put_back(self: &Arc<Self>, entries: impl Iterator<Item = QueuedMessage>) {
        let mut st = self.lock();
        if st.deleted {
            for e in entries {
                self.settle(&e);
            }
            return;
        }
        for e in entries {
            st.put_in_place(e);
        }
        self.dispatch_locked(&mut st);
    }

    /// Delivers after credit was returned (ack, qos change).
    pub fn dispatch(self: &Arc<Self>) {
        let mut st = self.lock();
        self.dispatch_locked(&mut st);
    }

    /// Reads the next batch of the backlog into memory; false if there was none. The read
    /// happens under the queue's lock, bounded by `LOAD_BATCH` messages and the log's read span.
    fn refill(&self, st: &mut QueueState) -> bool {
        let taken = st.backlog.take(LOAD_BATCH);
        if taken.is_empty() {
            return false;
        }
        let positions: Vec<_> = taken
            .iter()
            .filter_map(|t| match t {
                Taken::Disk { position, .. } => Some(*position),
                Taken::Memory(_) => None,
            })
            .collect();
        let mut read = match &self.log {
            Some((store, _)) if !positions.is_empty() => store.log.read(&positions),
            _ => Vec::new(),
        }
        .into_iter();
        for t in taken {
            let mut entry = match t {
                Taken::Memory(e) => e,
                Taken::Disk {
                    position,
                    redelivered,
                    spilled,
                } => match read.next().flatten() {
                    Some(m) => {
                        let slot = match (&self.log, spilled) {
                            (Some((_, id)), true) => Slot::spill(*id, Some(position)),
                            _ => Slot::at(position),
                        };
                        QueuedMessage {
                            seq: 0,
                            message: Arc::new(Message::from_log(m, slot)),
                            redelivered,
                        }
                    }
                    None => {
                        // Unreadable (logged by the read): lost; let its segment go.
                        if let Some((store, id)) = &self.log {
                            store.log.settled_at(*id, vec![position]);
                        }
                        continue;
                    }
                },
            };
            // Everything in memory or handed out has a smaller seq than the backlog.
            entry.seq = st.next_seq;
            st.next_seq += 1;
            st.ready.push_back(entry);
        }
        true
    }

    /// Hands ready messages to consumers with credit, round robin message by message; each
    /// consumer's share goes to its connection as one batch.
    fn dispatch_locked(self: &Arc<Self>, st: &mut QueueState) {
        loop {
            // Per consumer (by index), what this round gives it.
            let mut batches: Vec<Vec<QueuedMessage>> = Vec::new();
            while !st.consumers.is_empty() {
                if st.ready.is_empty() && !self.refill(st) {
                    break;
                }
                let n = st.consumers.len();
                let start = st.next_consumer % n;
                let Some(idx) = (0..n)
                    .map(|k| (start + k) % n)
                    .find(|&i| st.consumers[i].try_take_credit())
                else {
                    break;
                };
                st.next_consumer = idx + 1;
                let Some(entry) = st.ready.pop_front() else {
                    st.consumers[idx].return_credit(1);
                    break;
                };
                if batches.len() < n {
                    batches.resize_with(n, Vec::new);
                }
                batches[idx].push(entry);
            }
            if !self.send_batches(st, batches) {
                return;
            }
            // A consumer's connection was gone: what it was given is back in the queue, for
            // the others.
        }
    }

    /// Sends each consumer its batch; returns whether a connection was gone (its consumer is
    /// removed and its messages are back in place), i.e. whether to dispatch again.
    fn send_batches(
        self: &Arc<Self>,
        st: &mut QueueState,
        batches: Vec<Vec<QueuedMessage>>,
    ) -> bool {
        let mut gone = Vec::new();
        for (idx, entries) in batches.into_iter().enumerate() {
            if entries.is_empty() {
                continue;
            }
            let c = &st.consumers[idx];
            let delivery = Delivery {
                channel: c.channel,
                consumer_tag: c.tag.clone(),
                queue: self.clone(),
                entries,
                credited: !c.no_ack,
            };
            if let Err(err) = c.sink.send(Outbound::Deliver(delivery)) {
                // The connection is gone; its cleanup removes the consumer. Keep the messages.
                if let Outbound::Deliver(d) = err.0 {
                    c.return_credit(d.entries.len() as u32);
                    for e in d.entries {
                        st.put_in_place(e);
                    }
                }
                gone.push(idx);
            }
        }
        for idx in gone.iter().rev() {
            st.consumers.remove(*idx);
        }
        !gone.is_empty()
    }

    /// Takes the next ready message for basic.get, with the count left behind.
    pub fn get(&self) -> Option<(QueuedMessage, u32)> {
        let mut st = self.lock();
        if st.ready.is_empty() {
            self.refill(&mut st);
        }
        let m = st.ready.pop_front()?;
        Some((m, st.len() as u32))
    }

    /// Adds a consumer unless exclusivity forbids it (an exclusive consumer wants the queue
    /// to itself; nobody joins one). Returns whether it was added.
    pub fn try_add_consumer(self: &Arc<Self>, consumer: Consumer) -> bool {
        let mut st = self.lock();
        if consumer.exclusive && !st.consumers.is_empty()
            || st.consumers.iter().any(|c| c.exclusive)
        {
            return false;
        }
        st.consumers.push(consumer);
        st.had_consumer = true;
        self.dispatch_locked(&mut st);
        true
    }

    pub fn remove_consumer(&self, connection: u64, channel: u16, tag: &str) -> ConsumerRemoved {
        let mut st = self.lock();
        let before = st.consumers.len();
        st.consumers
            .retain(|c| !(c.connection == connection && c.channel == channel && &*c.tag == tag));
        if st.consumers.len() == before {
            return ConsumerRemoved::NotFound;
        }
        if self.settings.auto_delete && st.consumers.is_empty() && st.had_consumer {
            ConsumerRemoved::LastOfAutoDelete
        } else {
            ConsumerRemoved::Removed
        }
    }

    /// Ready messages and consumers, as queue.declare-ok reports them.
    pub fn counts(&self) -> (u32, u32) {
        let st = self.lock();
        (st.len() as u32, st.consumers.len() as u32)
    }

    pub fn message_count(&self) -> u32 {
        self.lock().len() as u32
    }

    pub fn consumer_count(&self) -> usize {
        self.lock().consumers.len()
    }

    /// Drops every ready message; returns how many there were.
    pub fn purge(&self) -> u32 {
        let mut st = self.lock();
        self.drop_ready(&mut st)
    }

    /// Settles every ready message, in memory and on disk; returns how many there were.
    fn drop_ready(&self, st: &mut QueueState) -> u32 {
        let n = st.len() as u32;
        let (memory, positions) = st.backlog.drain();
        for e in st.ready.drain(..).chain(memory) {
            self.settle(&e);
        }
        if let Some((store, id)) = &self.log {
            store.log.settled_at(*id, positions);
        }
        n
    }

    /// Marks the queue gone, tells its consumers, and returns how many messages it held.
    pub fn mark_deleted(&self) -> u32 {
        let mut st = self.lock();
        st.deleted = true;
        for c in st.consumers.drain(..) {
            let _ = c.sink.send(Outbound::Cancelled {
                channel: c.channel,
                consumer_tag: c.tag.clone(),
            });
        }
        self.drop_ready(&mut st)
    }

    pub fn is_deleted(&self) -> bool {
        self.lock().deleted
    }
}
