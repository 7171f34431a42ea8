//! Fanout exchanges: every binding matches.

use super::{Binding, Destination, Router};
use crate::protocol::FieldTable;

#[derive(Debug, Default)]
pub struct FanoutRouter {
    /// Each destination once, with how many bindings lead to it.
    dests: Vec<(Destination, usize)>,
}

impl Router for FanoutRouter {
    fn bind(&mut self, b: &Binding) {
        match self.dests.iter_mut().find(|(d, _)| d == &b.destination) {
            Some((_, n)) => *n += 1,
            None => self.dests.push((b.destination.clone(), 1)),
        }
    }

    fn unbind(&mut self, b: &Binding) {
        if let Some(at) = self.dests.iter().position(|(d, _)| d == &b.destination) {
            self.dests[at].1 -= 1;
            if self.dests[at].1 == 0 {
                self.dests.remove(at);
            }
        }
    }

    fn route(&self, _: &str, _: Option<&FieldTable>, out: &mut Vec<Destination>) {
        out.extend(self.dests.iter().map(|(d, _)| d.clone()));
    }
}
