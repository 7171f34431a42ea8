//! A virtual host: its exchanges, queues and bindings, and the operations on them that the
//! AMQP methods map to. Knows nothing of frames or channels.

use super::consumer::QueuedMessage;
use super::dead_letter::{self, Reason};
use super::error::{BrokerError, EntityKind, Inequivalence};
use super::exchange::{Binding, Destination, Exchange, ExchangeKind, ExchangeSettings};
use super::message::Message;
use super::policy::{Policy, PolicyError, PolicyKind, PolicySet, QueueType, Target};
use super::queue::{Pushed, Queue, QueueArgs, QueueEnv, QueueSettings, args};
use super::timer::{Timer, now_ms};
use super::vhost_metadata::VhostMetadata;
use crate::protocol::{FieldTable, FieldValue};
use crate::store::meta::{BindingDef, ExchangeDef, QueueDef};
use crate::store::{Definitions, LogMessage, StoreError, VhostStore};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

/// The exchanges every vhost starts with, all durable, and whether each is internal (only
/// the broker publishes to the firehose tracer's).
const PREDECLARED: [(&str, ExchangeKind, bool); 7] = [
    ("", ExchangeKind::Direct, false),
    ("amq.direct", ExchangeKind::Direct, false),
    ("amq.fanout", ExchangeKind::Fanout, false),
    ("amq.topic", ExchangeKind::Topic, false),
    ("amq.headers", ExchangeKind::Headers, false),
    ("amq.match", ExchangeKind::Headers, false),
    (super::trace::EXCHANGE, ExchangeKind::Topic, true),
];

/// Exchange arguments RabbitMQ compares on redeclare.
const COMPARED_EXCHANGE_ARGS: [&str; 1] = ["alternate-exchange"];

/// Bound on alternate-exchange and exchange-to-exchange hops, against cycles.
const MAX_ROUTE_HOPS: usize = 64;

/// Keeps each queue of a route once. Sorting by address costs O(n log n) where checking
/// each new queue against those found so far was O(n²) for a message reaching many queues;
/// a route of one queue costs nothing.
fn dedup_queues(queues: &mut Vec<Arc<Queue>>) {
    if queues.len() > 1 {
        queues.sort_unstable_by_key(|q| Arc::as_ptr(q) as usize);
        queues.dedup_by(|a, b| Arc::ptr_eq(a, b));
    }
}

/// What a queue is to policy matching: its declared type.
fn queue_target(settings: &QueueSettings) -> Target {
    Target::Queue(QueueType::of(&settings.arguments))
}

/// See `VHost::batch`.
#[derive(Debug)]
pub struct PersistBatch(Arc<VHost>);

impl Drop for PersistBatch {
    fn drop(&mut self) {
        let v = &self.0;
        if v.batches.fetch_sub(1, Ordering::AcqRel) == 1 && v.dirty.swap(false, Ordering::AcqRel) {
            v.persist_now();
        }
    }
}

/// An exchange.declare, in the broker's terms.
#[derive(Debug, Clone)]
pub struct ExchangeDeclare {
    pub name: String,
    pub kind: String,
    pub passive: bool,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

/// A queue.declare, in the broker's terms. `name` is already resolved (never empty).
#[derive(Debug, Clone)]
pub struct QueueDeclare {
    pub name: String,
    pub passive: bool,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
    /// Whether the client chose the name (reserved-prefix rules apply only then).
    pub client_named: bool,
}

#[derive(Debug)]
pub struct VHost {
    pub name: String,
    /// `name` again, for each queue to share (see `Queue::vhost`).
    shared_name: Arc<str>,
    exchanges: DashMap<String, Arc<Exchange>>,
    /// The default exchange, also in `exchanges`: it can be neither declared nor deleted, and
    /// most publishes go through it, so they skip the map (its shard lock and key compare were
    /// a tenth of the publish path).
    default_exchange: Arc<Exchange>,
    queues: DashMap<Arc<str>, Arc<Queue>>,
    /// Durable state on disk; None for a broker without a data directory.
    store: Option<Arc<VhostStore>>,
    next_queue_id: AtomicU32,
    /// Bumped after every change routing can see (exchanges, queues, bindings), so a
    /// channel can keep the last route it computed for as long as this stays the same.
    topology: AtomicU64,
    /// The owner of this vhost's deadlines (message TTL, queue expiry).
    timer: Timer,
    /// max-queues (RabbitMQ's vhost limit); u64::MAX for none.
    max_queues: AtomicU64,
    /// Open `PersistBatch`es: while any is, durable changes mark the definitions dirty
    /// instead of each rewriting them (a definitions import of 10,000 queues saves once).
    batches: AtomicU32,
    dirty: std::sync::atomic::AtomicBool,
    /// The firehose tracer is on (`broker::trace`): kept in memory only, as RabbitMQ does.
    tracing: std::sync::atomic::AtomicBool,
    /// Policies and operator policies. A change replaces the set whole, so a declare reads
    /// a consistent one under a short read lock.
    policies: RwLock<Arc<PolicySet>>,
    /// Held while a policy change is put into effect on every queue and exchange, so the
    /// last change made is the last applied (first in the lock order, see `broker`).
    policy_changes: Mutex<()>,
    /// Queues declared, created and deleted here, for the churn metrics.
    queue_churn: super::churn::QueueChurn,
    /// The broker's version profile (an index into `Profile::ALL`): dead-lettering reads it.
    profile: std::sync::atomic::AtomicU8,
    /// Description, tags, default queue type, deletion protection.
    metadata: RwLock<VhostMetadata>,
    me: Weak<VHost>,
}

impl Drop for VHost {
    /// The timer thread holds no reference to the vhost; without this it would outlive it.
    fn drop(&mut self) {
        self.timer.stop();
    }
}

impl VHost {
    /// Follows `p` where RabbitMQ releases differ (see `Core::set_profile`).
    pub fn set_profile(&self, p: super::profile::Profile) {
        let at = super::profile::Profile::ALL
            .iter()
            .position(|q| *q == p)
            .unwrap_or(0);
        self.profile.store(at as u8, Ordering::Relaxed);
        // Quorum queues count returns by the profile's rules.
        for q in self.queues.iter() {
            q.value().follow_profile(p);
        }
    }

