//! Topic exchanges: a word trie over binding keys, matched as an NFA.
//!
//! Keys are split on `.`; `*` matches exactly one word and `#` zero or more. Each binding adds
//! one path of trie nodes. The nodes live in an arena (`u32` links, freed slots reused) so that
//! a set of nodes is a plain list of indices.
//!
//! Routing reads the key's words once, left to right, carrying the set of nodes whose path
//! matches the words read so far. A word moves each node of the set to its child for that word
//! and to its `*` child; a node reached through a `#` edge also stays (its `#` takes the word);
//! and a node entering the set brings its `#` child, and that one's, along (a `#` taking no
//! word). A node enters a set at most once per word, so a route costs O(W × A) child lookups,
//! W the key's words (at most 128 in a 255-byte key) and A the nodes in the set at once (at
//! most the trie's size), plus the destinations it emits. That holds whatever the number of `#`
//! in a pattern: trying every suffix for every `#` instead is exponential in their number, and
//! one binding of seven `#` against a 40-word key took seconds of CPU per message.
//!
//! The sets and the marks that keep a node from entering one twice are per-thread scratch
//! buffers, so a route allocates nothing once they have grown to the largest trie routed
//! through on that thread. Without any `#` in the trie a node cannot enter a set twice (each
//! node has one parent, reached by one edge), so such a trie's walk keeps no marks.
//!
//! Literal-word edges live in one table for the whole trie (`edges`), and each node keeps
//! the word of its own edge inline: with a million bindings below one node, a route's cost
//! is its cache and TLB misses, and this way finding a child is one read of the table and
//! one of the child (see `edges`). Both arrays ask for huge pages once they are big enough
//! (`huge_pages`).

mod edges;
mod huge_pages;

use super::dest_set::DestSet;
use super::{Binding, Destination, Router};
use crate::protocol::FieldTable;
use edges::{Edges, WordHash};
use smallvec::SmallVec;
use std::cell::RefCell;

const ROOT: u32 = 0;

/// A link to a child node: any node but the root.
type Link = std::num::NonZeroU32;

#[derive(Debug)]
pub struct TopicRouter {
    nodes: Vec<Node>,
    /// Slots of pruned nodes, reused before the arena grows, so bind/unbind churn does not.
    free: Vec<u32>,
    /// Every node's children by literal word.
    edges: Edges,
    /// How many `#` edges the trie has: with none, a walk needs no marks.
    hash_edges: usize,
}

