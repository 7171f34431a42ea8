//! Publisher confirms and transactions: the two modes a channel can be switched into.

use super::{Channel, Context, Settlement, Unacked};
use crate::broker::exchange::Exchange;
use crate::broker::message::Message;
use crate::error::AmqpError;
use crate::protocol::Method;
use crate::protocol::methods::{
    BasicAck, BasicNack, ConfirmSelectOk, TxCommitOk, TxRollbackOk, TxSelectOk,
};
use crate::testing::faults::ConfirmOutcome;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Debug, Default)]
pub(super) enum Mode {
    #[default]
    Plain,
    Confirm(Confirms),
    Tx(Transaction),
}

/// Publish sequence numbers and how far they have been confirmed.
///
/// Confirms go out in order, as `multiple` acks where possible: everything below the oldest
/// publish still waiting for the disk is settled. A publish the disk refused is nacked alone.
#[derive(Debug, Default)]
pub(super) struct Confirms {
    /// The sequence number of the last publish.
    published: u64,
    /// Publishes waiting for the message log's fsync.
    on_disk_wait: BTreeSet<u64>,
    /// Publishes the message log could not take, to nack.
    refused: BTreeSet<u64>,
    /// Everything up to here has been acked or nacked to the client.
    acked: u64,
    /// Publishes an injected fault keeps from ever being confirmed, skipped over.
    withheld: BTreeSet<u64>,
    /// Publishes whose confirm an injected fault holds back until `confirm_due`.
    delayed: BTreeSet<u64>,
}

impl Confirms {
    /// Publishes not yet confirmed to the client.
    pub fn unconfirmed(&self) -> u32 {
        (self.published - self.acked) as u32
    }

    /// Everything up to here may be confirmed.
    fn settled(&self) -> u64 {
        let waiting = match (self.on_disk_wait.first(), self.delayed.first()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match waiting {
            Some(first) => first - 1,
            None => self.published,
        }
    }

    /// The next publish at or below `settled` that gets no plain ack: a refused one (nack,
    /// true) or a withheld one (nothing, false).
    fn next_exception(&self, settled: u64) -> Option<(u64, bool)> {
        let refused = self.refused.first().filter(|s| **s <= settled);
        let withheld = self.withheld.first().filter(|s| **s <= settled);
        match (refused, withheld) {
            (Some(r), Some(w)) if w < r => Some((*w, false)),
            (Some(r), _) => Some((*r, true)),
            (None, Some(w)) => Some((*w, false)),
            (None, None) => None,
        }
    }
}

/// What a transaction holds back until commit.
#[derive(Debug, Default)]
pub(super) struct Transaction {
    pub publishes: Vec<PendingPublish>,
    /// Acks, nacks and rejects: the delivery, and what to do with it.
    pub settlements: Vec<(u64, Unacked, Settlement)>,
}

#[derive(Debug)]
pub(super) struct PendingPublish {
    pub exchange: Arc<Exchange>,
    pub message: Arc<Message>,
    pub mandatory: bool,
    /// CC and BCC keys.
    pub more_keys: Vec<String>,
}

impl Mode {
    /// The sequence number the next publish will get, in confirm mode.
    pub fn next_confirm_seq(&self) -> Option<u64> {
        match self {
            Mode::Confirm(c) => Some(c.published + 1),
            _ => None,
        }
    }

    /// Counts a publish in confirm mode; it is settled once routed, or once on disk when
    /// `awaits_disk`; nacked when a queue `refused` it (x-overflow reject-publish). An
    /// injected `fault` withholds, nacks or delays its confirm. Returns its sequence number.
    pub fn published(
        &mut self,
        awaits_disk: bool,
        refused: bool,
        fault: Option<ConfirmOutcome>,
    ) -> Option<u64> {
        let Mode::Confirm(c) = self else {
            return None;
        };
        c.published += 1;
        let seq = c.published;
        if awaits_disk {
            c.on_disk_wait.insert(seq);
        }
        match fault {
            None if refused => {
                c.refused.insert(seq);
            }
            None => {}
            Some(ConfirmOutcome::Nack) => {
                c.refused.insert(seq);
            }
            Some(ConfirmOutcome::Withhold) => {
                c.withheld.insert(seq);
            }
            Some(ConfirmOutcome::Delay(_)) => {
                if refused {
                    c.refused.insert(seq);
                }
                c.delayed.insert(seq);
            }
        }
        Some(seq)
    }

    /// An injected delay on publish `seq`'s confirm is over.
    pub fn confirm_due(&mut self, seq: u64) {
        if let Mode::Confirm(c) = self {
            c.delayed.remove(&seq);
        }
    }

