//! The broker core: vhosts, exchanges, bindings, queues and consumers, in memory.
//!
//! It knows nothing of frames or sockets: channels call into it with plain values and get
//! `BrokerError`s back.
//!
//! # Lock order
//! A thread may take, in this order and never the reverse:
//! 1. a `DashMap` shard of a vhost's exchange or queue map (held only for a lookup or an
//!    insert; never while calling into an exchange or queue),
//! 2. an exchange's binding table (`RwLock`, read on the publish path),
//! 3. a queue's state (`Mutex`),
//! 4. a stream's reader list, then one reader's cursor, then the stream's log (each a
//!    `Mutex`; `stream`); a stream's dispatch takes no queue lock while it reads.
//!
//! A policy change holds its vhost's `policy_changes` mutex before any of these, while it
//! puts the new policies into effect on each exchange and queue (whose own policy lock, an
//! exchange's `RwLock` beside its binding table, is taken alone). The vhost's policy set is
//! behind an `RwLock` held only to read or replace an `Arc`.
//!
//! The direct reply-to registry's `DashMap` stands apart: a shard of it is held only to look an
//! address up (and send to its connection's unbounded channel), insert or remove one, with
//! no other lock held.
//!
//! A queue never calls back into an exchange or a map while holding its lock; it only sends
//! to consumers' unbounded channels. What it decides for the rest of the broker
//! (dead-letter these messages, delete me) it hands to its vhost after releasing the lock
//! (`queue::Effects`), and the vhost routes them from there. No lock is held across an `.await`. Publishing to queue
//! A never waits on queue B: routing releases the exchange's lock before pushing to queues.

pub mod access;
pub mod alarm;
pub mod backlog;
pub mod churn;
pub mod connection_info;
pub mod consumer;
pub mod dead_letter;
pub mod definitions;
pub mod diagnostics;
pub mod error;
pub mod exchange;
pub mod json;
pub mod memory;
pub mod message;
pub mod names;
pub mod node;
pub mod policy;
pub mod profile;
pub mod queue;
pub mod reply_to;
pub mod stream;
pub mod test_control;
pub mod timer;
pub mod trace;
pub mod vhost;
pub mod vhost_metadata;

pub use error::BrokerError;
pub use vhost::VHost;

use crate::store::{self, StoreError};
use access::AccessControl;
use access::definitions::{
    AccessDefinitions, VhostDef, limits as definitions_limits, limits_value,
};
use alarm::{AlarmSet, DiskAlarm};
use connection_info::{ConnectionInfo, ConnectionStats};
use dashmap::DashMap;
use memory::MemoryAlarm;
use policy::{Policy, PolicyError, PolicyKind, PolicySet, PolicyStatus};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use tokio::sync::mpsc::UnboundedSender;

/// Everything the broker holds, shared by every connection.
#[derive(Debug)]
pub struct Core {
    vhosts: DashMap<String, Arc<VHost>>,
    /// Open connections, by id: who and where, and how to reach them.
    connections: DashMap<u64, Registered>,
    /// max-connections per vhost and per user (RabbitMQ's vhost and user limits).
    limits: DashMap<(LimitOf, String), u64>,
    /// max-channels per user (RabbitMQ's user limit): channels open on all of the user's
    /// connections together.
    channel_limits: DashMap<String, u64>,
    access: AccessControl,
    /// Where durable state lives; None for a broker in memory.
    data_dir: Option<PathBuf>,
    next_connection: AtomicU64,
    /// The resource alarms that are up, which block publishers.
    alarms: Arc<AlarmSet>,
    disk_alarm: Arc<DiskAlarm>,
    memory_alarm: Arc<MemoryAlarm>,
    replies: Arc<reply_to::Registry>,
    /// `--max-message-size`: read by each connection as it opens.
    max_message_size: AtomicU64,
    /// `--consumer-timeout` in ms (0: none), RabbitMQ's `consumer_timeout`: read by each
    /// connection as it opens.
    consumer_timeout: AtomicU64,
    /// `--connection-max` (0: none), RabbitMQ's `connection_max`: connections the node takes.
    connection_max: AtomicU64,
    /// Connections and channels opened and closed; queue churn of deleted vhosts.
    churn: churn::Churn,
    /// The RabbitMQ release whose behaviour to follow, fixed before the broker serves.
    profile: profile::Profile,
    /// Whom SASL ANONYMOUS logs in as (RabbitMQ's `anonymous_login_user` and
    /// `anonymous_login_pass`, guest/guest by default); None turns the mechanism off.
    anonymous_login: Option<(String, String)>,
    /// What clients did that usually hides a bug, for `Broker::diagnostics`.
    diagnostics: diagnostics::Diagnostics,
    /// Fault plans waiting for connections (`test_control`).
    faults: crate::testing::faults::Registry,
    /// What `reset` returns to, as a definitions document; None for a fresh broker's state.
    initial: std::sync::Mutex<Option<Vec<u8>>>,
    /// Isolated vhosts made so far, for their names.
    isolated: AtomicU64,
    /// Which connections are recorded frame by frame (none, usually).
    recordings: crate::testing::Recordings,
}

