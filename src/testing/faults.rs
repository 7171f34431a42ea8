//! Fault injection: what a test asks the broker to do wrong, to which connections, and when.
//!
//! A [`FaultPlan`] picks connections ([`Target`]) and lists [`Step`]s played in order: each
//! waits for its trigger (at once, after N more publishes on that connection, after a
//! delay) and then does its [`Action`]. The broker core keeps the plans in a [`Registry`];
//! each matching connection gets the plan and plays it on its own task
//! (`connection::faults`). A connection no plan has reached carries no fault state, so the
//! message path of a broker nobody injects faults into checks one `Option` and nothing else.
//!
//! Plans and steps are plain serde types: the same JSON is accepted by
//! `POST /api/warren/faults`, `warren ctl inject_fault` and [`FaultPlan`]'s `Deserialize`.

use crate::broker::connection_info::ConnectionInfo;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Which connections a plan applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every connection.
    All,
    /// One connection, by RabbitMQ's name for it as `/api/connections` lists it
    /// ("127.0.0.1:43038 -> 127.0.0.1:5672").
    Connection(String),
    /// The connections of one user.
    User(String),
    /// The connections whose client gave this `connection_name` in its client properties.
    ConnectionName(String),
}

impl Target {
    pub fn matches(&self, c: &ConnectionInfo) -> bool {
        match self {
            Target::All => true,
            Target::Connection(name) => c.name == *name,
            Target::User(user) => c.user == *user,
            Target::ConnectionName(name) => c.user_provided_name() == Some(name.as_str()),
        }
    }
}

/// What a step does to the connection that plays it. Codes are AMQP reply codes; a channel
/// closed with a code the spec calls a connection error still closes only the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// connection.close with this code and text (default 320 CONNECTION_FORCED).
    CloseConnection {
        #[serde(default = "forced")]
        code: u16,
        #[serde(default = "injected")]
        text: String,
    },
    /// channel.close on one channel, or on every open channel when none is named.
    CloseChannel {
        #[serde(default)]
        channel: Option<u16>,
        #[serde(default = "precondition")]
        code: u16,
        #[serde(default = "injected")]
        text: String,
    },
    /// Closes the socket without a word, as a crashed broker or a cut cable would.
    DropConnection,
    /// Stops reading the socket for a while: the client's writes back up, its heartbeats go
    /// unread.
    StallReads { ms: u64 },
    /// Stops writing for a while, heartbeats included: the client sees silence.
    StallWrites { ms: u64 },
    /// Holds each delivery this long before it goes out (the next `count`, or all).
    DelayDeliveries {
        ms: u64,
        #[serde(default)]
        count: Option<u64>,
    },
    /// Never confirms the next `count` confirm-mode publishes (or any, when none is given).
    WithholdConfirms {
        #[serde(default)]
        count: Option<u64>,
    },
    /// Confirms the next `count` publishes (or all) this much later than they are settled.
    DelayConfirms {
        ms: u64,
        #[serde(default)]
        count: Option<u64>,
    },
    /// Nacks the next `count` publishes (or all) instead of acking them.
    NackConfirms {
        #[serde(default)]
        count: Option<u64>,
    },
    /// Refuses the next `count` basic.publish with a channel error (default 406).
    RefusePublishes {
        #[serde(default = "one")]
        count: u64,
        #[serde(default = "precondition")]
        code: u16,
        #[serde(default = "injected")]
        text: String,
    },
    /// Fails the next `count` queue.declare with this code (a channel error unless the code
    /// is a connection-level one, such as 541, which closes the connection).
    FailQueueDeclare {
        #[serde(default = "one")]
        count: u64,
        #[serde(default = "precondition")]
        code: u16,
        #[serde(default = "injected")]
        text: String,
    },
    /// Sends connection.blocked (to clients that announced the capability), as an alarm
    /// would, without blocking anything.
    Block {
        #[serde(default = "low_on_memory")]
        reason: String,
    },
    /// Sends connection.unblocked.
    Unblock,
}

fn forced() -> u16 {
    crate::error::code::CONNECTION_FORCED
}
fn precondition() -> u16 {
    crate::error::code::PRECONDITION_FAILED
}
fn injected() -> String {
    "fault injected by the test".into()
}
fn one() -> u64 {
    1
}
fn low_on_memory() -> String {
    "low on memory".into()
}

/// One action and what it waits for, counted from when the step before it was done (or
/// the plan reached the connection): both waits when both are given, publishes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after_publishes: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after_ms: u64,
    #[serde(flatten)]
    pub action: Action,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Step {
    pub fn now(action: Action) -> Step {
        Step {
            after_publishes: 0,
            after_ms: 0,
            action,
        }
    }

    pub fn after_publishes(n: u64, action: Action) -> Step {
        Step {
            after_publishes: n,
            ..Step::now(action)
        }
    }

    pub fn after(delay: Duration, action: Action) -> Step {
        Step {
            after_ms: delay.as_millis().try_into().unwrap_or(u64::MAX),
            ..Step::now(action)
        }
    }
}

/// Steps for the connections a target picks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    pub target: Target,
    pub steps: Vec<Step>,
    /// Also plays for every matching connection opened later, until the faults are
    /// cleared. Otherwise the plan goes to the matching connections open now, or, when none
    /// is, to the first one that opens.
    #[serde(default)]
    pub persistent: bool,
}

impl FaultPlan {
    /// A plan of one step for `target`.
    pub fn new(target: Target, step: Step) -> FaultPlan {
        FaultPlan {
            target,
            steps: vec![step],
            persistent: false,
        }
    }

    /// Adds a step played after the ones before it.
    pub fn then(mut self, step: Step) -> FaultPlan {
        self.steps.push(step);
        self
    }

