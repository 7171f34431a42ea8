//! Where messages sit in the log, kept in a couple of bytes each.
//!
//! A deep queue keeps only its head in memory; the rest is a list of runs: consecutive
//! messages of one segment whose log ids and byte offsets both increase. A run stores the
//! first position whole and every later one as two LEB128 deltas, so a queue fed by one
//! stream of small messages costs about two bytes per message (one for the id step, one or
//! two for the offset step) instead of a few hundred for a message held in memory.

use bytes::{Buf, BufMut};

/// One message's place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The log's id of the message (what settlements name).
    pub id: u64,
    pub segment: u32,
    /// Byte offset of the message's record in its segment.
    pub offset: u32,
}

/// Entries a run takes before a new one starts, so an exhausted run's bytes are freed while a
/// long backlog drains instead of all at its end.
const MAX_RUN: u32 = 1 << 16;

/// Positions of one segment, ids and offsets increasing, all with the same redelivered flag.
#[derive(Debug, Clone)]
pub struct Run {
    pub segment: u32,
    pub redelivered: bool,
    /// The next entry to hand out.
    head: (u64, u32),
    /// The last entry, which the next push is a delta from.
    tail: (u64, u32),
    /// Deltas of the entries after `head`, `consumed` bytes of which are already taken.
    deltas: Vec<u8>,
    consumed: usize,
    len: u32,
}

