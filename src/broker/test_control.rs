//! The core's side of the test-broker features (`crate::testing`): reset, snapshots,
//! per-test vhosts, fault plans, simulated alarms, and a crash with recovery.

use super::access::AccessControl;
use super::access::password::PasswordHash;
use super::alarm::Resource;
use super::consumer::Outbound;
use super::exchange::Destination;
use super::{Core, VHost, json};
use crate::store::{self, StoreError};
use crate::testing::IsolatedVhost;
use crate::testing::faults::{Action, FaultEvent, FaultPlan, Registered, Step, Target};
use crate::testing::snapshot::{
    BindingSnapshot, ConnectionSnapshot, ConsumerSnapshot, ExchangeSnapshot, MachineSnapshot,
    QueueSnapshot, Snapshot, VhostSnapshot,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a reset tells the connections it closes.
const RESET_REASON: &str = "broker forced connection closure with reason 'reset'";

/// How long injecting a fault waits for the connections to take it.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// How long a crash waits for its connections to be gone before it recovers the vhosts.
const CRASH_DRAIN: Duration = Duration::from_secs(5);

impl Core {
    /// Takes the state the broker has now (users, vhosts, permissions, limits, policies,
    /// exchanges, queues and bindings, as a definitions export) as what `reset` returns to.
    pub fn mark_initial(&self) {
        let defs = self.export_definitions(None);
        *self.initial.lock().unwrap_or_else(|p| p.into_inner()) = serde_json::to_vec(&defs).ok();
    }

    /// Back to the state `mark_initial` took (a fresh broker's if it never ran): every
    /// connection is told to close (320) and forgotten, every vhost is replaced by an empty
    /// one (its messages and, with a data directory, its files gone), users, permissions,
    /// limits, fault plans and simulated alarms are dropped, then the initial definitions
    /// are imported again.
    pub fn reset(&self) {
        let started = Instant::now();
        for c in self.connections.iter() {
            let _ = c.sink.send(Outbound::ForceClose {
                reason: RESET_REASON.to_owned(),
                written: None,
            });
        }
        self.connections.clear();
        self.faults.clear();
        self.diagnostics.clear();
        self.alarms.clear_simulated();
        self.limits.clear();
        self.channel_limits.clear();
        let mut old = Vec::new();
        for name in self.vhost_names() {
            if let Some((_, v)) = self.vhosts.remove(&name) {
                v.close(false);
                v.queue_churn().add_to(&self.churn.retired_queues);
                if let Some(dir) = &self.data_dir
                    && let Err(e) = std::fs::remove_dir_all(store::vhost_dir(dir, &name))
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::error!(vhost = %name, "reset cannot remove the vhost's data: {e}");
                }
                old.push(v);
            }
        }
        // Freeing 100,000 messages takes longer than the rest of the reset: it happens
        // behind the caller's back.
        if !old.is_empty() {
            let _ = std::thread::Builder::new()
                .name("warren-reset".into())
                .spawn(move || drop(old));
        }
        self.access.replace(AccessControl::with_guest().snapshot());
        match self.add_vhost("/") {
            Ok(_) => {}
            Err(e) => tracing::error!("reset cannot create vhost '/': {e}"),
        }
        let initial = self
            .initial
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(defs) = initial {
            match self.import_definitions(&defs) {
                Ok(done) => {
                    for s in done.skipped {
                        tracing::warn!("reset: initial definitions: {s}");
                    }
                }
                Err(e) => tracing::error!("reset: initial definitions unreadable: {e}"),
            }
        }
        self.persist_access();
        tracing::info!("broker reset in {:?}", started.elapsed());
    }

    /// Queues with their depths and consumers, exchanges, bindings and connections, now.
    pub fn snapshot(&self) -> Snapshot {
        let mut names = self.vhost_names();
        names.sort();
        let vhosts = names
            .iter()
            .filter_map(|n| self.vhost(n))
            .map(|v| vhost_snapshot(&v))
            .collect();
        let mut connections: Vec<ConnectionSnapshot> = self
            .connections
            .iter()
            .map(|c| ConnectionSnapshot {
                name: c.info.name.clone(),
                connection_name: c.info.user_provided_name().map(str::to_owned),
                user: c.info.user.clone(),
                vhost: c.info.vhost.clone(),
                channels: c.channels.load(Ordering::Relaxed),
            })
            .collect();
        connections.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            vhosts,
            connections,
        }
    }

    /// A new vhost with a new user (no tags, a random password) allowed everything in it and
    /// nothing elsewhere, so tests running side by side never see each other's queues.
    pub fn isolated_vhost(&self) -> Result<IsolatedVhost, StoreError> {
        let n = self.isolated.fetch_add(1, Ordering::Relaxed) + 1;
        let id = super::names::random_suffix()[..8].to_owned();
        let iso = IsolatedVhost {
            vhost: format!("test-{n}-{id}"),
            user: format!("test-{n}-{id}"),
            password: super::names::random_suffix(),
        };
        self.add_vhost(&iso.vhost)?;
        self.access
            .put_user(&iso.user, PasswordHash::new(&iso.password), Vec::new());
        self.access
            .set_permissions(&iso.user, &iso.vhost, super::access::Permissions::all());
        self.persist_access();
        Ok(iso)
    }

    /// Arms a fault plan: the matching connections open now get it at once; a persistent
    /// plan, or a one-shot plan no connection matched yet, waits for connections to open.
    ///
    /// Blocks until each connection reached has taken the plan (at most `ACK_WAIT`), so
    /// the client's next frame meets the fault: call it from a blocking thread.
    pub fn inject_fault(&self, plan: FaultPlan) -> u64 {
        let plan = Arc::new(plan);
        let reached = self.tell_connections(
            |c| plan.target.matches(c),
            |ack| FaultEvent::Plan(plan.clone(), Some(ack)),
        );
        let id = self.faults.add(plan.clone(), reached > 0);
        tracing::warn!(
            id,
            connections = reached,
            persistent = plan.persistent,
            "fault plan armed for {:?}: {:?}",
            plan.target,
            plan.steps
        );
        id
    }

    /// The fault plans still waiting for connections (and the persistent ones).
    pub fn fault_plans(&self) -> Vec<Registered> {
        self.faults.list()
    }

    /// Forgets every fault plan and ends every fault in force on every connection.
    pub fn clear_faults(&self) {
        self.faults.clear();
        self.tell_connections(|_| true, |ack| FaultEvent::Clear(Some(ack)));
        tracing::info!("fault plans cleared");
    }

    /// Sends a fault event to the connections `which` picks and waits for each to
    /// acknowledge it (at most `ACK_WAIT` in all); how many were reached.
    fn tell_connections(
        &self,
        which: impl Fn(&super::connection_info::ConnectionInfo) -> bool,
        event: impl Fn(std::sync::mpsc::SyncSender<()>) -> FaultEvent,
    ) -> usize {
        let sinks: Vec<_> = self
            .connections
            .iter()
            .filter(|c| which(&c.info))
            .map(|c| c.sink.clone())
            .collect();
        let (ack, acks) = std::sync::mpsc::sync_channel(sinks.len());
        let reached = sinks
            .iter()
            .filter(|sink| sink.send(Outbound::Fault(event(ack.clone()))).is_ok())
            .count();
        drop(ack);
        let deadline = Instant::now() + ACK_WAIT;
        for _ in 0..reached {
            let left = deadline.saturating_duration_since(Instant::now());
            if acks.recv_timeout(left).is_err() {
                break;
            }
        }
        reached
    }

    /// Raises or clears a simulated disk or memory alarm, which blocks publishers as the
    /// real one does and stays up whatever the monitors measure.
    pub fn simulate_alarm(&self, resource: Resource, raised: bool) {
        self.alarms.simulate(resource, raised);
        tracing::warn!(
            "simulated {} alarm {}",
            match resource {
                Resource::Disk => "disk",
                Resource::Memory => "memory",
            },
            if raised { "raised" } else { "cleared" }
        );
    }

    /// What a kill -9 and a restart do to the broker's data, without stopping the process:
    /// every connection is dropped without a close, every vhost's message log is stopped
    /// without its clean-shutdown index and recovered from the data directory as a start
    /// after a crash recovers it. A broker in memory loses every queue and message, as a
    /// crashed one would.
    pub fn crash_and_recover(&self) -> Result<(), StoreError> {
        let drop_all = Arc::new(FaultPlan::new(
            Target::All,
            Step::now(Action::DropConnection),
        ));
        for c in self.connections.iter() {
            let _ = c
                .sink
                .send(Outbound::Fault(FaultEvent::Plan(drop_all.clone(), None)));
        }
        let deadline = Instant::now() + CRASH_DRAIN;
        while !self.connections.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        tracing::warn!("simulated crash: recovering every vhost from its data");
        for name in self.vhost_names() {
            let Some(old) = self.vhost(&name) else {
                continue;
            };
            old.close(false);
            let fresh = match &self.data_dir {
                Some(dir) => VHost::open(&name, dir, (*old.policy_set()).clone(), self.profile)?,
                None => VHost::new(&name),
            };
            fresh.set_max_queues(old.max_queues());
            fresh.set_profile(self.profile);
            self.vhosts.insert(name, fresh);
        }
        Ok(())
    }
}

