//! The tail of a deep durable queue, kept on disk instead of in memory.
//!
//! Past `queue::MEMORY_LIMIT` ready messages, a durable queue stops holding what arrives in
//! memory: once a persistent message's write is fsync'd, the queue forgets the message and
//! keeps only its position in the log (a couple of bytes, see `store::run`). When the
//! in-memory head runs dry, the next batch is read back from the segments. Messages that are
//! not in the log (transient ones) keep their place in the backlog in memory, so order holds.

use super::consumer::QueuedMessage;
use crate::store::{Position, Run, run};
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct Backlog {
    parts: VecDeque<Part>,
    /// Messages in `parts`.
    in_parts: usize,
    /// Behind `parts`: persistent messages whose write is still under way; they move into
    /// `parts` as positions once it is fsync'd.
    fresh: VecDeque<QueuedMessage>,
}

#[derive(Debug)]
enum Part {
    Memory(QueuedMessage),
    Disk(Run),
}

/// A message taken off the front of a backlog.
#[derive(Debug)]
pub enum Taken {
    Memory(QueuedMessage),
    /// Only its position is known; the caller reads it back.
    Disk {
        position: Position,
        redelivered: bool,
    },
}

impl Backlog {
    pub fn len(&self) -> usize {
        self.in_parts + self.fresh.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, entry: QueuedMessage) {
        self.fresh.push_back(entry);
        self.settle_fresh();
    }

    /// Appends positions recovered from disk.
    pub fn push_runs(&mut self, runs: impl IntoIterator<Item = Run>) {
        self.settle_fresh();
        for r in runs {
            self.in_parts += r.len();
            self.parts.push_back(Part::Disk(r));
        }
    }

    /// Moves entries whose write is over from `fresh` into `parts`: fsync'd ones as positions
    /// (their bodies leave memory), the rest (transient, or refused by a failing disk) as
    /// they are.
    fn settle_fresh(&mut self) {
        while let Some(front) = self.fresh.front() {
            let slot = front.message.slot.get();
            if slot.is_some_and(|s| s.is_pending()) {
                return;
            }
            let position = slot.and_then(|s| s.position());
            let Some(entry) = self.fresh.pop_front() else {
                return;
            };
            self.in_parts += 1;
            match position {
                Some(p) => {
                    if let Some(Part::Disk(last)) = self.parts.back_mut()
                        && last.try_push(p, entry.redelivered)
                    {
                        continue;
                    }
                    self.parts
                        .push_back(Part::Disk(Run::new(p, entry.redelivered)));
                }
                None => self.parts.push_back(Part::Memory(entry)),
            }
        }
    }

    /// Takes up to `max` messages off the front.
    pub fn take(&mut self, max: usize) -> Vec<Taken> {
        self.settle_fresh();
        let mut out = Vec::with_capacity(max.min(self.len()));
        while out.len() < max {
            match self.parts.front_mut() {
                Some(Part::Disk(r)) => {
                    while out.len() < max
                        && let Some(position) = r.pop_front()
                    {
                        self.in_parts -= 1;
                        out.push(Taken::Disk {
                            position,
                            redelivered: r.redelivered,
                        });
                    }
                    if r.is_empty() {
                        self.parts.pop_front();
                    }
                }
                Some(Part::Memory(_)) => {
                    if let Some(Part::Memory(e)) = self.parts.pop_front() {
                        self.in_parts -= 1;
                        out.push(Taken::Memory(e));
                    }
                }
                None => match self.fresh.pop_front() {
                    Some(e) => out.push(Taken::Memory(e)),
                    None => break,
                },
            }
        }
        out
    }

    /// Empties the backlog: what was in memory, and the positions of the rest.
    pub fn drain(&mut self) -> (Vec<QueuedMessage>, Vec<Position>) {
        let mut memory = Vec::new();
        let mut positions = Vec::new();
        for part in self.parts.drain(..) {
            match part {
                Part::Memory(e) => memory.push(e),
                Part::Disk(r) => positions.extend(r.iter()),
            }
        }
        memory.extend(self.fresh.drain(..));
        self.in_parts = 0;
        (memory, positions)
    }

    /// Every message's position with its redelivered flag, in order, for the clean-shutdown
    /// index; messages that are not in the log are skipped.
    pub fn positions(&self, out: &mut Vec<Run>) {
        for part in &self.parts {
            match part {
                Part::Memory(e) => push_position_of(e, out),
                Part::Disk(r) => {
                    for p in r.iter() {
                        run::push_position(out, p, r.redelivered);
                    }
                }
            }
        }
        for e in &self.fresh {
            push_position_of(e, out);
        }
    }
}

/// Adds where `e` is in the log to `out`, if it is there.
pub fn push_position_of(e: &QueuedMessage, out: &mut Vec<Run>) {
    if let Some(p) = e.message.slot.get().and_then(|s| s.position()) {
        run::push_position(out, p, e.redelivered);
    }
}
