//! The last route a channel computed, kept while the vhost's topology is unchanged.
//!
//! Most publishers send to one exchange with one routing key, over and over; looking the
//! exchange and the queues up again for every message (hashing the names, taking the maps'
//! shard locks, walking bindings) was a tenth of the publish path. The exchange, and a route
//! that depends on the routing key alone (no headers exchange on the way), stay what they
//! were for the same names until an exchange, queue or binding changes, which bumps the
//! vhost's topology epoch. The exchange's name is kept as a shared string too, so the
//! messages published to it share one allocation of it.

use crate::broker::VHost;
use crate::broker::exchange::Exchange;
use crate::broker::queue::Queue;
use std::sync::Arc;

#[derive(Debug)]
pub struct RouteCache {
    epoch: u64,
    exchange: Arc<Exchange>,
    exchange_name: Arc<str>,
    /// Rewritten in place on a miss, so a publisher whose keys vary reuses its allocation.
    routing_key: String,
    /// Whether `queues` is the route of every message with this key (no headers exchange
    /// was consulted).
    key_only: bool,
    queues: Vec<Arc<Queue>>,
}

/// Boxed in the channel: one pointer for channels that never publish.
pub type CachedRoute = Option<Box<RouteCache>>;

/// The cached exchange named `name` and its shared name, if the topology has not changed
/// since it was looked up.
pub fn exchange(
    cache: &CachedRoute,
    vhost: &VHost,
    name: &str,
) -> Option<(Arc<Exchange>, Arc<str>)> {
    cache
        .as_ref()
        .filter(|c| same_name(&c.exchange_name, name) && c.epoch == vhost.topology_epoch())
        .map(|c| (c.exchange.clone(), c.exchange_name.clone()))
}

/// The queues a message with `routing_key` reaches from `exchange`, from the cache when it
/// still holds, else routed (by `route`) and remembered.
pub fn queues<'c>(
    cache: &'c mut CachedRoute,
    vhost: &VHost,
    exchange: (&Arc<Exchange>, &Arc<str>),
    routing_key: &str,
    route: impl FnOnce() -> (Vec<Arc<Queue>>, bool),
) -> &'c [Arc<Queue>] {
    // Read before routing: a change made while routing leaves the entry already stale.
    let epoch = vhost.topology_epoch();
    let hit = cache.as_ref().is_some_and(|c| {
        c.key_only
            && c.epoch == epoch
            && Arc::ptr_eq(&c.exchange, exchange.0)
            && same_name(&c.routing_key, routing_key)
    });
    if !hit {
        let (queues, key_only) = route();
        let fresh = RouteCache {
            epoch,
            exchange: exchange.0.clone(),
            exchange_name: exchange.1.clone(),
            routing_key: String::new(),
            key_only,
            queues,
        };
        // The entry is replaced in its box, keeping the key's buffer.
        let entry = match cache.take() {
            Some(mut old) => {
                let key = std::mem::take(&mut old.routing_key);
                *old = RouteCache {
                    routing_key: key,
                    ..fresh
                };
                cache.insert(old)
            }
            None => cache.insert(Box::new(fresh)),
        };
        entry.routing_key.clear();
        entry.routing_key.push_str(routing_key);
    }
    cache.as_ref().map_or(&[], |c| &c.queues)
}

/// String equality for the short names of the publish path, compared in line: through
/// `memcmp` (called even for two empty names) the comparison of the default exchange's
/// empty name showed as a tenth of the publish path in profiles.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}