fn vhost_snapshot(v: &Arc<VHost>) -> VhostSnapshot {
    let mut queues: Vec<QueueSnapshot> = v
        .queues()
        .iter()
        .map(|q| {
            let info = q.info();
            QueueSnapshot {
                name: q.name.to_string(),
                durable: q.settings.durable,
                exclusive: q.settings.exclusive,
                auto_delete: q.settings.auto_delete,
                arguments: json::table_json(&q.settings.arguments),
                messages_ready: info.ready,
                messages_unacknowledged: info.counters.unacked,
                messages: info.ready + info.counters.unacked,
                machine: q
                    .machine_state()
                    .map(|(ready, checked_out, refused)| MachineSnapshot {
                        ready,
                        checked_out,
                        refused,
                    }),
                consumers: info
                    .consumers
                    .iter()
                    .map(|c| ConsumerSnapshot {
                        tag: c.tag.to_string(),
                        channel: c.channel,
                        ack_required: c.ack_required,
                        prefetch_count: c.prefetch_count,
                        active: c.active,
                    })
                    .collect(),
            }
        })
        .collect();
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    let mut exchanges = Vec::new();
    let mut bindings = Vec::new();
    for x in v.exchanges() {
        if x.name.is_empty() {
            continue;
        }
        for b in x.bindings() {
            let (destination, destination_type) = match &b.destination {
                Destination::Queue(q) => (q.clone(), "queue"),
                Destination::Exchange(e) => (e.clone(), "exchange"),
            };
            bindings.push(BindingSnapshot {
                source: x.name.clone(),
                destination: destination.to_string(),
                destination_type,
                routing_key: b.routing_key.clone(),
                arguments: json::table_json(&b.arguments),
            });
        }
        if x.name.starts_with("amq.") {
            continue;
        }
        let s = &x.settings;
        exchanges.push(ExchangeSnapshot {
            name: x.name.clone(),
            kind: s.kind.as_str().to_owned(),
            durable: s.durable,
            auto_delete: s.auto_delete,
            internal: s.internal,
            arguments: json::table_json(&s.arguments),
        });
    }
    exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    bindings.sort_by(|a, b| {
        (&a.source, &a.destination, &a.routing_key).cmp(&(
            &b.source,
            &b.destination,
            &b.routing_key,
        ))
    });
    VhostSnapshot {
        name: v.name.clone(),
        queues,
        exchanges,
        bindings,
    }
}
