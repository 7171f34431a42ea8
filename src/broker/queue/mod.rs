//! A queue: ready messages in order (per priority level), its consumers, dispatch under
//! prefetch, and the extensions that act on messages as they sit: TTL, length limits,
//! dead-lettering and expiry of the queue itself.
//!
//! What a queue operation decides for the rest of the broker (dead-letter these messages,
//! delete me) is collected as `Effects` under the queue's lock and applied by the vhost
//! after the lock is released: dead-lettering routes, and routing never runs under a queue
//! lock (see the lock order in `broker`). Deadlines go to the vhost's one `Timer`.

pub mod args;
mod buffer;
mod consumers;
pub mod quorum;
mod stats;

pub use args::{Overflow, QueueArgs, QueueType};
pub use stats::{ConsumerInfo, QueueCounters, QueueInfo};

use super::consumer::{Consumer, Delivery, Outbound, QueuedMessage};
use super::dead_letter::Reason;
use super::message::Message;
use super::policy::{Applied, PolicyStatus};
use super::timer::{Timer, now_ms};
use super::vhost::VHost;
use crate::protocol::FieldTable;
use crate::store::{Position, Run, Slot, VhostStore};
use buffer::MessageBuffer;
use consumers::ConsumerSet;
use quorum::Return;
use quorum::machine::{Command, Effect, Holder, Machine, Replayed};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// How a queue was declared; compared on redeclare.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

/// What the rest of the broker a queue lives in does for it.
#[derive(Debug, Clone)]
pub struct QueueEnv {
    pub vhost: Weak<VHost>,
    pub timer: Timer,
}

#[derive(Debug)]
pub struct Queue {
    /// Shared with the vhost's map and every binding to the queue.
    pub name: Arc<str>,
    /// The vhost's own name, shared by its queues.
    pub vhost: Arc<str>,
    pub settings: QueueSettings,
    /// The x- arguments as declared, typed once. What the queue acts on is its state's
    /// `args`: these merged with the policies that apply, which can change at any time.
    /// Shared with the state's `args` while no policy applies, and among all queues
    /// declared without arguments: most queues have none, and a copy costs 152 bytes.
    pub declared: Arc<QueueArgs>,
    /// Whether the acting arguments have a message TTL: read without the lock by the
    /// publish path, which stamps arrival times only for queues that need them.
    has_ttl: AtomicBool,
    /// The connection that owns an exclusive queue.
    pub owner: Option<u64>,
    /// With a data directory: the store and the queue's number in its log.
    log: Option<(Arc<VhostStore>, u32)>,
    /// Durable and not exclusive: the queue and its persistent messages outlive the broker.
    survives: bool,
    env: QueueEnv,
    me: Weak<Queue>,
    state: Mutex<QueueState>,
    /// A stream's log and readers (x-queue-type=stream); the buffer stays empty.
    /// Boxed: only streams have one, and inline it would cost every queue 192 bytes.
    stream: Option<Box<super::stream::Stream>>,
}

#[derive(Debug)]
struct QueueState {
    /// The arguments the queue acts on (see `Queue::declared`). They live under the lock
    /// the message path holds anyway, so reading them costs it nothing and changing them
    /// is one more locked operation.
    args: Arc<QueueArgs>,
    /// The policy and operator policy `args` come from.
    applied: Applied,
    buffer: MessageBuffer,
    next_seq: u64,
    /// The `seq`s of the messages pushed since the last dispatch (start, end): each gets
    /// one dispatch before its deadline counts, so a TTL of 0 means "now or never".
    fresh: (u64, u64),
    consumers: ConsumerSet,
    /// During a dispatch round, for each consumer (by index) its batch's place in the
    /// round's list plus one; 0 (always, between rounds) for none.
    batch_of: Vec<u32>,
    /// Auto-delete applies only once a queue has had a consumer.
    had_consumer: bool,
    deleted: bool,
    /// A message with a deadline was queued: dispatch looks at the clock.
    timed: bool,
    /// The earliest wake-up asked of the timer and not yet had.
    wake_at: Option<u64>,
    /// x-expires: when the queue was last used (declared, consumed from, read with get).
    last_used: u64,
    /// What the vhost does once the lock is released.
    fx: Effects,
    /// Messages waiting for at-least-once dead-lettering to find a queue.
    dlx_pending: Vec<(QueuedMessage, Reason)>,
    /// A quorum queue's state machine: every change to what it holds goes through it.
    /// Boxed: only quorum queues have one.
    quorum: Option<Box<Machine>>,
    /// What replaying a quorum queue's log at start-up found of its messages with a
    /// history, by message id: handed to each as it is restored or read back (and
    /// forgotten then). Boxed: empty except on a recovered quorum queue.
    #[allow(clippy::box_collection)]
    recovered: Option<Box<std::collections::HashMap<u64, Replayed>>>,
    /// For the management API.
    counters: QueueCounters,
    /// The level whose in-memory head ran dry with its backlog's front on disk: read back
    /// (`read_backlog`) once the lock is released, never under it.
    refill_wanted: Option<usize>,
    /// A thread is in `read_backlog`; it reads whatever is wanted until nothing is.
    refilling: bool,
}

/// What looking at the front of a level's backlog found.
enum Load {
    /// Messages that were in memory moved to the level's head.
    Loaded,
    /// The front is on disk: `refill_wanted` asks for it to be read back.
    OnDisk,
    /// The backlog is empty.
    Empty,
}

/// What a queue operation leaves for the vhost to do.
#[derive(Debug, Default)]
pub struct Effects {
    /// Messages that left the queue to be dead-lettered (or dropped, without a DLX).
    pub dead: Vec<(QueuedMessage, Reason)>,
    /// The queue expired (x-expires): delete it.
    pub delete: bool,
}

/// How often at-least-once dead-lettering tries again for messages no queue took.
const DEAD_LETTER_RETRY_MS: u64 = 1000;

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

/// Ready messages a durable queue keeps in memory (per priority level); past this, what
/// arrives stays on disk only (see `backlog`), so a deep queue costs bytes per message, not
/// its bodies.
pub const MEMORY_LIMIT: usize = 16_384;
/// The limit while the queue has consumers. Flow control holds such a queue near
/// `CONGESTED_ABOVE`, and paging a queue that is being drained would only add disk writes to
/// a busy broker; past this the consumers are not keeping up by far and memory wins.
const MEMORY_LIMIT_CONSUMED: usize = 4 * MEMORY_LIMIT;
/// Messages read back from disk at once when the in-memory head runs dry.
const LOAD_BATCH: usize = 2048;
/// Ready messages a queue keeps in memory (per priority level) while memory is short
/// (`page_out`): one read-back batch, so what a consumer has just had read back is not
/// paged out again.
pub const PAGED_KEEP: usize = LOAD_BATCH;
/// Messages paged out per level per call: the spill copies are bounded while the writer
/// catches up, and the monitor calls again on its next tick.
const PAGE_OUT_BATCH: usize = 4096;

