//! Headers exchanges: bindings match on message headers, per `x-match`.

use super::{Binding, Destination, Router};
use crate::protocol::{FieldTable, FieldValue};

#[derive(Debug, Default)]
pub struct HeadersRouter {
    bindings: Vec<(Destination, Matcher)>,
    /// The bindings as given, to find what an unbind removes.
    sources: Vec<Binding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    All,
    Any,
}

/// RabbitMQ's check of a headers binding's x-match (`rabbit_exchange_type_headers:
/// validate_binding/2`), with its texts.
pub fn check_x_match(args: &FieldTable) -> Result<(), String> {
    match args.get("x-match") {
        None => Ok(()),
        Some(FieldValue::LongString(b)) => {
            if [&b"all"[..], b"any", b"all-with-x", b"any-with-x"].contains(&&b[..]) {
                return Ok(());
            }
            Err(format!(
                "Invalid x-match field value {}; expected all, any, all-with-x, or any-with-x",
                erlang_binary(b)
            ))
        }
        Some(other) => Err(format!(
            "Invalid x-match field type {} (value {}); expected longstr",
            other.type_name(),
            other.describe()
        )),
    }
}

/// A binary as Erlang's `~p` prints it: `<<"text">>` when printable, else its bytes.
fn erlang_binary(b: &[u8]) -> String {
    if b.iter().all(|c| (32..127).contains(c)) {
        let text: String = b
            .iter()
            .flat_map(|&c| match c {
                b'"' | b'\\' => vec!['\\', char::from(c)],
                c => vec![char::from(c)],
            })
            .collect();
        if text.is_empty() {
            "<<>>".to_owned()
        } else {
            format!("<<\"{text}\">>")
        }
    } else {
        let bytes: Vec<String> = b.iter().map(u8::to_string).collect();
        format!("<<{}>>", bytes.join(","))
    }
}

#[derive(Debug, Clone)]
struct Matcher {
    mode: Mode,
    /// The (key, value) pairs that take part: `x-` keys only in the `-with-x` modes.
    pairs: Vec<(String, FieldValue)>,
}

impl Matcher {
    fn new(args: &FieldTable) -> Matcher {
        let x_match = args
            .get("x-match")
            .and_then(FieldValue::as_str)
            .unwrap_or("all");
        let (mode, with_x) = match x_match {
            "any" => (Mode::Any, false),
            "any-with-x" => (Mode::Any, true),
            "all-with-x" => (Mode::All, true),
            _ => (Mode::All, false),
        };
        let pairs = args
            .iter()
            .filter(|(k, _)| *k != "x-match" && (with_x || !k.starts_with("x-")))
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect();
        Matcher { mode, pairs }
    }

    fn matches(&self, headers: Option<&FieldTable>) -> bool {
        let empty = FieldTable::new();
        let headers = headers.unwrap_or(&empty);
        let one = |(k, want): &(String, FieldValue)| match headers.get(k) {
            None => false,
            Some(_) if *want == FieldValue::Void => true,
            Some(got) => values_equal(want, got),
        };
        match self.mode {
            Mode::All => self.pairs.iter().all(one),
            Mode::Any => self.pairs.iter().any(one),
        }
    }
}

/// Integers compare by value whatever their width, as RabbitMQ's Erlang `==` does.
fn values_equal(a: &FieldValue, b: &FieldValue) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl Router for HeadersRouter {
    fn bind(&mut self, b: &Binding) {
        self.bindings
            .push((b.destination.clone(), Matcher::new(&b.arguments)));
        self.sources.push(b.clone());
    }

    fn unbind(&mut self, b: &Binding) {
        if let Some(at) = self.sources.iter().position(|s| s == b) {
            self.sources.remove(at);
            self.bindings.remove(at);
        }
    }

    fn route(&self, _: &str, headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        super::add_route_work(self.bindings.len());
        out.extend(
            self.bindings
                .iter()
                .filter(|(_, m)| m.matches(headers))
                .map(|(d, _)| d.clone()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn s(v: &'static str) -> FieldValue {
        FieldValue::LongString(Bytes::from_static(v.as_bytes()))
    }

    fn table(pairs: &[(&str, FieldValue)]) -> FieldTable {
        FieldTable(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn all_and_any() {
        let all = Matcher::new(&table(&[("a", s("1")), ("b", FieldValue::I32(2))]));
        let any = Matcher::new(&table(&[
            ("x-match", s("any")),
            ("a", s("1")),
            ("b", s("9")),
        ]));
        let h = table(&[("a", s("1")), ("b", FieldValue::I64(2))]);
        assert!(all.matches(Some(&h)));
        assert!(any.matches(Some(&h)));
        assert!(!all.matches(Some(&table(&[("a", s("1"))]))));
        assert!(!any.matches(None));
    }

    #[test]
    fn x_keys_count_only_with_x() {
        let plain = Matcher::new(&table(&[("x-k", s("v"))]));
        let with_x = Matcher::new(&table(&[("x-match", s("all-with-x")), ("x-k", s("v"))]));
        let h = table(&[("x-k", s("other"))]);
        assert!(plain.matches(Some(&h)));
        assert!(!with_x.matches(Some(&h)));
    }
}
