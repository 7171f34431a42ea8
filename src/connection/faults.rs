//! A connection's share of fault injection (`crate::testing::faults`): it plays the steps of
//! the plans it was given, in order, and applies the faults in force to its own frames.
//!
//! The state exists only once a plan has reached the connection (`Connection::faults`);
//! until then the only cost is the `is_some` checks at the seams: the in-place publish path
//! (skipped while faults are armed, so every publish is seen here), the read and write
//! sides of the loop, and the deliveries.

use super::{Connection, Slot, State};
use crate::broker::consumer::Outbound;
use crate::channel::assembler::ChannelFrame;
use crate::error::AmqpError;
use crate::protocol::Method;
use crate::protocol::methods::{ConnectionBlocked, ConnectionUnblocked};
use crate::testing::faults::{Action, ConfirmFault, ConfirmOutcome, FaultEvent, Step};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// The steps still to play and the faults in force on one connection.
#[derive(Debug, Default)]
pub(super) struct ConnectionFaults {
    steps: VecDeque<Step>,
    /// Publishes seen since the current step started waiting.
    publishes: u64,
    /// The channel of the last publish counted, whose content must be in before a step its
    /// count made due is played (so "after 100 publishes" means 100 whole messages).
    publish_channel: Option<u16>,
    /// Tells the current step's wake-up from a stale one.
    generation: u64,
    /// The current step's timed wait was started, and whether it is over.
    timer_started: bool,
    timer_done: bool,
    pub reads_stalled_until: Option<Instant>,
    pub writes_stalled_until: Option<Instant>,
    delay_deliveries: Option<(Duration, Option<u64>)>,
    refuse_publishes: Option<(u64, u16, String)>,
    fail_declares: Option<(u64, u16, String)>,
}

impl ConnectionFaults {
    fn is_spent(&self) -> bool {
        self.steps.is_empty()
            && self.reads_stalled_until.is_none()
            && self.writes_stalled_until.is_none()
            && self.delay_deliveries.is_none()
            && self.refuse_publishes.is_none()
            && self.fail_declares.is_none()
    }

    /// How long to hold the next delivery, if deliveries are being delayed.
    fn delivery_delay(&mut self) -> Option<Duration> {
        let (by, count) = self.delay_deliveries.as_mut()?;
        let by = *by;
        if let Some(n) = count {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.delay_deliveries = None;
            }
        }
        Some(by)
    }
}

/// Takes one use of a counted fault (refusals, failed declares): its code and text, if one
/// is left.
fn take_counted(slot: &mut Option<(u64, u16, String)>) -> Option<(u16, String)> {
    let (n, code, text) = slot.as_mut()?;
    let out = (*code, text.clone());
    *n = n.saturating_sub(1);
    if *n == 0 {
        *slot = None;
    }
    Some(out)
}

/// Sends `ev` to the connection after `after`, from a task of its own. A delayed delivery
/// whose connection is gone by then goes back to its queue.
pub fn send_later(sink: UnboundedSender<Outbound>, after: Duration, ev: FaultEvent) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        if let Err(e) = sink.send(Outbound::Fault(ev))
            && let Outbound::Fault(FaultEvent::Delayed(ev)) = e.0
            && let Outbound::Deliver(d) = *ev
        {
            d.queue.requeue_undelivered(d.entries, d.credited);
        }
    });
}