impl QueueState {
    fn congested(&self, above: usize) -> bool {
        !self.consumers.is_empty() && self.buffer.len() > above
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

/// What became of a pushed message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    /// The queue's consumers lag behind (see `Queue::is_congested`).
    pub congested: bool,
    /// x-overflow reject-publish refused it: the publisher hears basic.nack.
    pub refused: bool,
}

impl Queue {
    /// A queue with its arguments as declared and the policies that apply to it now.
    pub fn new(
        name: Arc<str>,
        vhost: Arc<str>,
        settings: QueueSettings,
        (declared, applied): (QueueArgs, Applied),
        owner: Option<u64>,
        log: Option<(Arc<VhostStore>, u32)>,
        env: QueueEnv,
    ) -> Arc<Queue> {
        let survives = settings.durable && !settings.exclusive;
        let stream = (declared.kind == QueueType::Stream).then(|| {
            let dir = log
                .as_ref()
                .filter(|_| survives)
                .map(|(store, id)| store.stream_dir(*id));
            let retention =
                super::stream::retention(&settings.arguments, &applied.effective_definition());
            Box::new(super::stream::Stream::open(dir, retention))
        });
        let declared = args::shared(declared);
        let args = applied.queue_args(&declared, &settings.arguments);
        let quorum = (args.kind == QueueType::Quorum)
            .then(|| Box::new(Machine::new(quorum_rules(&env, &args))));
        let now = now_ms();
        Arc::new_cyclic(|me| {
            let q = Queue {
                name,
                vhost,
                settings,
                has_ttl: AtomicBool::new(args.has_ttl()),
                state: Mutex::new(QueueState {
                    applied,
                    buffer: new_buffer(&args),
                    next_seq: 0,
                    fresh: (0, 0),
                    consumers: ConsumerSet::new(args.single_active_consumer),
                    batch_of: Vec::new(),
                    args,
                    had_consumer: false,
                    deleted: false,
                    timed: false,
                    wake_at: None,
                    last_used: now,
                    fx: Effects::default(),
                    dlx_pending: Vec::new(),
                    quorum,
                    recovered: None,
                    refill_wanted: None,
                    refilling: false,
                    counters: QueueCounters::default(),
                }),
                declared,
                owner,
                log,
                survives,
                env,
                me: me.clone(),
                stream,
            };
            let mut st = q.lock();
            if let Some(expires) = st.args.expires {
                q.wake_at(&mut st, now.saturating_add(expires));
            }
            if let Some(every) = q.stream.as_ref().and_then(|s| s.age_check_every()) {
                q.wake_at(&mut st, now.saturating_add(every));
            }
            drop(st);
            q
        })
    }

    /// The properties a delivery of `entry` carries when they are not the published ones:
    /// the headers a queue type adds on the way out. None (the common case, and always for a
    /// classic queue) means the message's own bytes.
    pub fn delivery_properties(&self, entry: &QueuedMessage) -> Option<Vec<u8>> {
        let extra = match self.declared.kind {
            QueueType::Classic => return None,
            // A first delivery carries no counts under any profile.
            QueueType::Quorum if entry.counts() == quorum::Counts::default() => return None,
            QueueType::Quorum => quorum_rules(&self.env, &self.declared).headers(entry.counts()),
            QueueType::Stream => vec![(
                "x-stream-offset",
                crate::protocol::FieldValue::I64(entry.seq as i64),
            )],
        };
        if extra.is_empty() {
            return None;
        }
        crate::protocol::properties::with_headers(entry.message.raw_properties(), extra)
    }

