//! Direct exchanges: a binding matches when its key equals the routing key.

use super::{Binding, Destination, Router};
use crate::protocol::FieldTable;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct DirectRouter {
    by_key: HashMap<String, Vec<Destination>>,
}

impl Router for DirectRouter {
    fn bind(&mut self, b: &Binding) {
        let dests = self.by_key.entry(b.routing_key.clone()).or_default();
        if !dests.contains(&b.destination) {
            dests.push(b.destination.clone());
        }
    }

    fn unbind(&mut self, b: &Binding) {
        if let Some(dests) = self.by_key.get_mut(&b.routing_key) {
            dests.retain(|d| d != &b.destination);
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
