//! The destinations one routing entry leads to, each with how many bindings lead there.
//!
//! Most entries hold one or two destinations, so a plain vector is both the smallest and the
//! fastest, and its first destination is held inline (a topic route through a million
//! bindings reads it from the trie node it already has in cache); a fanout with 100,000 queues bound (or 100,000 queues bound with one key) would
//! make every bind and unbind scan it, so past a few dozen an index by destination is kept
//! beside the vector.

use super::Destination;
use smallvec::SmallVec;
use std::collections::HashMap;

/// Past this many destinations, finding one goes through the index instead of a scan.
const INDEX_FROM: usize = 32;

#[derive(Debug, Default)]
pub struct DestSet {
    dests: SmallVec<[(Destination, usize); 1]>,
    /// Position of each destination in `dests`, once there are more than `INDEX_FROM`.
    /// Boxed so the common unindexed set (one per topic trie node) pays 8 bytes, not 48.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<Destination, usize>>>,
}

impl DestSet {
    fn position(&self, d: &Destination) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(d).copied(),
            None => self.dests.iter().position(|(x, _)| x == d),
        }
    }

    /// Counts one more binding leading to `d`.
    pub fn add(&mut self, d: &Destination) {
        if let Some(at) = self.position(d) {
            self.dests[at].1 += 1;
            return;
        }
        self.dests.push((d.clone(), 1));
        match &mut self.index {
            Some(index) => {
                index.insert(d.clone(), self.dests.len() - 1);
            }
            None if self.dests.len() > INDEX_FROM => {
                let index = self
                    .dests
                    .iter()
                    .enumerate()
                    .map(|(at, (d, _))| (d.clone(), at))
                    .collect();
                self.index = Some(Box::new(index));
            }
            None => {}
        }
    }

    /// Counts one binding fewer leading to `d`; forgets `d` at zero.
    pub fn remove(&mut self, d: &Destination) {
        let Some(at) = self.position(d) else {
            return;
        };
        self.dests[at].1 -= 1;
        if self.dests[at].1 > 0 {
            return;
        }
        self.dests.swap_remove(at);
        if let Some(index) = &mut self.index {
            index.remove(d);
            if let Some((moved, _)) = self.dests.get(at) {
                index.insert(moved.clone(), at);
            }
            if self.dests.len() <= INDEX_FROM / 2 {
                self.index = None;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.dests.len()
    }

    /// The `i`th destination (below `len`), in no particular order.
    pub fn get(&self, i: usize) -> Option<&Destination> {
        self.dests.get(i).map(|(d, _)| d)
    }

    pub fn is_empty(&self) -> bool {
        self.dests.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Destination> {
        self.dests.iter().map(|(d, _)| d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the adds and removes, the set holds exactly the destinations with a
        /// positive count, indexed or not.
        #[test]
        fn matches_a_plain_count(ops in proptest::collection::vec((any::<bool>(), 0u8..80), 0..600)) {
            let mut set = DestSet::default();
            let mut counts: HashMap<Destination, usize> = HashMap::new();
            for (add, n) in ops {
                let d = Destination::Queue(n.to_string().into());
                if add {
                    set.add(&d);
                    *counts.entry(d).or_default() += 1;
                } else {
                    set.remove(&d);
                    if let Some(c) = counts.get_mut(&d) {
                        *c -= 1;
                        if *c == 0 {
                            counts.remove(&d);
                        }
                    }
                }
                let mut got: Vec<_> = set.iter().cloned().collect();
                got.sort();
                let mut want: Vec<_> = counts.keys().cloned().collect();
                want.sort();
                prop_assert_eq!(got, want);
            }
        }
    }
}