    /// Whether every message this queue takes is written to the log, transient ones too:
    /// a quorum queue's, as RabbitMQ's quorum queues keep every message.
    pub fn logs_every_message(&self) -> bool {
        self.declared.kind == QueueType::Quorum
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

    /// Applies a quorum queue's command to its machine (other queues have none); the
    /// effects are appended to `fx`. A command that does not fit the machine's state means
    /// the queue and its machine disagree: a bug, logged and counted (the tests read the
    /// count in `machine_state`).
    fn command(st: &mut QueueState, cmd: Command, fx: &mut Vec<Effect>) {
        apply_to(&mut st.quorum, cmd, fx);
    }

    /// A quorum queue's machine as the tests see it: ready, checked out, commands refused.
    pub fn machine_state(&self) -> Option<(u64, u64, u64)> {
        let st = self.lock();
        let m = st.quorum.as_ref()?;
        Some((m.ready(), m.checked_out() as u64, m.refused()))
    }

    pub fn is_quorum(&self) -> bool {
        self.declared.kind == QueueType::Quorum
    }

    /// A quorum queue's message went to a consumer that must ack it; after a restart it
    /// counts as redelivered. A classic queue writes nothing: after a clean stop its index
    /// has the flags, and after a crash every message it recovers is flagged (see
    /// `RecoveredQueue::flag_all_redelivered`).
    pub fn mark_delivered(&self, entry: &QueuedMessage) {
        if self.survives
            && self.logs_every_message()
            && let Some((store, id, slot)) = self.own_record(entry)
        {
            store.log.delivered(id, slot);
        }
    }

    /// Where every ready message is in the log, in order, for the shutdown index. A
    /// priority queue lists its levels highest first, the order it delivers in.
    pub fn positions(&self) -> Vec<Run> {
        let st = self.lock();
        let mut out = Vec::new();
        for level in st.buffer.levels().collect::<Vec<_>>().into_iter().rev() {
            for e in &level.ready {
                super::backlog::push_position_of(e, &mut out);
            }
            level.backlog.positions(&mut out);
        }
        out
    }

    /// Appends positions of messages recovered from disk but not read into memory. Their
    /// priorities and deadlines are learnt when they are read back.
    pub fn restore_backlog(&self, runs: Vec<Run>) {
        let mut st = self.lock();
        let runs = self.set_aside_over_limit(&mut st, runs);
        let n: usize = runs.iter().map(Run::len).sum();
        st.buffer.level_mut(0).backlog.push_runs(runs);
        for _ in 0..n {
            st.buffer.joined(0, 0);
        }
        if st.args.has_ttl() && n > 0 {
            st.timed = true;
            self.wake_at(&mut st, now_ms());
        }
    }

    /// The rules a quorum queue's returns follow now; None for other queue types.
    pub fn quorum_rules(&self) -> Option<quorum::Rules> {
        self.lock().quorum.as_ref().map(|m| m.rules())
    }

    /// Takes the messages the restart took past the delivery limit out of `runs`, reading
    /// them from disk (at start-up, before any client connects; there are at most as many
    /// as were out with consumers) to be dead-lettered.
    fn set_aside_over_limit(&self, st: &mut QueueState, runs: Vec<Run>) -> Vec<Run> {
        let over = |st: &QueueState, id| {
            st.recovered
                .as_ref()
                .and_then(|r| r.get(&id))
                .is_some_and(|h| h.over_limit)
        };
        let any = st
            .recovered
            .as_ref()
            .is_some_and(|r| r.values().any(|h| h.over_limit));
        let (true, Some((store, id))) = (any, &self.log) else {
            return runs;
        };
        let dead: Vec<Position> = runs
            .iter()
            .flat_map(Run::iter)
            .filter(|p| over(st, p.id))
            .collect();
        if dead.is_empty() {
            return runs;
        }
        let mut kept = Vec::with_capacity(runs.len());
        for run in &runs {
            for p in run.iter().filter(|p| !over(st, p.id)) {
                crate::store::push_position(&mut kept, p, run.redelivered);
            }
        }
        let mut lost = Vec::new();
        for (p, m) in dead.iter().zip(store.log.read(&dead)) {
            match m {
                Ok(m) => {
                    let message = Arc::new(Message::from_log(m, Slot::at(*p)));
                    let mut e = QueuedMessage::new(0, message, true, 0);
                    Self::recount(st, &mut e);
                    st.dlx_pending.push((e, Reason::DeliveryLimit));
                }
                Err(err) => {
                    tracing::error!(queue = %self.name, "a message past its delivery limit cannot be read back, lost: {err}");
                    if let Some(r) = st.recovered.as_mut() {
                        r.remove(&p.id);
                    }
                    lost.push(*p);
                }
            }
        }
        store.log.settled_at(*id, lost);
        kept
    }

    /// A quorum queue's machine as replaying its log rebuilt it, before its messages are
    /// restored, and what the replay found of its messages (see `recovered`): their return
    /// counts, and whether the restart took them past the delivery limit, which `restore`
    /// and `restore_backlog` set aside for `dead_letter_restart_over_limit`.
    pub fn restore_quorum(&self, restored: quorum::machine::Restored) {
        let mut st = self.lock();
        st.quorum = Some(Box::new(restored.machine));
        if !restored.messages.is_empty() {
            st.recovered = Some(Box::new(restored.messages));
        }
    }

    /// The vhost's version profile changed (before it serves): a quorum queue's machine
    /// counts returns by its rules from now on.
    pub fn follow_profile(&self, p: super::profile::Profile) {
        let mut st = self.lock();
        let Some(rules) = st.quorum.as_ref().map(|m| m.rules()) else {
            return;
        };
        let rules = rules.under(p);
        Self::command(&mut st, Command::Configure { rules }, &mut Vec::new());
    }

    /// Dead-letters (or drops) what the restart took past the delivery limit, once the
    /// vhost's exchanges and bindings are back.
    pub fn dead_letter_restart_over_limit(&self) {
        let mut st = self.lock();
        if st.dlx_pending.is_empty() {
            return;
        }
        tracing::info!(
            queue = %self.name,
            n = st.dlx_pending.len(),
            "messages out with a consumer at the restart went past the delivery limit"
        );
        let pending = std::mem::take(&mut st.dlx_pending);
        st.fx.dead.extend(pending);
        self.finish(st);
    }

    /// Gives a message restored or read back from disk the return counts it had; says
    /// whether the restart took it past the delivery limit.
    fn recount(st: &mut QueueState, entry: &mut QueuedMessage) -> bool {
        let Some(recovered) = st.recovered.as_mut() else {
            return false;
        };
        let id = entry
            .message
            .slot
            .get()
            .and_then(|s| s.position())
            .map(|p| p.id);
        let found = id.and_then(|id| recovered.remove(&id));
        if recovered.is_empty() {
            st.recovered = None;
        }
        let Some(h) = found else {
            return false;
        };
        (entry.acquired, entry.failed) = (h.counts.acquired, h.counts.failed);
        h.over_limit
    }

    /// Loads a message recovered from disk, in order, before any client connects.
    pub fn restore(&self, message: Arc<Message>, redelivered: bool) {
        let mut st = self.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        let deadline = deadline_of(st.args.message_ttl, &message, 0);
        let mut entry = QueuedMessage::new(seq, message, redelivered, deadline);
        if Self::recount(&mut st, &mut entry) {
            st.dlx_pending.push((entry, Reason::DeliveryLimit));
            return;
        }
        self.enqueue(&mut st, entry, None);
        if deadline != 0 {
            st.timed = true;
            self.wake_at(&mut st, deadline);
        }
    }

    /// A poisoned lock only means another thread panicked mid-update; the queue's invariants
    /// hold between statements, so carry on rather than take the broker down.
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Releases the lock, then has the vhost do what the operation decided.
    fn finish<'a>(&'a self, mut st: MutexGuard<'a, QueueState>) {
        if st.refill_wanted.is_some() && !st.refilling {
            st = self.read_backlog(st);
        }
        if st.fx.dead.is_empty() && !st.fx.delete {
            return;
        }
        let fx = std::mem::take(&mut st.fx);
        drop(st);
        self.apply(fx);
    }

    fn apply(&self, fx: Effects) {
        let (Some(vhost), Some(me)) = (self.env.vhost.upgrade(), self.me.upgrade()) else {
            for (e, _) in &fx.dead {
                self.settle(e);
            }
            return;
        };
        if !fx.dead.is_empty() {
            let kept = vhost.dead_letter(&me, fx.dead);
            if !kept.is_empty() {
                self.keep_for_dead_lettering(kept);
            }
        }
        if fx.delete {
            tracing::debug!(queue = %self.name, "queue expired (x-expires)");
            vhost.remove_queue(&me);
        }
    }

    /// At-least-once dead-lettering found no queue for these: they stay (in the log too)
    /// and are tried again (`on_timer`) until a queue takes them, as RabbitMQ's dead-letter
    /// worker retries; a purge or delete drops them.
    fn keep_for_dead_lettering(&self, kept: Vec<(QueuedMessage, Reason)>) {
        let mut st = self.lock();
        if st.deleted {
            drop(st);
            for (e, _) in &kept {
                self.settle(e);
            }
            return;
        }
        st.dlx_pending.extend(kept);
        let at = now_ms().saturating_add(DEAD_LETTER_RETRY_MS);
        self.wake_at(&mut st, at);
    }

    /// Asks the timer for a wake-up at `at` unless an earlier one is pending.
    fn wake_at(&self, st: &mut QueueState, at: u64) {
        if st.wake_at.is_some_and(|w| w <= at) {
            return;
        }
        st.wake_at = Some(at);
        self.env.timer.schedule(at, self.me.clone());
    }