    /// The message log finished with publish `seq`.
    pub fn persisted(&mut self, seq: u64, ok: bool) {
        if let Mode::Confirm(c) = self
            && c.on_disk_wait.remove(&seq)
            && !ok
        {
            c.refused.insert(seq);
        }
    }

    pub fn flush_confirms(&mut self, ctx: &mut Context<'_>, channel: u16) {
        let Mode::Confirm(c) = self else {
            return;
        };
        let settled = c.settled();
        while let Some((seq, nack)) = c.next_exception(settled) {
            ack_up_to(ctx, channel, &mut c.acked, seq - 1);
            if nack {
                c.refused.remove(&seq);
                ctx.send(
                    channel,
                    // RabbitMQ sets requeue on every publisher nack (observed on 3.10.8).
                    Method::BasicNack(BasicNack {
                        delivery_tag: seq,
                        multiple: false,
                        requeue: true,
                    }),
                );
            } else {
                c.withheld.remove(&seq);
            }
            c.acked = seq;
        }
        ack_up_to(ctx, channel, &mut c.acked, settled);
    }

    /// Gives acks held by an open transaction back to the unacked set.
    pub fn rollback(&mut self, unacked: &mut BTreeMap<u64, Unacked>) {
        if let Mode::Tx(tx) = self {
            tx.publishes.clear();
            for (tag, u, _) in tx.settlements.drain(..) {
                unacked.insert(tag, u);
            }
        }
    }
}

/// Acks everything after `acked` up to `upto`, as one frame.
fn ack_up_to(ctx: &mut Context<'_>, channel: u16, acked: &mut u64, upto: u64) {
    if upto > *acked {
        ctx.send(
            channel,
            Method::BasicAck(BasicAck {
                delivery_tag: upto,
                multiple: upto - *acked > 1,
            }),
        );
        *acked = upto;
    }
}

impl Channel {
    pub(super) fn confirm_select(
        &mut self,
        ctx: &mut Context<'_>,
        no_wait: bool,
    ) -> Result<(), AmqpError> {
        match self.mode {
            Mode::Tx(_) => {
                return Err(AmqpError::precondition_failed(
                    "cannot switch from tx to confirm mode",
                ));
            }
            Mode::Plain => self.mode = Mode::Confirm(Confirms::default()),
            Mode::Confirm(_) => {}
        }
        if !no_wait {
            ctx.send(self.id, Method::ConfirmSelectOk(ConfirmSelectOk {}));
        }
        Ok(())
    }

    pub(super) fn tx_select(&mut self, ctx: &mut Context<'_>) -> Result<(), AmqpError> {
        match self.mode {
            Mode::Confirm(_) => {
                return Err(AmqpError::precondition_failed(
                    "cannot switch from confirm to tx mode",
                ));
            }
            Mode::Plain => self.mode = Mode::Tx(Transaction::default()),
            Mode::Tx(_) => {}
        }
        ctx.send(self.id, Method::TxSelectOk(TxSelectOk {}));
        Ok(())
    }

    pub(super) fn tx_commit(&mut self, ctx: &mut Context<'_>) -> Result<(), AmqpError> {
        let Mode::Tx(tx) = &mut self.mode else {
            return Err(AmqpError::precondition_failed(
                "channel is not transactional",
            ));
        };
        let tx = std::mem::take(tx);
        let mut persisted = false;
        for p in tx.publishes {
            self.route_and_push(
                ctx,
                &p.exchange,
                p.message.clone(),
                p.mandatory,
                None,
                &p.more_keys,
            );
            persisted |= p.message.slot.get().is_some();
        }
        // A commit is durable before commit-ok, like a confirm.
        if persisted && let Some(store) = ctx.vhost.store() {
            tokio::task::block_in_place(|| store.log.sync());
        }
        // Streams keep every publish in logs of their own.
        for q in &self.pushed {
            if let Some(s) = q.stream().filter(|s| s.on_disk()) {
                tokio::task::block_in_place(|| s.sync());
            }
        }
        self.settle(
            tx.settlements
                .into_iter()
                .map(|(_, u, requeue)| (u, requeue)),
        );
        ctx.send(self.id, Method::TxCommitOk(TxCommitOk {}));
        Ok(())
    }

    pub(super) fn tx_rollback(&mut self, ctx: &mut Context<'_>) -> Result<(), AmqpError> {
        if !matches!(self.mode, Mode::Tx(_)) {
            return Err(AmqpError::precondition_failed(
                "channel is not transactional",
            ));
        }
        self.mode.rollback(&mut self.unacked);
        ctx.send(self.id, Method::TxRollbackOk(TxRollbackOk {}));
        Ok(())
    }
}