    pub fn persistent(mut self) -> FaultPlan {
        self.persistent = true;
        self
    }
}

/// What happens to one confirm-mode publish's confirm under a confirm fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    Withhold,
    Nack,
    Delay(Duration),
}

/// A confirm fault in force on a connection: its outcome, for the next `remaining` publishes
/// (None: all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmFault {
    pub outcome: ConfirmOutcome,
    pub remaining: Option<u64>,
}

impl ConfirmFault {
    /// The outcome for the next publish, using the fault up (`slot` is emptied when the
    /// last counted publish has had it).
    pub fn take(slot: &mut Option<ConfirmFault>) -> Option<ConfirmOutcome> {
        let f = slot.as_mut()?;
        let outcome = f.outcome;
        match &mut f.remaining {
            Some(0) => {
                *slot = None;
                return None;
            }
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    *slot = None;
                }
            }
            None => {}
        }
        Some(outcome)
    }
}

/// A plan as the registry lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub id: u64,
    #[serde(flatten)]
    pub plan: FaultPlan,
}

/// The plans the broker holds: persistent ones, and one-shot ones no connection has taken
/// yet.
#[derive(Debug, Default)]
pub struct Registry {
    plans: Mutex<Vec<(u64, Arc<FaultPlan>)>>,
    /// Whether `plans` is not empty: what a new connection checks before taking the lock.
    armed: AtomicBool,
    next_id: AtomicU64,
}

impl Registry {
    /// Keeps a plan; `delivered` says whether it already reached a connection (a one-shot
    /// plan that did is not kept).
    pub fn add(&self, plan: Arc<FaultPlan>, delivered: bool) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        if plan.persistent || !delivered {
            let mut plans = self.lock();
            plans.push((id, plan));
            self.armed.store(true, Ordering::Release);
        }
        id
    }

    /// The plans a connection opening now gets; one-shot plans it takes are removed.
    pub fn for_new_connection(&self, c: &ConnectionInfo) -> Vec<Arc<FaultPlan>> {
        if !self.armed.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut plans = self.lock();
        let mut taken = Vec::new();
        plans.retain(|(_, p)| {
            if !p.target.matches(c) {
                return true;
            }
            taken.push(p.clone());
            p.persistent
        });
        self.armed.store(!plans.is_empty(), Ordering::Release);
        taken
    }

    pub fn list(&self) -> Vec<Registered> {
        self.lock()
            .iter()
            .map(|(id, p)| Registered {
                id: *id,
                plan: (**p).clone(),
            })
            .collect()
    }

    /// Forgets every plan.
    pub fn clear(&self) {
        self.lock().clear();
        self.armed.store(false, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<FaultPlan>)>> {
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the broker tells a connection about faults (`Outbound::Fault`).
#[derive(Debug)]
pub enum FaultEvent {
    /// A plan for this connection to play; the connection says on `ack` once it has it
    /// (and has played the steps due at once), so whoever injected it knows that the next
    /// frame the client sends meets the fault.
    Plan(Arc<FaultPlan>, Option<std::sync::mpsc::SyncSender<()>>),
    /// Drop every fault in force and every step not played (acknowledged as `Plan` is).
    Clear(Option<std::sync::mpsc::SyncSender<()>>),
    /// A timed step's wait is over (`generation` tells a stale wake-up from a current one).
    StepDue { generation: u64 },
    /// A stall is over.
    StallOver,
    /// A delayed confirm is due.
    ConfirmDue { channel: u16, seq: u64 },
    /// A delayed delivery is due.
    Delayed(Box<crate::broker::consumer::Outbound>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_read_from_json_with_defaults() {
        let plan: FaultPlan = serde_json::from_str(
            r#"{"target": {"connection_name": "orders"},
                "steps": [{"after_publishes": 100, "action": "drop_connection"},
                          {"action": "close_connection", "code": 541, "text": "boom"},
                          {"action": "withhold_confirms", "count": 2}]}"#,
        )
        .expect("valid plan");
        assert_eq!(plan.target, Target::ConnectionName("orders".into()));
        assert_eq!(
            plan.steps[0],
            Step::after_publishes(100, Action::DropConnection)
        );
        assert_eq!(
            plan.steps[1].action,
            Action::CloseConnection {
                code: 541,
                text: "boom".into()
            }
        );
        assert!(!plan.persistent);
        let all: FaultPlan =
            serde_json::from_str(r#"{"target": "all", "steps": [{"action": "unblock"}]}"#)
                .expect("valid plan");
        assert_eq!(all.target, Target::All);
        let back: FaultPlan =
            serde_json::from_value(serde_json::to_value(&plan).expect("serialises"))
                .expect("reads back");
        assert_eq!(back, plan);
    }

    #[test]
    fn unknown_actions_are_refused() {
        let e = serde_json::from_str::<FaultPlan>(
            r#"{"target": "all", "steps": [{"action": "explode"}]}"#,
        );
        assert!(e.is_err());
    }

    #[test]
    fn a_counted_confirm_fault_runs_out() {
        let mut slot = Some(ConfirmFault {
            outcome: ConfirmOutcome::Nack,
            remaining: Some(2),
        });
        assert_eq!(ConfirmFault::take(&mut slot), Some(ConfirmOutcome::Nack));
        assert_eq!(ConfirmFault::take(&mut slot), Some(ConfirmOutcome::Nack));
        assert_eq!(ConfirmFault::take(&mut slot), None);
        assert!(slot.is_none());
        let mut forever = Some(ConfirmFault {
            outcome: ConfirmOutcome::Withhold,
            remaining: None,
        });
        for _ in 0..5 {
            assert_eq!(
                ConfirmFault::take(&mut forever),
                Some(ConfirmOutcome::Withhold)
            );
        }
    }
}
