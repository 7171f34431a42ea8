//! A topic trie's literal-word edges, (parent node, word) to child node, for every node of the
//! trie in one table.
//!
//! With a million bindings one node has a million children, and a route's cost is its cache
//! misses: a general hash map reads a control byte group, then the slot, then the key string
//! the slot points to, before the child node itself. Here a slot is 8 bytes, a 32-bit hash
//! of the edge and the child's index, so one read finds the child; whether the child's word
//! and parent really are the ones looked up is checked on the child node, which the route
//! reads next anyway (`TopicRouter` keeps each node's word inline). Open addressing with
//! linear probing, at most half full; growth and removal move slots by their stored hash
//! alone, without reading a node.
//!
//! The hash is keyed per table (the standard library's SipHash with a random key), so a
//! client choosing binding keys cannot make them collide.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// An empty slot. An occupied one holds the child's index plus one, so it is never zero.
const EMPTY: u64 = 0;
const MIN_SLOTS: usize = 8;

#[derive(Debug, Default)]
pub struct Edges {
    /// `(hash << 32) | (child + 1)`, or `EMPTY`; the length is a power of two or zero.
    slots: Vec<u64>,
    len: usize,
    key: RandomState,
}

/// A word's hash, computed once per word of a routing key and combined with each node the
/// route is at by `Edges::edge_hash`.
#[derive(Clone, Copy)]
pub struct WordHash(u64);

impl Edges {
    pub fn word_hash(&self, word: &str) -> WordHash {
        WordHash(self.key.hash_one(word))
    }

    /// The hash of the edge labelled with a word out of `parent`: the word's keyed hash
    /// mixed with the parent (murmur3's finaliser), so every node's children spread over
    /// the whole table.
    pub fn edge_hash(w: WordHash, parent: u32) -> u32 {
        let mut h = w.0 ^ u64::from(parent).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        h as u32
    }

    /// The hash of the edge labelled `word` out of `parent`, for a bind or an unbind (a walk
    /// hashes each word once, with `word_hash`, for every node it is at).
    pub fn hash(&self, parent: u32, word: &str) -> u32 {
        Self::edge_hash(self.word_hash(word), parent)
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn home(&self, hash: u32) -> usize {
        hash as usize & self.mask()
    }

    fn slot(hash: u32, child: u32) -> u64 {
        (u64::from(hash) << 32) | (u64::from(child) + 1)
    }

    fn hash_of(slot: u64) -> u32 {
        (slot >> 32) as u32
    }

    fn child_of(slot: u64) -> u32 {
        (slot as u32).wrapping_sub(1)
    }

    /// The child whose edge has this hash and for which `is` holds (the caller checks the
    /// child's parent and word).
    pub fn find(&self, hash: u32, is: impl Fn(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mut at = self.home(hash);
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            if Self::hash_of(slot) == hash && is(Self::child_of(slot)) {
                return Some(Self::child_of(slot));
            }
            at = (at + 1) & self.mask();
        }
    }

    /// Adds the edge to `child` (which must be below `u32::MAX`, and not in the table yet).
    pub fn insert(&mut self, hash: u32, child: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.place(Self::slot(hash, child));
        self.len += 1;
    }

    fn place(&mut self, slot: u64) {
        let mut at = self.home(Self::hash_of(slot));
        while self.slots[at] != EMPTY {
            at = (at + 1) & self.mask();
        }
        self.slots[at] = slot;
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        super::huge_pages::advise(&self.slots);
        for slot in old.into_iter().filter(|&s| s != EMPTY) {
            self.place(slot);
        }
    }

    /// Removes the edge to `child`, closing the gap so that no probe stops early: each later
    /// slot of the run moves back into the hole unless its home lies after the hole.
    pub fn remove(&mut self, hash: u32, child: u32) {
        let Some(mut hole) = self.position(Self::slot(hash, child)) else {
            return;
        };
        self.len -= 1;
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let slot = self.slots[at];
            if slot == EMPTY {
                break;
            }
            let home = self.home(Self::hash_of(slot));
            if (at.wrapping_sub(home) & mask) >= (at.wrapping_sub(hole) & mask) {
                self.slots[hole] = slot;
                hole = at;
            }
        }
        self.slots[hole] = EMPTY;
    }

    fn position(&self, slot: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut at = self.home(Self::hash_of(slot));
        loop {
            match self.slots[at] {
                EMPTY => return None,
                s if s == slot => return Some(at),
                _ => at = (at + 1) & self.mask(),
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        /// Whatever the inserts and removes (hashes drawn from a few values, so runs form
        /// and wrap around), the table finds exactly the edges a plain set holds.
        #[test]
        fn agrees_with_a_set(ops in proptest::collection::vec((any::<bool>(), 0u32..6, 0u32..40), 0..400)) {
            let mut edges = Edges::default();
            let mut want: HashSet<(u32, u32)> = HashSet::new();
            for (add, hash, child) in ops {
                // Hashes close to the table's end wrap runs around it.
                let hash = hash.wrapping_sub(3);
                if add {
                    if want.insert((hash, child)) {
                        edges.insert(hash, child);
                    }
                } else if want.remove(&(hash, child)) {
                    edges.remove(hash, child);
                }
                prop_assert_eq!(edges.len(), want.len());
                for h in (0u32..6).map(|h| h.wrapping_sub(3)) {
                    for c in 0..40 {
                        let found = edges.find(h, |x| x == c);
                        prop_assert_eq!(found.is_some(), want.contains(&(h, c)));
                    }
                }
            }
        }
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let edges = Edges::default();
        assert_eq!(edges.find(7, |_| true), None);
        let mut edges = Edges::default();
        edges.remove(7, 1);
        assert_eq!(edges.len(), 0);
    }
}
