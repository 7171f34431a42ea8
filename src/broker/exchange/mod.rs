//! Exchanges: one routing table per type behind one `Router` interface, plus the bindings as
//! declared (for unbind, if-unused and auto-delete).

mod dest_set;
mod direct;
mod fanout;
mod headers;
pub use headers::check_x_match;
mod local_random;
pub mod topic;

use super::policy::{Applied, PolicyStatus};
use crate::protocol::{FieldTable, FieldValue};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

thread_local! {
    /// Routing steps done on this thread since `take_route_work` last took them.
    static ROUTE_WORK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Trie steps (or headers bindings matched) per unit of a connection's work (see
/// `connection::WORK_PER_TURN`). A trie step costs about 5 ns; at 4 a turn of pathological
/// topic publishes (127-word keys through ten bindings of ten `#`) is cut after about 90 µs,
/// and another client's p99 stays within 1.4x even on a single worker thread; at 32 the
/// turn ran to 750 µs and that p99 was 14x (benches/fairness, 2026-12-07).
const STEPS_PER_UNIT: usize = 4;

/// Counts routing steps that grow with the key and the bindings rather than with frames or
/// queues: a topic trie's node visits, a headers exchange's bindings matched.
fn add_route_work(steps: usize) {
    ROUTE_WORK.with(|w| w.set(w.get().saturating_add(steps)));
}

/// The routing work done on this thread since the last call, in units of a connection's
/// turn: a publisher whose every message walks a long key through many wildcards ends its
/// turn as soon as one whose messages go to many queues does.
pub fn take_route_work() -> u32 {
    let steps = ROUTE_WORK.with(|w| w.replace(0));
    u32::try_from(steps / STEPS_PER_UNIT).unwrap_or(u32::MAX)
}

/// Where a binding leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    Queue(Arc<str>),
    Exchange(Arc<str>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub destination: Destination,
    pub routing_key: String,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
    /// `x-local-random`: one bound queue at random (RabbitMQ 4.0+).
    LocalRandom,
}

impl ExchangeKind {
    pub fn parse(s: &str) -> Option<ExchangeKind> {
        Some(match s {
            "direct" => ExchangeKind::Direct,
            "fanout" => ExchangeKind::Fanout,
            "topic" => ExchangeKind::Topic,
            "headers" => ExchangeKind::Headers,
            "x-local-random" => ExchangeKind::LocalRandom,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
            ExchangeKind::LocalRandom => "x-local-random",
        }
    }
}

/// A type's routing table. `route` appends destinations, possibly with repeats; the caller
/// removes duplicates once over the whole route.
pub trait Router: Send + Sync + std::fmt::Debug {
    fn bind(&mut self, binding: &Binding);
    fn unbind(&mut self, binding: &Binding);
    fn route(&self, routing_key: &str, headers: Option<&FieldTable>, out: &mut Vec<Destination>);
}

/// How an exchange was declared; compared on redeclare.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeSettings {
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

#[derive(Debug)]
pub struct Exchange {
    pub name: String,
    pub settings: ExchangeSettings,
    table: RwLock<Table>,
    /// The policies that apply and what they make of the alternate exchange. Apart from
    /// the binding table: it is read only for a message nothing else took.
    policy: RwLock<ExchangePolicy>,
}

#[derive(Debug, Default)]
struct ExchangePolicy {
    applied: Applied,
    /// The alternate exchange in effect: the declared argument, else the policies'.
    alternate_exchange: Option<Arc<str>>,
}

#[derive(Debug)]
struct Table {
    /// The bindings as declared, by destination and key: bind, unbind and removing a
    /// queue's bindings look up rather than scan, which keeps declaring 100,000 bound
    /// queues linear. Arguments are part of a binding's identity, so one (destination, key)
    /// may hold several argument tables.
    bindings: BTreeMap<(Destination, String), ArgumentTables>,
    router: Box<dyn Router>,
}

impl Table {
    fn len(&self) -> usize {
        self.bindings.values().map(ArgumentTables::len).sum()
    }
}

/// The argument tables bound under one (destination, key). Nearly every binding has none,
/// so an empty table is a flag rather than an allocation per binding.
#[derive(Debug, Default)]
struct ArgumentTables {
    empty: bool,
    others: Vec<FieldTable>,
}

impl ArgumentTables {
    fn len(&self) -> usize {
        usize::from(self.empty) + self.others.len()
    }

    fn is_empty(&self) -> bool {
        !self.empty && self.others.is_empty()
    }

    /// Adds `t`; false if it was there.
    fn insert(&mut self, t: &FieldTable) -> bool {
        if t.is_empty() {
            !std::mem::replace(&mut self.empty, true)
        } else if self.others.contains(t) {
            false
        } else {
            self.others.push(t.clone());
            true
        }
    }

    fn contains(&self, t: &FieldTable) -> bool {
        if t.is_empty() {
            self.empty
        } else {
            self.others.contains(t)
        }
    }

    /// Removes `t`; false if it was not there.
    fn remove(&mut self, t: &FieldTable) -> bool {
        if t.is_empty() {
            std::mem::replace(&mut self.empty, false)
        } else if let Some(at) = self.others.iter().position(|a| a == t) {
            self.others.remove(at);
            true
        } else {
            false
        }
    }

    fn iter(&self) -> impl Iterator<Item = FieldTable> + '_ {
        let empty = self.empty.then(FieldTable::new);
        empty.into_iter().chain(self.others.iter().cloned())
    }
}

impl Exchange {
    pub fn new(name: String, settings: ExchangeSettings) -> Exchange {
        let router: Box<dyn Router> = match settings.kind {
            ExchangeKind::Direct => Box::<direct::DirectRouter>::default(),
            ExchangeKind::Fanout => Box::<fanout::FanoutRouter>::default(),
            ExchangeKind::Topic => Box::<topic::TopicRouter>::default(),
            ExchangeKind::Headers => Box::<headers::HeadersRouter>::default(),
            ExchangeKind::LocalRandom => Box::<local_random::LocalRandomRouter>::default(),
        };
        let alternate_exchange = settings
            .arguments
            .get("alternate-exchange")
            .and_then(FieldValue::as_str)
            .map(Arc::from);
        Exchange {
            name,
            settings,
            table: RwLock::new(Table {
                bindings: BTreeMap::new(),
                router,
            }),
            policy: RwLock::new(ExchangePolicy {
                applied: Applied::default(),
                alternate_exchange,
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The alternate exchange: the one named in the declare arguments, else the policies'.
    pub fn alternate_exchange(&self) -> Option<Arc<str>> {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .alternate_exchange
            .clone()
    }

    /// Puts the policies that now apply into effect; returns whether the alternate
    /// exchange changed (routes computed before are stale then).
    pub fn set_policies(&self, applied: Applied) -> bool {
        let own = self
            .settings
            .arguments
            .get("alternate-exchange")
            .and_then(FieldValue::as_str);
        let ae: Option<Arc<str>> = match own {
            Some(name) => Some(Arc::from(name)),
            None => applied.alternate_exchange().map(Arc::from),
        };
        let mut p = self.policy.write().unwrap_or_else(|p| p.into_inner());
        p.applied = applied;
        let changed = p.alternate_exchange != ae;
        p.alternate_exchange = ae;
        changed
    }

    /// The policies that apply, as the management API shows them.
    pub fn policy_status(&self) -> PolicyStatus {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .applied
            .status()
    }

    /// Adds a binding; binding the same thing twice is a no-op, as in RabbitMQ.
    pub fn bind(&self, binding: Binding) {
        let t = &mut *self.write();
        let key = (binding.destination.clone(), binding.routing_key.clone());
        if t.bindings
            .entry(key)
            .or_default()
            .insert(&binding.arguments)
        {
            t.router.bind(&binding);
        }
    }

    pub fn has_binding(&self, binding: &Binding) -> bool {
        let key = (binding.destination.clone(), binding.routing_key.clone());
        self.read()
            .bindings
            .get(&key)
            .is_some_and(|args| args.contains(&binding.arguments))
    }

    /// Removes a binding; returns whether the exchange has no bindings left.
    pub fn unbind(&self, binding: &Binding) -> bool {
        let t = &mut *self.write();
        let key = (binding.destination.clone(), binding.routing_key.clone());
        if let Some(args) = t.bindings.get_mut(&key)
            && args.remove(&binding.arguments)
        {
            t.router.unbind(binding);
            if args.is_empty() {
                t.bindings.remove(&key);
            }
        }
        t.bindings.is_empty()
    }

    /// Removes every binding to `destination`; returns (whether any was removed, whether the
    /// exchange has no bindings left).
    pub fn unbind_destination(&self, destination: &Destination) -> (bool, bool) {
        let t = &mut *self.write();
        let keys: Vec<(Destination, String)> = t
            .bindings
            .range((destination.clone(), String::new())..)
            .take_while(|((d, _), _)| d == destination)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &keys {
            let Some(all) = t.bindings.remove(key) else {
                continue;
            };
            for arguments in all.iter() {
                t.router.unbind(&Binding {
                    destination: key.0.clone(),
                    routing_key: key.1.clone(),
                    arguments,
                });
            }
        }
        (!keys.is_empty(), t.bindings.is_empty())
    }

    /// The bindings as declared, by destination then key, for the durable snapshot and
    /// the listings.
    pub fn bindings(&self) -> Vec<Binding> {
        let t = self.read();
        let mut out = Vec::with_capacity(t.len());
        for ((destination, routing_key), all) in &t.bindings {
            out.extend(all.iter().map(|arguments| Binding {
                destination: destination.clone(),
                routing_key: routing_key.clone(),
                arguments,
            }));
        }
        out
    }

    pub fn has_bindings(&self) -> bool {
        !self.read().bindings.is_empty()
    }

    pub fn route(
        &self,
        routing_key: &str,
        headers: Option<&FieldTable>,
        out: &mut Vec<Destination>,
    ) {
        self.read().router.route(routing_key, headers, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(kind: ExchangeKind) -> Exchange {
        Exchange::new(
            "x".into(),
            ExchangeSettings {
                kind,
                durable: false,
                auto_delete: false,
                internal: false,
                arguments: FieldTable::new(),
            },
        )
    }

    fn bind(x: &Exchange, q: &str, key: &str) {
        x.bind(Binding {
            destination: Destination::Queue(q.into()),
            routing_key: key.into(),
            arguments: FieldTable::new(),
        });
    }

    fn routed(x: &Exchange, key: &str) -> Vec<Destination> {
        let mut out = Vec::new();
        x.route(key, None, &mut out);
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn direct_routes_by_exact_key_and_unbinds() {
        let x = exchange(ExchangeKind::Direct);
        bind(&x, "a", "k");
        bind(&x, "b", "k");
        bind(&x, "c", "other");
        assert_eq!(routed(&x, "k").len(), 2);
        let gone = x.unbind(&Binding {
            destination: Destination::Queue("a".into()),
            routing_key: "k".into(),
            arguments: FieldTable::new(),
        });
        assert!(!gone);
        assert_eq!(routed(&x, "k"), vec![Destination::Queue("b".into())]);
    }

    #[test]
    fn fanout_ignores_the_key() {
        let x = exchange(ExchangeKind::Fanout);
        bind(&x, "a", "");
        bind(&x, "b", "zzz");
        assert_eq!(routed(&x, "anything").len(), 2);
        let (removed, empty) = x.unbind_destination(&Destination::Queue("a".into()));
        assert!(removed && !empty);
    }

    /// Arguments are part of a binding's identity (RabbitMQ keeps both bindings), so
    /// unbinding one of two bindings that differ only in arguments leaves the queue routed.
    #[test]
    fn bindings_differing_in_arguments_are_unbound_one_at_a_time() {
        for kind in [
            ExchangeKind::Direct,
            ExchangeKind::Topic,
            ExchangeKind::Fanout,
        ] {
            let x = exchange(kind);
            let with = |n: i64| {
                let mut arguments = FieldTable::new();
                arguments.insert("n", FieldValue::I64(n));
                Binding {
                    destination: Destination::Queue("a".into()),
                    routing_key: "k".into(),
                    arguments,
                }
            };
            x.bind(with(1));
            x.bind(with(2));
            x.bind(with(2));
            assert_eq!(x.bindings().len(), 2);
            assert!(!x.unbind(&with(1)));
            assert_eq!(
                routed(&x, "k"),
                vec![Destination::Queue("a".into())],
                "{kind:?}"
            );
            assert!(x.unbind(&with(2)));
            assert!(routed(&x, "k").is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn removing_a_destination_removes_all_its_bindings_and_only_those() {
        let x = exchange(ExchangeKind::Topic);
        for q in ["a", "b", "c"] {
            for key in ["k.1", "k.2", "#"] {
                bind(&x, q, key);
            }
        }
        let (removed, empty) = x.unbind_destination(&Destination::Queue("b".into()));
        assert!(removed && !empty);
        assert_eq!(x.bindings().len(), 6);
        assert!(
            x.bindings()
                .iter()
                .all(|b| b.destination != Destination::Queue("b".into()))
        );
        assert_eq!(routed(&x, "k.1").len(), 2);
        let (removed, _) = x.unbind_destination(&Destination::Queue("b".into()));
        assert!(!removed);
    }
}
