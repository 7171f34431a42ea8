//! Exchanges: one routing table per type behind one `Router` interface, plus the bindings as
//! declared (for unbind, if-unused and auto-delete).

mod direct;
mod fanout;
mod headers;
pub use headers::check_x_match;
pub mod topic;

use super::policy::{Applied, PolicyStatus};
use crate::protocol::{FieldTable, FieldValue};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Where a binding leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    Queue(String),
    Exchange(String),
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
}

impl ExchangeKind {
    pub fn parse(s: &str) -> Option<ExchangeKind> {
        Some(match s {
            "direct" => ExchangeKind::Direct,
            "fanout" => ExchangeKind::Fanout,
            "topic" => ExchangeKind::Topic,
            "headers" => ExchangeKind::Headers,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
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
    bindings: Vec<Binding>,
    router: Box<dyn Router>,
}

impl Exchange {
    pub fn new(name: String, settings: ExchangeSettings) -> Exchange {
        let router: Box<dyn Router> = match settings.kind {
            ExchangeKind::Direct => Box::<direct::DirectRouter>::default(),
            ExchangeKind::Fanout => Box::<fanout::FanoutRouter>::default(),
            ExchangeKind::Topic => Box::<topic::TopicRouter>::default(),
            ExchangeKind::Headers => Box::<headers::HeadersRouter>::default(),
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
                bindings: Vec::new(),
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
        let mut t = self.write();
        if !t.bindings.contains(&binding) {
            t.router.bind(&binding);
            t.bindings.push(binding);
        }
    }

    /// Removes a binding; returns whether the exchange has no bindings left.
    pub fn unbind(&self, binding: &Binding) -> bool {
        let mut t = self.write();
        if let Some(at) = t.bindings.iter().position(|b| b == binding) {
            t.router.unbind(binding);
            t.bindings.remove(at);
        }
        t.bindings.is_empty()
    }

    /// Removes every binding to `destination`; returns (whether any was removed, whether the
    /// exchange has no bindings left).
    pub fn unbind_destination(&self, destination: &Destination) -> (bool, bool) {
        let mut t = self.write();
        let gone: Vec<Binding> = t
            .bindings
            .iter()
            .filter(|b| &b.destination == destination)
            .cloned()
            .collect();
        for b in &gone {
            t.router.unbind(b);
        }
        t.bindings.retain(|b| &b.destination != destination);
        (!gone.is_empty(), t.bindings.is_empty())
    }

    /// The bindings as declared, for the durable snapshot.
    pub fn bindings(&self) -> Vec<Binding> {
        self.read().bindings.clone()
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
}
