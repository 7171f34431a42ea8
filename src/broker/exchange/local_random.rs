//! Local random exchanges (`x-local-random`, RabbitMQ 4.0+, docs/local-random-exchange.md):
//! each message goes to one bound queue picked at random, whatever its routing key, for
//! request-reply workloads that spread requests over their servers' queues. RabbitMQ picks
//! among the queues on the publisher's node; on a single node every queue is local.
//!
//! Bindings have an empty key and lead to classic queues only (checked by the vhost when
//! the binding is made). A route depends on chance, so it is never cached.

use super::dest_set::DestSet;
use super::{Binding, Destination, Router};
use crate::protocol::FieldTable;
use std::cell::Cell;
use std::hash::BuildHasher;

#[derive(Debug, Default)]
pub struct LocalRandomRouter {
    dests: DestSet,
}

impl Router for LocalRandomRouter {
    fn bind(&mut self, b: &Binding) {
        self.dests.add(&b.destination);
    }

    fn unbind(&mut self, b: &Binding) {
        self.dests.remove(&b.destination);
    }

    fn route(&self, _: &str, _: Option<&FieldTable>, out: &mut Vec<Destination>) {
        let n = self.dests.len();
        if n > 0 {
            out.extend(self.dests.get(below(n)).cloned());
        }
    }
}

/// A number below `n` (> 0), from a per-thread xorshift generator seeded unpredictably: a
/// pick costs a few instructions and no lock.
fn below(n: usize) -> usize {
    thread_local! {
        static STATE: Cell<u64> =
            Cell::new(std::collections::hash_map::RandomState::new().hash_one(0u8) | 1);
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        ((u128::from(x) * n as u128) >> 64) as usize
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn queue(n: usize) -> Binding {
        Binding {
            destination: Destination::Queue(Arc::from(format!("q{n}").as_str())),
            routing_key: String::new(),
            arguments: FieldTable::new(),
        }
    }

    #[test]
    fn each_message_goes_to_one_queue_and_every_queue_gets_some() {
        let mut r = LocalRandomRouter::default();
        let mut out = Vec::new();
        r.route("", None, &mut out);
        assert!(out.is_empty(), "nothing bound");
        for n in 0..4 {
            r.bind(&queue(n));
        }
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            out.clear();
            r.route("any key", None, &mut out);
            assert_eq!(out.len(), 1);
            let Destination::Queue(name) = &out[0] else {
                panic!("a queue")
            };
            counts[name[1..].parse::<usize>().expect("qN")] += 1;
        }
        // 1,000 expected each; a fair pick falls outside 800..1200 far less than once in
        // a billion runs.
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
        r.unbind(&queue(0));
        for _ in 0..100 {
            out.clear();
            r.route("", None, &mut out);
            assert_ne!(out, [queue(0).destination]);
        }
    }
}
