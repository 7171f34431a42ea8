//! A queue's ready messages: one level for an ordinary queue, one per priority for a
//! priority queue, each an in-memory head and an on-disk backlog, with the counters length
//! limits are checked against.
//!
//! The highest non-empty level is found from a bitmap in O(1), so a priority queue pays
//! O(1) per message whatever its number of levels; FIFO holds within a level.

use super::super::backlog::Backlog;
use super::super::consumer::QueuedMessage;
use super::super::message::Message;
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct Level {
    /// Ready messages in memory, ascending `seq`.
    pub ready: VecDeque<QueuedMessage>,
    /// Ready messages after `ready`, on disk.
    pub backlog: Backlog,
}

impl Level {
    fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.backlog.is_empty()
    }
}

#[derive(Debug)]
pub struct MessageBuffer {
    levels: Vec<Level>,
    /// Bit n set: level n holds messages.
    occupied: [u64; 4],
    /// Ready messages, in memory or not.
    len: usize,
    /// Body bytes of the ready messages (x-max-length-bytes). Messages read back from disk
    /// count from when they were pushed; a purge resets it.
    bytes: u64,
    /// Whether `bytes` is kept: only a queue with x-max-length-bytes reads it, and counting
    /// would touch every delivered message's body for nothing.
    count_bytes: bool,
    /// The level of a message without a priority property.
    default_priority: u8,
}

