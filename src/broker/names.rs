//! Server-made names: `amq.gen-…` queues, `amq.ctag-…` consumer tags and
//! `amq.rabbitmq.reply-to.…` addresses.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 22 characters of URL-safe base64 from 128 unpredictable bits, as RabbitMQ makes them.
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bits = 0u128;
    for round in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(round);
        bits = (bits << 64) | u128::from(h.finish());
    }
    (0..22)
        .map(|k| char::from(ALPHABET[((bits >> (k * 6)) & 63) as usize]))
        .collect()
}

pub fn queue_name() -> String {
    format!("amq.gen-{}", random_suffix())
}

/// A direct reply-to address (see `reply_to`).
pub fn reply_address() -> String {
    format!("{}{}", super::reply_to::ADDRESS_PREFIX, random_suffix())
}

pub fn consumer_tag() -> String {
    format!("amq.ctag-{}", random_suffix())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_distinct_and_shaped_like_rabbitmqs() {
        let a = super::queue_name();
        let b = super::queue_name();
        assert_ne!(a, b);
        assert!(a.starts_with("amq.gen-") && a.len() == 30);
        assert!(super::consumer_tag().starts_with("amq.ctag-"));
    }
}
