//! A queue's consumers and who gets the next message.
//!
//! Consumers are kept in priority order (x-priority, highest first), registration order
//! within a priority. `pick` gives the next message to a consumer of the highest priority that
//! has prefetch credit, round robin among the consumers of that priority; with a single
//! active consumer only the first one registered ever gets messages, and the next takes over
//! when it goes. Without priorities there is one group and `pick` is today's round robin:
//! O(1) when the next consumer has credit, O(consumers) when none has.

use super::super::consumer::Consumer;

#[derive(Debug, Clone, Copy)]
struct Group {
    priority: i32,
    len: usize,
    /// Where round robin resumes, relative to the group's start.
    cursor: usize,
}

#[derive(Debug, Default)]
pub struct ConsumerSet {
    list: Vec<Consumer>,
    /// The priority groups, in `list` order.
    groups: Vec<Group>,
    single_active: bool,
}

impl ConsumerSet {
    pub fn new(single_active: bool) -> ConsumerSet {
        ConsumerSet {
            single_active,
            ..ConsumerSet::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn get(&self, idx: usize) -> &Consumer {
        &self.list[idx]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Consumer> {
        self.list.iter()
    }

    /// Adds a consumer behind those of its priority and above.
    pub fn add(&mut self, c: Consumer) {
        let at = self.list.partition_point(|x| x.priority >= c.priority);
        let p = c.priority;
        self.list.insert(at, c);
        match self.groups.iter_mut().find(|g| g.priority == p) {
            Some(g) => g.len += 1,
            None => {
                let at = self.groups.partition_point(|g| g.priority > p);
                let group = Group {
                    priority: p,
                    len: 1,
                    cursor: 0,
                };
                self.groups.insert(at, group);
            }
        }
    }

    /// Removes the consumers `gone` says yes to; returns how many went.
    pub fn remove_where(&mut self, mut gone: impl FnMut(&Consumer) -> bool) -> usize {
        let before = self.list.len();
        self.list.retain(|c| !gone(c));
        let removed = before - self.list.len();
        if removed > 0 {
            self.regroup();
        }
        removed
    }

    pub fn remove_at(&mut self, idx: usize) {
        self.list.remove(idx);
        self.regroup();
    }

    /// Recounts the groups after removals, keeping each surviving group's cursor.
    fn regroup(&mut self) {
        let old = std::mem::take(&mut self.groups);
        for c in &self.list {
            match self.groups.last_mut() {
                Some(g) if g.priority == c.priority => g.len += 1,
                _ => {
                    let cursor = old
                        .iter()
                        .find(|g| g.priority == c.priority)
                        .map_or(0, |g| g.cursor);
                    self.groups.push(Group {
                        priority: c.priority,
                        len: 1,
                        cursor,
                    });
                }
            }
        }
        for g in &mut self.groups {
            g.cursor %= g.len;
        }
    }

    pub fn drain(&mut self) -> impl Iterator<Item = Consumer> + '_ {
        self.groups.clear();
        self.list.drain(..)
    }

    /// The consumer that gets the next message, with one unit of its credit taken.
    pub fn pick(&mut self) -> Option<usize> {
        if self.single_active {
            let first = self.list.first()?;
            return first.try_take_credit().then_some(0);
        }
        // One priority (the usual case): plain round robin.
        if let [g] = self.groups.as_mut_slice() {
            let n = g.len;
            for k in 0..n {
                let i = (g.cursor + k) % n;
                if self.list[i].try_take_credit() {
                    g.cursor = if i + 1 == n { 0 } else { i + 1 };
                    return Some(i);
                }
            }
            return None;
        }
        let mut start = 0;
        for g in &mut self.groups {
            let n = g.len;
            for k in 0..n {
                let i = start + (g.cursor + k) % n;
                if self.list[i].try_take_credit() {
                    g.cursor = (i - start + 1) % n;
                    return Some(i);
                }
            }
            start += n;
        }
        None
    }
}