/// An open connection as the broker tracks it.
#[derive(Debug)]
struct Registered {
    info: Arc<ConnectionInfo>,
    sink: UnboundedSender<consumer::Outbound>,
    /// The connection's open channels, which it keeps up to date.
    channels: Arc<AtomicU32>,
}

/// A node's memory and disk figures, named as RabbitMQ's `/api/nodes` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// Bytes held by messages and connection buffers, by the broker's account: what the
    /// memory alarm compares with `mem_limit`.
    pub mem_used: u64,
    pub mem_limit: u64,
    pub mem_alarm: bool,
    /// The process's resident set, where the OS says (reported, not used by the alarm).
    pub mem_rss: Option<u64>,
    /// Free bytes on the data directory's filesystem; None in memory.
    pub disk_free: Option<u64>,
    pub disk_free_limit: u64,
    pub disk_free_alarm: bool,
}

/// What a connection limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitOf {
    Vhost,
    User,
}

/// The RabbitMQ release whose behaviour Warren follows, reported where tools look for a
/// RabbitMQ version (definitions, the management API).
pub const RABBITMQ_VERSION: &str = "4.3.0";

/// RabbitMQ's default `consumer_timeout`: 30 minutes.
pub const DEFAULT_CONSUMER_TIMEOUT_MS: u64 = 1_800_000;

/// The access model's file in the data directory: RabbitMQ's definitions format, users,
/// vhosts, permissions, policies and operator policies only.
const ACCESS_FILE: &str = "access.json";

impl Default for Core {
    fn default() -> Self {
        Self::new()
    }
}

impl Core {
    /// A broker with vhost "/" and user guest/guest (loopback only), as RabbitMQ starts,
    /// all in memory.
    pub fn new() -> Core {
        let core = Self::empty(None);
        core.vhosts.insert("/".into(), VHost::new("/"));
        core
    }

    /// Like `new`, with durable state kept in (and recovered from) `data_dir`: every vhost,
    /// user and permission there is, or RabbitMQ's defaults on a first start.
    pub fn open(data_dir: &Path) -> Result<Core, StoreError> {
        Self::open_as(data_dir, profile::Profile::default())
    }

    /// `open` under a version profile, which recovery follows too (what a restart does to
    /// a quorum queue's messages depends on the release's counting rules).
    pub fn open_as(data_dir: &Path, p: profile::Profile) -> Result<Core, StoreError> {
        let mut core = Self::empty(Some(data_dir.to_owned()));
        core.profile = p;
        let defaults = || AccessDefinitions {
            vhosts: vec![VhostDef::named("/")],
            ..AccessDefinitions::default()
        };
        let defs = match std::fs::read(data_dir.join(ACCESS_FILE)) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(defs) => defs,
                Err(e) => Self::damaged_access(data_dir, &e.to_string(), defaults()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => defaults(),
            Err(e) => return Err(StoreError::io(format!("reading {ACCESS_FILE}"), e)),
        };
        let (model, vhosts, errors) = defs.to_model();
        for e in errors {
            tracing::error!("{ACCESS_FILE}: {e}, skipped");
        }
        let (policies, errors) = policy::from_definitions(&defs.policies, &defs.parameters);
        for e in errors {
            tracing::error!("{ACCESS_FILE}: {e}, skipped");
        }
        if !defs.users.is_empty() {
            core.access.replace(model);
        }
        for def in vhosts {
            let mut set = PolicySet::default();
            for (kind, p) in policies.iter().filter(|(_, p)| p.vhost == def.name) {
                match set.with(*kind, p.clone()) {
                    Ok(next) => set = next,
                    Err(e) => tracing::error!(
                        "{ACCESS_FILE}: policy '{}' in vhost '{}': {e}, skipped",
                        p.name,
                        def.name
                    ),
                }
            }
            let v = VHost::open(&def.name, data_dir, set, core.profile)?;
            match def.metadata_over(v.metadata()) {
                Ok(m) => v.set_metadata(m),
                Err(e) => {
                    tracing::error!("{ACCESS_FILE}: vhost '{}': {e}, metadata skipped", def.name)
                }
            }
            core.vhosts.insert(def.name.clone(), v);
            core.apply_vhost_limits(&def.name, &definitions_limits(&def.limits));
        }
        for u in &defs.users {
            core.apply_user_limits(&u.name, &definitions_limits(&u.limits));
        }
        Ok(core)
    }

