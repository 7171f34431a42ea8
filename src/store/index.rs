//! The clean-shutdown index: what every durable queue held when the broker stopped cleanly,
//! as log positions, so the next start reads one small file instead of scanning every
//! segment.
//!
//! It is written only after the log's writer has stopped (nothing can change after it) and
//! only when every connection closed properly (their unacked messages are back in their
//! queues). The next start reads it and deletes it before anything new is written, so after
//! a crash there is no index and recovery scans, as it must: an index never describes a log
//! that has moved on since.
//!
//! Format: framed records (`record`), the first `"WIDX" version next_id`, then one per run
//! `queue u32` + `run::encode`, and last `"END" runs u64`; a file without its end record is
//! ignored.

use super::StoreError;
use super::record::{self, Item, Scanner};
use super::run::{self, Run};
use bytes::{Buf, BufMut};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"WIDX";
const VERSION: u8 = 1;
const END: &[u8; 3] = b"END";

fn path(dir: &Path) -> PathBuf {
    dir.join("index.dat")
}

/// What a clean stop left behind.
#[derive(Debug, Default)]
pub struct Index {
    pub next_id: u64,
    pub queues: HashMap<u32, Vec<Run>>,
}

/// Writes the index of `queues` (runs in queue order) atomically: temp file, fsync, rename.
pub fn write(dir: &Path, next_id: u64, queues: &[(u32, Vec<Run>)]) -> Result<(), StoreError> {
    let mut out = Vec::new();
    record::append(&mut out, |o| {
        o.put_slice(MAGIC);
        o.put_u8(VERSION);
        o.put_u64(next_id);
    });
    let mut runs = 0u64;
    for (queue, list) in queues {
        for r in list.iter().filter(|r| !r.is_empty()) {
            record::append(&mut out, |o| {
                o.put_u32(*queue);
                run::encode(r, o);
            });
            runs += 1;
        }
    }
    record::append(&mut out, |o| {
        o.put_slice(END);
        o.put_u64(runs);
    });
    let tmp = dir.join("index.dat.tmp");
    let io = |e| StoreError::io("writing the shutdown index", e);
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(&out).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path(dir)).map_err(io)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Reads the index if a clean stop left a whole one whose segments are all there, keeping the
/// queues in `known`; None means recovery must scan.
pub fn load(dir: &Path, known: &HashSet<u32>, segments: &[u32]) -> Option<Index> {
    let data = fs::read(path(dir)).ok()?;
    decode(&data, known, segments)
}

/// An index file's bytes read as `load` reads them (pure, for tests and fuzzing).
pub fn decode(data: &[u8], known: &HashSet<u32>, segments: &[u32]) -> Option<Index> {
    let mut items = Scanner::new(data);
    let mut index = Index::default();
    match items.next() {
        Some(Item::Record { payload, .. })
            if payload.len() == 13 && &payload[..4] == MAGIC && payload[4] == VERSION =>
        {
            index.next_id = (&payload[5..]).get_u64();
        }
        _ => return reject("its header is missing or of another version"),
    }
    for (runs, item) in items.enumerate() {
        let Item::Record { payload, .. } = item else {
            return reject("it is damaged");
        };
        if payload.len() == 11 && &payload[..3] == END {
            if (&payload[3..]).get_u64() != runs as u64 {
                return reject("its run count does not match");
            }
            return Some(index);
        }
        let mut input = payload;
        if input.len() < 4 {
            return reject("a run record is short");
        }
        let queue = input.get_u32();
        let Some(r) = run::decode(&mut input) else {
            return reject("a run does not decode");
        };
        if segments.binary_search(&r.segment).is_err() {
            return reject("a segment it names is missing");
        }
        if known.contains(&queue) {
            index.queues.entry(queue).or_default().push(r);
        }
    }
    reject("it has no end record")
}

fn reject(why: &str) -> Option<Index> {
    tracing::warn!("shutdown index not used ({why}); scanning the message log");
    None
}

/// Deletes the index (before the log changes again); fsyncs the directory.
pub fn remove(dir: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path(dir)) {
        Ok(()) => File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("removing the shutdown index", e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("removing the shutdown index", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Position;

    fn runs(ids: std::ops::Range<u64>, segment: u32) -> Vec<Run> {
        let mut out = Vec::new();
        for id in ids {
            let p = Position {
                id,
                segment,
                offset: (id * 50) as u32,
            };
            run::push_position(&mut out, p, id % 7 == 0);
        }
        out
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("warren-index-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn positions(r: &[Run]) -> Vec<(u64, bool)> {
        r.iter()
            .flat_map(|r| r.iter().map(move |p| (p.id, r.redelivered)))
            .collect()
    }

    #[test]
    fn round_trips_and_drops_unknown_queues() {
        let d = dir("roundtrip");
        let q1 = runs(1..1000, 2);
        let q2 = runs(1000..1010, 3);
        write(&d, 5000, &[(1, q1.clone()), (2, q2)]).expect("write");
        let known: HashSet<u32> = [1].into();
        let index = load(&d, &known, &[2, 3]).expect("loads");
        assert_eq!(index.next_id, 5000);
        assert_eq!(index.queues.len(), 1);
        assert_eq!(positions(&index.queues[&1]), positions(&q1));
        remove(&d).expect("remove");
        assert!(load(&d, &known, &[2, 3]).is_none());
    }

    #[test]
    fn a_truncated_index_or_a_missing_segment_means_a_scan() {
        let d = dir("truncated");
        write(&d, 10, &[(1, runs(1..100, 2))]).expect("write");
        let known: HashSet<u32> = [1].into();
        assert!(load(&d, &known, &[3]).is_none(), "segment 2 is missing");
        let p = path(&d);
        let len = fs::metadata(&p).expect("index").len();
        let f = fs::OpenOptions::new().write(true).open(&p).expect("open");
        f.set_len(len - 5).expect("truncate");
        assert!(load(&d, &known, &[2]).is_none(), "no end record");
    }
}
