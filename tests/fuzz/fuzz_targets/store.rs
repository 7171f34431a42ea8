//! Every on-disk parser over arbitrary bytes: the record scanner (every file), segment and
//! ack records, run encodings, the shutdown index and the definitions snapshot. None may
//! panic; what the scanner reports as a record passed its checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use warren::store::record::{Item, Scanner};
use warren::store::{index, log, meta, run};

fuzz_target!(|data: &[u8]| {
    for item in Scanner::new(data) {
        if let Item::Record { payload, .. } = item {
            assert!(!payload.is_empty());
            let _ = log::parse_any_record(payload);
            let mut input = payload;
            if let Some(r) = run::decode(&mut input) {
                assert_eq!(r.iter().count(), r.len());
            }
        }
    }
    let _ = log::parse_any_record(data);
    let mut input = data;
    if let Some(mut r) = run::decode(&mut input) {
        let all: Vec<_> = r.iter().collect();
        assert_eq!(all.len(), r.len());
        for p in all {
            assert_eq!(r.pop_front(), Some(p));
        }
    }
    let known: HashSet<u32> = (0..8).collect();
    let _ = index::decode(data, &known, &[0, 1, 2, 3]);
    let _ = meta::Definitions::decode(data);
});