    /// The access model's file does not parse: it is kept aside for an operator to look at,
    /// and the broker starts with RabbitMQ's defaults (guest, loopback only) and every vhost
    /// whose data is on disk, so no message is lost with the file. Users, permissions,
    /// limits and policies are gone until restored (the log line says so).
    fn damaged_access(
        data_dir: &Path,
        why: &str,
        mut defs: AccessDefinitions,
    ) -> AccessDefinitions {
        let aside = data_dir.join(format!("{ACCESS_FILE}.damaged"));
        let kept = std::fs::rename(data_dir.join(ACCESS_FILE), &aside).is_ok();
        for name in store::vhosts_on_disk(data_dir) {
            if !defs.vhosts.iter().any(|v| v.name == name) {
                defs.vhosts.push(VhostDef::named(name));
            }
        }
        tracing::error!(
            "{ACCESS_FILE} is damaged ({why}){}: starting with the default user and the {} vhosts found on disk; users, permissions, limits and policies must be restored (e.g. from a definitions export)",
            if kept {
                format!(", kept as {}", aside.display())
            } else {
                String::new()
            },
            defs.vhosts.len()
        );
        defs
    }

    /// A vhost's limits from definitions: max-connections and max-queues (negative: none).
    pub fn apply_vhost_limits(&self, vhost: &str, pairs: &[(String, i64)]) {
        for (name, n) in pairs {
            let max = u64::try_from(*n).ok();
            match name.as_str() {
                "max-connections" => self.set_connection_limit(LimitOf::Vhost, vhost, max),
                "max-queues" => {
                    if let Some(v) = self.vhost(vhost) {
                        v.set_max_queues(max);
                    }
                }
                other => tracing::warn!(vhost, "vhost limit '{other}' is not supported"),
            }
        }
    }

    /// A user's limits from definitions: max-connections and max-channels (negative: none).
    pub fn apply_user_limits(&self, user: &str, pairs: &[(String, i64)]) {
        for (name, n) in pairs {
            match name.as_str() {
                "max-connections" => {
                    self.set_connection_limit(LimitOf::User, user, u64::try_from(*n).ok())
                }
                "max-channels" => self.set_channel_limit(user, u64::try_from(*n).ok()),
                other => tracing::warn!(user, "user limit '{other}' is not supported yet"),
            }
        }
    }

    fn empty(data_dir: Option<PathBuf>) -> Core {
        let alarms = Arc::new(AlarmSet::default());
        Core {
            vhosts: DashMap::new(),
            connections: DashMap::new(),
            limits: DashMap::new(),
            channel_limits: DashMap::new(),
            access: AccessControl::with_guest(),
            disk_alarm: Arc::new(DiskAlarm::new(data_dir.clone(), alarms.clone())),
            memory_alarm: Arc::new(MemoryAlarm::new(alarms.clone())),
            alarms,
            data_dir,
            next_connection: AtomicU64::new(1),
            replies: Arc::default(),
            max_message_size: AtomicU64::new(crate::broker::message::DEFAULT_MAX_MESSAGE_SIZE),
            consumer_timeout: AtomicU64::new(DEFAULT_CONSUMER_TIMEOUT_MS),
            connection_max: AtomicU64::new(0),
            churn: churn::Churn::default(),
            profile: profile::Profile::default(),
            anonymous_login: Some(("guest".into(), "guest".into())),
            diagnostics: diagnostics::Diagnostics::default(),
            faults: Default::default(),
            initial: Default::default(),
            isolated: AtomicU64::new(0),
            recordings: crate::testing::Recordings::default(),
        }
    }