impl Connection {
    /// A fault event from the broker or from one of the connection's own timers.
    pub(super) fn on_fault_event(&mut self, ev: FaultEvent) {
        match ev {
            FaultEvent::Plan(plan, ack) => {
                tracing::warn!(peer = %self.peer, "fault plan received: {:?}", plan.steps);
                let f = self.faults.get_or_insert_default();
                f.steps.extend(plan.steps.iter().cloned());
                self.advance_faults();
                if let Some(ack) = ack {
                    let _ = ack.try_send(());
                }
            }
            FaultEvent::Clear(ack) => {
                self.faults = None;
                self.session.confirm_fault = None;
                tracing::info!(peer = %self.peer, "faults cleared");
                if let Some(ack) = ack {
                    let _ = ack.try_send(());
                }
            }
            FaultEvent::StepDue { generation } => {
                if let Some(f) = self.faults.as_mut()
                    && f.generation == generation
                {
                    f.timer_done = true;
                    self.advance_faults();
                }
            }
            FaultEvent::StallOver => {
                if let Some(f) = self.faults.as_mut() {
                    let now = Instant::now();
                    f.reads_stalled_until = f.reads_stalled_until.filter(|t| *t > now);
                    f.writes_stalled_until = f.writes_stalled_until.filter(|t| *t > now);
                }
                self.forget_spent_faults();
            }
            FaultEvent::ConfirmDue { channel, seq } => {
                if let Some(Slot::Open(c)) = self.channels.get_mut(&channel) {
                    c.confirm_due(seq);
                }
            }
            FaultEvent::Delayed(ev) => self.handle_event(*ev),
        }
    }

    /// Holds a delivery back if deliveries are being delayed; gives it back otherwise.
    pub(super) fn delay_delivery(&mut self, ev: Outbound) -> Option<Outbound> {
        let Some(f) = self.faults.as_mut() else {
            return Some(ev);
        };
        if !matches!(ev, Outbound::Deliver(_)) {
            return Some(ev);
        }
        let Some(by) = f.delivery_delay() else {
            return Some(ev);
        };
        send_later(
            self.session.events_tx.clone(),
            by,
            FaultEvent::Delayed(Box::new(ev)),
        );
        None
    }

    /// A method for an open channel, seen before the channel gets it: counts publishes and
    /// refuses what a fault says to refuse. Some(result) when the fault took the frame.
    pub(super) fn fault_on_frame(
        &mut self,
        ch: u16,
        frame: &ChannelFrame,
    ) -> Option<Result<(), AmqpError>> {
        let f = self.faults.as_mut()?;
        let ChannelFrame::Method(m) = frame else {
            return None;
        };
        let refusal = match m {
            Method::BasicPublish(_) => {
                f.publishes += 1;
                f.publish_channel = Some(ch);
                take_counted(&mut f.refuse_publishes)
            }
            Method::QueueDeclare(_) => take_counted(&mut f.fail_declares),
            _ => None,
        }?;
        let (code, text) = refusal;
        tracing::warn!(peer = %self.peer, channel = ch, code, "fault injected: refusing {}", m.name());
        let e = AmqpError::new(code, text).during(m.class_id(), m.method_id());
        self.forget_spent_faults();
        Some(self.channel_failed(ch, e))
    }

    /// Plays every step whose wait is over, in order; starts the timed wait of the first one
    /// that must still wait.
    pub(super) fn advance_faults(&mut self) {
        loop {
            let Some(f) = self.faults.as_mut() else {
                return;
            };
            let Some(step) = f.steps.front() else {
                self.forget_spent_faults();
                return;
            };
            if f.publishes < step.after_publishes {
                return;
            }
            if step.after_publishes > 0
                && let Some(ch) = f.publish_channel
                && let Some(Slot::Open(c)) = self.channels.get(&ch)
                && !c.is_idle()
            {
                // The last publish's content is not all in yet: played at the end of a
                // later read.
                return;
            }
            if step.after_ms > 0 && !f.timer_done {
                if !f.timer_started {
                    f.timer_started = true;
                    send_later(
                        self.session.events_tx.clone(),
                        Duration::from_millis(step.after_ms),
                        FaultEvent::StepDue {
                            generation: f.generation,
                        },
                    );
                }
                return;
            }
            let Some(step) = f.steps.pop_front() else {
                return;
            };
            f.publishes = 0;
            f.timer_started = false;
            f.timer_done = false;
            f.generation += 1;
            self.play(step.action);
            if self.state != State::Running {
                return;
            }
        }
    }

