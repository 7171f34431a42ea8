//! A quorum queue as a deterministic state machine: every change to what the queue holds is
//! a command, applied in order, and what a command does depends only on the state and the
//! command. No I/O, no clock, no randomness; so the same commands give the same state on
//! every replica, and a log of them (the message log's records of the queue today, a Raft
//! log under a Warren cluster later) rebuilds the queue by replaying it (`Replay`).
//!
//! What the machine knows is the queue's bookkeeping, in `rabbit_fifo`'s terms: how many
//! messages are ready, which are checked out to which holder, with what counts, and the
//! delivery-limit rules. It does not hold payloads or the ready messages' order: those are
//! the queue's buffer (in memory or paged to disk), as `rabbit_fifo` keeps bodies in its
//! log. A ready message carries its own header (its `Counts`) with it, and hands it to the
//! machine when it is checked out (`Command::Checkout`), as a `rabbit_fifo` message header
//! travels with its index.
//!
//! A message is named by its index: the queue's sequence number of it while the broker runs,
//! its id in the message log on replay. Indexes only need to be unique among the messages
//! checked out at once.

use super::{Counts, Return, Rules, Verdict};
use crate::broker::dead_letter::Reason;
use crate::hash::LocalMap;
use std::collections::HashMap;

pub type Index = u64;

/// Who holds a checked-out message: a channel (`holder`), or the management API.
pub type Holder = u64;

/// The holder of what was checked out when the broker stopped: nobody, after a restart.
pub const BEFORE_RESTART: Holder = u64::MAX;

/// The holder of messages the management API's "get messages" took with an ack mode.
pub const MANAGEMENT: Holder = u64::MAX - 1;

/// The holder a channel is.
pub fn holder(connection: u64, channel: u16) -> Holder {
    (connection << 16) | u64::from(channel)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// A message joined the ready messages.
    Enqueue { index: Index },
    /// A ready message left without needing an ack: an auto-ack delivery or basic.get,
    /// its TTL ran out, a length limit dropped it, its body could not be read back.
    Dequeue { index: Index },
    /// Every ready message left (queue.purge).
    Purge,
    /// A ready message went to `holder`, which must settle it; `counts` is its header.
    Checkout {
        index: Index,
        holder: Holder,
        counts: Counts,
    },
    /// A checked-out message never reached its holder (the consumer was cancelled on the
    /// way): ready again, not counted as a return.
    Release { index: Index },
    /// A checked-out message was acked: gone for good.
    Settle { index: Index },
    /// A checked-out message came back: ready again, or over the delivery limit.
    Return { index: Index, how: Return },
    /// A checked-out message was refused without requeue: dead-lettered as rejected.
    Discard { index: Index },
    /// The holder went away: everything it held comes back as failed deliveries.
    HolderDown { holder: Holder },
    /// The queue's rules changed (a policy set another delivery limit, or the vhost took
    /// another version profile).
    Configure { rules: Rules },
}

impl Command {
    /// A ready message handed out: to `holder`, which must settle it, or for good when
    /// there is none (an auto-ack delivery or basic.get).
    pub fn hand_out(index: Index, counts: Counts, holder: Option<Holder>) -> Command {
        match holder {
            Some(holder) => Command::Checkout {
                index,
                holder,
                counts,
            },
            None => Command::Dequeue { index },
        }
    }

    /// Undoes `hand_out` for a message that never reached its consumer: ready again, not
    /// counted (`Release`), or back after an auto-ack hand-out took it for good.
    pub fn hand_back(index: Index, checked_out: bool) -> Command {
        match checked_out {
            true => Command::Release { index },
            false => Command::Enqueue { index },
        }
    }
}

/// What applying a command asks of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The message is ready again; its next delivery carries these counts.
    Requeue { index: Index, counts: Counts },
    /// The message leaves for the dead-letter exchange (dropped where there is none).
    DeadLetter {
        index: Index,
        counts: Counts,
        reason: Reason,
    },
}