    /// The timer's call: expire what is due, and the queue itself if unused too long.
    pub fn on_timer(&self) {
        let mut st = self.lock();
        st.wake_at = None;
        if st.deleted {
            return;
        }
        let now = now_ms();
        if let Some(s) = &self.stream {
            // A stream's only deadline: segments past x-max-age.
            if let Some(every) = s.age_check_every() {
                s.expire(now);
                self.wake_at(&mut st, now.saturating_add(every));
            }
            return;
        }
        if st.timed {
            self.expire(&mut st, now);
        }
        if !st.dlx_pending.is_empty() {
            let pending = std::mem::take(&mut st.dlx_pending);
            st.fx.dead.extend(pending);
        }
        if let Some(expires) = st.args.expires {
            if st.consumers.is_empty() && now >= st.last_used.saturating_add(expires) {
                st.fx.delete = true;
            } else if st.consumers.is_empty() {
                let at = st.last_used.saturating_add(expires);
                self.wake_at(&mut st, at);
            }
        }
        self.finish(st);
    }

    /// x-expires: the queue was used (redeclared, read with basic.get, lost a consumer).
    pub fn touch(&self) {
        self.used(&mut self.lock());
    }

    /// x-expires: restarts the queue's unused period from now.
    fn used(&self, st: &mut QueueState) {
        if let Some(expires) = st.args.expires {
            st.last_used = now_ms();
            let at = st.last_used.saturating_add(expires);
            self.wake_at(st, at);
        }
    }

    /// Drops expired messages from the head of every level, then asks to be woken at the
    /// next head's deadline. Messages behind an unexpired head wait for it, as in RabbitMQ.
    fn expire(&self, st: &mut QueueState, now: u64) {
        let mut next: Option<u64> = None;
        let levels = st.buffer.levels().count();
        for n in 0..levels {
            loop {
                if st.buffer.level(n).ready.is_empty() && !matches!(self.load(st, n), Load::Loaded)
                {
                    break;
                }
                let Some(head) = st.buffer.level(n).ready.front() else {
                    break;
                };
                if head.deadline > now {
                    next = Some(next.map_or(head.deadline, |d| d.min(head.deadline)));
                    break;
                }
                // No deadline, or one the dispatch that follows its push decides on.
                if !Self::is_expired(st, head, now) {
                    break;
                }
                if let Some(e) = st.buffer.pop_front(n) {
                    Self::drop_ready_one(st, e, Reason::Expired);
                }
            }
        }
        if let Some(at) = next {
            self.wake_at(st, at);
        }
    }

    /// Whether `e` must not be handed out any more at `now`.
    fn is_expired(st: &QueueState, e: &QueuedMessage, now: u64) -> bool {
        e.deadline != 0 && e.deadline <= now && !(st.fresh.0 <= e.seq && e.seq < st.fresh.1)
    }

    /// Appends a message to its level: in memory, or on disk past the memory limit.
    fn enqueue(&self, st: &mut QueueState, entry: QueuedMessage, limit: Option<usize>) {
        let n = st.buffer.level_of(&entry.message);
        let body_len = if st.buffer.counts_bytes() {
            entry.message.body().len()
        } else {
            0
        };
        let level = st.buffer.level_mut(n);
        match (&self.log, limit) {
            (Some((store, id)), Some(limit))
                if !level.backlog.is_empty() || level.ready.len() >= limit =>
            {
                // In the log already, or spilled there now.
                let slot = match entry.message.slot.get() {
                    Some(s) if self.survives => s.clone(),
                    _ => {
                        let s = Slot::spill(*id, None);
                        store.log.spill(s.clone(), *id, entry.message.to_log());
                        s
                    }
                };
                level.backlog.push(entry, Some(slot));
            }
            _ => level.ready.push_back(entry),
        }
        st.buffer.joined(n, body_len);
    }

    /// Appends a message, unless a length limit refuses it. The caller dispatches
    /// (`dispatch`) once it has pushed what it had: a publisher pushes a read buffer's worth
    /// of messages and the queue's consumers get them in one hand-over.
    pub fn push(&self, message: Arc<Message>) -> Pushed {
        let mut st = self.lock();
        if st.deleted {
            return Pushed::default();
        }
        if self.would_overflow(&st, &message) {
            match st.args.overflow {
                Overflow::DropHead => {}
                Overflow::RejectPublish | Overflow::RejectPublishDlx => {
                    let entry = QueuedMessage::new(0, message, false, 0);
                    if st.args.overflow == Overflow::RejectPublishDlx {
                        st.fx.dead.push((entry, Reason::Maxlen));
                    } else {
                        self.settle(&entry);
                    }
                    let congested = st.congested(CONGESTED_ABOVE);
                    self.finish(st);
                    return Pushed {
                        congested,
                        refused: true,
                    };
                }
            }
        }
        st.counters.publish += 1;
        let seq = st.next_seq;
        st.next_seq += 1;
        let deadline = deadline_of(st.args.message_ttl, &message, 0);
        if deadline != 0 {
            st.timed = true;
            if st.fresh.0 == st.fresh.1 {
                st.fresh.0 = seq;
            }
            st.fresh.1 = seq + 1;
            self.wake_at(&mut st, deadline);
        }
        let entry = QueuedMessage::new(seq, message, false, deadline);
        let limit = if st.consumers.is_empty() {
            MEMORY_LIMIT
        } else {
            MEMORY_LIMIT_CONSUMED
        };
        self.enqueue(&mut st, entry, Some(limit));
        Self::command(&mut st, Command::Enqueue { index: seq }, &mut Vec::new());
        if st.args.overflow == Overflow::DropHead {
            self.drop_head_over_limit(&mut st);
        }
        let congested = st.congested(CONGESTED_ABOVE) || self.spill_lagging(SPILL_BACKLOG_ABOVE);
        self.finish(st);
        Pushed {
            congested,
            refused: false,
        }
    }

    /// Whether `message` would take the queue past x-max-length or x-max-length-bytes
    /// (ready messages only, as RabbitMQ counts).
    fn would_overflow(&self, st: &QueueState, message: &Message) -> bool {
        let a = &st.args;
        a.max_length
            .is_some_and(|max| st.buffer.len() as u64 + 1 > max)
            || a.max_length_bytes
                .is_some_and(|max| st.buffer.bytes() + message.body().len() as u64 > max)
    }

    /// x-overflow drop-head: the oldest messages leave (dead-lettered as maxlen) until the
    /// queue is within its limits.
    fn drop_head_over_limit(&self, st: &mut QueueState) {
        let (max_length, max_bytes) = (st.args.max_length, st.args.max_length_bytes);
        if max_length.is_none() && max_bytes.is_none() {
            return;
        }
        let over = |st: &QueueState| {
            max_length.is_some_and(|max| st.buffer.len() as u64 > max)
                || max_bytes.is_some_and(|max| st.buffer.bytes() > max)
        };
        while over(st) {
            match self.pop_head(st) {
                Some(e) => Self::drop_ready_one(st, e, Reason::Maxlen),
                None => break,
            }
        }
    }

