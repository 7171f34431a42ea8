//! Fanout exchanges: every binding matches.

use super::dest_set::DestSet;
use super::{Binding, Destination, Router};
use crate::protocol::FieldTable;

#[derive(Debug, Default)]
pub struct FanoutRouter {
    /// Each destination once, with how many bindings lead to it.
    dests: DestSet,
}

impl Router for FanoutRouter {
    fn bind(&mut self, b: &Binding) {
        self.dests.add(&b.destination);
    }

    fn unbind(&mut self, b: &Binding) {
        self.dests.remove(&b.destination);
    }

    fn route(&self, _: &str, _: Option<&FieldTable>, out: &mut Vec<Destination>) {
        out.extend(self.dests.iter().cloned());
    }
}