    /// Does what a step says, now.
    fn play(&mut self, action: Action) {
        tracing::warn!(peer = %self.peer, "fault injected: {action:?}");
        let now = Instant::now();
        match action {
            Action::CloseConnection { code, text } => {
                self.connection_error(AmqpError::new(code, text).on_connection());
            }
            Action::CloseChannel {
                channel,
                code,
                text,
            } => {
                let open: Vec<u16> = self
                    .channels
                    .iter()
                    .filter(|(n, slot)| {
                        matches!(slot, Slot::Open(_)) && channel.is_none_or(|c| c == **n)
                    })
                    .map(|(n, _)| *n)
                    .collect();
                for ch in open {
                    self.close_channel(ch, AmqpError::new(code, text.clone()));
                }
            }
            Action::DropConnection => {
                self.dropped = true;
                self.session.out.clear();
                self.state = State::Closed;
            }
            Action::StallReads { ms } => {
                let d = Duration::from_millis(ms);
                if let Some(f) = self.faults.as_mut() {
                    f.reads_stalled_until = Some(now + d);
                }
                send_later(self.session.events_tx.clone(), d, FaultEvent::StallOver);
            }
            Action::StallWrites { ms } => {
                let d = Duration::from_millis(ms);
                if let Some(f) = self.faults.as_mut() {
                    f.writes_stalled_until = Some(now + d);
                }
                send_later(self.session.events_tx.clone(), d, FaultEvent::StallOver);
            }
            Action::DelayDeliveries { ms, count } => {
                if let Some(f) = self.faults.as_mut() {
                    f.delay_deliveries =
                        (count != Some(0)).then(|| (Duration::from_millis(ms), count));
                }
            }
            Action::WithholdConfirms { count } => {
                self.confirm_fault(ConfirmOutcome::Withhold, count);
            }
            Action::NackConfirms { count } => self.confirm_fault(ConfirmOutcome::Nack, count),
            Action::DelayConfirms { ms, count } => {
                self.confirm_fault(ConfirmOutcome::Delay(Duration::from_millis(ms)), count);
            }
            Action::RefusePublishes { count, code, text } => {
                if let Some(f) = self.faults.as_mut() {
                    f.refuse_publishes = (count > 0).then_some((count, code, text));
                }
            }
            Action::FailQueueDeclare { count, code, text } => {
                if let Some(f) = self.faults.as_mut() {
                    f.fail_declares = (count > 0).then_some((count, code, text));
                }
            }
            Action::Block { reason } => {
                if self.session.settings.connection_blocked {
                    self.send(0, Method::ConnectionBlocked(ConnectionBlocked { reason }));
                } else {
                    tracing::warn!(peer = %self.peer, "the client did not announce connection.blocked: not sent");
                }
            }
            Action::Unblock => {
                if self.session.settings.connection_blocked {
                    self.send(0, Method::ConnectionUnblocked(ConnectionUnblocked {}));
                }
            }
        }
    }

    fn confirm_fault(&mut self, outcome: ConfirmOutcome, remaining: Option<u64>) {
        self.session.confirm_fault =
            (remaining != Some(0)).then_some(ConfirmFault { outcome, remaining });
    }

    /// Drops the fault state once nothing is left in it, so the connection is back on its
    /// fast paths.
    fn forget_spent_faults(&mut self) {
        if self.faults.as_ref().is_some_and(|f| f.is_spent()) {
            self.faults = None;
        }
    }

    pub(super) fn reads_stalled(&self) -> bool {
        self.faults
            .as_ref()
            .is_some_and(|f| f.reads_stalled_until.is_some())
    }

    pub(super) fn writes_stalled(&self) -> bool {
        self.faults
            .as_ref()
            .is_some_and(|f| f.writes_stalled_until.is_some())
    }
}