/// A command that does not fit the state: it names a message that is not checked out, or
/// takes a ready message from a queue with none. It changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub Command);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    rules: Rules,
    ready: u64,
    /// Keyed by indexes the broker assigns, not a peer: a fast hash is safe (see `hash`).
    out: LocalMap<Index, (Holder, Counts)>,
    /// Commands refused so far: each one means the queue and its machine disagreed.
    refused: u64,
}

impl Machine {
    pub fn new(rules: Rules) -> Machine {
        Machine {
            rules,
            ready: 0,
            out: LocalMap::default(),
            refused: 0,
        }
    }

    /// Commands refused so far (see `Refused`).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// Messages ready to be delivered.
    pub fn ready(&self) -> u64 {
        self.ready
    }

    /// Messages checked out and not yet settled or returned.
    pub fn checked_out(&self) -> usize {
        self.out.len()
    }

    /// Who holds `index`, with its counts, if it is checked out.
    pub fn holder_of(&self, index: Index) -> Option<(Holder, Counts)> {
        self.out.get(&index).copied()
    }

    /// Applies one command; its effects are appended to `fx`.
    pub fn apply(&mut self, cmd: Command, fx: &mut Vec<Effect>) -> Result<(), Refused> {
        let applied = self.apply_inner(cmd, fx);
        if applied.is_err() {
            self.refused += 1;
        }
        applied
    }

    fn apply_inner(&mut self, cmd: Command, fx: &mut Vec<Effect>) -> Result<(), Refused> {
        match cmd {
            Command::Enqueue { .. } => self.ready += 1,
            Command::Dequeue { .. } => {
                self.ready = self.ready.checked_sub(1).ok_or(Refused(cmd))?;
            }
            Command::Purge => self.ready = 0,
            Command::Checkout {
                index,
                holder,
                counts,
            } => {
                if self.ready == 0 || self.out.contains_key(&index) {
                    return Err(Refused(cmd));
                }
                self.ready -= 1;
                self.out.insert(index, (holder, counts));
            }
            Command::Release { index } => {
                let (_, counts) = self.out.remove(&index).ok_or(Refused(cmd))?;
                self.ready += 1;
                fx.push(Effect::Requeue { index, counts });
            }
            Command::Settle { index } => {
                self.out.remove(&index).ok_or(Refused(cmd))?;
            }
            Command::Return { index, how } => {
                let (_, counts) = self.out.remove(&index).ok_or(Refused(cmd))?;
                fx.push(self.returned(index, counts, how));
            }
            Command::Discard { index } => {
                let (_, counts) = self.out.remove(&index).ok_or(Refused(cmd))?;
                fx.push(Effect::DeadLetter {
                    index,
                    counts,
                    reason: Reason::Rejected,
                });
            }
            Command::HolderDown { holder } => {
                // In index order, whatever order the map keeps: the effects are part of
                // the outcome every replica must agree on.
                let mut held: Vec<(Index, Counts)> = self
                    .out
                    .iter()
                    .filter(|(_, (h, _))| *h == holder)
                    .map(|(i, (_, c))| (*i, *c))
                    .collect();
                held.sort_unstable_by_key(|(i, _)| *i);
                for (index, counts) in held {
                    self.out.remove(&index);
                    fx.push(self.returned(index, counts, Return::Failed));
                }
            }
            Command::Configure { rules } => self.rules = rules,
        }
        Ok(())
    }

    /// A checked-out message came back `how`: counted, then ready or over the limit.
    fn returned(&mut self, index: Index, mut counts: Counts, how: Return) -> Effect {
        match self.rules.on_return(&mut counts, how) {
            Verdict::Requeue => {
                self.ready += 1;
                Effect::Requeue { index, counts }
            }
            Verdict::OverLimit => Effect::DeadLetter {
                index,
                counts,
                reason: Reason::DeliveryLimit,
            },
        }
    }
}

