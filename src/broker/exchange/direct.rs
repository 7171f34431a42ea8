//! Direct exchanges: a binding matches when its key equals the routing key.

use super::dest_set::DestSet;
use super::{Binding, Destination, Router};
use crate::protocol::FieldTable;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct DirectRouter {
    /// Counted: two bindings that differ only in their arguments both lead to the queue,
    /// and unbinding one leaves the other routing.
    by_key: HashMap<String, DestSet>,
}

impl Router for DirectRouter {
    fn bind(&mut self, b: &Binding) {
        self.by_key
            .entry(b.routing_key.clone())
            .or_default()
            .add(&b.destination);
    }

    fn unbind(&mut self, b: &Binding) {
        if let Some(dests) = self.by_key.get_mut(&b.routing_key) {
            dests.remove(&b.destination);
            if dests.is_empty() {
                self.by_key.remove(&b.routing_key);
            }
        }
    }

    fn route(&self, key: &str, _: Option<&FieldTable>, out: &mut Vec<Destination>) {
        if let Some(dests) = self.by_key.get(key) {
            out.extend(dests.iter().cloned());
        }
    }
}