    /// Follows `p` where RabbitMQ releases differ; done before the broker serves (its
    /// vhosts and connections read it as they are made). Also sets the profile's default
    /// largest message, which an explicit `set_max_message_size` afterwards overrides.
    pub fn set_profile(&mut self, p: profile::Profile) {
        self.profile = p;
        self.set_max_message_size(p.default_max_message_size());
        for v in self.vhosts.iter() {
            v.set_profile(p);
        }
    }

    pub fn profile(&self) -> profile::Profile {
        self.profile
    }

    /// Sets whom SASL ANONYMOUS logs in as, or turns it off (None), as RabbitMQ's
    /// `anonymous_login_user = none` does; done before the broker serves.
    pub fn set_anonymous_login(&mut self, login: Option<(String, String)>) {
        self.anonymous_login = login;
    }

    /// The user and password SASL ANONYMOUS logs in with, where connection.start offers it:
    /// under a 4.x profile, unless turned off. The login is then checked as any other, so
    /// the user must exist with that password, and guest still only from loopback.
    pub fn anonymous_login(&self) -> Option<(&str, &str)> {
        let (user, password) = self.anonymous_login.as_ref()?;
        self.profile
            .offers_anonymous_login()
            .then_some((user.as_str(), password.as_str()))
    }

    /// The misuse diagnostics report.
    pub fn diagnostics(&self) -> &diagnostics::Diagnostics {
        &self.diagnostics
    }

    pub fn vhost(&self, name: &str) -> Option<Arc<VHost>> {
        self.vhosts.get(name).map(|v| v.clone())
    }

    pub fn vhost_names(&self) -> Vec<String> {
        self.vhosts.iter().map(|v| v.key().clone()).collect()
    }

    /// Creates a vhost (a no-op if it exists), with its own amq.* exchanges and durable state.
    pub fn add_vhost(&self, name: &str) -> Result<Arc<VHost>, StoreError> {
        if let Some(v) = self.vhost(name) {
            return Ok(v);
        }
        let v = match &self.data_dir {
            Some(dir) => VHost::open(name, dir, PolicySet::default(), self.profile)?,
            None => VHost::new(name),
        };
        v.set_profile(self.profile);
        let v = self.vhosts.entry(name.to_owned()).or_insert(v).clone();
        self.persist_access();
        Ok(v)
    }