    /// Whether the firehose tracer copies this vhost's publishes and deliveries.
    pub fn tracing(&self) -> bool {
        self.tracing.load(Ordering::Relaxed)
    }

    /// Turns the firehose tracer on or off (`rabbitmqctl trace_on` / `trace_off`), logging
    /// as RabbitMQ does.
    pub fn set_tracing(&self, on: bool) {
        let was = self.tracing.swap(on, Ordering::Relaxed);
        match (was, on) {
            (false, true) => tracing::info!("Enabling tracing for vhost '{}'", self.name),
            (true, false) => tracing::info!("Disabling tracing for vhost '{}'", self.name),
            (_, true) => tracing::info!("Tracing is already enabled for vhost '{}'", self.name),
            (_, false) => tracing::info!("Tracing is already disabled for vhost '{}'", self.name),
        }
    }

    pub fn profile(&self) -> super::profile::Profile {
        let at = usize::from(self.profile.load(Ordering::Relaxed));
        super::profile::Profile::ALL
            .get(at)
            .copied()
            .unwrap_or_default()
    }

    pub fn metadata(&self) -> VhostMetadata {
        self.metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the metadata; the caller persists it (it lives with the access model).
    pub fn set_metadata(&self, m: VhostMetadata) {
        *self.metadata.write().unwrap_or_else(|p| p.into_inner()) = m;
    }

    /// A vhost held in memory only.
    pub fn new(name: &str) -> Arc<VHost> {
        Arc::new_cyclic(|me| Self::with_store(name, None, me.clone()))
    }

    /// A vhost whose durable state lives under `data_dir`, recovered from it. `policies`
    /// are in effect before anything is restored, so recovered queues and messages get what
    /// they say (a TTL counts from each message's arrival, before the restart).
    pub fn open(
        name: &str,
        data_dir: &Path,
        policies: PolicySet,
        profile: super::profile::Profile,
    ) -> Result<Arc<VHost>, StoreError> {
        let opened = VhostStore::open(data_dir, name, super::queue::MEMORY_LIMIT)?;
        let v = Arc::new_cyclic(|me| {
            let v = Self::with_store(name, Some(Arc::new(opened.store)), me.clone());
            *v.policies.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policies);
            v.set_profile(profile);
            v.restore(opened.definitions, opened.messages);
            v
        });
        // Now that the vhost is whole (dead-lettering routes through it): what the restart
        // took past a quorum queue's delivery limit is dead-lettered.
        let queues: Vec<Arc<Queue>> = v.queues.iter().map(|e| e.value().clone()).collect();
        for q in queues {
            q.dead_letter_restart_over_limit();
        }
        Ok(v)
    }

    fn with_store(name: &str, store: Option<Arc<VhostStore>>, me: Weak<VHost>) -> VHost {
        let predeclared = |n: &str, kind, internal| {
            let settings = ExchangeSettings {
                kind,
                durable: true,
                auto_delete: false,
                internal,
                arguments: FieldTable::new(),
            };
            Arc::new(Exchange::new(n.to_owned(), settings))
        };
        let default_exchange = predeclared("", ExchangeKind::Direct, false);
        let exchanges = DashMap::new();
        exchanges.insert(String::new(), default_exchange.clone());
        for (n, kind, internal) in PREDECLARED.into_iter().filter(|(n, ..)| !n.is_empty()) {
            exchanges.insert(n.to_owned(), predeclared(n, kind, internal));
        }
        VHost {
            name: name.to_owned(),
            shared_name: name.into(),
            exchanges,
            default_exchange,
            queues: DashMap::new(),
            store,
            next_queue_id: AtomicU32::new(1),
            topology: AtomicU64::new(0),
            timer: Timer::start(name),
            max_queues: AtomicU64::new(u64::MAX),
            batches: AtomicU32::new(0),
            dirty: std::sync::atomic::AtomicBool::new(false),
            tracing: std::sync::atomic::AtomicBool::new(false),
            policies: RwLock::default(),
            policy_changes: Mutex::new(()),
            queue_churn: Default::default(),
            profile: Default::default(),
            metadata: RwLock::new(VhostMetadata::initial(name)),
            me,
        }
    }

    /// Queues declared, created and deleted in this vhost.
    pub fn queue_churn(&self) -> &super::churn::QueueChurn {
        &self.queue_churn
    }