    /// A ready message leaves without a delivery, to be dead-lettered for `reason`.
    fn drop_ready_one(st: &mut QueueState, e: QueuedMessage, reason: Reason) {
        Self::command(st, Command::Dequeue { index: e.seq }, &mut Vec::new());
        st.fx.dead.push((e, reason));
    }

    /// The next message in delivery order, read back from disk if need be.
    fn pop_head(&self, st: &mut QueueState) -> Option<QueuedMessage> {
        loop {
            let n = st.buffer.front_level()?;
            if st.buffer.level(n).ready.is_empty() {
                // What comes back may belong to a higher level (recovered messages wait in
                // level 0 until read), so look again. An empty level is marked so (`lost`
                // recounts it). A front on disk is read once the lock is released.
                match self.load(st, n) {
                    Load::Loaded => {}
                    Load::Empty => st.buffer.lost(n, 0),
                    Load::OnDisk => return None,
                }
                continue;
            }
            if let Some(e) = st.buffer.pop_front(n) {
                return Some(e);
            }
        }
    }

    /// The next message that has not expired; expired ones on the way are dead-lettered.
    fn pop_live(&self, st: &mut QueueState, now: u64) -> Option<QueuedMessage> {
        loop {
            let e = self.pop_head(st)?;
            if st.timed && Self::is_expired(st, &e, now) {
                Self::drop_ready_one(st, e, Reason::Expired);
                continue;
            }
            return Some(e);
        }
    }

    /// Memory is short: moves the ready messages of each level past the first `keep` from
    /// memory to the front of the backlog on disk, as `enqueue` would have put them there
    /// past `MEMORY_LIMIT` (a persistent message of a surviving queue is in the log already;
    /// any other is spilled). Their bodies leave memory as their writes finish. Nothing is
    /// paged while the disk lags behind the spills already asked of it.
    pub fn page_out(&self, keep: usize) {
        let Some((store, id)) = &self.log else {
            return;
        };
        let mut st = self.lock();
        if st.deleted {
            return;
        }
        for n in 0..st.buffer.levels().count() {
            let level = st.buffer.level_mut(n);
            level.backlog.settle_paged();
            if level.ready.len() <= keep || self.spill_lagging(SPILL_BACKLOG_ABOVE) {
                continue;
            }
            // The tail of the head goes, so what stays in memory is still ahead of the backlog;
            // the next call takes the chunk before it.
            let from = keep.max(level.ready.len().saturating_sub(PAGE_OUT_BATCH));
            let moved: Vec<(QueuedMessage, Arc<Slot>)> = level
                .ready
                .drain(from..)
                .map(|e| {
                    let slot = match e.message.slot.get() {
                        Some(s) if self.survives => s.clone(),
                        _ => {
                            let s = Slot::spill(*id, None);
                            store.log.spill(s.clone(), *id, e.message.to_log());
                            s
                        }
                    };
                    (e, slot)
                })
                .collect();
            level.backlog.push_front(moved);
        }
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

    /// Puts messages back in their original places, marked redelivered. A quorum queue
    /// counts each return as `how` and lets go of a message past its delivery limit.
    pub fn requeue(&self, entries: Vec<QueuedMessage>, how: Return) {
        if self.stream.is_some() {
            // A stream's deliveries stay in its log; requeueing only gives credit back.
            self.lock().counters.settled(entries.len() as u64);
            return self.dispatch();
        }
        let marked = entries.into_iter().map(|mut e| {
            e.redelivered = true;
            e
        });
        if self.declared.kind != QueueType::Quorum {
            return self.put_back(marked, true);
        }
        let mut st = self.lock();
        let mut back = Vec::with_capacity(marked.len());
        let mut over = Vec::new();
        let mut fx = Vec::with_capacity(1);
        for mut e in marked {
            fx.clear();
            Self::command(&mut st, Command::Return { index: e.seq, how }, &mut fx);
            match fx.first() {
                Some(Effect::Requeue { counts, .. }) => {
                    (e.acquired, e.failed) = (counts.acquired, counts.failed);
                    if self.survives
                        && let Some((store, id, slot)) = self.own_record(&e)
                    {
                        store.log.returned(id, slot, how == Return::Failed);
                    }
                    back.push(e);
                }
                Some(Effect::DeadLetter { counts, .. }) => {
                    (e.acquired, e.failed) = (counts.acquired, counts.failed);
                    over.push(e);
                }
                // Not the machine's (it disagreed, logged): back as it was.
                None => back.push(e),
            }
        }
        if !over.is_empty() {
            tracing::debug!(queue = %self.name, n = over.len(), "messages over the delivery limit");
            st.counters.settled(over.len() as u64);
        }
        drop(st);
        if !over.is_empty() {
            self.let_go(over, Reason::DeliveryLimit);
        }
        self.put_back(back.into_iter(), true);
    }

    /// Takes back messages that never reached their consumer (it was cancelled meanwhile);
    /// `credited`: they were delivered with an ack required.
    pub fn requeue_undelivered(&self, entries: Vec<QueuedMessage>, credited: bool) {
        if self.stream.is_some() {
            if credited {
                self.lock().counters.settled(entries.len() as u64);
            }
            return self.dispatch();
        }
        if self.declared.kind == QueueType::Quorum {
            let mut st = self.lock();
            let mut fx = Vec::new();
            for e in &entries {
                Self::command(&mut st, Command::hand_back(e.seq, credited), &mut fx);
            }
        }
        self.put_back(entries.into_iter(), credited);
    }

    fn put_back(&self, entries: impl ExactSizeIterator<Item = QueuedMessage>, unacked: bool) {
        let mut st = self.lock();
        if unacked {
            st.counters.settled(entries.len() as u64);
        }
        if st.deleted {
            for e in entries {
                self.settle(&e);
            }
            return;
        }
        for e in entries {
            st.buffer.put_in_place(e);
        }
        // A requeue can take the queue past its length limit again: drop-head drops from
        // the head before anything is delivered, as RabbitMQ's requeue does (reject-publish
        // refuses publishes only).
        if st.args.overflow == Overflow::DropHead {
            self.drop_head_over_limit(&mut st);
        }
        self.dispatch_locked(&mut st);
        self.finish(st);
    }

    /// Messages a consumer refused (reject or nack without requeue): dead-lettered as
    /// rejected where the queue has a dead-letter exchange, dropped otherwise.
    pub fn discard(&self, entries: Vec<QueuedMessage>) {
        if self.stream.is_some() {
            self.lock().counters.settled(entries.len() as u64);
            return self.dispatch();
        }
        let mut st = self.lock();
        st.counters.settled(entries.len() as u64);
        let mut fx = Vec::new();
        for e in &entries {
            Self::command(&mut st, Command::Discard { index: e.seq }, &mut fx);
        }
        drop(st);
        self.let_go(entries, Reason::Rejected);
    }

    /// Messages that leave for `reason` once handed out: dead-lettered where the queue has
    /// a dead-letter exchange, dropped otherwise.
    fn let_go(&self, entries: Vec<QueuedMessage>, reason: Reason) {
        if self.lock().args.dead_letter_exchange.is_none() {
            for e in &entries {
                self.settle(e);
            }
            return;
        }
        self.apply(Effects {
            dead: entries.into_iter().map(|e| (e, reason)).collect(),
            delete: false,
        });
    }

    /// Delivers after credit was returned (ack, qos change).
    pub fn dispatch(&self) {
        if let (Some(s), Some(me)) = (&self.stream, self.me.upgrade()) {
            return s.dispatch(&me);
        }
        let mut st = self.lock();
        self.dispatch_locked(&mut st);
        self.finish(st);
    }

    /// Moves the in-memory front of level `n`'s backlog to its head; a front on disk is
    /// asked for (`refill_wanted`) instead, to be read once the lock is released.
    fn load(&self, st: &mut QueueState, n: usize) -> Load {
        let level = st.buffer.level_mut(n);
        let memory = level.backlog.take_in_memory(LOAD_BATCH);
        if !memory.is_empty() {
            self.place(st, n, memory, 0);
            return Load::Loaded;
        }
        if level.backlog.is_empty() {
            return Load::Empty;
        }
        st.refill_wanted = Some(n);
        Load::OnDisk
    }

    /// Reads back what `refill_wanted` asks for, batch after batch, releasing the lock
    /// during each read, and dispatches after each, until nothing more is wanted: the
    /// queue's publishers and other consumers are not held up by the disk (issue 18, item
    /// 2). Another thread wanting a read meanwhile leaves it to this one (`refilling`).
    fn read_backlog<'a>(
        &'a self,
        mut st: MutexGuard<'a, QueueState>,
    ) -> MutexGuard<'a, QueueState> {
        st.refilling = true;
        while st.refill_wanted.is_some() && !st.deleted {
            st = self.read_back(st);
            if st.args.overflow == Overflow::DropHead {
                self.drop_head_over_limit(&mut st);
            }
            self.dispatch_locked(&mut st);
        }
        st.refill_wanted = None;
        st.refilling = false;
        st
    }