impl Run {
    pub fn new(p: Position, redelivered: bool) -> Run {
        Run {
            segment: p.segment,
            redelivered,
            head: (p.id, p.offset),
            tail: (p.id, p.offset),
            deltas: Vec::new(),
            consumed: 0,
            len: 1,
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `p` if it continues this run; returns false if it needs a run of its own.
    pub fn try_push(&mut self, p: Position, redelivered: bool) -> bool {
        let fits = self.len > 0
            && self.len < MAX_RUN
            && p.segment == self.segment
            && redelivered == self.redelivered
            && p.id > self.tail.0
            && p.offset > self.tail.1;
        if fits {
            put_varint(&mut self.deltas, p.id - self.tail.0);
            put_varint(&mut self.deltas, u64::from(p.offset - self.tail.1));
            self.tail = (p.id, p.offset);
            self.len += 1;
        }
        fits
    }

    /// Takes the first remaining position.
    pub fn pop_front(&mut self) -> Option<Position> {
        if self.len == 0 {
            return None;
        }
        let (id, offset) = self.head;
        self.len -= 1;
        if self.len > 0 {
            let mut rest = &self.deltas[self.consumed..];
            let before = rest.len();
            // Deltas were checked when they were pushed or decoded; a step that is
            // somehow not one ends the run instead of inventing a position.
            match step(self.head, &mut rest) {
                Some(next) => {
                    self.consumed += before - rest.len();
                    self.head = next;
                }
                None => {
                    tracing::error!(
                        segment = self.segment,
                        "a run's deltas are damaged; its rest is dropped"
                    );
                    self.len = 0;
                }
            }
        } else {
            self.deltas = Vec::new();
            self.consumed = 0;
        }
        Some(Position {
            id,
            segment: self.segment,
            offset,
        })
    }

    /// The remaining positions, in order.
    pub fn iter(&self) -> impl Iterator<Item = Position> + '_ {
        let mut at = self.head;
        let mut rest = &self.deltas[self.consumed..];
        let segment = self.segment;
        (0..self.len).map_while(move |i| {
            if i > 0 {
                at = step(at, &mut rest)?;
            }
            Some(Position {
                id: at.0,
                segment,
                offset: at.1,
            })
        })
    }

    /// Bytes of heap this run holds, for memory accounting in tests and benchmarks.
    pub fn heap_bytes(&self) -> usize {
        self.deltas.capacity()
    }
}

/// Adds `p` to the last of `runs` where it fits, else starts a new run.
pub fn push_position(runs: &mut Vec<Run>, p: Position, redelivered: bool) {
    if let Some(last) = runs.last_mut()
        && last.try_push(p, redelivered)
    {
        return;
    }
    runs.push(Run::new(p, redelivered));
}

/// Writes a run's remaining positions: `segment u32, redelivered u8, count u32, head id u64,
/// head offset u32`, then the deltas.
pub fn encode(run: &Run, out: &mut Vec<u8>) {
    out.put_u32(run.segment);
    out.put_u8(run.redelivered.into());
    out.put_u32(run.len);
    out.put_u64(run.head.0);
    out.put_u32(run.head.1);
    let deltas = &run.deltas[run.consumed..];
    out.put_u32(deltas.len() as u32);
    out.put_slice(deltas);
}

/// Reads what `encode` wrote; None if the bytes are short or inconsistent: a flag that is
/// neither 0 nor 1, a delta that does not decode, is zero or overflows, deltas left over or
/// missing for the count.
pub fn decode(input: &mut &[u8]) -> Option<Run> {
    if input.len() < 25 {
        return None;
    }
    let segment = input.get_u32();
    let redelivered = match input.get_u8() {
        0 => false,
        1 => true,
        _ => return None,
    };
    let len = input.get_u32();
    let head = (input.get_u64(), input.get_u32());
    let n = input.get_u32() as usize;
    if len == 0 || len > MAX_RUN || input.len() < n {
        return None;
    }
    let deltas = input[..n].to_vec();
    input.advance(n);
    // The tail is where the deltas lead; walking them proves each one is a real step.
    let mut rest = &deltas[..];
    let mut tail = head;
    for _ in 1..len {
        tail = step(tail, &mut rest)?;
    }
    if !rest.is_empty() {
        return None;
    }
    Some(Run {
        segment,
        redelivered,
        head,
        tail,
        deltas,
        consumed: 0,
        len,
    })
}

/// The position after `at`: one delta pair read from `rest`, both steps forward and in range.
fn step(at: (u64, u32), rest: &mut &[u8]) -> Option<(u64, u32)> {
    let did = get_varint(rest)?;
    let doff = u32::try_from(get_varint(rest)?).ok()?;
    if did == 0 || doff == 0 {
        return None;
    }
    Some((at.0.checked_add(did)?, at.1.checked_add(doff)?))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One LEB128 value; None if the bytes end first or it does not fit 64 bits.
fn get_varint(input: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        let bits = u64::from(b & 0x7f);
        // The tenth byte may only carry the top bit of 64.
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pos(id: u64, offset: u32) -> Position {
        Position {
            id,
            segment: 3,
            offset,
        }
    }

    #[test]
    fn a_stream_of_small_messages_costs_about_two_bytes_each() {
        let mut runs = Vec::new();
        for i in 0..10_000u64 {
            push_position(&mut runs, pos(100 + i, (i * 61) as u32), false);
        }
        assert_eq!(runs.len(), 1);
        // Two bytes of deltas each; the vector's doubling growth may hold up to twice that.
        assert!(
            runs[0].heap_bytes() <= 4 * 10_000,
            "{}",
            runs[0].heap_bytes()
        );
    }

    #[test]
    fn a_step_back_or_a_flag_change_starts_a_new_run() {
        let mut runs = Vec::new();
        push_position(&mut runs, pos(10, 100), false);
        push_position(&mut runs, pos(9, 200), false);
        push_position(&mut runs, pos(11, 300), true);
        push_position(&mut runs, pos(12, 400), true);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[2].len(), 2);
    }

    #[test]
    fn damaged_runs_do_not_decode() {
        let mut runs = Vec::new();
        for i in 0..50u64 {
            push_position(&mut runs, pos(100 + i * 3, (i * 70) as u32), false);
        }
        let mut bytes = Vec::new();
        encode(&runs[0], &mut bytes);
        let good = bytes.clone();
        assert!(decode(&mut &good[..]).is_some());
        // A delta cut short, a zero step, an unterminated varint, a count that lies, a
        // flag that is no flag.
        let deltas_at = 25;
        for (what, damage) in [
            (
                "short",
                Box::new(|b: &mut Vec<u8>| {
                    b.pop();
                }) as Box<dyn Fn(&mut Vec<u8>)>,
            ),
            (
                "zero step",
                Box::new(move |b: &mut Vec<u8>| b[deltas_at] = 0),
            ),
            (
                "unterminated",
                Box::new(|b: &mut Vec<u8>| {
                    let n = b.len();
                    b[n - 1] |= 0x80;
                }),
            ),
            (
                "count",
                Box::new(|b: &mut Vec<u8>| b[8] = b[8].wrapping_add(1)),
            ),
            ("flag", Box::new(|b: &mut Vec<u8>| b[4] = 7)),
        ] {
            let mut b = good.clone();
            damage(&mut b);
            assert!(decode(&mut &b[..]).is_none(), "{what}");
        }
        // An offset step past u32 is refused, not wrapped.
        let mut b = good[..17].to_vec();
        b.extend_from_slice(&u32::MAX.to_be_bytes()); // head offset
        b.extend_from_slice(&2u32.to_be_bytes()); // 2 bytes of deltas
        b.extend_from_slice(&[1, 1]);
        b[5..9].copy_from_slice(&2u32.to_be_bytes()); // len 2
        assert!(decode(&mut &b[..]).is_none(), "offset overflow");
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut input = &bytes[..];
            if let Some(run) = decode(&mut input) {
                prop_assert_eq!(run.iter().count(), run.len());
            }
        }

        #[test]
        fn positions_come_back_in_order_and_survive_encoding(
            steps in proptest::collection::vec((1u64..1_000_000, 1u32..100_000), 1..300),
            taken in 0usize..300,
        ) {
            let mut want = Vec::new();
            let (mut id, mut off) = (1u64, 0u32);
            for (di, doff) in steps {
                id += di;
                off = off.saturating_add(doff);
                want.push(pos(id, off));
            }
            want.dedup_by_key(|p| p.offset);
            let mut runs = Vec::new();
            for p in &want {
                push_position(&mut runs, *p, false);
            }
            prop_assert_eq!(runs.len(), 1);
            let run = &mut runs[0];
            let taken = taken.min(want.len());
            for p in want.iter().take(taken) {
                prop_assert_eq!(run.pop_front(), Some(*p));
            }
            let mut bytes = Vec::new();
            encode(run, &mut bytes);
            let rest: Vec<_> = run.iter().collect();
            prop_assert_eq!(&rest[..], &want[taken..]);
            if !rest.is_empty() {
                let mut input = &bytes[..];
                let back = decode(&mut input).expect("decodes");
                prop_assert!(input.is_empty());
                prop_assert_eq!(back.iter().collect::<Vec<_>>(), rest);
            }
        }
    }
}