    /// Deletes a vhost with everything in it, on disk too; returns whether it existed.
    pub fn delete_vhost(&self, name: &str) -> bool {
        let Some((_, v)) = self.vhosts.remove(name) else {
            return false;
        };
        v.close(false);
        v.queue_churn().add_to(&self.churn.retired_queues);
        self.force_close(
            |c| c.info.vhost == name,
            &format!("vhost '{name}' is deleted"),
        );
        if let Some(dir) = &self.data_dir
            && let Err(e) = std::fs::remove_dir_all(store::vhost_dir(dir, name))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(vhost = name, "cannot remove the vhost's data: {e}");
        }
        self.access.vhost_deleted(name);
        self.persist_access();
        true
    }

    /// The access model (users, permissions); changes through it are persisted with
    /// `persist_access`.
    pub fn access(&self) -> &AccessControl {
        &self.access
    }

    /// Creates (or resets) a user tagged administrator, with every permission on every
    /// vhost, for `--user`.
    pub fn add_admin(&self, name: &str, password: &str) {
        self.access.put_user(
            name,
            access::password::PasswordHash::new(password),
            vec!["administrator".into()],
        );
        for vhost in self.vhost_names() {
            self.access
                .set_permissions(name, &vhost, access::Permissions::all());
        }
        self.persist_access();
    }

    /// Deletes a user with its permissions and closes its connections; returns whether it
    /// existed.
    pub fn delete_user(&self, name: &str) -> bool {
        let existed = self.access.delete_user(name);
        if existed {
            // Limits belong to the user record in RabbitMQ: a user made again starts free.
            self.limits.remove(&(LimitOf::User, name.to_owned()));
            self.channel_limits.remove(name);
            self.force_close(
                |c| c.info.user == name,
                &format!("user '{name}' is deleted"),
            );
            self.persist_access();
        }
        existed
    }

    /// Adds an opened connection to the table; the fault plans waiting for it, for it to
    /// take before it reads anything.
    pub fn register_connection(
        &self,
        info: Arc<ConnectionInfo>,
        sink: UnboundedSender<consumer::Outbound>,
        channels: Arc<AtomicU32>,
    ) -> Vec<Arc<crate::testing::FaultPlan>> {
        churn::bump(&self.churn.connections_opened);
        let plans = self.faults.for_new_connection(&info);
        self.connections.insert(
            info.id,
            Registered {
                info,
                sink,
                channels,
            },
        );
        plans
    }

    /// Every open connection, as it opened.
    pub fn connections(&self) -> Vec<Arc<ConnectionInfo>> {
        self.connections.iter().map(|c| c.info.clone()).collect()
    }

    /// Asks connection `id` for its state now; None if it is gone or does not answer (its
    /// task is busy for longer than the management API waits).
    pub async fn describe_connection(&self, id: u64) -> Option<ConnectionStats> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self
            .connections
            .get(&id)
            .is_some_and(|c| c.sink.send(consumer::Outbound::Describe(tx)).is_ok());
        if !sent {
            return None;
        }
        tokio::time::timeout(std::time::Duration::from_secs(5), rx)
            .await
            .ok()?
            .ok()
    }

    /// Closes connection `id` with 320 CONNECTION_FORCED and `reason`, as the management
    /// API's DELETE does, and returns once the close is written (or after 5 s of a
    /// connection too busy to write it); whether it was open.
    pub async fn close_connection(&self, id: u64, reason: &str) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let close = consumer::Outbound::ForceClose {
            reason: reason.to_owned(),
            written: Some(tx),
        };
        let Some(sink) = self.connections.get(&id).map(|c| c.sink.clone()) else {
            return false;
        };
        if sink.send(close).is_err() {
            return false;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rx).await;
        true
    }

    pub fn unregister_connection(&self, id: u64) {
        if self.connections.remove(&id).is_some() {
            churn::bump(&self.churn.connections_closed);
        }
    }

    /// The counters connections keep up to date as their channels open and close.
    pub fn churn(&self) -> &churn::Churn {
        &self.churn
    }

    /// Connections, channels and queues opened and closed since the broker started.
    pub fn churn_counts(&self) -> churn::ChurnCounts {
        let c = &self.churn;
        let mut out = churn::ChurnCounts {
            connections_opened: c.connections_opened.load(Ordering::Relaxed),
            connections_closed: c.connections_closed.load(Ordering::Relaxed),
            channels_opened: c.channels_opened.load(Ordering::Relaxed),
            channels_closed: c.channels_closed.load(Ordering::Relaxed),
            ..Default::default()
        };
        out.add_queues(&c.retired_queues);
        for v in self.vhosts.iter() {
            out.add_queues(v.queue_churn());
        }
        out
    }

    /// Closes the connections `which` picks with 320 CONNECTION_FORCED and `reason`.
    fn force_close(&self, which: impl Fn(&Registered) -> bool, reason: &str) {
        for c in self.connections.iter().filter(|c| which(c.value())) {
            let _ = c.sink.send(consumer::Outbound::ForceClose {
                reason: reason.to_owned(),
                written: None,
            });
        }
    }

    /// Sets (Some) or clears (None) the max-connections limit of a vhost or a user; a
    /// negative limit in RabbitMQ's terms means none.
    pub fn set_connection_limit(&self, of: LimitOf, name: &str, max: Option<u64>) {
        match max {
            Some(n) => {
                self.limits.insert((of, name.to_owned()), n);
            }
            None => {
                self.limits.remove(&(of, name.to_owned()));
            }
        }
    }

    /// Sets (Some) or clears (None) a user's max-channels limit, as `rabbitmqctl
    /// set_user_limits` does; channels already open stay open.
    pub fn set_channel_limit(&self, user: &str, max: Option<u64>) {
        match max {
            Some(n) => {
                self.channel_limits.insert(user.to_owned(), n);
            }
            None => {
                self.channel_limits.remove(user);
            }
        }
    }

    /// RabbitMQ's refusal of one more channel for `user` when the channels open on all of
    /// its connections reach its max-channels limit. The count is read without a lock, so
    /// two connections of one user opening channels at the same instant may both get the
    /// last one, as RabbitMQ's tracking can.
    pub fn channel_refusal(&self, user: &str) -> Option<String> {
        let max = self.channel_limits.get(user).map(|m| *m)?;
        let open: u64 = self
            .connections
            .iter()
            .filter(|c| c.info.user == user)
            .map(|c| u64::from(c.channels.load(Ordering::Relaxed)))
            .sum();
        (open >= max).then(|| {
            format!(
                "number of channels opened for user '{user}' has reached the maximum allowed user limit of ({max})"
            )
        })
    }

    /// RabbitMQ's connection-limit refusal for a new connection of `user` to `vhost`, in
    /// its order (the node's limit, the vhost's, then the user's), if a limit is reached.
    pub fn connection_refusal(&self, user: &str, vhost: &str) -> Option<String> {
        let count = |f: &dyn Fn(&Registered) -> bool| {
            self.connections.iter().filter(|c| f(c.value())).count() as u64
        };
        let node_max = self.connection_max.load(Ordering::Relaxed);
        if node_max > 0 && self.connections.len() as u64 >= node_max {
            return Some(format!(
                "connection refused: node connection limit ({node_max}) is reached"
            ));
        }
        if let Some(max) = self
            .limits
            .get(&(LimitOf::Vhost, vhost.to_owned()))
            .map(|m| *m)
            && count(&|c| c.info.vhost == vhost) >= max
        {
            return Some(format!(
                "access to vhost '{vhost}' refused for user '{user}': connection limit ({max}) is reached"
            ));
        }
        if let Some(max) = self
            .limits
            .get(&(LimitOf::User, user.to_owned()))
            .map(|m| *m)
            && count(&|c| c.info.user == user) >= max
        {
            return Some(format!(
                "connection refused for user '{user}': user connection limit ({max}) is reached"
            ));
        }
        None
    }

    /// A vhost's limits as (name, value) pairs: max-connections, max-queues.
    pub fn vhost_limits(&self, vhost: &str) -> Vec<(String, i64)> {
        let mut pairs = Vec::new();
        if let Some(m) = self.limits.get(&(LimitOf::Vhost, vhost.to_owned())) {
            pairs.push(("max-connections".to_owned(), *m as i64));
        }
        if let Some(max) = self.vhost(vhost).and_then(|v| v.max_queues()) {
            pairs.push(("max-queues".into(), max as i64));
        }
        pairs
    }

    /// A user's limits as (name, value) pairs.
    pub fn user_limits(&self, user: &str) -> Vec<(String, i64)> {
        let mut pairs: Vec<(String, i64)> = self
            .limits
            .get(&(LimitOf::User, user.to_owned()))
            .map(|m| ("max-connections".to_owned(), *m as i64))
            .into_iter()
            .collect();
        if let Some(max) = self.channel_limits.get(user).map(|m| *m) {
            pairs.push(("max-channels".into(), max as i64));
        }
        pairs
    }

    /// The access model in RabbitMQ's definitions format: users, vhosts with their limits,
    /// permissions, topic permissions.
    pub fn access_definitions(&self) -> AccessDefinitions {
        // Names first: no map lock is held while each vhost is looked up again.
        let vhosts = self
            .vhost_names()
            .into_iter()
            .map(|name| VhostDef {
                limits: limits_value(&self.vhost_limits(&name)),
                metadata: self
                    .vhost(&name)
                    .and_then(|v| serde_json::to_value(v.metadata()).ok())
                    .unwrap_or_default(),
                ..VhostDef::named(name)
            })
            .collect();
        let mut defs = AccessDefinitions::from_model(&self.access.snapshot(), vhosts, |user| {
            limits_value(&self.user_limits(user))
        });
        defs.policies = self.policies_definitions();
        defs.parameters = self.operator_policies_definitions();
        defs
    }

    /// Writes the access model to the data directory, replacing the file atomically.
    pub fn persist_access(&self) {
        let Some(dir) = &self.data_dir else {
            return;
        };
        let defs = self.access_definitions();
        let written = serde_json::to_vec_pretty(&defs)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let tmp = dir.join(format!("{ACCESS_FILE}.tmp"));
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, dir.join(ACCESS_FILE))
            });
        if let Err(e) = written {
            tracing::error!("cannot save {ACCESS_FILE}: {e}");
        }
    }

    /// Adds a policy to `vhost` (or replaces the one of its name) and puts it into effect on
    /// the vhost's queues and exchanges; kept in the data directory.
    pub fn set_policy(&self, vhost: &str, policy: Policy) -> Result<(), PolicyError> {
        self.set_any_policy(PolicyKind::Policy, vhost, policy)
    }

    /// Removes a policy; returns whether it existed.
    pub fn clear_policy(&self, vhost: &str, name: &str) -> bool {
        self.clear_any_policy(PolicyKind::Policy, vhost, name)
    }

    /// The policies of one vhost, or of all: by vhost, then lowest priority first (as
    /// RabbitMQ lists them), then by name.
    pub fn policies(&self, vhost: Option<&str>) -> Vec<Policy> {
        self.any_policies(PolicyKind::Policy, vhost)
    }

    /// Adds an operator policy (only the keys RabbitMQ lets operators cap) or replaces the
    /// one of its name, and puts it into effect.
    pub fn set_operator_policy(&self, vhost: &str, policy: Policy) -> Result<(), PolicyError> {
        self.set_any_policy(PolicyKind::Operator, vhost, policy)
    }

    pub fn clear_operator_policy(&self, vhost: &str, name: &str) -> bool {
        self.clear_any_policy(PolicyKind::Operator, vhost, name)
    }

    pub fn operator_policies(&self, vhost: Option<&str>) -> Vec<Policy> {
        self.any_policies(PolicyKind::Operator, vhost)
    }

    /// The policies as the `policies` section of a definitions export.
    pub fn policies_definitions(&self) -> Vec<serde_json::Value> {
        self.policies(None)
            .iter()
            .map(|p| p.to_definition(PolicyKind::Policy))
            .collect()
    }

    /// The operator policies as entries of a definitions export's `parameters` section,
    /// where RabbitMQ lists them.
    pub fn operator_policies_definitions(&self) -> Vec<serde_json::Value> {
        self.operator_policies(None)
            .iter()
            .map(|p| p.to_definition(PolicyKind::Operator))
            .collect()
    }

    /// The policies that apply to a queue (`policy`, `operator_policy`,
    /// `effective_policy_definition` of `/api/queues`), if the queue exists.
    pub fn queue_policy_status(&self, vhost: &str, queue: &str) -> Option<PolicyStatus> {
        Some(self.vhost(vhost)?.queue_any(queue)?.policy_status())
    }

    /// The policies that apply to an exchange, if it exists.
    pub fn exchange_policy_status(&self, vhost: &str, exchange: &str) -> Option<PolicyStatus> {
        let x = self.vhost(vhost)?.exchange(exchange).ok()?;
        Some(x.policy_status())
    }

    fn set_any_policy(
        &self,
        kind: PolicyKind,
        vhost: &str,
        policy: Policy,
    ) -> Result<(), PolicyError> {
        let v = self
            .vhost(vhost)
            .ok_or_else(|| PolicyError::NoVhost(vhost.to_owned()))?;
        v.set_policy(kind, policy)?;
        self.persist_access();
        Ok(())
    }

    fn clear_any_policy(&self, kind: PolicyKind, vhost: &str, name: &str) -> bool {
        let cleared = self
            .vhost(vhost)
            .is_some_and(|v| v.clear_policy(kind, name));
        if cleared {
            self.persist_access();
        }
        cleared
    }

    fn any_policies(&self, kind: PolicyKind, vhost: Option<&str>) -> Vec<Policy> {
        let mut names = match vhost {
            Some(v) => vec![v.to_owned()],
            None => self.vhost_names(),
        };
        names.sort();
        names
            .iter()
            .filter_map(|n| self.vhost(n))
            .flat_map(|v| {
                let mut list = v.policies(kind);
                list.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
                list
            })
            .collect()
    }

    /// Whether `user` may log in with `password` from a peer that is (or is not) on loopback.
    pub fn authenticate(&self, user: &str, password: &str, from_loopback: bool) -> bool {
        self.access.authenticate(user, password, from_loopback)
    }

    /// Whether `user` exists and may connect from a peer that is (or is not) on loopback,
    /// with no password: for SASL EXTERNAL, where TLS has verified who the peer is.
    pub fn user_may_connect(&self, user: &str, from_loopback: bool) -> bool {
        self.access.user_may_connect(user, from_loopback)
    }

    /// Stops the message stores. After a clean stop (every connection closed properly, so
    /// unacked messages are back in their queues) each vhost leaves an index of its queues,
    /// which spares the next start a scan of the log.
    pub fn close(&self, clean: bool) {
        for v in self.vhosts.iter() {
            v.close(clean);
        }
    }

    pub fn disk_alarm(&self) -> &Arc<DiskAlarm> {
        &self.disk_alarm
    }

    /// The memory alarm: its watermark can be changed at runtime (as `rabbitmqctl
    /// set_vm_memory_high_watermark`) with `set_watermark`.
    pub fn memory_alarm(&self) -> &Arc<MemoryAlarm> {
        &self.memory_alarm
    }

    /// The alarms that are up; a connection that publishes waits for them to clear.
    pub fn alarms(&self) -> &Arc<AlarmSet> {
        &self.alarms
    }

    /// Memory and disk as RabbitMQ's `/api/nodes` reports them, for a management API.
    pub fn node_status(&self) -> NodeStatus {
        NodeStatus {
            mem_used: self.memory_alarm.used(),
            mem_limit: self.memory_alarm.limit(),
            mem_alarm: self.memory_alarm.is_raised(),
            mem_rss: memory::rss(),
            disk_free: self.disk_alarm.free_bytes(),
            disk_free_limit: self.disk_alarm.limit(),
            disk_free_alarm: self.disk_alarm.is_raised(),
        }
    }

    /// Has every queue page its in-memory messages to disk, as the memory monitor does from
    /// half the watermark on (`MemoryAlarm::check`); with no data directory there is nowhere
    /// to page to.
    pub fn page_out(&self) {
        if self.data_dir.is_none() {
            return;
        }
        self.each_queue(|q| q.page_out(queue::PAGED_KEEP));
    }

    /// Runs `f` on every queue of every vhost. The vhosts are collected first: no map
    /// shard is held while a queue is locked.
    fn each_queue(&self, mut f: impl FnMut(&Arc<queue::Queue>)) {
        let vhosts: Vec<Arc<VHost>> = self.vhosts.iter().map(|v| v.clone()).collect();
        for v in vhosts {
            for q in v.queues() {
                f(&q);
            }
        }
    }

    /// Asks every queue to deliver what its consumers have room for: after the memory alarm
    /// clears, consumers it held back (`consumer::UNACKED_UNDER_MEMORY_ALARM`) may take again.
    pub fn dispatch_all(&self) {
        self.each_queue(|q| q.dispatch());
    }

    /// Direct reply-to addresses, shared by every vhost as RabbitMQ's are by the node.
    /// The recordings of connections' frames (`crate::testing`).
    pub fn recordings(&self) -> &crate::testing::Recordings {
        &self.recordings
    }

    pub fn replies(&self) -> &Arc<reply_to::Registry> {
        &self.replies
    }

    /// How long a delivery may stay unacked (RabbitMQ's `consumer_timeout`), for
    /// connections opened from now on; None: forever. What happens then is the profile's
    /// (`Profile::consumer_timeout_cancels`).
    pub fn consumer_timeout(&self) -> Option<std::time::Duration> {
        let ms = self.consumer_timeout.load(Ordering::Relaxed);
        (ms > 0).then(|| std::time::Duration::from_millis(ms))
    }

    /// The most connections the node takes (RabbitMQ's `connection_max`); None: no limit.
    pub fn set_connection_max(&self, max: Option<u64>) {
        self.connection_max
            .store(max.unwrap_or(0), Ordering::Relaxed);
    }

    pub fn set_consumer_timeout(&self, timeout: Option<std::time::Duration>) {
        let ms = timeout.map_or(0, |t| (t.as_millis() as u64).max(1));
        self.consumer_timeout.store(ms, Ordering::Relaxed);
    }

    /// The largest message body a publisher may send, RabbitMQ's `max_message_size`.
    pub fn max_message_size(&self) -> u64 {
        self.max_message_size.load(Ordering::Relaxed)
    }

    /// Sets the largest message body, for connections opened from now on; clamped to
    /// `MAX_MESSAGE_SIZE_CAP` as RabbitMQ clamps it.
    pub fn set_max_message_size(&self, bytes: u64) {
        let bytes = bytes.min(crate::broker::message::MAX_MESSAGE_SIZE_CAP);
        self.max_message_size.store(bytes, Ordering::Relaxed);
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }
}