impl MessageBuffer {
    /// A buffer with `max_priority + 1` levels (one for a queue without priorities), where
    /// a message without a priority goes to `default_priority`.
    pub fn new(max_priority: Option<u8>, default_priority: u8, count_bytes: bool) -> MessageBuffer {
        let n = max_priority.map_or(1, |p| usize::from(p) + 1);
        MessageBuffer {
            default_priority,
            levels: (0..n).map(|_| Level::default()).collect(),
            occupied: [0; 4],
            len: 0,
            bytes: 0,
            count_bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn counts_bytes(&self) -> bool {
        self.count_bytes
    }

    /// Starts keeping `bytes` (a policy gave the queue a max-length-bytes), from the bodies
    /// in memory: messages only on disk count as empty until they are read back, as those
    /// recovered after a restart do.
    pub fn count_bytes_from_now(&mut self) {
        if self.count_bytes {
            return;
        }
        self.count_bytes = true;
        self.bytes = self
            .levels
            .iter()
            .map(|l| {
                let ready: u64 = l.ready.iter().map(|e| e.message.body().len() as u64).sum();
                ready + l.backlog.memory_bytes()
            })
            .sum();
    }

    /// The level a message goes to: its priority (or the queue's default for one without),
    /// clamped to the highest.
    pub fn level_of(&self, message: &Message) -> usize {
        let p = message.priority.unwrap_or(self.default_priority);
        usize::from(p).min(self.levels.len() - 1)
    }

    pub fn level(&self, n: usize) -> &Level {
        &self.levels[n]
    }

    /// The level, for changes that keep its count (a refill moves messages from its backlog
    /// to its head); `recount` must follow any that do not.
    pub fn level_mut(&mut self, n: usize) -> &mut Level {
        &mut self.levels[n]
    }

    pub fn levels(&self) -> impl Iterator<Item = &Level> {
        self.levels.iter()
    }

    /// The highest level that holds messages.
    pub fn front_level(&self) -> Option<usize> {
        // One level (a queue without priorities): the count says it, no bitmap to keep.
        if self.levels.len() == 1 {
            return (self.len > 0).then_some(0);
        }
        (0..4)
            .rev()
            .find(|&w| self.occupied[w] != 0)
            .map(|w| w * 64 + 63 - self.occupied[w].leading_zeros() as usize)
    }

    fn mark(&mut self, n: usize) {
        if self.levels.len() == 1 {
            return;
        }
        if self.levels[n].is_empty() {
            self.occupied[n / 64] &= !(1 << (n % 64));
        } else {
            self.occupied[n / 64] |= 1 << (n % 64);
        }
    }

    /// Counts a message that joined level `n` (behind the others, in memory or on disk).
    pub fn joined(&mut self, n: usize, body_len: usize) {
        self.len += 1;
        if self.count_bytes {
            self.bytes += body_len as u64;
        }
        self.mark(n);
    }

    /// Takes the first in-memory message of level `n`.
    pub fn pop_front(&mut self, n: usize) -> Option<QueuedMessage> {
        let e = self.levels[n].ready.pop_front()?;
        self.left(&e);
        self.mark(n);
        Some(e)
    }

    /// Forgets `count` messages of level `n` that left without passing through memory
    /// (unreadable on disk, or moved to another level), and marks the level for what it
    /// holds now (0: only that).
    pub fn lost(&mut self, n: usize, count: usize) {
        self.uncount(count);
        if self.levels.len() == 1 && self.levels[0].is_empty() {
            self.len = 0;
        }
        self.mark(n);
    }

    /// Forgets `count` messages that moved to another level (`joined` counts them there);
    /// `lost(n, 0)` follows once the level's own messages are back in place.
    pub fn uncount(&mut self, count: usize) {
        self.len = self.len.saturating_sub(count);
    }

    fn left(&mut self, e: &QueuedMessage) {
        self.len = self.len.saturating_sub(1);
        if self.count_bytes {
            self.bytes = self.bytes.saturating_sub(e.message.body().len() as u64);
        }
    }

    /// Puts a message that left back in its original place (by `seq`) in its level.
    pub fn put_in_place(&mut self, entry: QueuedMessage) {
        let n = self.level_of(&entry.message);
        let ready = &mut self.levels[n].ready;
        let at = ready.partition_point(|m| m.seq < entry.seq);
        self.len += 1;
        if self.count_bytes {
            self.bytes += entry.message.body().len() as u64;
        }
        ready.insert(at, entry);
        self.mark(n);
    }

    /// Empties every level: what was in memory (in memory or in a backlog), and the
    /// positions of what was on disk only.
    pub fn drain(&mut self) -> (Vec<QueuedMessage>, Vec<crate::store::Position>) {
        let mut memory = Vec::new();
        let mut positions = Vec::new();
        for level in &mut self.levels {
            memory.extend(level.ready.drain(..));
            let (m, p) = level.backlog.drain();
            memory.extend(m);
            positions.extend(p);
        }
        self.occupied = [0; 4];
        self.len = 0;
        self.bytes = 0;
        (memory, positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::message::{Message, MessageContent};
    use std::sync::Arc;

    fn entry(seq: u64, priority: u8) -> QueuedMessage {
        let mut m = Message::new(
            Arc::from(""),
            "k",
            false,
            MessageContent::Borrowed {
                raw_properties: &[0, 0],
                body: b"abc",
            },
        );
        m.priority = Some(priority);
        QueuedMessage::new(seq, Arc::new(m), false, 0)
    }

    fn push(b: &mut MessageBuffer, e: QueuedMessage) {
        let n = b.level_of(&e.message);
        b.level_mut(n).ready.push_back(e);
        b.joined(n, 3);
    }

    #[test]
    fn highest_priority_first_fifo_within_a_level() {
        let mut b = MessageBuffer::new(Some(255), 0, true);
        for (seq, p) in [(1, 0), (2, 200), (3, 5), (4, 200), (5, 255), (6, 70)] {
            push(&mut b, entry(seq, p));
        }
        assert_eq!(b.bytes(), 18);
        let mut order = Vec::new();
        while let Some(n) = b.front_level() {
            order.push(b.pop_front(n).unwrap().seq);
        }
        assert_eq!(order, [5, 2, 4, 6, 3, 1]);
        assert!(b.is_empty());
        assert_eq!(b.bytes(), 0);
    }

    #[test]
    fn priorities_above_the_maximum_are_clamped_and_requeues_go_back_in_place() {
        let mut b = MessageBuffer::new(Some(2), 0, true);
        push(&mut b, entry(1, 9));
        push(&mut b, entry(2, 2));
        push(&mut b, entry(3, 1));
        let first = b.pop_front(2).unwrap();
        assert_eq!(first.seq, 1);
        b.put_in_place(first);
        let order: Vec<u64> = std::iter::from_fn(|| b.front_level().and_then(|n| b.pop_front(n)))
            .map(|e| e.seq)
            .collect();
        assert_eq!(order, [1, 2, 3]);
    }
}
