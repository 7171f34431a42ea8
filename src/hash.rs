//! A fast hasher for the per-connection maps the publish and deliver paths look up for every
//! frame (channels by number, consumers by tag).
//!
//! std's SipHash resists collision flooding, which matters for maps shared by everyone. These
//! maps belong to one connection and hold only what that peer put there, so a peer that
//! crafts colliding keys slows down nobody but itself; SipHash was a few percent of the whole
//! publish path, this is a multiply per word.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map private to one connection; see the module doc for why its hash is not SipHash.
pub type LocalMap<K, V> = HashMap<K, V, BuildHasherDefault<LocalHasher>>;

/// Multiplicative hashing of whole words, in the manner of rustc's FxHasher.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl LocalHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for LocalHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(n.into());
    }

    fn write_u16(&mut self, n: u16) {
        self.add(n.into());
    }

    fn write_u32(&mut self, n: u32) {
        self.add(n.into());
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash>(v: T) -> u64 {
        BuildHasherDefault::<LocalHasher>::default().hash_one(v)
    }

    #[test]
    fn equal_keys_hash_alike_and_near_keys_apart() {
        assert_eq!(hash("amq.ctag-1"), hash(String::from("amq.ctag-1")));
        assert_ne!(hash("amq.ctag-1"), hash("amq.ctag-2"));
        assert_ne!(hash(1u16), hash(2u16));
        // The top bits pick hashbrown's control bytes: small channel numbers must differ there.
        let tops: std::collections::HashSet<u64> = (1u16..=64).map(|c| hash(c) >> 57).collect();
        assert!(tops.len() > 32, "{} distinct top-7-bit values", tops.len());
    }

    #[test]
    fn a_local_map_works_as_a_map() {
        let mut m: LocalMap<u16, &str> = LocalMap::default();
        for c in 1..=2047u16 {
            m.insert(c, "x");
        }
        assert_eq!(m.len(), 2047);
        assert!((1..=2047u16).all(|c| m.contains_key(&c)));
        assert!(!m.contains_key(&0));
    }
}