    /// One batch of `read_backlog`: the positions at the front of the wanted level are read
    /// with the lock released, then taken if the front still starts with them (a purge,
    /// a page-out or a basic.get may have changed it; what follows then looks again).
    fn read_back<'a>(&'a self, mut st: MutexGuard<'a, QueueState>) -> MutexGuard<'a, QueueState> {
        let (Some(n), Some((store, id))) = (st.refill_wanted.take(), &self.log) else {
            return st;
        };
        let positions = st.buffer.level_mut(n).backlog.peek_disk(LOAD_BATCH);
        if positions.is_empty() {
            return st;
        }
        drop(st);
        let read = off_worker(|| store.log.read(&positions));
        let mut st = self.lock();
        if st.deleted {
            return st;
        }
        let Some(flags) = st.buffer.level_mut(n).backlog.take_read(&positions) else {
            return st;
        };
        let mut lost = Vec::new();
        let mut first_error = None;
        let mut loaded = Vec::with_capacity(positions.len());
        for ((position, (redelivered, spilled)), m) in positions.into_iter().zip(flags).zip(read) {
            match m {
                Ok(m) => {
                    let slot = if spilled {
                        Slot::spill(*id, Some(position))
                    } else {
                        Slot::at(position)
                    };
                    let message = Arc::new(Message::from_log(m, slot));
                    let deadline = deadline_of(st.args.message_ttl, &message, 0);
                    st.timed |= deadline != 0;
                    let mut e = QueuedMessage::new(0, message, redelivered, deadline);
                    Self::recount(&mut st, &mut e);
                    loaded.push(e);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                    lost.push(position);
                }
            }
        }
        if let Some(e) = first_error {
            tracing::error!(
                queue = %self.name,
                "{} queued messages cannot be read back from disk, lost; the first: {e}",
                lost.len()
            );
        }
        let lost_count = lost.len();
        for p in &lost {
            Self::command(&mut st, Command::Dequeue { index: p.id }, &mut Vec::new());
        }
        // Unreadable: let their segments go.
        store.log.settled_at(*id, lost);
        self.place(&mut st, n, loaded, lost_count);
        st
    }

    /// Puts messages taken off level `n`'s backlog at its head (`lost` of them could not be
    /// read back and are forgotten).
    fn place(&self, st: &mut QueueState, n: usize, loaded: Vec<QueuedMessage>, lost: usize) {
        // Counted out before the pushes below, marked again after them.
        st.buffer.uncount(lost);
        // Messages recovered from disk sit in level 0 until read: a priority queue puts each
        // where it belongs now that its priority is known.
        for mut entry in loaded {
            // Everything in memory or handed out has a smaller seq than the backlog.
            entry.seq = st.next_seq;
            st.next_seq += 1;
            let at = st.buffer.level_of(&entry.message);
            if at == n {
                st.buffer.level_mut(n).ready.push_back(entry);
            } else {
                st.buffer.uncount(1);
                let body_len = entry.message.body().len();
                st.buffer.level_mut(at).ready.push_back(entry);
                st.buffer.joined(at, body_len);
            }
        }
        st.buffer.lost(n, 0);
    }

    /// Hands ready messages to consumers with credit; each consumer's share goes to its
    /// connection as one batch. Then expires what is due at the head.
    fn dispatch_locked(&self, st: &mut QueueState) {
        let now = if st.timed { now_ms() } else { 0 };
        loop {
            // What this round gives each consumer it picks, in the order first picked; a
            // queue with thousands of consumers hands a round's messages to that many, and
            // must not walk (or allocate) a batch for every consumer it has.
            let mut batches: Vec<(usize, Vec<QueuedMessage>)> = Vec::new();
            // All zero between rounds: only the length follows the consumers (amortized
            // O(1) as they come and go one at a time).
            let consumers = st.consumers.len();
            st.batch_of.resize(consumers, 0);
            while !st.consumers.is_empty() && !st.buffer.is_empty() {
                let Some(idx) = st.consumers.pick() else {
                    break;
                };
                let Some(entry) = self.pop_live(st, now) else {
                    st.consumers.get(idx).return_credit(1);
                    break;
                };
                st.counters.redeliver += u64::from(entry.redelivered);
                match st.batch_of[idx] {
                    0 => {
                        batches.push((idx, vec![entry]));
                        st.batch_of[idx] = batches.len() as u32;
                    }
                    at => batches[at as usize - 1].1.push(entry),
                }
            }
            for (idx, _) in &batches {
                st.batch_of[*idx] = 0;
            }
            if batches.is_empty() || !self.send_batches(st, batches) {
                break;
            }
            // A consumer's connection was gone: what it was given is back in the queue, for
            // the others.
        }
        st.fresh = (0, 0);
        if st.timed {
            self.expire(st, now);
        }
    }