/// A record of the message log that names one message of a quorum queue, in the order
/// the log holds that message's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Its publish.
    Published,
    /// It went to a consumer that had to ack it.
    Delivered,
    /// It came back `how` and stayed (a return over the limit writes no record: the
    /// message's dead-lettering settles it). Replay counts it and does not judge it again:
    /// the record says it stayed, whatever limit applies now.
    Returned(Return),
    /// Written before returns were logged as commands: the counts after a return.
    Counted(Counts),
    /// It left for good.
    Settled,
}

/// What replaying a message's records says of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    pub counts: Counts,
    /// It had been delivered: the next delivery says so.
    pub redelivered: bool,
    /// The restart took it past the delivery limit: the queue dead-letters it (reason
    /// delivery_limit) or drops it, and the machine no longer counts it.
    pub over_limit: bool,
}

/// Rebuilds a quorum queue's machine from its log after a restart: each message's records
/// are applied as the commands that wrote them, then the restart's own command: the holders
/// of everything still checked out are gone (`HolderDown`, a failed delivery, as
/// `rabbit_fifo` returns a consumer's messages when it sees it down; RabbitMQ 3.10.8 on this
/// machine shows `x-delivery-count: 1` on a message that was out when it was killed with
/// -9). Messages are independent of each other, so the records of different messages may
/// come in any order; each message's own come in log order.
pub struct Replay {
    machine: Machine,
    /// The rules the restart's returns are judged by; logged returns are not judged.
    rules: Rules,
    /// The messages with a history that are not checked out, and their headers.
    ready: HashMap<Index, Replayed>,
    fx: Vec<Effect>,
}

/// What a replay rebuilt.
#[derive(Debug)]
pub struct Restored {
    /// The machine after the restart: nothing checked out.
    pub machine: Machine,
    /// The messages with a history: their counts, whether they were delivered, whether
    /// the restart took them past the limit. A message without one is as published.
    pub messages: HashMap<Index, Replayed>,
}

impl Replay {
    pub fn new(rules: Rules) -> Replay {
        let logged = Rules {
            limit: super::Limit::Unlimited,
            ..rules
        };
        Replay {
            machine: Machine::new(logged),
            rules,
            ready: HashMap::new(),
            fx: Vec::new(),
        }
    }

    /// Applies one record of message `index`. A record that does not fit (the log lost
    /// one before it) changes nothing.
    pub fn record(&mut self, index: Index, r: Record) {
        let cmd = match r {
            Record::Published => Command::Enqueue { index },
            Record::Delivered => Command::Checkout {
                index,
                holder: BEFORE_RESTART,
                counts: self.ready.get(&index).map(|h| h.counts).unwrap_or_default(),
            },
            Record::Returned(how) => Command::Return { index, how },
            Record::Counted(counts) => {
                if self.machine.holder_of(index).is_some() {
                    self.apply(Command::Release { index });
                }
                let h = self.ready.entry(index).or_default();
                (h.counts, h.redelivered) = (counts, true);
                return;
            }
            Record::Settled if self.machine.holder_of(index).is_some() => Command::Settle { index },
            Record::Settled => Command::Dequeue { index },
        };
        self.apply(cmd);
    }

    fn apply(&mut self, cmd: Command) {
        if self.machine.apply(cmd, &mut self.fx).is_err() {
            return;
        }
        match cmd {
            // Out of the ready messages: the machine holds its counts now, or it is gone.
            Command::Checkout { index, .. } | Command::Dequeue { index } => {
                self.ready.remove(&index);
            }
            _ => {}
        }
        for e in self.fx.drain(..) {
            let (index, counts, over_limit) = match e {
                Effect::Requeue { index, counts } => (index, counts, false),
                Effect::DeadLetter { index, counts, .. } => (index, counts, true),
            };
            let h = Replayed {
                counts,
                redelivered: true,
                over_limit,
            };
            self.ready.insert(index, h);
        }
    }

