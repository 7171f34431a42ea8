//! Record framing for every file the store writes: `[length u32][crc32c u32][payload]`.
//!
//! The checksum covers the payload; a wrong length makes it cover the wrong bytes and fail too.
//! The scanner reports damage instead of stopping: a bad record in the middle is skipped by
//! searching for the next offset where a whole, valid record starts; a bad record with nothing
//! valid after it is a torn tail.

use bytes::BufMut;

pub const HEADER_LEN: usize = 8;
/// Larger than any message the broker accepts (128 MiB) plus its routing data.
pub const MAX_PAYLOAD: usize = 160 * 1024 * 1024;

/// Appends one framed record whose payload `write` produces.
pub fn append(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.put_u64(0);
    write(out);
    let payload = &out[at + HEADER_LEN..];
    let len = payload.len() as u32;
    let crc = crc32c::crc32c(payload);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    out[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
}

/// What the scanner found at a position.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Record {
        offset: usize,
        payload: &'a [u8],
    },
    /// Bytes `from..to` are not a valid record; scanning goes on at `to`.
    Skipped {
        from: usize,
        to: usize,
    },
    /// From `at` to the end nothing valid follows: a torn or corrupt tail.
    Tail {
        at: usize,
    },
}

/// Iterates over the records of a file's bytes.
pub struct Scanner<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Scanner<'a> {
    pub fn new(data: &'a [u8]) -> Scanner<'a> {
        Scanner {
            data,
            pos: 0,
            done: false,
        }
    }

    fn valid_at(&self, at: usize) -> Option<&'a [u8]> {
        record_at(self.data, at)
    }
}

/// The payload of the whole, valid record starting at byte `at` of `data`, if there is one.
pub fn record_at(data: &[u8], at: usize) -> Option<&[u8]> {
    let header = data.get(at..at + HEADER_LEN)?;
    let len = payload_len(header)?;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let payload = data.get(at + HEADER_LEN..at + HEADER_LEN + len)?;
    (crc32c::crc32c(payload) == crc).then_some(payload)
}

/// The payload length a record header claims, if it is plausible.
pub fn payload_len(header: &[u8]) -> Option<usize> {
    let len = u32::from_be_bytes(header.get(..4)?.try_into().ok()?) as usize;
    (len != 0 && len <= MAX_PAYLOAD).then_some(len)
}

impl<'a> Iterator for Scanner<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let at = self.pos;
        if let Some(payload) = self.valid_at(at) {
            self.pos = at + HEADER_LEN + payload.len();
            return Some(Item::Record {
                offset: at,
                payload,
            });
        }
        match (at + 1..self.data.len()).find(|&q| self.valid_at(q).is_some()) {
            Some(to) => {
                self.pos = to;
                Some(Item::Skipped { from: at, to })
            }
            None => {
                self.done = true;
                Some(Item::Tail { at })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            append(&mut out, |o| o.extend_from_slice(p));
        }
        out
    }

    #[test]
    fn reads_back_what_was_written() {
        let data = file(&[b"one", b"two"]);
        let items: Vec<_> = Scanner::new(&data).collect();
        assert_eq!(items.len(), 2);
        assert!(matches!(
            items[1],
            Item::Record {
                payload: b"two",
                ..
            }
        ));
    }

    #[test]
    fn torn_tail_is_reported_once() {
        let mut data = file(&[b"one", b"two"]);
        data.truncate(data.len() - 2);
        let items: Vec<_> = Scanner::new(&data).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Item::Tail { at: 11 });
    }

    #[test]
    fn corrupt_middle_record_is_skipped() {
        let mut data = file(&[b"one", b"two-two", b"three"]);
        data[11 + 9] ^= 0xff; // a byte of "two-two"'s payload
        let items: Vec<_> = Scanner::new(&data).collect();
        assert!(matches!(
            items[0],
            Item::Record {
                payload: b"one",
                ..
            }
        ));
        assert!(matches!(items[1], Item::Skipped { from: 11, .. }));
        assert!(matches!(
            items[2],
            Item::Record {
                payload: b"three",
                ..
            }
        ));
    }

    proptest! {
        #[test]
        fn damage_never_panics_and_intact_records_survive(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 1..8),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<usize>(),
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
            let mut data = file(&refs);
            for (at, x) in flips {
                let n = data.len();
                data[at % n] ^= x;
            }
            let n = data.len();
            data.truncate(cut % (n + 1));
            for item in Scanner::new(&data) {
                if let Item::Record { payload, .. } = item {
                    // Anything reported as a record passed its checksum.
                    prop_assert!(!payload.is_empty());
                }
            }
        }
    }
}