impl Default for TopicRouter {
    fn default() -> Self {
        TopicRouter {
            nodes: vec![Node::default()],
            free: Vec::new(),
            edges: Edges::default(),
            hash_edges: 0,
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    /// The literal word of the edge from `parent` to this node (empty for the root and for
    /// `*` and `#` children): what an edge found by its hash is checked against. Words of up
    /// to 16 bytes, most of them, are held inline.
    word: SmallVec<[u8; 16]>,
    parent: u32,
    /// How many children by literal word it has (their edges are in `TopicRouter::edges`);
    /// with none, a walk skips the table. `*` and `#` have their own links: a routing key's
    /// word is always literal, and the wildcards are looked at for every word.
    word_children: u32,
    /// The `*` and `#` children; never the root, so a link is 4 bytes.
    star: Option<Link>,
    hash: Option<Link>,
    /// Reached through a `#` edge: it stays matched while further words go by.
    loops: bool,
    /// Destinations whose binding key ends here, with how many bindings reach each. In the
    /// node, not in an array of their own: a route's last node is usually a `*` or word
    /// child allocated right after its parent, whose line is then read already.
    dests: DestSet,
}

#[derive(Clone, Copy)]
enum Edge<'a> {
    Word(&'a str),
    Star,
    Hash,
}

impl<'a> Edge<'a> {
    fn of(word: &'a str) -> Edge<'a> {
        match word {
            "*" => Edge::Star,
            "#" => Edge::Hash,
            w => Edge::Word(w),
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

impl TopicRouter {
    fn is_empty(&self, at: u32) -> bool {
        let node = &self.nodes[at as usize];
        node.word_children == 0
            && node.star.is_none()
            && node.hash.is_none()
            && node.dests.is_empty()
    }

    /// The child of `node` by the literal word whose hash is `w`.
    fn word_child(&self, node: u32, word: &str, w: WordHash) -> Option<u32> {
        if self.nodes[node as usize].word_children == 0 {
            return None;
        }
        self.edges.find(Edges::edge_hash(w, node), |child| {
            let c = &self.nodes[child as usize];
            c.parent == node && c.word.as_slice() == word.as_bytes()
        })
    }

    fn child(&self, node: u32, edge: Edge) -> Option<u32> {
        match edge {
            Edge::Word(w) => self.word_child(node, w, self.edges.word_hash(w)),
            Edge::Star => self.nodes[node as usize].star.map(Link::get),
            Edge::Hash => self.nodes[node as usize].hash.map(Link::get),
        }
    }

    fn child_or_insert(&mut self, node: u32, edge: Edge) -> u32 {
        if let Some(child) = self.child(node, edge) {
            return child;
        }
        let child = self.alloc(node, edge);
        match edge {
            Edge::Word(w) => {
                self.edges.insert(self.edges.hash(node, w), child);
                self.nodes[node as usize].word_children += 1;
            }
            Edge::Star => self.nodes[node as usize].star = Link::new(child),
            Edge::Hash => {
                self.nodes[node as usize].hash = Link::new(child);
                self.hash_edges += 1;
            }
        }
        child
    }

    fn alloc(&mut self, parent: u32, edge: Edge) -> u32 {
        let at = match self.free.pop() {
            Some(at) => at,
            None => {
                // A node takes about 100 bytes: memory runs out long before 2^32 of them
                // (u32::MAX itself is kept out, as the edge table stores index + 1).
                let at = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&at| at < u32::MAX)
                    .expect("fewer than 2^32 - 1 trie nodes");
                let cap = self.nodes.capacity();
                self.nodes.push(Node::default());
                if self.nodes.capacity() != cap {
                    huge_pages::advise(&self.nodes);
                }
                at
            }
        };
        let node = &mut self.nodes[at as usize];
        node.parent = parent;
        node.loops = matches!(edge, Edge::Hash);
        if let Edge::Word(w) = edge {
            node.word = SmallVec::from_slice(w.as_bytes());
        }
        at
    }

    /// Unlinks the empty `child` from `parent` and frees its slot, with whatever memory its
    /// word and destinations held, so that a reused slot starts small.
    fn prune(&mut self, parent: u32, edge: Edge, child: u32) {
        match edge {
            Edge::Word(w) => {
                self.edges.remove(self.edges.hash(parent, w), child);
                self.nodes[parent as usize].word_children -= 1;
            }
            Edge::Star => self.nodes[parent as usize].star = None,
            Edge::Hash => {
                self.nodes[parent as usize].hash = None;
                self.hash_edges -= 1;
            }
        }
        self.nodes[child as usize] = Node::default();
        self.free.push(child);
    }

    /// Leaves in `s.now` the nodes whose path matches the whole of `key`, each once, so that
    /// `route` emits a node's destinations once however many ways its pattern matches.
    fn walk(&self, key: &str, s: &mut Scratch) {
        let dedup = self.hash_edges > 0;
        s.reset(if dedup { self.nodes.len() } else { 0 });
        let Scratch {
            now,
            next,
            marks,
            mark,
        } = s;
        let add = |at: u32, set: &mut Vec<u32>, marks: &mut [u32], mark: u32| {
            if dedup {
                enter(&self.nodes, at, set, marks, mark);
            } else {
                set.push(at);
            }
        };
        add(ROOT, now, marks, *mark);
        if key.is_empty() {
            return;
        }
        let mut steps = 0;
        for word in key.split('.') {
            steps += now.len();
            if dedup {
                *mark = next_mark(marks, *mark);
            }
            next.clear();
            let hash = self.edges.word_hash(word);
            for &at in now.iter() {
                let node = &self.nodes[at as usize];
                if node.loops {
                    add(at, next, marks, *mark);
                }
                // The edges never hold `*` or `#`, so a key word that is literally `*`
                // reaches the `*` child once, through `star`.
                if let Some(child) = self.word_child(at, word, hash) {
                    add(child, next, marks, *mark);
                }
                if let Some(child) = node.star {
                    add(child.get(), next, marks, *mark);
                }
            }
            std::mem::swap(now, next);
            if now.is_empty() {
                break;
            }
        }
        super::add_route_work(steps);
    }
}

/// Adds `at` to `set` unless it is already there (marked with `mark`), with its chain of `#`
/// children: a `#` may match no word. A node already in the set has its chain there too.
fn enter(nodes: &[Node], mut at: u32, set: &mut Vec<u32>, marks: &mut [u32], mark: u32) {
    loop {
        let seen = &mut marks[at as usize];
        if *seen == mark {
            return;
        }
        *seen = mark;
        set.push(at);
        match nodes[at as usize].hash {
            Some(hash) => at = hash.get(),
            None => return,
        }
    }
}

/// A mark no node carries yet; on wrapping, every node's mark is cleared first.
fn next_mark(marks: &mut [u32], mark: u32) -> u32 {
    match mark.checked_add(1) {
        Some(m) => m,
        None => {
            marks.fill(0);
            1
        }
    }
}

/// One thread's buffers for `walk`: two node sets, and per node the mark of the last set it
/// entered (a node is in the set being built when its mark is the current one).
#[derive(Debug, Default)]
struct Scratch {
    now: Vec<u32>,
    next: Vec<u32>,
    marks: Vec<u32>,
    mark: u32,
}

impl Scratch {
    fn reset(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.now.clear();
        self.next.clear();
        self.mark = next_mark(&mut self.marks, self.mark);
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            now: Vec::new(),
            next: Vec::new(),
            marks: Vec::new(),
            mark: 0,
        })
    };
}

impl Router for TopicRouter {
    fn bind(&mut self, b: &Binding) {
        let mut node = ROOT;
        for word in split_key(&b.routing_key) {
            node = self.child_or_insert(node, Edge::of(word));
        }
        self.nodes[node as usize].dests.add(&b.destination);
    }

    fn unbind(&mut self, b: &Binding) {
        let words = split_key(&b.routing_key);
        let mut path = Vec::with_capacity(words.len() + 1);
        path.push(ROOT);
        for &word in &words {
            let Some(child) = self.child(path[path.len() - 1], Edge::of(word)) else {
                return;
            };
            path.push(child);
        }
        self.nodes[path[path.len() - 1] as usize]
            .dests
            .remove(&b.destination);
        for depth in (1..path.len()).rev() {
            if !self.is_empty(path[depth]) {
                break;
            }
            self.prune(path[depth - 1], Edge::of(words[depth - 1]), path[depth]);
        }
    }

    fn route(&self, key: &str, _: Option<&FieldTable>, out: &mut Vec<Destination>) {
        let mut emit = |s: &mut Scratch| {
            self.walk(key, s);
            for &at in &s.now {
                out.extend(self.nodes[at as usize].dests.iter().cloned());
            }
        };
        // `route` does not call back into routing, so the scratch is free; should that ever
        // change, a nested route gets fresh buffers rather than a panic.
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => emit(&mut s),
            Err(_) => emit(&mut Scratch::default()),
        });
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

    /// Routing keys' words, `*` and `#` included: in a routing key they are plain words.
    fn key_words() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just("a"),
            4 => Just("b"),
            2 => Just("c"),
            2 => Just(""),
            1 => Just("*"),
            1 => Just("#")
        ]
        .prop_map(String::from)
    }