    /// Applies the restart: the queue's rules again, and every holder from before it gone.
    pub fn finish(mut self) -> Restored {
        self.apply(Command::Configure { rules: self.rules });
        self.apply(Command::HolderDown {
            holder: BEFORE_RESTART,
        });
        Restored {
            machine: self.machine,
            messages: self.ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Limit;
    use super::*;
    use proptest::prelude::*;

    /// A message as a plain model sees it.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum At {
        Ready(Counts),
        Out(Holder, Counts),
        Gone,
    }

    /// An operation, resolved against the model into a command (the numbers pick a
    /// message or holder among those that exist, so most commands fit the state).
    #[derive(Debug, Clone)]
    enum Op {
        Enqueue,
        Dequeue(usize),
        Checkout(usize, u8),
        Release(usize),
        Settle(usize),
        Return(usize, bool),
        Discard(usize),
        HolderDown(u8),
        Purge,
        /// A command naming a message in the wrong state.
        Stray(usize, u8),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            4 => Just(Op::Enqueue),
            1 => any::<usize>().prop_map(Op::Dequeue),
            4 => (any::<usize>(), 0u8..3).prop_map(|(m, h)| Op::Checkout(m, h)),
            1 => any::<usize>().prop_map(Op::Release),
            2 => any::<usize>().prop_map(Op::Settle),
            3 => (any::<usize>(), any::<bool>()).prop_map(|(m, f)| Op::Return(m, f)),
            1 => any::<usize>().prop_map(Op::Discard),
            1 => (0u8..3).prop_map(Op::HolderDown),
            1 => Just(Op::Purge),
            1 => (any::<usize>(), 0u8..6).prop_map(|(m, k)| Op::Stray(m, k)),
        ];
        proptest::collection::vec(op, 0..120)
    }

    fn rules() -> impl Strategy<Value = Rules> {
        (
            prop_oneof![
                Just(Limit::Default),
                Just(Limit::Unlimited),
                (0u64..4).prop_map(Limit::Of)
            ],
            any::<bool>(),
        )
            .prop_map(|(limit, before_4_0)| Rules { limit, before_4_0 })
    }

    fn pick(model: &[At], n: usize, want: impl Fn(&At) -> bool) -> Option<usize> {
        let hits: Vec<usize> = (0..model.len()).filter(|&i| want(&model[i])).collect();
        (!hits.is_empty()).then(|| hits[n % hits.len()])
    }

    /// What the queue writes to the log for an applied command and its effects (see
    /// `Record`), per message.
    fn log_of(cmd: Command, fx: &[Effect], log: &mut Vec<(Index, Record)>) {
        match cmd {
            Command::Enqueue { index } => log.push((index, Record::Published)),
            Command::Dequeue { index } | Command::Settle { index } => {
                log.push((index, Record::Settled))
            }
            Command::Checkout { index, .. } => log.push((index, Record::Delivered)),
            _ => {}
        }
        for e in fx {
            match (cmd, e) {
                (Command::Return { how, .. }, Effect::Requeue { index, .. }) => {
                    log.push((*index, Record::Returned(how)))
                }
                (Command::HolderDown { .. }, Effect::Requeue { index, .. }) => {
                    log.push((*index, Record::Returned(Return::Failed)))
                }
                // Released: it never reached the holder, whose channel writes the delivery
                // only once it sends it.
                (Command::Release { .. }, Effect::Requeue { index, .. }) => {
                    if let Some(at) = log.iter().rposition(|r| *r == (*index, Record::Delivered)) {
                        log.remove(at);
                    }
                }
                (_, Effect::DeadLetter { index, .. }) => log.push((*index, Record::Settled)),
                _ => {}
            }
        }
    }

    /// Each message's records, in the order the queue wrote them.
    type Log = Vec<(Index, Record)>;