    /// Sends each consumer its batch; returns whether a connection was gone (its consumer is
    /// removed and its messages are back in place), i.e. whether to dispatch again.
    fn send_batches(&self, st: &mut QueueState, batches: Vec<(usize, Vec<QueuedMessage>)>) -> bool {
        // Deliveries hold the queue; it is being dispatched, so it is alive.
        let Some(me) = self.me.upgrade() else {
            return false;
        };
        let mut gone = Vec::new();
        for (idx, entries) in batches {
            let c = st.consumers.get(idx);
            let n = entries.len() as u64;
            let no_ack = c.no_ack;
            if st.quorum.is_some() {
                // Taken now; undone below if the connection is gone.
                let holder = (!no_ack).then(|| quorum::machine::holder(c.connection, c.channel));
                for e in &entries {
                    let cmd = Command::hand_out(e.seq, e.counts(), holder);
                    apply_to(&mut st.quorum, cmd, &mut Vec::new());
                }
            }
            let delivery = Delivery {
                channel: c.channel,
                consumer_tag: c.tag.clone(),
                queue: me.clone(),
                entries,
                credited: !c.no_ack,
            };
            if let Err(err) = c.sink.send(Outbound::Deliver(delivery)) {
                // The connection is gone; its cleanup removes the consumer. Keep the messages.
                if let Outbound::Deliver(d) = err.0 {
                    c.return_credit(d.entries.len() as u32);
                    let mut fx = Vec::new();
                    for e in d.entries {
                        // Not delivered after all (counted as it was picked).
                        st.counters.redeliver -= u64::from(e.redelivered);
                        apply_to(&mut st.quorum, Command::hand_back(e.seq, !no_ack), &mut fx);
                        st.buffer.put_in_place(e);
                    }
                }
                gone.push(idx);
                continue;
            }
            let k = &mut st.counters;
            if no_ack {
                k.deliver_no_ack += n;
            } else {
                k.deliver += n;
                k.unacked += n;
            }
        }
        gone.sort_unstable();
        for idx in gone.iter().rev() {
            st.consumers.remove_at(*idx);
        }
        !gone.is_empty()
    }

    /// Takes the next live message for basic.get, with the count left behind; `holder`
    /// must settle it unless `no_ack`.
    pub fn get(&self, no_ack: bool, holder: Holder) -> Option<(QueuedMessage, u32)> {
        if self.stream.is_some() {
            // basic.get is refused on streams (the channel says so); nothing to take.
            return None;
        }
        let mut st = self.lock();
        self.used(&mut st);
        let got = loop {
            let now = if st.timed { now_ms() } else { 0 };
            // A get sees what a dispatch would: nothing that is due.
            st.fresh = (0, 0);
            let got = self.pop_live(&mut st, now);
            if got.is_some() || st.refill_wanted.is_none() || st.deleted {
                break got;
            }
            // The head is on disk: read it with the lock released, and look again.
            st = self.read_back(st);
        };
        Self::count_get(&mut st, got.as_ref(), no_ack);
        if let Some(e) = &got {
            let cmd = Command::hand_out(e.seq, e.counts(), (!no_ack).then_some(holder));
            Self::command(&mut st, cmd, &mut Vec::new());
        }
        let left = st.buffer.len() as u32;
        self.finish(st);
        got.map(|m| (m, left))
    }

    /// The stream this queue is, if it is one.
    pub fn stream(&self) -> Option<&super::stream::Stream> {
        self.stream.as_deref()
    }

    /// Adds a stream consumer reading from where `spec` says. It is also one of the queue's
    /// consumers (counted, listed, cancelled when the queue goes), which `dispatch_locked`
    /// never serves: a stream's buffer stays empty.
    pub fn add_stream_consumer(&self, consumer: Consumer, spec: super::stream::ConsumeSpec) {
        let Some(s) = &self.stream else {
            return;
        };
        {
            let mut st = self.lock();
            st.consumers.add(consumer.clone());
            st.had_consumer = true;
        }
        s.add_reader(consumer, spec);
        self.dispatch();
    }

    /// Adds a consumer unless exclusivity forbids it (an exclusive consumer wants the queue
    /// to itself; nobody joins one). Returns whether it was added.
    pub fn try_add_consumer(&self, consumer: Consumer) -> bool {
        let mut st = self.lock();
        // A quorum queue does not enforce exclusive consumers (RabbitMQ 3.10.8 and 4.3).
        let mut consumer = consumer;
        consumer.exclusive &= self.declared.kind != QueueType::Quorum;
        // A single-active-consumer queue never grants exclusivity, as in RabbitMQ.
        // An exclusive consumer is only ever alone, so the first one says whether there is
        // one (a scan here made adding n consumers cost O(n²)).
        if consumer.exclusive && (!st.consumers.is_empty() || st.args.single_active_consumer)
            || st.consumers.iter().next().is_some_and(|c| c.exclusive)
        {
            return false;
        }
        st.consumers.add(consumer);
        st.had_consumer = true;
        self.dispatch_locked(&mut st);
        self.finish(st);
        true
    }

    pub fn remove_consumer(&self, connection: u64, channel: u16, tag: &str) -> ConsumerRemoved {
        self.remove_consumers_where(|c| {
            c.connection == connection && c.channel == channel && &*c.tag == tag
        })
    }

    /// Removes every consumer of a channel in one pass (one by one, a channel with n
    /// consumers on a queue cost O(n²) to close).
    pub fn remove_channel_consumers(&self, connection: u64, channel: u16) -> ConsumerRemoved {
        self.remove_consumers_where(|c| c.connection == connection && c.channel == channel)
    }

    fn remove_consumers_where(&self, mut gone: impl FnMut(&Consumer) -> bool) -> ConsumerRemoved {
        if let Some(s) = &self.stream {
            s.remove_readers_where(&mut gone);
        }
        let mut st = self.lock();
        let removed = st.consumers.remove_where(gone);
        if removed == 0 {
            return ConsumerRemoved::NotFound;
        }
        if st.consumers.is_empty() {
            self.used(&mut st);
        }
        // With a single active consumer, the next one takes over what is ready.
        if st.args.single_active_consumer {
            self.dispatch_locked(&mut st);
        }
        let result = if self.settings.auto_delete && st.consumers.is_empty() && st.had_consumer {
            ConsumerRemoved::LastOfAutoDelete
        } else {
            ConsumerRemoved::Removed
        };
        self.finish(st);
        result
    }

