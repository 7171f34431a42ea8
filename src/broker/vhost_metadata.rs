//! A vhost's metadata, as RabbitMQ 4.3 keeps it (`vhost:metadata()`): a description and tags
//! for people and tools, the default queue type that queue.declare falls back to, and the
//! protection from deletion. Set through the HTTP API, `warren ctl add_vhost` and definitions,
//! kept with the access model in the data directory, exported as RabbitMQ exports it.

use super::queue::args::QueueType;
use crate::protocol::{FieldTable, FieldValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VhostMetadata {
    #[serde(default)]
    pub description: String,
    #[serde(default, deserialize_with = "tags_of")]
    pub tags: Vec<String>,
    /// None: classic, and declares are left as the client sent them (as RabbitMQ 3.x).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "queue_type_name"
    )]
    pub default_queue_type: Option<QueueType>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected_from_deletion: bool,
}

/// The text RabbitMQ gives "/" when it creates it.
pub const DEFAULT_VHOST_DESCRIPTION: &str = "Default virtual host";

impl VhostMetadata {
    /// What a vhost made without metadata has: "/" gets RabbitMQ's description.
    pub fn initial(vhost: &str) -> VhostMetadata {
        VhostMetadata {
            description: if vhost == "/" {
                DEFAULT_VHOST_DESCRIPTION.to_owned()
            } else {
                String::new()
            },
            ..VhostMetadata::default()
        }
    }

    /// The type a queue.declare gets when its arguments name none.
    pub fn queue_type(&self) -> QueueType {
        self.default_queue_type.unwrap_or_default()
    }

    /// Arguments as RabbitMQ 4.3's `augment_declare_args/5` rewrites them: a declare that
    /// names no type (or an empty or "undefined" one) gets the vhost's default queue type if
    /// the queue's properties suit it, classic otherwise. Without a default queue type the
    /// arguments are left as sent, so queues list as they do on RabbitMQ 3.x.
    pub fn augment(
        &self,
        arguments: &mut FieldTable,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
    ) {
        let sent_blank = match arguments.get("x-queue-type") {
            None => false,
            Some(v) if matches!(v.as_str(), Some("" | "undefined")) => true,
            Some(_) => return,
        };
        let Some(dqt) = self.default_queue_type else {
            if sent_blank {
                arguments.insert("x-queue-type", text(QueueType::Classic.as_str()));
            }
            return;
        };
        // Quorum queues and streams are durable, shared and never auto-deleted
        // (`rabbit_queue_type:is_compatible/4`); anything else falls back to classic.
        let suits = dqt == QueueType::Classic || (durable && !exclusive && !auto_delete);
        let kind = if suits { dqt } else { QueueType::Classic };
        arguments.insert("x-queue-type", text(kind.as_str()));
    }
}

fn text(s: &'static str) -> FieldValue {
    FieldValue::LongString(bytes::Bytes::from_static(s.as_bytes()))
}

/// A default queue type as the HTTP API and definitions give it: absent, null, "undefined"
/// mean none (`rabbit_vhost:update_metadata/3`); the refusals are RabbitMQ's texts.
pub fn parse_queue_type(value: Option<&Value>) -> Result<Option<QueueType>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "undefined" | "null" | "nil" => Ok(None),
            "" => Err("default_queue_type must not be an empty string".to_owned()),
            "classic" | "rabbit_classic_queue" => Ok(Some(QueueType::Classic)),
            "quorum" | "rabbit_quorum_queue" => Ok(Some(QueueType::Quorum)),
            "stream" | "rabbit_stream_queue" => Ok(Some(QueueType::Stream)),
            other => Err(format!("{other} is not a valid queue type")),
        },
        Some(other) => Err(format!("{other} is not a valid queue type")),
    }
}

/// Tags as RabbitMQ takes them: a list, or one comma-separated text (`parse_tags/1`).
pub fn parse_tags(value: Option<&Value>) -> Vec<String> {
    let words = |s: &str| {
        s.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    match value {
        Some(Value::String(s)) => words(s),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .flat_map(words)
            .collect(),
        _ => Vec::new(),
    }
}

fn tags_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(parse_tags(Some(&v)))
}

mod queue_type_name {
    use super::{QueueType, parse_queue_type};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<QueueType>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(t.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<QueueType>, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        parse_queue_type(Some(&v)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(meta: &VhostMetadata, args: &[(&str, &'static str)], durable: bool) -> String {
        let mut t = FieldTable::new();
        for (k, v) in args {
            t.insert(*k, text(v));
        }
        meta.augment(&mut t, durable, false, false);
        t.get("x-queue-type")
            .and_then(FieldValue::as_str)
            .unwrap_or("none")
            .to_owned()
    }

    #[test]
    fn default_queue_type_applies_only_where_it_suits() {
        let quorum = VhostMetadata {
            default_queue_type: Some(QueueType::Quorum),
            ..VhostMetadata::default()
        };
        assert_eq!(declared(&quorum, &[], true), "quorum");
        assert_eq!(declared(&quorum, &[], false), "classic");
        assert_eq!(
            declared(&quorum, &[("x-queue-type", "stream")], true),
            "stream"
        );
        assert_eq!(declared(&quorum, &[("x-queue-type", "")], true), "quorum");
        let none = VhostMetadata::default();
        assert_eq!(declared(&none, &[], true), "none");
        assert_eq!(
            declared(&none, &[("x-queue-type", "undefined")], true),
            "classic"
        );
    }

    #[test]
    fn queue_types_and_tags_parse_as_rabbitmq_takes_them() {
        use serde_json::json;
        assert_eq!(parse_queue_type(Some(&json!("undefined"))), Ok(None));
        assert_eq!(
            parse_queue_type(Some(&json!("rabbit_quorum_queue"))),
            Ok(Some(QueueType::Quorum))
        );
        assert_eq!(
            parse_queue_type(Some(&json!("x"))),
            Err("x is not a valid queue type".to_owned())
        );
        assert!(parse_queue_type(Some(&json!(""))).is_err());
        assert_eq!(parse_tags(Some(&json!("a, b,,c"))), ["a", "b", "c"]);
        assert_eq!(parse_tags(Some(&json!(["a", "b"]))), ["a", "b"]);
        let m: VhostMetadata = serde_json::from_value(json!({"description": "d", "tags": "x,y",
                "default_queue_type": "stream"}))
        .unwrap_or_default();
        assert_eq!(m.tags, ["x", "y"]);
        assert_eq!(m.default_queue_type, Some(QueueType::Stream));
    }
}