    fn join(words: Vec<String>) -> String {
        words.join(".")
    }

    fn binding(queue: &str, key: &str) -> Binding {
        Binding {
            destination: Destination::Queue(queue.into()),
            routing_key: key.into(),
            arguments: FieldTable::new(),
        }
    }

    fn routed(router: &TopicRouter, key: &str) -> Vec<Destination> {
        let mut got = Vec::new();
        router.route(key, None, &mut got);
        got.sort();
        got.dedup();
        got
    }

    fn queues(names: &[&str]) -> Vec<Destination> {
        names
            .iter()
            .map(|q| Destination::Queue((*q).into()))
            .collect()
    }

    /// Nodes in use: the arena less its free slots.
    fn live_nodes(r: &TopicRouter) -> usize {
        r.nodes.len() - r.free.len()
    }

    /// A second reference, polynomial where `naive_match` is exponential, for the worst cases:
    /// `m[i][j]` is whether the first `i` pattern words match the first `j` key words.
    fn table_match(pattern: &str, key: &str) -> bool {
        let (p, k) = (split_key(pattern), split_key(key));
        let mut m = vec![vec![false; k.len() + 1]; p.len() + 1];
        m[0][0] = true;
        for i in 1..=p.len() {
            for j in 0..=k.len() {
                m[i][j] = match p[i - 1] {
                    "#" => m[i - 1][j] || (j > 0 && m[i][j - 1]),
                    "*" => j > 0 && m[i - 1][j - 1],
                    w => j > 0 && k[j - 1] == w && m[i - 1][j - 1],
                };
            }
        }
        m[p.len()][k.len()]
    }