    /// Ready messages and consumers, as queue.declare-ok reports them.
    pub fn counts(&self) -> (u32, u32) {
        if let Some(s) = &self.stream {
            // RabbitMQ 4.3 reports a stream's records and no consumers.
            return (s.message_count().min(u64::from(u32::MAX)) as u32, 0);
        }
        let st = self.lock();
        (st.buffer.len() as u32, st.consumers.len() as u32)
    }

    pub fn message_count(&self) -> u32 {
        if let Some(s) = &self.stream {
            return s.message_count().min(u64::from(u32::MAX)) as u32;
        }
        self.lock().buffer.len() as u32
    }

    pub fn consumer_count(&self) -> usize {
        self.lock().consumers.len()
    }

    /// Drops every ready message; returns how many there were. A stream purges nothing
    /// (the channel refuses queue.purge on one).
    pub fn purge(&self) -> u32 {
        if self.stream.is_some() {
            return 0;
        }
        let mut st = self.lock();
        self.drop_ready(&mut st)
    }

    /// Settles every ready message, in memory and on disk, and those waiting to be
    /// dead-lettered (4.3.0: a purge removes those too); returns how many were ready.
    fn drop_ready(&self, st: &mut QueueState) -> u32 {
        for (e, _) in std::mem::take(&mut st.dlx_pending) {
            self.settle(&e);
        }
        let n = st.buffer.len() as u32;
        Self::command(st, Command::Purge, &mut Vec::new());
        let (memory, positions) = st.buffer.drain();
        for e in memory {
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
        if let Some(s) = &self.stream {
            // queue.delete-ok reports no messages for a stream, as RabbitMQ's does.
            s.destroy();
            st.deleted = true;
            for c in st.consumers.drain() {
                let _ = c.sink.send(Outbound::Cancelled {
                    channel: c.channel,
                    consumer_tag: c.tag.clone(),
                });
            }
            return 0;
        }
        st.deleted = true;
        for c in st.consumers.drain() {
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

    /// Puts the policies that now apply into effect, as RabbitMQ's queue process does when
    /// its policy changes: the arguments are merged again; a queue over a lower length limit
    /// drops (or dead-letters) its oldest messages at once; x-expires starts its period
    /// again. Messages already queued keep the deadline they were given on arrival, as in
    /// RabbitMQ (a new TTL applies to what arrives from now on); one exception, messages of
    /// a deep queue that wait on disk take the TTL in effect when they are read back.
    pub fn set_policies(&self, applied: Applied) {
        let mut st = self.lock();
        if st.deleted || st.applied == applied {
            return;
        }
        let args = applied.queue_args(&self.declared, &self.settings.arguments);
        if let Some(s) = &self.stream {
            let definition = applied.effective_definition();
            s.set_retention(super::stream::retention(
                &self.settings.arguments,
                &definition,
            ));
            if let Some(every) = s.age_check_every() {
                self.wake_at(&mut st, now_ms().saturating_add(every));
            }
        }
        st.applied = applied;
        if args.max_length_bytes.is_some() {
            st.buffer.count_bytes_from_now();
        }
        self.has_ttl.store(args.has_ttl(), Ordering::Relaxed);
        // RabbitMQ trims with the overflow it had when the new limit is set, and again
        // when the new overflow is drop-head.
        let drop_head =
            st.args.overflow == Overflow::DropHead || args.overflow == Overflow::DropHead;
        st.args = args;
        if st.quorum.is_some() {
            let rules = quorum_rules(&self.env, &st.args);
            Self::command(&mut st, Command::Configure { rules }, &mut Vec::new());
        }
        if st.args.expires.is_some() {
            self.used(&mut st);
        }
        if drop_head {
            self.drop_head_over_limit(&mut st);
        }
        self.finish(st);
    }

    /// The policies that apply, as the management API shows them.
    pub fn policy_status(&self) -> PolicyStatus {
        self.lock().applied.status()
    }

    /// Whether messages in this queue expire by its own TTL (declared or from a policy),
    /// without taking the lock: the publish path stamps arrival times only where needed.
    /// A policy that adds a TTL while a message is on its way makes that message's deadline
    /// count from when the queue takes it.
    pub fn has_ttl(&self) -> bool {
        self.has_ttl.load(Ordering::Relaxed)
    }

    /// Where messages leaving this queue are dead-lettered: the exchange and the routing
    /// key, as the queue's arguments say now.
    pub fn dead_letter_target(&self) -> (Option<String>, Option<String>, bool) {
        let st = self.lock();
        (
            st.args.dead_letter_exchange.clone(),
            st.args.dead_letter_routing_key.clone(),
            st.args.at_least_once,
        )
    }
}

/// Runs a blocking disk read so that, on a multi-thread runtime, the worker's other tasks
/// (other connections) move to another thread meanwhile; elsewhere it just runs it.
fn off_worker<T>(read: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(read)
        }
        _ => read(),
    }
}

/// `Queue::command` on the machine alone, for callers that hold other parts of the state.
fn apply_to(machine: &mut Option<Box<Machine>>, cmd: Command, fx: &mut Vec<Effect>) {
    if let Some(m) = machine.as_mut()
        && let Err(refused) = m.apply(cmd, fx)
    {
        tracing::error!(?refused, "a quorum queue's command does not fit its state");
    }
}

/// A quorum queue's rules for returned messages: its delivery limit under its vhost's
/// version profile.
fn quorum_rules(env: &QueueEnv, args: &QueueArgs) -> quorum::Rules {
    let rules = quorum::Rules {
        limit: args.delivery_limit,
        before_4_0: false,
    };
    match env.vhost.upgrade() {
        Some(v) => rules.under(v.profile()),
        None => rules,
    }
}

/// A queue's messages: a quorum queue has RabbitMQ 4.x's 32 priorities, 4 for a message
/// without one (`rabbit_fifo`'s `?DEFAULT_PRIORITY`); a classic queue those x-max-priority
/// asks for.
fn new_buffer(args: &QueueArgs) -> MessageBuffer {
    let counts_bytes = args.max_length_bytes.is_some();
    match args.kind {
        QueueType::Quorum => MessageBuffer::new(Some(quorum::MAX_PRIORITY), 4, counts_bytes),
        _ => MessageBuffer::new(args.max_priority, 0, counts_bytes),
    }
}

/// When a message arriving at `now` (0: use its stamp) must leave: the lower of the queue's
/// TTL `ttl` and the message's expiration; 0 for never.
fn deadline_of(ttl: Option<u64>, message: &Message, now: u64) -> u64 {
    let ttl = match (ttl, message.expiration()) {
        (None, None) => return 0,
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
    };
    let arrived = match message.arrived() {
        0 if now != 0 => message.arrived_or(now),
        0 => message.arrived_or(now_ms()),
        t => t,
    };
    // Never 0, which means "no deadline".
    arrived.saturating_add(ttl).max(1)
}
