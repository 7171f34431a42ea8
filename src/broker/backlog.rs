//! The tail of a deep queue, kept on disk instead of in memory.
//!
//! Past `queue::MEMORY_LIMIT` ready messages, a queue of a broker with a data directory stops
//! holding what arrives in memory: once a message is in the log, the queue forgets it and
//! keeps only its position (a couple of bytes, see `store::run`). A persistent message of a
//! durable queue is in the log already; any other message is spilled there first (a record
//! that recovery ignores). When the in-memory head runs dry, the next batch is read back. A
//! message the log refused (failing disk) keeps its place in the backlog in memory.
//!
//! Under memory pressure a queue also pages messages out of its in-memory head into the
//! front of its backlog (`push_front`); they are held until their write is done, then only
//! their positions stay.

use super::consumer::QueuedMessage;
use crate::store::{Position, Run, Slot, run};
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Backlog {
    parts: VecDeque<Part>,
    /// Messages in `parts`.
    in_parts: usize,
    /// Behind `parts`: messages whose write is still under way, with the slot it fills (the
    /// message's own, or its spill's); they move into `parts` once it is done.
    fresh: VecDeque<(QueuedMessage, Arc<Slot>)>,
}

#[derive(Debug)]
enum Part {
    Memory(QueuedMessage),
    Disk {
        run: Run,
        spilled: bool,
    },
    /// Paged out of the in-memory head, with the slot its write fills; becomes `Disk` (or
    /// `Memory`, if the write was refused) once the write is over (`settle_paged`).
    Paged(QueuedMessage, Arc<Slot>),
}