    proptest! {
        #[test]
        fn trie_agrees_with_naive_matcher(
            patterns in proptest::collection::vec(proptest::collection::vec(word(), 0..9).prop_map(join), 1..16),
            key in proptest::collection::vec(key_words(), 0..9).prop_map(join),
        ) {
            let mut router = TopicRouter::default();
            for (i, p) in patterns.iter().enumerate() {
                router.bind(&binding(&i.to_string(), p));
            }
            let mut want: Vec<Destination> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| naive_match(p, &key))
                .map(|(i, _)| Destination::Queue(i.to_string().into()))
                .collect();
            want.sort();
            prop_assert_eq!(routed(&router, &key), want);
            for p in &patterns {
                prop_assert_eq!(table_match(p, &key), naive_match(p, &key));
            }
        }

        /// Unbinding in any order leaves what binding only the rest would have built.
        #[test]
        fn unbinding_leaves_the_rest_routing(
            patterns in proptest::collection::vec(proptest::collection::vec(word(), 0..6).prop_map(join), 1..12),
            gone in proptest::collection::vec(any::<bool>(), 12),
            key in proptest::collection::vec(key_words(), 0..7).prop_map(join),
        ) {
            let mut router = TopicRouter::default();
            let mut kept = TopicRouter::default();
            for (i, p) in patterns.iter().enumerate() {
                router.bind(&binding(&i.to_string(), p));
                if !gone[i] {
                    kept.bind(&binding(&i.to_string(), p));
                }
            }
            for (i, p) in patterns.iter().enumerate().rev() {
                if gone[i] {
                    router.unbind(&binding(&i.to_string(), p));
                }
            }
            prop_assert_eq!(routed(&router, &key), routed(&kept, &key));
            prop_assert_eq!(live_nodes(&router), live_nodes(&kept));
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

    /// Ten `#` (with and without `*` and literals among them) against a 255-byte key, the
    /// longest a routing key can be: exponential matching would not finish.
    #[test]
    fn many_hashes_against_the_longest_key() {
        let patterns = [
            "#.#.#.#.#.#.#.#.#.#.z",
            "#.*.#.*.#.*.#.*.#.*.#.*.#.*.#.*.#.*.#.*.z",
            "#.*.#.#.*.#.#.*.#.#",
            "#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#",
            "#.b.#.#.#.#.#.#.#.#.#.z",
            "a.#.#.#.#.#.#.#.#.#.#.a.z",
            "#.#.#.#.#.#.#.#.#.#.a.*.z",
            "#.#.#.#.#.#.#.#.#.#.y",
        ];
        let mut router = TopicRouter::default();
        for (i, p) in patterns.iter().enumerate() {
            router.bind(&binding(&i.to_string(), p));
        }
        let ending = |last: &str| {
            let mut k = "a.".repeat(127);
            k.push_str(last);
            k
        };
        let mut with_b = "a.".repeat(61);
        with_b.push_str("b.");
        with_b.push_str(&"a.".repeat(65));
        with_b.push('z');
        for key in [ending("z"), ending("y"), ending("a"), with_b] {
            assert_eq!(key.len(), 255);
            let want: Vec<Destination> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| table_match(p, &key))
                .map(|(i, _)| Destination::Queue(i.to_string().into()))
                .collect();
            assert_eq!(routed(&router, &key), want, "key {key}");
        }
        assert_eq!(
            routed(&router, &ending("z")),
            queues(&["0", "1", "2", "3", "5", "6"])
        );
        assert_eq!(routed(&router, &ending("y")), queues(&["2", "3", "7"]));
        assert_eq!(routed(&router, "z"), queues(&["0"]));
        assert_eq!(routed(&router, ""), queues(&[]));
    }