    /// Runs `ops` against the machine and the model side by side; returns the machine,
    /// the model and the log the queue would have written.
    fn run(rules: Rules, ops: &[Op]) -> Result<(Machine, Vec<At>, Log), TestCaseError> {
        let mut m = Machine::new(rules);
        let mut model: Vec<At> = Vec::new();
        let mut log = Vec::new();
        let mut fx = Vec::new();
        for op in ops {
            let ready = |a: &At| matches!(a, At::Ready(_));
            let out = |a: &At| matches!(a, At::Out(..));
            let cmd = match *op {
                Op::Enqueue => {
                    model.push(At::Ready(Counts::default()));
                    Command::Enqueue {
                        index: model.len() as u64 - 1,
                    }
                }
                Op::Purge => {
                    // The log settles each purged message.
                    for (i, a) in model.iter_mut().enumerate().filter(|(_, a)| ready(a)) {
                        *a = At::Gone;
                        log.push((i as u64, Record::Settled));
                    }
                    Command::Purge
                }
                Op::HolderDown(h) => Command::HolderDown { holder: h.into() },
                Op::Stray(n, k) => {
                    // A command that must be refused: a settle-like command for a message
                    // that is not out, or a checkout of one that is.
                    let Some(i) = pick(&model, n, |a| !out(a)) else {
                        continue;
                    };
                    let index = i as u64;
                    let cmd = match k {
                        0 => Command::Settle { index },
                        1 => Command::Release { index },
                        2 => Command::Discard { index },
                        3 => Command::Return {
                            index,
                            how: Return::Failed,
                        },
                        _ => match pick(&model, n, out) {
                            Some(o) => Command::Checkout {
                                index: o as u64,
                                holder: 0,
                                counts: Counts::default(),
                            },
                            None => continue,
                        },
                    };
                    let before = m.clone();
                    fx.clear();
                    let refused = m.apply(cmd, &mut fx).is_err();
                    prop_assert!(refused);
                    prop_assert_eq!(m.refused(), before.refused() + 1);
                    let mut unchanged = m.clone();
                    unchanged.refused = before.refused;
                    prop_assert_eq!(&unchanged, &before);
                    prop_assert!(fx.is_empty());
                    continue;
                }
                Op::Dequeue(n) | Op::Checkout(n, _) => {
                    let Some(i) = pick(&model, n, ready) else {
                        // Nothing ready: a dequeue is refused.
                        if matches!(op, Op::Dequeue(_)) {
                            let refused = m.apply(Command::Dequeue { index: 0 }, &mut fx).is_err();
                            prop_assert!(refused);
                        }
                        continue;
                    };
                    let At::Ready(counts) = model[i] else {
                        unreachable!()
                    };
                    match *op {
                        Op::Checkout(_, h) => {
                            model[i] = At::Out(h.into(), counts);
                            Command::Checkout {
                                index: i as u64,
                                holder: h.into(),
                                counts,
                            }
                        }
                        _ => {
                            model[i] = At::Gone;
                            Command::Dequeue { index: i as u64 }
                        }
                    }
                }
                Op::Release(n) | Op::Settle(n) | Op::Return(n, _) | Op::Discard(n) => {
                    let Some(i) = pick(&model, n, out) else {
                        continue;
                    };
                    let index = i as u64;
                    match *op {
                        Op::Release(_) => Command::Release { index },
                        Op::Settle(_) => Command::Settle { index },
                        Op::Discard(_) => Command::Discard { index },
                        Op::Return(_, failed) => Command::Return {
                            index,
                            how: if failed {
                                Return::Failed
                            } else {
                                Return::Requeued
                            },
                        },
                        _ => unreachable!(),
                    }
                }
            };
            fx.clear();
            let applied = m.apply(cmd, &mut fx);
            prop_assert!(applied.is_ok(), "refused {:?}", cmd);
            // What the model expects of the effects.
            let returned = |model: &mut Vec<At>, i: usize, how| {
                let At::Out(_, mut c) = model[i] else {
                    unreachable!()
                };
                match rules.on_return(&mut c, how) {
                    Verdict::Requeue => {
                        model[i] = At::Ready(c);
                        Effect::Requeue {
                            index: i as u64,
                            counts: c,
                        }
                    }
                    Verdict::OverLimit => {
                        model[i] = At::Gone;
                        Effect::DeadLetter {
                            index: i as u64,
                            counts: c,
                            reason: Reason::DeliveryLimit,
                        }
                    }
                }
            };
            let expected: Vec<Effect> = match cmd {
                Command::Release { index } => {
                    let At::Out(_, c) = model[index as usize] else {
                        unreachable!()
                    };
                    model[index as usize] = At::Ready(c);
                    vec![Effect::Requeue { index, counts: c }]
                }
                Command::Settle { index } => {
                    model[index as usize] = At::Gone;
                    vec![]
                }
                Command::Discard { index } => {
                    let At::Out(_, c) = model[index as usize] else {
                        unreachable!()
                    };
                    model[index as usize] = At::Gone;
                    vec![Effect::DeadLetter {
                        index,
                        counts: c,
                        reason: Reason::Rejected,
                    }]
                }
                Command::Return { index, how } => vec![returned(&mut model, index as usize, how)],
                Command::HolderDown { holder } => (0..model.len())
                    .filter(|&i| matches!(model[i], At::Out(h, _) if h == holder))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|i| returned(&mut model, i, Return::Failed))
                    .collect(),
                _ => vec![],
            };
            prop_assert_eq!(&fx, &expected);
            log_of(cmd, &fx, &mut log);
            // Every message is in exactly one place, and the machine counts them so.
            let n_ready = model.iter().filter(|a| ready(a)).count() as u64;
            prop_assert_eq!(m.ready(), n_ready);
            for (i, a) in model.iter().enumerate() {
                let held = m.holder_of(i as u64);
                match a {
                    At::Out(h, c) => prop_assert_eq!(held, Some((*h, *c))),
                    _ => prop_assert_eq!(held, None),
                }
            }
            prop_assert_eq!(m.checked_out(), model.iter().filter(|a| out(a)).count());
        }
        Ok((m, model, log))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The machine does what a plain model of the queue does, command by command;
        /// refused commands change nothing.
        #[test]
        fn the_machine_follows_the_model(rules in rules(), ops in ops()) {
            run(rules, &ops)?;
        }