    /// The policies in effect now.
    pub fn policy_set(&self) -> Arc<PolicySet> {
        self.policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds a policy (or operator policy), or replaces the one of its name, and puts it
    /// into effect on every queue and exchange.
    pub fn set_policy(&self, kind: PolicyKind, mut policy: Policy) -> Result<(), PolicyError> {
        policy.vhost = self.name.clone();
        let _serial = self
            .policy_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let next = Arc::new(self.policy_set().with(kind, policy)?);
        self.put_policies(next);
        Ok(())
    }

    /// Removes a policy (or operator policy) and puts what applies instead into effect;
    /// returns whether it existed.
    pub fn clear_policy(&self, kind: PolicyKind, name: &str) -> bool {
        let _serial = self
            .policy_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match self.policy_set().without(kind, name) {
            Some(next) => {
                self.put_policies(Arc::new(next));
                true
            }
            None => false,
        }
    }

    pub fn policies(&self, kind: PolicyKind) -> Vec<Policy> {
        self.policy_set().policies(kind).cloned().collect()
    }

    /// Installs `set` and applies it to every queue and exchange. Called with
    /// `policy_changes` held.
    fn put_policies(&self, set: Arc<PolicySet>) {
        *self.policies.write().unwrap_or_else(|p| p.into_inner()) = set.clone();
        let exchanges: Vec<Arc<Exchange>> = self.exchanges.iter().map(|x| x.clone()).collect();
        let mut routes_changed = false;
        for x in exchanges.iter().filter(|x| !x.name.is_empty()) {
            routes_changed |= x.set_policies(set.matching(&x.name, Target::Exchange));
        }
        if routes_changed {
            self.topology_changed();
        }
        let queues: Vec<Arc<Queue>> = self.queues.iter().map(|q| q.clone()).collect();
        for q in queues {
            q.set_policies(set.matching(&q.name, queue_target(&q.settings)));
        }
    }

    /// Sets (Some) or clears (None) the vhost's max-queues limit.
    pub fn set_max_queues(&self, max: Option<u64>) {
        self.max_queues
            .store(max.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn max_queues(&self) -> Option<u64> {
        Some(self.max_queues.load(Ordering::Relaxed)).filter(|m| *m != u64::MAX)
    }

    fn queue_env(&self) -> QueueEnv {
        QueueEnv {
            vhost: self.me.clone(),
            timer: self.timer.clone(),
        }
    }

    /// Rebuilds durable definitions and messages found on disk.
    fn restore(
        &self,
        defs: Definitions,
        mut messages: std::collections::HashMap<u32, crate::store::RecoveredQueue>,
    ) {
        for x in defs.exchanges {
            let Some(kind) = ExchangeKind::parse(&x.kind) else {
                tracing::error!(
                    "durable exchange '{}' has unknown type '{}', skipped",
                    x.name,
                    x.kind
                );
                continue;
            };
            let settings = ExchangeSettings {
                kind,
                durable: true,
                auto_delete: x.auto_delete,
                internal: x.internal,
                arguments: x.arguments,
            };
            let exchange = Exchange::new(x.name.clone(), settings);
            exchange.set_policies(self.policy_set().matching(&x.name, Target::Exchange));
            self.exchanges.insert(x.name, Arc::new(exchange));
        }
        let mut restored = 0usize;
        for q in defs.queues {
            self.next_queue_id.fetch_max(q.id + 1, Ordering::Relaxed);
            let settings = QueueSettings {
                durable: true,
                exclusive: false,
                auto_delete: q.auto_delete,
                arguments: q.arguments,
            };
            let durable = self.store.clone().map(|s| (s, q.id));
            let args = QueueArgs::parse(&settings.arguments).unwrap_or_else(|(arg, why)| {
                tracing::error!(queue = %q.name, "durable queue's argument '{arg}' is invalid ({why}), ignored");
                QueueArgs::default()
            });
            let applied = self.policy_set().matching(&q.name, queue_target(&settings));
            let name: Arc<str> = q.name.into();
            let queue = Queue::new(
                name.clone(),
                self.shared_name.clone(),
                settings,
                (args, applied),
                None,
                durable,
                self.queue_env(),
            );
            let mut recovered = messages.remove(&q.id).unwrap_or_default();
            // A quorum queue's deliveries are in its log; a classic queue's are not.
            if recovered.after_crash && !queue.logs_every_message() {
                recovered.flag_all_redelivered();
            }
            restored += recovered.len();
            // The queue cannot reach this vhost (still being built) for its profile.
            if let Some(rules) = queue.quorum_rules() {
                let rules = rules.under(self.profile());
                queue.restore_quorum(replay_quorum(rules, &mut recovered));
            }
            for r in recovered.loaded {
                let m = Message::from_log(LogMessage::clone(&r.message), r.slot);
                queue.restore(Arc::new(m), r.redelivered);
            }
            queue.restore_backlog(recovered.backlog);
            self.queues.insert(name, queue);
        }
        for b in defs.bindings {
            let destination = if b.destination_is_queue {
                // Shares the queue's name where the queue is there (it always is, unless
                // the definitions were damaged).
                let name = self.queues.get(b.destination.as_str());
                Destination::Queue(name.map_or_else(|| b.destination.into(), |q| q.name.clone()))
            } else {
                Destination::Exchange(b.destination.into())
            };
            if let Some(x) = self.exchanges.get(&b.source).map(|x| x.clone()) {
                x.bind(Binding {
                    destination,
                    routing_key: b.routing_key,
                    arguments: b.arguments,
                });
            }
        }
        self.topology_changed();
        tracing::info!(
            vhost = %self.name,
            exchanges = self.exchanges.len(),
            queues = self.queues.len(),
            messages = restored,
            "recovered durable state"
        );
    }

    /// Writes the durable definitions snapshot, if this vhost has a store.
    fn persist(&self) {
        if self.batches.load(Ordering::Acquire) > 0 {
            self.dirty.store(true, Ordering::Release);
            return;
        }
        self.persist_now();
    }

    /// Defers saving durable definitions until the batch is dropped; the changes made
    /// meanwhile are saved once then.
    pub fn batch(self: &Arc<Self>) -> PersistBatch {
        self.batches.fetch_add(1, Ordering::AcqRel);
        PersistBatch(self.clone())
    }

    fn persist_now(&self) {
        let Some(store) = &self.store else {
            return;
        };
        let r = store.save_definitions(|| self.definitions());
        if let Err(e) = r {
            tracing::error!(vhost = %self.name, "cannot save durable definitions: {e}");
        }
    }

    fn definitions(&self) -> Definitions {
        let mut d = Definitions::default();
        let exchanges: Vec<Arc<Exchange>> = self.exchanges.iter().map(|x| x.clone()).collect();
        let durable_queue = |n: &str| self.queues.get(n).is_some_and(|q| q.store_id().is_some());
        let durable_exchange = |n: &str| self.exchanges.get(n).is_some_and(|x| x.settings.durable);
        for x in &exchanges {
            if !x.settings.durable {
                continue;
            }
            if !PREDECLARED.iter().any(|(n, ..)| *n == x.name) {
                d.exchanges.push(ExchangeDef {
                    name: x.name.clone(),
                    kind: x.settings.kind.as_str().to_owned(),
                    auto_delete: x.settings.auto_delete,
                    internal: x.settings.internal,
                    arguments: x.settings.arguments.clone(),
                });
            }
            for b in x.bindings() {
                let (name, to_queue) = match &b.destination {
                    Destination::Queue(n) => (n.clone(), true),
                    Destination::Exchange(n) => (n.clone(), false),
                };
                let durable = if to_queue {
                    durable_queue(&name)
                } else {
                    durable_exchange(&name)
                };
                if durable {
                    d.bindings.push(BindingDef {
                        source: x.name.clone(),
                        destination: name.to_string(),
                        destination_is_queue: to_queue,
                        routing_key: b.routing_key,
                        arguments: b.arguments,
                    });
                }
            }
        }
        for q in self.queues.iter() {
            if let Some(id) = q.store_id() {
                d.queues.push(QueueDef {
                    name: q.name.to_string(),
                    id,
                    auto_delete: q.settings.auto_delete,
                    arguments: q.settings.arguments.clone(),
                });
            }
        }
        d
    }

    /// The store, when persistent messages to durable queues are written to disk.
    /// Stops the message log; on a clean stop, writes the index of every durable queue.
    pub fn close(&self, clean: bool) {
        let Some(store) = &self.store else {
            self.timer.stop();
            return;
        };
        self.timer.stop();
        // The writer finishes first, so every pending write has its final position.
        store.log.close();
        if !clean {
            return;
        }
        let queues: Vec<(u32, Vec<crate::store::Run>)> = self
            .queues
            .iter()
            .filter_map(|q| Some((q.store_id()?, q.positions())))
            .collect();
        match store.log.write_index(&queues) {
            Ok(()) => tracing::info!(vhost = %self.name, "wrote the shutdown index"),
            Err(e) => {
                tracing::warn!(vhost = %self.name, "no shutdown index, the next start scans: {e}")
            }
        }
    }

    pub fn store(&self) -> Option<&Arc<VhostStore>> {
        self.store.as_ref()
    }

    fn not_found(&self, kind: EntityKind, name: &str) -> BrokerError {
        BrokerError::NotFound {
            kind,
            name: name.to_owned(),
            vhost: self.name.clone(),
        }
    }

    /// Every queue, for the management API.
    pub fn queues(&self) -> Vec<Arc<Queue>> {
        self.queues.iter().map(|q| q.clone()).collect()
    }

    /// Every exchange, the default one included, for the management API.
    pub fn exchanges(&self) -> Vec<Arc<Exchange>> {
        self.exchanges.iter().map(|x| x.clone()).collect()
    }

    pub fn exchange(&self, name: &str) -> Result<Arc<Exchange>, BrokerError> {
        if name.is_empty() {
            return Ok(self.default_exchange.clone());
        }
        self.exchanges
            .get(name)
            .map(|x| x.clone())
            .ok_or_else(|| self.not_found(EntityKind::Exchange, name))
    }

    /// A queue, if this connection may use it (exclusive queues belong to one connection).
    pub fn queue(&self, name: &str, connection: u64) -> Result<Arc<Queue>, BrokerError> {
        let q = self
            .queues
            .get(name)
            .map(|q| q.clone())
            .ok_or_else(|| self.not_found(EntityKind::Queue, name))?;
        self.check_owner(&q, connection)?;
        Ok(q)
    }

    /// A queue whoever owns it, for the broker's own use (management, policies).
    pub fn queue_any(&self, name: &str) -> Option<Arc<Queue>> {
        self.queues.get(name).map(|q| q.clone())
    }

    fn check_owner(&self, q: &Queue, connection: u64) -> Result<(), BrokerError> {
        match q.owner {
            Some(owner) if owner != connection => Err(BrokerError::ExclusiveLocked {
                name: q.name.to_string(),
                vhost: self.name.clone(),
            }),
            _ => Ok(()),
        }
    }

    pub fn declare_exchange(&self, d: ExchangeDeclare) -> Result<(), BrokerError> {
        if d.name.is_empty() {
            return Err(BrokerError::DefaultExchange);
        }
        if d.passive {
            return self.exchange(&d.name).map(|_| ());
        }
        let kind = ExchangeKind::parse(&d.kind)
            .filter(|k| {
                *k != ExchangeKind::LocalRandom || self.profile().has_local_random_exchange()
            })
            .ok_or_else(|| BrokerError::UnknownExchangeType(d.kind.clone()))?;
        // The prefix is reserved for new exchanges: an equivalent redeclare of amq.direct is fine.
        if d.name.starts_with("amq.") && !self.exchanges.contains_key(&d.name) {
            return Err(BrokerError::ReservedName {
                kind: EntityKind::Exchange,
                name: d.name,
            });
        }
        let settings = ExchangeSettings {
            kind,
            durable: d.durable,
            auto_delete: d.auto_delete,
            internal: d.internal,
            arguments: d.arguments,
        };
        let durable = settings.durable;
        let created = match self.exchanges.entry(d.name.clone()) {
            Entry::Occupied(e) => {
                let x = e.get().clone();
                drop(e);
                self.check_exchange_equivalent(&x, &settings)?;
                None
            }
            Entry::Vacant(e) => {
                let policies = self.policy_set();
                let x = Arc::new(Exchange::new(d.name.clone(), settings));
                x.set_policies(policies.matching(&d.name, Target::Exchange));
                e.insert(x.clone());
                Some((x, policies))
            }
        };
        // A policy change that ran while the exchange was being created did not see it.
        if let Some((x, policies)) = &created
            && !Arc::ptr_eq(policies, &self.policy_set())
        {
            x.set_policies(self.policy_set().matching(&x.name, Target::Exchange));
        }
        let created = created.is_some();
        if created {
            self.topology_changed();
        }
        if created && durable {
            self.persist();
        }
        Ok(())
    }

    fn check_exchange_equivalent(
        &self,
        x: &Exchange,
        want: &ExchangeSettings,
    ) -> Result<(), BrokerError> {
        let have = &x.settings;
        let text = |s: &str| Some(FieldValue::LongString(s.as_bytes().to_vec().into()));
        let flag = |b: bool| Some(FieldValue::Bool(b));
        let checks = [
            ("type", text(want.kind.as_str()), text(have.kind.as_str())),
            ("durable", flag(want.durable), flag(have.durable)),
            (
                "auto_delete",
                flag(want.auto_delete),
                flag(have.auto_delete),
            ),
            ("internal", flag(want.internal), flag(have.internal)),
        ];
        self.first_difference(EntityKind::Exchange, &x.name, checks)?;
        self.compare_args(
            EntityKind::Exchange,
            &x.name,
            &COMPARED_EXCHANGE_ARGS,
            &want.arguments,
            &have.arguments,
        )
    }

    fn first_difference<const N: usize>(
        &self,
        kind: EntityKind,
        name: &str,
        checks: [(&str, Option<FieldValue>, Option<FieldValue>); N],
    ) -> Result<(), BrokerError> {
        match checks.into_iter().find(|(_, a, b)| a != b) {
            Some((arg, received, current)) => {
                Err(BrokerError::Inequivalent(Box::new(Inequivalence {
                    kind,
                    name: name.to_owned(),
                    vhost: self.name.clone(),
                    arg: arg.to_owned(),
                    received,
                    current,
                })))
            }
            None => Ok(()),
        }
    }

    fn compare_args(
        &self,
        kind: EntityKind,
        name: &str,
        keys: &[&str],
        want: &FieldTable,
        have: &FieldTable,
    ) -> Result<(), BrokerError> {
        let classic = |v: Option<&FieldValue>| v.and_then(FieldValue::as_str) == Some("classic");
        for key in keys {
            let (a, b) = (want.get(key), have.get(key));
            let same = match (a, b) {
                (Some(a), Some(b)) => a == b || a.as_i64().is_some() && a.as_i64() == b.as_i64(),
                (None, None) => true,
                // A classic queue is one declared without a type.
                (x, None) | (None, x) if *key == "x-queue-type" => classic(x),
                _ => false,
            };
            if !same {
                // RabbitMQ 4.x gives a queue declared without a type x-queue-type classic
                // (`augment_declare_args/5`), and says so when the types differ.
                let typed = |v: Option<&FieldValue>| match v {
                    None if *key == "x-queue-type" => Some(FieldValue::LongString(
                        bytes::Bytes::from_static(b"classic"),
                    )),
                    v => v.cloned(),
                };
                return Err(BrokerError::Inequivalent(Box::new(Inequivalence {
                    kind,
                    name: name.to_owned(),
                    vhost: self.name.clone(),
                    arg: (*key).to_owned(),
                    received: typed(a),
                    current: typed(b),
                })));
            }
        }
        Ok(())
    }

    /// Deletes an exchange (a missing one is fine) and every binding to or from it.
    pub fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<(), BrokerError> {
        if name.is_empty() {
            return Err(BrokerError::DefaultExchange);
        }
        if name.starts_with("amq.") && self.exchanges.contains_key(name) {
            return Err(BrokerError::SystemExchange {
                name: name.to_owned(),
                vhost: self.name.clone(),
            });
        }
        let Ok(x) = self.exchange(name) else {
            return Ok(());
        };
        if if_unused && x.has_bindings() {
            return Err(BrokerError::InUse {
                kind: EntityKind::Exchange,
                name: name.to_owned(),
                vhost: self.name.clone(),
            });
        }
        self.remove_exchange(name);
        Ok(())
    }

    fn remove_exchange(&self, name: &str) {
        if let Some((_, x)) = self.exchanges.remove(name) {
            self.unbind_everywhere(&Destination::Exchange(name.into()));
            self.topology_changed();
            if x.settings.durable {
                self.persist();
            }
        }
    }

    /// Drops every binding that leads to `dest`, and then any auto-delete exchange left
    /// without bindings.
    fn unbind_everywhere(&self, dest: &Destination) {
        let exchanges: Vec<Arc<Exchange>> = self.exchanges.iter().map(|e| e.clone()).collect();
        for x in exchanges {
            let (removed, empty) = x.unbind_destination(dest);
            if removed && empty && x.settings.auto_delete {
                self.remove_exchange(&x.name);
            }
        }
    }

    /// Declares (or checks) a queue; returns it with its ready-message and consumer counts.
    pub fn declare_queue(
        &self,
        d: QueueDeclare,
        connection: u64,
    ) -> Result<(Arc<Queue>, u32, u32), BrokerError> {
        if d.passive {
            let q = self.queue(&d.name, connection)?;
            // RabbitMQ counts a passive declare as use of the queue (x-expires).
            q.touch();
            let (m, c) = q.counts();
            return Ok((q, m, c));
        }
        if d.client_named && d.name.starts_with("amq.") {
            return Err(BrokerError::ReservedName {
                kind: EntityKind::Queue,
                name: d.name,
            });
        }
        let mut arguments = d.arguments;
        self.metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .augment(&mut arguments, d.durable, d.exclusive, d.auto_delete);
        let settings = QueueSettings {
            durable: d.durable,
            exclusive: d.exclusive,
            auto_delete: d.auto_delete,
            arguments,
        };
        let mut created = false;
        // Counted before the entry is taken: the map's length needs every shard's lock.
        let full = self
            .max_queues()
            .filter(|max| self.queues.len() as u64 >= *max);
        let name: Arc<str> = d.name.as_str().into();
        let q = match self.queues.entry(name.clone()) {
            Entry::Occupied(e) => {
                let q = e.get().clone();
                drop(e);
                self.check_owner(&q, connection)?;
                // RabbitMQ reports a changed exclusive flag as a lock conflict, even from
                // the owning connection.
                if q.owner.is_some() != d.exclusive {
                    return Err(BrokerError::ExclusiveLocked {
                        name: q.name.to_string(),
                        vhost: self.name.clone(),
                    });
                }
                self.check_queue_equivalent(&q, &settings)?;
                q.touch();
                q
            }
            Entry::Vacant(e) => {
                // Only a new queue's arguments are checked: a redeclare is compared only.
                let args = QueueArgs::parse(&settings.arguments)
                    .map_err(|e| BrokerError::invalid_argument(&d.name, &self.name, e))?;
                let (durable, exclusive) = (settings.durable, settings.exclusive);
                if let Some(property) =
                    args::refused_property(args.kind, durable, exclusive, settings.auto_delete)
                {
                    return Err(BrokerError::InvalidProperty {
                        property,
                        queue: d.name.clone(),
                        vhost: self.name.clone(),
                    });
                }
                if !d.client_named && args.kind != QueueType::Classic {
                    return Err(BrokerError::ServerNamed(args.kind.module()));
                }
                if let Some(max) = full {
                    return Err(BrokerError::QueueLimit {
                        queue: d.name.clone(),
                        vhost: self.name.clone(),
                        max,
                    });
                }
                let owner = d.exclusive.then_some(connection);
                // Every queue gets a number in the log, for spilling a deep backlog; only
                // durable, non-exclusive ones are recorded in the definitions (see `persist`).
                let durable = self.store.as_ref().map(|store| {
                    (
                        store.clone(),
                        self.next_queue_id.fetch_add(1, Ordering::Relaxed),
                    )
                });
                let policies = self.policy_set();
                let applied = policies.matching(&d.name, queue_target(&settings));
                let q = Queue::new(
                    name,
                    self.shared_name.clone(),
                    settings,
                    (args, applied),
                    owner,
                    durable,
                    self.queue_env(),
                );
                e.insert(q.clone());
                // A policy change that ran while the queue was being created did not see it.
                let now = self.policy_set();
                if !Arc::ptr_eq(&policies, &now) {
                    q.set_policies(now.matching(&q.name, queue_target(&q.settings)));
                }
                created = true;
                q
            }
        };
        if created {
            super::churn::bump(&self.queue_churn.created);
            self.topology_changed();
            if q.store_id().is_some() {
                self.persist();
            }
        }
        super::churn::bump(&self.queue_churn.declared);
        let (m, c) = q.counts();
        Ok((q, m, c))
    }

    fn check_queue_equivalent(&self, q: &Queue, want: &QueueSettings) -> Result<(), BrokerError> {
        let have = &q.settings;
        let flag = |b: bool| Some(FieldValue::Bool(b));
        let checks = [
            ("durable", flag(want.durable), flag(have.durable)),
            (
                "auto_delete",
                flag(want.auto_delete),
                flag(have.auto_delete),
            ),
        ];
        self.first_difference(EntityKind::Queue, &q.name, checks)?;
        self.compare_args(
            EntityKind::Queue,
            &q.name,
            q.declared.kind.compared_args(),
            &want.arguments,
            &have.arguments,
        )
    }

    /// Deletes a queue (a missing one is fine); returns how many messages it held.
    pub fn delete_queue(
        &self,
        name: &str,
        connection: u64,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<u32, BrokerError> {
        let q = match self.queue(name, connection) {
            Ok(q) => q,
            Err(BrokerError::NotFound { .. }) => return Ok(0),
            Err(e) => return Err(e),
        };
        if q.declared.kind == QueueType::Quorum && (if_unused || if_empty) {
            let flag = if if_unused { "if-unused" } else { "if-empty" };
            return Err(BrokerError::QuorumDeleteFlag {
                name: name.to_owned(),
                vhost: self.name.clone(),
                flag,
            });
        }
        // RabbitMQ deletes a stream whatever the flags say (and reports no messages).
        let (if_unused, if_empty) = match q.stream() {
            Some(_) => (false, false),
            None => (if_unused, if_empty),
        };
        if if_unused && q.consumer_count() > 0 {
            return Err(BrokerError::InUse {
                kind: EntityKind::Queue,
                name: name.to_owned(),
                vhost: self.name.clone(),
            });
        }
        if if_empty && q.message_count() > 0 {
            return Err(BrokerError::NotEmpty {
                name: name.to_owned(),
                vhost: self.name.clone(),
            });
        }
        Ok(self.remove_queue(&q))
    }

    /// Removes a queue whatever its state (auto-delete, exclusive owner gone).
    pub fn remove_queue(&self, q: &Arc<Queue>) -> u32 {
        let removed = self
            .queues
            .remove_if(&q.name, |_, v| Arc::ptr_eq(v, q))
            .is_some();
        if !removed {
            return 0;
        }
        super::churn::bump(&self.queue_churn.deleted);
        let n = q.mark_deleted();
        self.unbind_everywhere(&Destination::Queue(q.name.clone()));
        self.topology_changed();
        if q.store_id().is_some() {
            self.persist();
        }
        n
    }

    /// Deletes the exclusive queues a closing connection owned.
    pub fn connection_closed(&self, connection: u64) {
        let owned: Vec<Arc<Queue>> = self
            .queues
            .iter()
            .filter(|q| q.owner == Some(connection))
            .map(|q| q.clone())
            .collect();
        for q in owned {
            self.remove_queue(&q);
        }
    }

    /// Binds (or, with `bind == false`, unbinds) `destination` to exchange `source`.
    pub fn change_binding(
        &self,
        bind: bool,
        source: &str,
        destination: Destination,
        routing_key: String,
        arguments: FieldTable,
        connection: u64,
    ) -> Result<(), BrokerError> {
        let dest_name = match &destination {
            Destination::Queue(n) | Destination::Exchange(n) => &**n,
        };
        let dest_is_default =
            matches!(destination, Destination::Exchange(_)) && dest_name.is_empty();
        if source.is_empty() || dest_is_default {
            return Err(BrokerError::DefaultExchange);
        }
        let x = self.exchange(source)?;
        if bind && x.settings.kind == ExchangeKind::Headers {
            super::exchange::check_x_match(&arguments).map_err(BrokerError::InvalidXMatch)?;
        }
        let destination = match destination {
            // The binding shares the queue's own name.
            Destination::Queue(n) => match self.queue(&n, connection) {
                Ok(q) => Destination::Queue(q.name.clone()),
                // RabbitMQ looks at who owns the queue only once the binding is found:
                // removing another connection's binding is refused, removing none is not.
                Err(locked @ BrokerError::ExclusiveLocked { .. }) if !bind => {
                    let binding = Binding {
                        destination: Destination::Queue(n),
                        routing_key,
                        arguments,
                    };
                    return match x.has_binding(&binding) {
                        true => Err(locked),
                        false => Ok(()),
                    };
                }
                Err(e) => return Err(e),
            },
            Destination::Exchange(n) => {
                self.exchange(&n)?;
                Destination::Exchange(n)
            }
        };
        if bind && x.settings.kind == ExchangeKind::LocalRandom {
            self.check_local_random_binding(&destination, &routing_key)?;
        }
        let binding = Binding {
            destination,
            routing_key,
            arguments,
        };
        if bind {
            x.bind(binding);
        } else if x.unbind(&binding) && x.settings.auto_delete {
            self.remove_exchange(source);
        }
        self.topology_changed();
        if x.settings.durable {
            self.persist();
        }
        Ok(())
    }

    /// What RabbitMQ's `x-local-random` type accepts as a binding (its `validate_binding`,
    /// answered with 406): an empty key, leading to a classic queue.
    fn check_local_random_binding(
        &self,
        destination: &Destination,
        key: &str,
    ) -> Result<(), BrokerError> {
        if !key.is_empty() {
            return Err(BrokerError::BindingInvalid(format!(
                "Non empty binding '{key}' key not permitted"
            )));
        }
        let queue = match destination {
            Destination::Queue(n) => self.queues.get(&**n).map(|q| q.clone()),
            Destination::Exchange(_) => None,
        };
        match queue.map(|q| q.declared.kind) {
            None => Err(BrokerError::BindingInvalid("Destination not found".into())),
            Some(QueueType::Classic) => Ok(()),
            Some(other) => Err(BrokerError::BindingInvalid(format!(
                "Queue type {} not valid for this exchange type",
                other.module_name()
            ))),
        }
    }

    /// The topology's version: unchanged, a route computed under it is still the route.
    /// Read it before routing; a change bumps it after it is made.
    pub fn topology_epoch(&self) -> u64 {
        self.topology.load(Ordering::Acquire)
    }

    fn topology_changed(&self) {
        self.topology.fetch_add(1, Ordering::AcqRel);
    }

    /// Checks that `exchange` takes publishes from clients.
    pub fn publishable(&self, exchange: &str) -> Result<Arc<Exchange>, BrokerError> {
        let x = self.exchange(exchange)?;
        if x.settings.internal {
            return Err(BrokerError::InternalExchange {
                name: exchange.to_owned(),
                vhost: self.name.clone(),
            });
        }
        Ok(x)
    }

    /// Routes a message from `exchange` through exchange-to-exchange bindings and alternate
    /// exchanges; returns each queue it reaches once, and whether the route depends on the
    /// routing key alone (no headers exchange was consulted), i.e. may be reused for the same
    /// key while the topology is unchanged.
    pub fn route(&self, exchange: &Arc<Exchange>, message: &Message) -> (Vec<Arc<Queue>>, bool) {
        let mut queues = Vec::new();
        let key_only = self.route_key(exchange, message.routing_key(), &[], message, &mut queues);
        dedup_queues(&mut queues);
        (queues, key_only)
    }

    /// Routes with the message's routing key and `more` (sender-selected CC and BCC keys, a
    /// dead-lettered message's keys), each queue once. As in RabbitMQ, every exchange on the
    /// way matches all the keys, so a CC key can pass one hop and the routing key the next.
    pub fn route_keys(
        &self,
        exchange: &Arc<Exchange>,
        message: &Message,
        more: &[String],
    ) -> Vec<Arc<Queue>> {
        let mut queues = Vec::new();
        self.route_key(exchange, message.routing_key(), more, message, &mut queues);
        dedup_queues(&mut queues);
        queues
    }

    /// Adds the queues `key` and `more` reach from `exchange` to `queues`; returns whether
    /// no headers exchange was consulted.
    fn route_key(
        &self,
        exchange: &Arc<Exchange>,
        key: &str,
        more: &[String],
        message: &Message,
        queues: &mut Vec<Arc<Queue>>,
    ) -> bool {
        if exchange.name.is_empty() {
            for k in std::iter::once(key).chain(more.iter().map(String::as_str)) {
                queues.extend(self.queues.get(k).map(|q| q.clone()));
            }
            return true;
        }
        let reached_before = queues.len();
        // Only a headers exchange looks at the headers; parse them once, when one does.
        let mut headers: Option<Option<FieldTable>> = None;
        // The exchanges routed through, by name: each is consulted once (a cycle ends).
        let mut visited = vec![exchange.clone()];
        let mut next = Some(exchange.clone());
        let keys = RouteKeys { key, more };
        while let Some(x) = next.take() {
            self.route_from(&x, keys, message, &mut headers, &mut visited, queues);
            // Nothing reached: the alternate exchange (and then its own) gets the message.
            if queues.len() == reached_before
                && let Some(ae) = x.alternate_exchange()
                && !visited.iter().any(|v| *v.name == *ae)
                && visited.len() < MAX_ROUTE_HOPS
                && let Ok(ae) = self.exchange(&ae)
            {
                visited.push(ae.clone());
                next = Some(ae);
            }
        }
        // A local random exchange on the way picks anew for every message.
        headers.is_none()
            && !visited
                .iter()
                .any(|x| x.settings.kind == ExchangeKind::LocalRandom)
    }

    /// Writes a routed message to the log where it must survive (persistent, reaching a
    /// durable queue) and pushes it to its queues; `pushed` hears of each push. Returns
    /// whether `notify` will hear when the message is on disk. Client publishes and
    /// dead-lettered messages both come this way.
    pub fn store_and_push(
        &self,
        queues: &[Arc<Queue>],
        message: Arc<Message>,
        notify: Option<(Arc<dyn crate::store::Durability>, u64)>,
        mut pushed: impl FnMut(&Arc<Queue>, Pushed),
    ) -> bool {
        // A deadline counts from arrival, which the log keeps for after a restart.
        if message.expiration().is_some() || queues.iter().any(|q| q.has_ttl()) {
            message.arrived_or(now_ms());
        }
        let mut awaits_disk = false;
        // Streams keep their records in logs of their own (`broker::stream`), never in the
        // message log; a confirm waits for the message log and each stream on disk.
        let push = |q: &Arc<Queue>, m: Arc<Message>, notify: &Option<_>| match q.stream() {
            Some(s) => Pushed {
                congested: false,
                refused: s.push(&m, Option::clone(notify)),
            },
            None => q.push(m),
        };
        // A quorum queue keeps every message it takes, whatever its delivery mode. A
        // transient message that also reaches other queues goes to those as a copy that is
        // not in the log: a log record belongs to every surviving queue it reaches.
        let logs =
            |q: &Arc<Queue>| q.stream().is_none() && (message.persistent || q.logs_every_message());
        // Nothing for a disk (most publishes): no store (streams are in memory then), or no
        // stream among the queues and none that logs the message. Straight to the queues,
        // the last one taking the message itself: the bookkeeping below cost S1 2.7-5% of
        // the broker's CPU (A/B, 10 of 10 pairs).
        let store = match &self.store {
            Some(store) if queues.iter().any(|q| q.stream().is_some() || logs(q)) => store,
            _ => {
                if let Some((last, others)) = queues.split_last() {
                    for q in others {
                        pushed(q, push(q, message.clone(), &notify));
                    }
                    pushed(last, push(last, message, &notify));
                }
                return false;
            }
        };
        let ids: Vec<u32> = queues
            .iter()
            .filter(|q| logs(q))
            .filter_map(|q| q.store_id())
            .collect();
        let unlogged = (!message.persistent && !ids.is_empty() && !queues.iter().all(logs))
            .then(|| Arc::new(message.unlogged_copy()));
        let streams = notify.as_ref().map_or(0, |_| {
            queues
                .iter()
                .filter(|q| q.stream().is_some_and(|s| s.on_disk()))
                .count()
        });
        let notify = super::stream::joint_notify(notify, streams + usize::from(!ids.is_empty()));
        awaits_disk |= streams > 0;
        if !ids.is_empty() {
            let slot = crate::store::Slot::new();
            let _ = message.slot.set(slot.clone());
            awaits_disk |= notify.is_some();
            store
                .log
                .publish(slot, ids, message.to_log(), notify.clone());
        }
        for q in queues {
            let m = match &unlogged {
                Some(copy) if !logs(q) => copy.clone(),
                _ => message.clone(),
            };
            pushed(q, push(q, m, &notify));
        }
        awaits_disk
    }

    /// Dead-letters messages that left `from`: each goes to the queue's dead-letter
    /// exchange with its history in its headers, or is dropped when there is no such
    /// exchange (or it would only cycle). The original leaves `from` once its successor
    /// is queued. A quorum queue with at-least-once dead-lettering drops nothing: what no
    /// queue took is returned, for `from` to keep and try again.
    pub fn dead_letter(
        &self,
        from: &Arc<Queue>,
        items: Vec<(QueuedMessage, Reason)>,
    ) -> Vec<(QueuedMessage, Reason)> {
        let (dlx, routing_key, at_least_once) = from.dead_letter_target();
        let dlx = dlx.as_deref().and_then(|name| self.exchange(name).ok());
        let Some(dlx) = dlx else {
            if at_least_once {
                return items;
            }
            for (e, _) in &items {
                from.settle(e);
            }
            return Vec::new();
        };
        let mut kept = Vec::new();
        let now = now_ms();
        let mut touched: Vec<Arc<Queue>> = Vec::new();
        for (entry, reason) in items {
            let dl = dead_letter::dead_letter(
                &entry.message,
                &from.name,
                reason,
                &dlx.name,
                routing_key.as_deref(),
                now,
                self.profile().sets_x_last_death(),
            );
            if let Some(dl) = dl {
                let mut queues = self.route_keys(&dlx, &dl.message, &dl.routing_keys[1..]);
                queues.retain(|q| {
                    let cycle = dead_letter::is_cycle(&q.name, reason, &dl.history);
                    if cycle {
                        tracing::warn!(
                            queue = %from.name,
                            target = %q.name,
                            "message dropped: dead-lettering it would close a cycle"
                        );
                    }
                    !cycle
                });
                if queues.is_empty() && at_least_once {
                    kept.push((entry, reason));
                    continue;
                }
                self.store_and_push(&queues, Arc::new(dl.message), None, |q, _| {
                    if !touched.iter().any(|t| Arc::ptr_eq(t, q)) {
                        touched.push(q.clone());
                    }
                });
            }
            from.settle(&entry);
        }
        for q in touched {
            q.dispatch();
        }
        kept
    }

    /// Follows bindings from `source`, through exchange-to-exchange bindings, to queues.
    fn route_from(
        &self,
        source: &Arc<Exchange>,
        keys: RouteKeys<'_>,
        message: &Message,
        headers: &mut Option<Option<FieldTable>>,
        visited: &mut Vec<Arc<Exchange>>,
        queues: &mut Vec<Arc<Queue>>,
    ) {
        let mut pending = vec![source.clone()];
        let mut dests = Vec::new();
        while let Some(src) = pending.pop() {
            dests.clear();
            let h = if src.settings.kind == ExchangeKind::Headers {
                headers.get_or_insert_with(|| message.headers()).as_ref()
            } else {
                None
            };
            src.route(keys.key, h, &mut dests);
            // A local random exchange picks one queue per message, however many keys it has.
            if src.settings.kind != ExchangeKind::LocalRandom {
                for k in keys.more {
                    src.route(k, h, &mut dests);
                }
            }
            for d in dests.drain(..) {
                match d {
                    Destination::Queue(n) => {
                        if let Some(q) = self.queues.get(&n) {
                            queues.push(q.clone());
                        }
                    }
                    Destination::Exchange(n) => {
                        if !visited.iter().any(|v| *v.name == *n)
                            && visited.len() < MAX_ROUTE_HOPS
                            && let Ok(next) = self.exchange(&n)
                        {
                            visited.push(next.clone());
                            pending.push(next);
                        }
                    }
                }
            }
        }
    }
}

/// The keys a message is routed with: its routing key, then any CC, BCC or dead-letter
/// keys. Each exchange on the way matches them all.
#[derive(Clone, Copy)]
struct RouteKeys<'a> {
    key: &'a str,
    more: &'a [String],
}

/// Rebuilds a quorum queue's state machine by replaying its log: every recovered message's
/// publish, then the records of those with more (in log order for each), then the restart.
/// Flags redelivered what was delivered; returns the machine, the return counts of the
/// messages that have any, and those the restart took past the delivery limit.
fn replay_quorum(
    rules: super::queue::quorum::Rules,
    recovered: &mut crate::store::RecoveredQueue,
) -> super::queue::quorum::machine::Restored {
    use super::queue::quorum::machine::{Record, Replay};
    use super::queue::quorum::{Counts, Return};
    use crate::store::Event;
    let mut replay = Replay::new(rules);
    let history = std::mem::take(&mut recovered.history);
    // Messages without a history are ready as published; their ids do not matter.
    for _ in history.len()..recovered.len() {
        replay.record(0, Record::Published);
    }
    for (id, events) in &history {
        replay.record(*id, Record::Published);
        for e in events {
            let r = match *e {
                Event::Delivered => Record::Delivered,
                Event::Returned { failed: false } => Record::Returned(Return::Requeued),
                Event::Returned { failed: true } => Record::Returned(Return::Failed),
                Event::Counted(acquired, failed) => Record::Counted(Counts { acquired, failed }),
            };
            replay.record(*id, r);
        }
    }
    let restored = replay.finish();
    for r in &mut recovered.loaded {
        if let Some(p) = r.slot.position() {
            r.redelivered |= restored.messages.get(&p.id).is_some_and(|h| h.redelivered);
        }
    }
    restored
}