impl Backlog {
    pub fn len(&self) -> usize {
        self.in_parts + self.fresh.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a message whose write to the log fills `slot` (None: it is not being written
    /// and stays in memory, in its place behind the writes still under way).
    pub fn push(&mut self, entry: QueuedMessage, slot: Option<Arc<Slot>>) {
        self.fresh
            .push_back((entry, slot.unwrap_or_else(Slot::failed)));
        self.settle_fresh();
    }

    /// Puts messages paged out of the in-memory head in front of the backlog, in their
    /// order; each slot is the write that takes its message to disk.
    pub fn push_front(&mut self, entries: Vec<(QueuedMessage, Arc<Slot>)>) {
        self.in_parts += entries.len();
        for (e, slot) in entries.into_iter().rev() {
            self.parts.push_front(Part::Paged(e, slot));
        }
    }

    /// Turns paged-out messages at the front whose write is over into positions, freeing
    /// their bodies; stops at the first write still under way (the writer works in order).
    pub fn settle_paged(&mut self) {
        let mut settled: Vec<Part> = Vec::new();
        while let Some(Part::Paged(_, slot)) = self.parts.front() {
            if slot.is_pending() {
                break;
            }
            let Some(Part::Paged(e, slot)) = self.parts.pop_front() else {
                break;
            };
            let Some(p) = slot.position() else {
                settled.push(Part::Memory(e));
                continue;
            };
            let spilled = slot.is_spill();
            if let Some(Part::Disk { run, spilled: s }) = settled.last_mut()
                && *s == spilled
                && run.try_push(p, e.redelivered)
            {
                continue;
            }
            settled.push(Part::Disk {
                run: Run::new(p, e.redelivered),
                spilled,
            });
        }
        for part in settled.into_iter().rev() {
            self.parts.push_front(part);
        }
    }

    /// Appends positions recovered from disk.
    pub fn push_runs(&mut self, runs: impl IntoIterator<Item = Run>) {
        self.settle_fresh();
        for run in runs {
            self.in_parts += run.len();
            self.parts.push_back(Part::Disk {
                run,
                spilled: false,
            });
        }
    }

    /// Moves entries whose write is over from `fresh` into `parts`: written ones as positions
    /// (their bodies leave memory), refused ones as they are.
    fn settle_fresh(&mut self) {
        while let Some((_, slot)) = self.fresh.front() {
            if slot.is_pending() {
                return;
            }
            let (position, spilled) = (slot.position(), slot.is_spill());
            let Some((entry, _)) = self.fresh.pop_front() else {
                return;
            };
            self.in_parts += 1;
            match position {
                Some(p) => {
                    if let Some(Part::Disk { run, spilled: s }) = self.parts.back_mut()
                        && *s == spilled
                        && run.try_push(p, entry.redelivered)
                    {
                        continue;
                    }
                    self.parts.push_back(Part::Disk {
                        run: Run::new(p, entry.redelivered),
                        spilled,
                    });
                }
                None => self.parts.push_back(Part::Memory(entry)),
            }
        }
    }

    /// Takes up to `max` messages off the front that are in memory (a write the log
    /// refused, a page-out still under way), stopping at the first one only on disk.
    pub fn take_in_memory(&mut self, max: usize) -> Vec<QueuedMessage> {
        self.settle_paged();
        self.settle_fresh();
        let mut out = Vec::new();
        while out.len() < max {
            match self.parts.front() {
                Some(Part::Memory(_) | Part::Paged(..)) => {
                    if let Some(Part::Memory(e) | Part::Paged(e, _)) = self.parts.pop_front() {
                        self.in_parts -= 1;
                        out.push(e);
                    }
                }
                Some(Part::Disk { .. }) => break,
                None => match self.fresh.pop_front() {
                    Some((e, _)) => out.push(e),
                    None => break,
                },
            }
        }
        out
    }

    /// The positions of up to `max` messages at the front that are only on disk, without
    /// taking them: the queue reads them with its lock released, then takes them with
    /// `take_read` if they are still there.
    pub fn peek_disk(&mut self, max: usize) -> Vec<Position> {
        self.settle_paged();
        self.settle_fresh();
        let mut out = Vec::new();
        for part in &self.parts {
            let Part::Disk { run, .. } = part else {
                break;
            };
            out.extend(run.iter().take(max - out.len()));
            if out.len() == max {
                break;
            }
        }
        out
    }

    /// Takes the messages at `positions` off the front, if the front still starts with
    /// exactly them (a purge, a page-out or another reader may have changed it while they
    /// were read): their (redelivered, spilled) flags, in order; None if it changed.
    pub fn take_read(&mut self, positions: &[Position]) -> Option<Vec<(bool, bool)>> {
        if self.peek_disk(positions.len()) != positions {
            return None;
        }
        // `peek_disk` settled the front: it is `positions.len()` messages on disk.
        let mut flags = Vec::with_capacity(positions.len());
        while flags.len() < positions.len() {
            let Some(Part::Disk { run, spilled }) = self.parts.front_mut() else {
                break;
            };
            while flags.len() < positions.len() && run.pop_front().is_some() {
                self.in_parts -= 1;
                flags.push((run.redelivered, *spilled));
            }
            if run.is_empty() {
                self.parts.pop_front();
            }
        }
        Some(flags)
    }

    /// Empties the backlog: what was in memory, and the positions of the rest.
    pub fn drain(&mut self) -> (Vec<QueuedMessage>, Vec<Position>) {
        let mut memory = Vec::new();
        let mut positions = Vec::new();
        for part in self.parts.drain(..) {
            match part {
                Part::Memory(e) => memory.push(e),
                Part::Disk { run, .. } => positions.extend(run.iter()),
                Part::Paged(e, slot) => {
                    // A spill written for the page-out is the queue's to settle too.
                    if slot.is_spill()
                        && let Some(p) = slot.position()
                    {
                        positions.push(p);
                    }
                    memory.push(e);
                }
            }
        }
        memory.extend(self.fresh.drain(..).map(|(e, _)| e));
        self.in_parts = 0;
        (memory, positions)
    }

    /// Body bytes of the messages still in memory; those only on disk are not known
    /// without reading them back.
    pub fn memory_bytes(&self) -> u64 {
        let parts = self.parts.iter().map(|p| match p {
            Part::Memory(e) | Part::Paged(e, _) => e.message.body().len() as u64,
            Part::Disk { .. } => 0,
        });
        let fresh = self
            .fresh
            .iter()
            .map(|(e, _)| e.message.body().len() as u64);
        parts.chain(fresh).sum()
    }

    /// Every surviving message's position with its redelivered flag, in order, for the
    /// clean-shutdown index; spills and messages that are not in the log are skipped.
    pub fn positions(&self, out: &mut Vec<Run>) {
        for part in &self.parts {
            match part {
                Part::Memory(e) | Part::Paged(e, _) => push_position_of(e, out),
                Part::Disk { spilled: true, .. } => {}
                Part::Disk { run, .. } => {
                    for p in run.iter() {
                        run::push_position(out, p, run.redelivered);
                    }
                }
            }
        }
        for (e, _) in &self.fresh {
            push_position_of(e, out);
        }
    }
}

/// Adds where `e` is in the log to `out`, if it is there as a publish (not a spill).
pub fn push_position_of(e: &QueuedMessage, out: &mut Vec<Run>) {
    if let Some(slot) = e.message.slot.get()
        && !slot.is_spill()
        && let Some(p) = slot.position()
    {
        run::push_position(out, p, e.redelivered);
    }
}
