//! Publisher confirms and transactions: the two modes a channel can be switched into.

use super::{Channel, Context, Unacked};
use crate::broker::exchange::Exchange;
use crate::broker::message::Message;
use crate::error::AmqpError;
use crate::protocol::Method;
use crate::protocol::methods::{BasicAck, ConfirmSelectOk, TxCommitOk, TxRollbackOk, TxSelectOk};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(super) enum Mode {
    #[default]
    Plain,
    Confirm(Confirms),
    Tx(Transaction),
}

/// Publish sequence numbers and how far they have been confirmed.
#[derive(Debug, Default)]
pub(super) struct Confirms {
    /// The sequence number of the last publish.
    published: u64,
    /// Everything up to here is routed and may be acked.
    settled: u64,
    /// Everything up to here has been acked to the client.
    acked: u64,
}

/// What a transaction holds back until commit.
#[derive(Debug, Default)]
pub(super) struct Transaction {
    pub publishes: Vec<PendingPublish>,
    /// Acks, nacks and rejects: the delivery, and whether to requeue it (None: ack).
    pub settlements: Vec<(u64, Unacked, Option<bool>)>,
}

#[derive(Debug)]
pub(super) struct PendingPublish {
    pub exchange: Arc<Exchange>,
    pub message: Arc<Message>,
    pub mandatory: bool,
}

impl Mode {
    /// Numbers a publish in confirm mode; it is settled once routed.
    pub fn published(&mut self) {
        if let Mode::Confirm(c) = self {
            c.published += 1;
            c.settled = c.published;
        }
    }

    pub fn flush_confirms(&mut self, ctx: &mut Context<'_>, channel: u16) {
        if let Mode::Confirm(c) = self
            && c.settled > c.acked
        {
            let multiple = c.settled - c.acked > 1;
            ctx.send(
                channel,
                Method::BasicAck(BasicAck {
                    delivery_tag: c.settled,
                    multiple,
                }),
            );
            c.acked = c.settled;
        }
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
        for p in tx.publishes {
            self.route_and_push(ctx, &p.exchange, p.message, p.mandatory);
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
