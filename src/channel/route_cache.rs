//! The last route a channel computed, kept while the vhost's topology is unchanged.
//!
//! Most publishers send to one exchange with one routing key, over and over; looking the
//! exchange and the queues up again for every message (hashing the names, taking the maps'
//! shard locks, walking bindings) was a tenth of the publish path. A route that depends on the
//! routing key alone (no headers exchange on the way) is the same for the same key until an
//! exchange, queue or binding changes, which bumps the vhost's topology epoch.

use crate::broker::VHost;
use crate::broker::exchange::Exchange;
use crate::broker::queue::Queue;
use std::sync::Arc;

#[derive(Debug)]
pub struct RouteCache {
    epoch: u64,
    exchange: Arc<Exchange>,
    routing_key: Box<str>,
    queues: Vec<Arc<Queue>>,
}

/// Boxed in the channel: one pointer for channels that never publish.
pub type CachedRoute = Option<Box<RouteCache>>;

/// The cached exchange named `name`, if the topology has not changed since it was looked up.
pub fn exchange(cache: &CachedRoute, vhost: &VHost, name: &str) -> Option<Arc<Exchange>> {
    cache
        .as_ref()
        .filter(|c| same_name(&c.exchange.name, name) && c.epoch == vhost.topology_epoch())
        .map(|c| c.exchange.clone())
}

/// The queues a message with `routing_key` reaches from `exchange`, from the cache when it
/// still holds, else routed (by `route`) and remembered if the route depends on the key alone.
pub fn queues<'c>(
    cache: &'c mut CachedRoute,
    vhost: &VHost,
    exchange: &Arc<Exchange>,
    routing_key: &str,
    route: impl FnOnce() -> (Vec<Arc<Queue>>, bool),
) -> &'c [Arc<Queue>] {
    // Read before routing: a change made while routing leaves the entry already stale.
    let epoch = vhost.topology_epoch();
    let hit = cache.as_ref().is_some_and(|c| {
        c.epoch == epoch
            && Arc::ptr_eq(&c.exchange, exchange)
            && same_name(&c.routing_key, routing_key)
    });
    if !hit {
        let (queues, key_only) = route();
        *cache = Some(Box::new(RouteCache {
            // A route that looked at headers is never reused: no epoch matches u64::MAX.
            epoch: if key_only { epoch } else { u64::MAX },
            exchange: exchange.clone(),
            routing_key: routing_key.into(),
            queues,
        }));
    }
    cache.as_ref().map_or(&[], |c| &c.queues)
}

/// String equality for the short names of the publish path, compared in line: through
/// `memcmp` (called even for two empty names) the comparison of the default exchange's
/// empty name showed as a tenth of the publish path in profiles.
pub fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}
