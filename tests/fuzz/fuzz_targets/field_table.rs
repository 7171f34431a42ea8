//! Field tables: arbitrary bytes either fail to parse or parse to a table that encodes and
//! parses back to itself (compared as bytes: a NaN float is not equal to itself).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren::protocol::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, table)) = wire::table(data) {
        let mut out = BytesMut::new();
        table.encode(&mut out);
        let (rest, back) = wire::table(&out).expect("an encoded table parses");
        assert!(rest.is_empty());
        let mut again = BytesMut::new();
        back.encode(&mut again);
        assert_eq!(again, out);
    }
    let _ = wire::table_entries(data);
});