    #[test]
    fn a_key_word_that_is_a_wildcard_is_a_plain_word() {
        let mut r = TopicRouter::default();
        r.bind(&binding("star", "*"));
        r.bind(&binding("hash", "#"));
        r.bind(&binding("a", "a"));
        r.bind(&binding("star.star", "*.*"));
        let mut out = Vec::new();
        r.route("*", None, &mut out);
        out.sort();
        assert_eq!(out, queues(&["hash", "star"]), "each matching node once");
        assert_eq!(routed(&r, "#"), queues(&["hash", "star"]));
        assert_eq!(routed(&r, "#.*"), queues(&["hash", "star.star"]));
    }

    /// Thousands of words below one node, as with a million bindings: the shared edge table
    /// grows, and unbinding every other one removes exactly those edges.
    #[test]
    fn many_words_below_one_node() {
        let mut r = TopicRouter::default();
        let n = 20_000;
        for i in 0..n {
            r.bind(&binding(&format!("q{i}"), &format!("k.{i:07}.*")));
        }
        for i in (0..n).step_by(2) {
            r.unbind(&binding(&format!("q{i}"), &format!("k.{i:07}.*")));
        }
        assert_eq!(r.edges.len(), 1 + n / 2, "k, and the odd words below it");
        for i in 0..n {
            let want = if i % 2 == 1 {
                vec![format!("q{i}")]
            } else {
                vec![]
            };
            let want: Vec<&str> = want.iter().map(String::as_str).collect();
            assert_eq!(
                routed(&r, &format!("k.{i:07}.x")),
                queues(&want),
                "word {i}"
            );
            assert_eq!(routed(&r, &format!("k.{i:07}")), queues(&[]));
        }
        assert_eq!(live_nodes(&r), 2 + n);
    }

    #[test]
    fn unbinding_prunes_the_trie() {
        let mut r = TopicRouter::default();
        let b = binding("q", "a.*.#");
        r.bind(&b);
        r.unbind(&b);
        assert!(r.is_empty(ROOT));
        assert_eq!(live_nodes(&r), 1);
    }

    #[test]
    fn bind_unbind_churn_reuses_freed_nodes() {
        let mut r = TopicRouter::default();
        r.bind(&binding("stays", "x.#"));
        for round in 0..100 {
            let b = binding("q", &format!("k{round}.*.#.{round}"));
            r.bind(&b);
            r.bind(&b);
            r.unbind(&b);
            assert_eq!(routed(&r, &format!("k{round}.a.{round}")), queues(&["q"]));
            r.unbind(&b);
            assert_eq!(routed(&r, &format!("k{round}.a.{round}")), queues(&[]));
        }
        assert_eq!(live_nodes(&r), 3);
        assert!(r.nodes.len() <= 7, "arena grew to {}", r.nodes.len());
        assert_eq!(routed(&r, "x.y.z"), queues(&["stays"]));
    }
}
