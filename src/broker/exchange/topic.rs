//! Topic exchanges: a word trie over binding keys.
//!
//! Keys are split on `.`; `*` matches exactly one word and `#` zero or more. Each binding adds
//! one path of trie nodes. Routing walks the trie once along the routing key's words: a literal
//! word follows one child, `*` consumes one word, and `#` tries every suffix of the remaining
//! words. The cost is O(words) per literal path, plus O(words) per `#` on the path: it
//! depends on the key and the patterns that match it, not on how many bindings there are.

use super::{Binding, Destination, Router};
use crate::protocol::FieldTable;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct TopicRouter {
    root: Node,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<String, Node>,
    /// Destinations whose binding key ends here, with how many bindings reach each.
    dests: Vec<(Destination, usize)>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.dests.is_empty()
    }

    fn remove(&mut self, words: &[&str], dest: &Destination) {
        match words.split_first() {
            None => {
                if let Some(at) = self.dests.iter().position(|(d, _)| d == dest) {
                    self.dests[at].1 -= 1;
                    if self.dests[at].1 == 0 {
                        self.dests.remove(at);
                    }
                }
            }
            Some((first, rest)) => {
                if let Some(child) = self.children.get_mut(*first) {
                    child.remove(rest, dest);
                    if child.is_empty() {
                        self.children.remove(*first);
                    }
                }
            }
        }
    }

    fn walk(&self, words: &[&str], out: &mut Vec<Destination>) {
        if let Some(hash) = self.children.get("#") {
            for skip in 0..=words.len() {
                hash.walk(&words[skip..], out);
            }
        }
        let Some((first, rest)) = words.split_first() else {
            out.extend(self.dests.iter().map(|(d, _)| d.clone()));
            return;
        };
        if let Some(child) = self.children.get(*first) {
            child.walk(rest, out);
        }
        if *first != "*"
            && let Some(star) = self.children.get("*")
        {
            star.walk(rest, out);
        }
    }
}

/// RabbitMQ treats an empty key as no words at all.
pub fn split_key(key: &str) -> Vec<&str> {
    if key.is_empty() {
        Vec::new()
    } else {
        key.split('.').collect()
    }
}

impl Router for TopicRouter {
    fn bind(&mut self, b: &Binding) {
        let mut node = &mut self.root;
        for word in split_key(&b.routing_key) {
            node = node.children.entry(word.to_owned()).or_default();
        }
        match node.dests.iter_mut().find(|(d, _)| d == &b.destination) {
            Some((_, n)) => *n += 1,
            None => node.dests.push((b.destination.clone(), 1)),
        }
    }

    fn unbind(&mut self, b: &Binding) {
        self.root.remove(&split_key(&b.routing_key), &b.destination);
    }

    fn route(&self, key: &str, _: Option<&FieldTable>, out: &mut Vec<Destination>) {
        self.root.walk(&split_key(key), out);
    }
}

/// The obvious matcher, kept as the reference the trie is tested against.
pub fn naive_match(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => (0..=k.len()).any(|skip| go(rest, &k[skip..])),
            Some((&"*", rest)) => !k.is_empty() && go(rest, &k[1..]),
            Some((w, rest)) => k.first() == Some(w) && go(rest, &k[1..]),
        }
    }
    go(&split_key(pattern), &split_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("c"),
            Just(""),
            Just("*"),
            Just("#")
        ]
        .prop_map(String::from)
    }

    fn key_words() -> impl Strategy<Value = String> {
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("")].prop_map(String::from)
    }

    fn join(words: Vec<String>) -> String {
        words.join(".")
    }

    proptest! {
        #[test]
        fn trie_agrees_with_naive_matcher(
            patterns in proptest::collection::vec(proptest::collection::vec(word(), 0..5).prop_map(join), 1..12),
            key in proptest::collection::vec(key_words(), 0..6).prop_map(join),
        ) {
            let mut router = TopicRouter::default();
            for (i, p) in patterns.iter().enumerate() {
                router.bind(&Binding {
                    destination: Destination::Queue(i.to_string()),
                    routing_key: p.clone(),
                    arguments: FieldTable::new(),
                });
            }
            let mut got = Vec::new();
            router.route(&key, None, &mut got);
            got.sort();
            got.dedup();
            let mut want: Vec<Destination> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| naive_match(p, &key))
                .map(|(i, _)| Destination::Queue(i.to_string()))
                .collect();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn classic_examples() {
        assert!(naive_match("*.orange.*", "quick.orange.rabbit"));
        assert!(naive_match("lazy.#", "lazy"));
        assert!(naive_match("#", ""));
        assert!(!naive_match("*", ""));
        assert!(!naive_match("*.*.rabbit", "quick.rabbit"));
    }

    #[test]
    fn unbinding_prunes_the_trie() {
        let mut r = TopicRouter::default();
        let b = Binding {
            destination: Destination::Queue("q".into()),
            routing_key: "a.*.#".into(),
            arguments: FieldTable::new(),
        };
        r.bind(&b);
        r.unbind(&b);
        assert!(r.root.is_empty());
    }
}
