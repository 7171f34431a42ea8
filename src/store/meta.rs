//! Durable definitions — exchanges, queues, bindings — kept as one snapshot file.
//!
//! Definitions change rarely and are small, so each change rewrites the whole snapshot:
//! written to a temporary file, fsync'd, renamed over the old one, and the directory fsync'd.
//! A crash leaves either the old snapshot or the new one, never a mix.

use super::StoreError;
use super::record::{self, Item, Scanner};
use crate::protocol::FieldTable;
use crate::protocol::wire::{self, put_shortstr};
use bytes::{BufMut, BytesMut};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

pub const FILE: &str = "definitions.dat";

#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeDef {
    pub name: String,
    pub kind: String,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueDef {
    pub name: String,
    /// The queue's number in the message log.
    pub id: u32,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BindingDef {
    pub source: String,
    pub destination: String,
    pub destination_is_queue: bool,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// Everything durable in one vhost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Definitions {
    pub exchanges: Vec<ExchangeDef>,
    pub queues: Vec<QueueDef>,
    pub bindings: Vec<BindingDef>,
}

const EXCHANGE: u8 = 1;
const QUEUE: u8 = 2;
const BINDING: u8 = 3;

fn put_table(out: &mut Vec<u8>, t: &FieldTable) {
    let mut b = BytesMut::new();
    t.encode(&mut b);
    out.put_slice(&b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut b = BytesMut::new();
    put_shortstr(&mut b, s);
    out.put_slice(&b);
}

impl Definitions {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for x in &self.exchanges {
            record::append(&mut out, |o| {
                o.put_u8(EXCHANGE);
                put_str(o, &x.name);
                put_str(o, &x.kind);
                o.put_u8(u8::from(x.auto_delete) | (u8::from(x.internal) << 1));
                put_table(o, &x.arguments);
            });
        }
        for q in &self.queues {
            record::append(&mut out, |o| {
                o.put_u8(QUEUE);
                put_str(o, &q.name);
                o.put_u32(q.id);
                o.put_u8(u8::from(q.auto_delete));
                put_table(o, &q.arguments);
            });
        }
        for b in &self.bindings {
            record::append(&mut out, |o| {
                o.put_u8(BINDING);
                put_str(o, &b.source);
                put_str(o, &b.destination);
                o.put_u8(u8::from(b.destination_is_queue));
                put_str(o, &b.routing_key);
                put_table(o, &b.arguments);
            });
        }
        out
    }

    /// Decodes a snapshot; damaged records are skipped with an error log line.
    pub fn decode(data: &[u8]) -> Definitions {
        let mut d = Definitions::default();
        for item in Scanner::new(data) {
            match item {
                Item::Record { payload, offset } => {
                    if decode_one(payload, &mut d).is_none() {
                        tracing::error!(
                            "definitions: undecodable record at offset {offset} skipped"
                        );
                    }
                }
                Item::Skipped { from, to } => {
                    tracing::error!("definitions: corrupt bytes {from}..{to} skipped")
                }
                Item::Tail { at } => {
                    tracing::error!("definitions: corrupt tail from offset {at} ignored")
                }
            }
        }
        d
    }

    pub fn load(dir: &Path) -> Result<Definitions, StoreError> {
        match fs::read(dir.join(FILE)) {
            Ok(data) => Ok(Definitions::decode(&data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Definitions::default()),
            Err(e) => Err(StoreError::io("reading definitions", e)),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), StoreError> {
        let tmp = dir.join(format!("{FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&self.encode())?;
            f.sync_all()?;
            fs::rename(&tmp, dir.join(FILE))?;
            File::open(dir)?.sync_all()
        };
        write().map_err(|e| StoreError::io("saving definitions", e))
    }
}

fn decode_one(p: &[u8], d: &mut Definitions) -> Option<()> {
    let ok = |r: wire::PResult<'_, ()>| r.ok().map(|_| ());
    let (i, kind) = wire::octet(p).ok()?;
    match kind {
        EXCHANGE => ok((|| {
            let (i, name) = wire::shortstr(i)?;
            let (i, kind) = wire::shortstr(i)?;
            let (i, flags) = wire::octet(i)?;
            let (i, arguments) = wire::table(i)?;
            d.exchanges.push(ExchangeDef {
                name,
                kind,
                auto_delete: flags & 1 != 0,
                internal: flags & 2 != 0,
                arguments,
            });
            Ok((i, ()))
        })()),
        QUEUE => ok((|| {
            let (i, name) = wire::shortstr(i)?;
            let (i, id) = wire::long(i)?;
            let (i, flags) = wire::octet(i)?;
            let (i, arguments) = wire::table(i)?;
            d.queues.push(QueueDef {
                name,
                id,
                auto_delete: flags & 1 != 0,
                arguments,
            });
            Ok((i, ()))
        })()),
        BINDING => ok((|| {
            let (i, source) = wire::shortstr(i)?;
            let (i, destination) = wire::shortstr(i)?;
            let (i, to_queue) = wire::octet(i)?;
            let (i, routing_key) = wire::shortstr(i)?;
            let (i, arguments) = wire::table(i)?;
            d.bindings.push(BindingDef {
                source,
                destination,
                destination_is_queue: to_queue != 0,
                routing_key,
                arguments,
            });
            Ok((i, ()))
        })()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FieldValue;

    fn sample() -> Definitions {
        let mut args = FieldTable::new();
        args.insert("x-message-ttl", FieldValue::I32(5000));
        Definitions {
            exchanges: vec![ExchangeDef {
                name: "x".into(),
                kind: "topic".into(),
                auto_delete: false,
                internal: true,
                arguments: FieldTable::new(),
            }],
            queues: vec![QueueDef {
                name: "q".into(),
                id: 7,
                auto_delete: true,
                arguments: args,
            }],
            bindings: vec![BindingDef {
                source: "x".into(),
                destination: "q".into(),
                destination_is_queue: true,
                routing_key: "a.#".into(),
                arguments: FieldTable::new(),
            }],
        }
    }

    #[test]
    fn snapshot_round_trips_through_disk() {
        let dir = std::env::temp_dir().join(format!("warren-meta-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        sample().save(&dir).unwrap();
        assert_eq!(Definitions::load(&dir).unwrap(), sample());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_record_loses_only_itself() {
        let mut data = sample().encode();
        let first_len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        data[record::HEADER_LEN + first_len / 2] ^= 0x55;
        let d = Definitions::decode(&data);
        assert!(d.exchanges.is_empty());
        assert_eq!(d.queues, sample().queues);
        assert_eq!(d.bindings, sample().bindings);
    }
}