        /// The same commands give the same state and the same effects.
        #[test]
        fn the_same_commands_give_the_same_state(rules in rules(), ops in ops()) {
            let (a, _, la) = run(rules, &ops)?;
            let (b, _, lb) = run(rules, &ops)?;
            prop_assert_eq!(a, b);
            prop_assert_eq!(la, lb);
        }

        /// Replaying the log the queue wrote, with the messages' records interleaved in any
        /// order that keeps each message's own, gives back every live message with its
        /// counts; what was checked out is ready again, flagged redelivered.
        #[test]
        fn replaying_the_log_rebuilds_the_queue(rules in rules(), ops in ops(), seed in any::<u64>()) {
            let (_, model, log) = run(rules, &ops)?;
            // Each message's records, then a shuffle of whole messages and a merge.
            let mut per: Vec<Vec<(Index, Record)>> = vec![Vec::new(); model.len()];
            for (i, r) in log {
                per[i as usize].push((i, r));
            }
            let mut order: Vec<usize> = (0..per.len()).collect();
            let mut x = seed | 1;
            for k in (1..order.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                order.swap(k, (x % (k as u64 + 1)) as usize);
            }
            let mut cursors = vec![0usize; per.len()];
            let mut replay = Replay::new(rules);
            let mut left: usize = per.iter().map(Vec::len).sum();
            let mut turn = 0usize;
            while left > 0 {
                let m = order[turn % order.len()];
                match per[m].get(cursors[m]) {
                    Some(&(i, r)) => {
                        cursors[m] += 1;
                        left -= 1;
                        replay.record(i, r);
                        // Take one to three of the next messages' turns.
                        turn += (x >> (left % 60)) as usize % 3 + 1;
                    }
                    None => turn += 1,
                }
            }
            let restored = replay.finish();
            let (histories, got_over): (HashMap<Index, Replayed>, HashMap<Index, Replayed>) =
                restored.messages.into_iter().partition(|(_, h)| !h.over_limit);
            // What was out comes back as a failed delivery, or goes past the limit.
            let mut live: Vec<(usize, Counts)> = Vec::new();
            let mut over: Vec<(Index, Counts)> = Vec::new();
            for (i, a) in model.iter().enumerate() {
                match *a {
                    At::Ready(c) => live.push((i, c)),
                    At::Out(_, mut c) => match rules.on_return(&mut c, Return::Failed) {
                        Verdict::Requeue => live.push((i, c)),
                        Verdict::OverLimit => over.push((i as u64, c)),
                    },
                    At::Gone => {}
                }
            }
            let mut got_over: Vec<(Index, Counts)> = got_over.into_iter().map(|(i, h)| (i, h.counts)).collect();
            got_over.sort_unstable_by_key(|(i, _)| *i);
            prop_assert_eq!(got_over, over);
            prop_assert_eq!(restored.machine.ready(), live.len() as u64);
            prop_assert_eq!(restored.machine.checked_out(), 0);
            prop_assert_eq!(restored.machine.rules(), rules);
            for (i, c) in &live {
                let h = histories.get(&(*i as u64)).copied().unwrap_or_default();
                prop_assert_eq!(h.counts, *c);
                let was_out = per[*i].iter().any(|(_, r)| *r == Record::Delivered);
                prop_assert_eq!(h.redelivered, was_out);
            }
            for i in histories.keys() {
                prop_assert!(live.iter().any(|(l, _)| *l as u64 == *i), "history kept for a gone message {}", i);
            }
        }
    }

    #[test]
    fn a_holder_going_down_returns_its_messages_in_index_order_as_failures() {
        let mut m = Machine::new(Rules {
            limit: Limit::Of(0),
            before_4_0: false,
        });
        let mut fx = Vec::new();
        for index in 0..4 {
            m.apply(Command::Enqueue { index }, &mut fx).unwrap();
        }
        for (index, holder) in [(3, 7), (0, 7), (1, 8), (2, 7)] {
            let counts = Counts::default();
            m.apply(
                Command::Checkout {
                    index,
                    holder,
                    counts,
                },
                &mut fx,
            )
            .unwrap();
        }
        m.apply(Command::HolderDown { holder: 7 }, &mut fx).unwrap();
        let failed = Counts {
            acquired: 1,
            failed: 1,
        };
        // A limit of 0: one failed delivery is over it.
        let dead = |index| Effect::DeadLetter {
            index,
            counts: failed,
            reason: Reason::DeliveryLimit,
        };
        assert_eq!(fx, vec![dead(0), dead(2), dead(3)]);
        assert_eq!(m.holder_of(1).map(|(h, _)| h), Some(8));
        assert_eq!((m.ready(), m.checked_out()), (0, 1));
    }

    #[test]
    fn old_logs_with_counts_replay_to_those_counts() {
        let mut r = Replay::new(Rules {
            limit: Limit::Default,
            before_4_0: false,
        });
        let c = Counts {
            acquired: 3,
            failed: 2,
        };
        for rec in [Record::Published, Record::Delivered, Record::Counted(c)] {
            r.record(5, rec);
        }
        r.record(6, Record::Published);
        let restored = r.finish();
        let (m, h) = (restored.machine, restored.messages);
        assert_eq!((m.ready(), m.checked_out()), (2, 0));
        assert_eq!(
            h.get(&5),
            Some(&Replayed {
                counts: c,
                redelivered: true,
                over_limit: false
            })
        );
        assert_eq!(h.get(&6), None);
    }
}
