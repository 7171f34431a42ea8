//! The map from rabbitmqctl's column names (its "info keys") to the management API's JSON.
//! Most are the same word; where they differ the API field is named here, dotted for a
//! nested field (`queue.name`), or a constant where the API has no field because Warren
//! has only one answer (a binding's source is always an exchange).
//!
//! | command | rabbitmqctl column | API field |
//! | --- | --- | --- |
//! | list_bindings | source_name, source_kind | source, "exchange" |
//! | list_bindings | destination_name, destination_kind | destination, destination_type |
//! | list_consumers | queue_name, channel_pid | queue.name, channel_details.name |
//! | list_users | user | name |
//! | list_permissions, list_topic_permissions | user | user |
//!
//! A column not in a listing's table is refused before any request, as rabbitmqctl does.

use serde_json::Value;

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A field of the API's object, dotted for nesting.
    Field(&'static str),
    /// The same value on every row.
    Const(&'static str),
}

/// One `list_*` command: its columns, the default ones, and how each maps.
pub struct Listing {
    pub keys: &'static [(&'static str, Source)],
    pub defaults: &'static [&'static str],
}

use Source::{Const, Field};

/// Columns whose names are the API's field names.
macro_rules! same {
    ($($k:literal),* $(,)?) => { &[$(($k, Field($k))),*] };
}

pub const QUEUES: Listing = Listing {
    keys: same!(
        "name",
        "vhost",
        "durable",
        "auto_delete",
        "exclusive",
        "arguments",
        "policy",
        "operator_policy",
        "effective_policy_definition",
        "exclusive_consumer_tag",
        "single_active_consumer_tag",
        "messages",
        "messages_ready",
        "messages_unacknowledged",
        "messages_ram",
        "messages_ready_ram",
        "messages_unacknowledged_ram",
        "messages_persistent",
        "messages_paged_out",
        "message_bytes",
        "message_bytes_ready",
        "message_bytes_unacknowledged",
        "message_bytes_ram",
        "message_bytes_persistent",
        "message_bytes_paged_out",
        "head_message_timestamp",
        "consumers",
        "consumer_utilisation",
        "consumer_capacity",
        "memory",
        "state",
        "type",
        "node",
    ),
    defaults: &["name", "messages"],
};

pub const EXCHANGES: Listing = Listing {
    keys: same!(
        "name",
        "vhost",
        "type",
        "durable",
        "auto_delete",
        "internal",
        "arguments",
        "policy",
    ),
    defaults: &["name", "type"],
};

pub const BINDINGS: Listing = Listing {
    keys: &[
        ("source_name", Field("source")),
        ("source_kind", Const("exchange")),
        ("destination_name", Field("destination")),
        ("destination_kind", Field("destination_type")),
        ("routing_key", Field("routing_key")),
        ("arguments", Field("arguments")),
        ("vhost", Field("vhost")),
    ],
    defaults: &[
        "source_name",
        "source_kind",
        "destination_name",
        "destination_kind",
        "routing_key",
        "arguments",
    ],
};

pub const CONNECTIONS: Listing = Listing {
    keys: same!(
        "name",
        "user",
        "vhost",
        "host",
        "port",
        "peer_host",
        "peer_port",
        "state",
        "channels",
        "protocol",
        "auth_mechanism",
        "ssl",
        "ssl_protocol",
        "ssl_cipher",
        "peer_cert_subject",
        "peer_cert_issuer",
        "timeout",
        "frame_max",
        "channel_max",
        "client_properties",
        "connected_at",
        "recv_oct",
        "recv_cnt",
        "send_oct",
        "send_cnt",
        "send_pend",
        "type",
        "node",
    ),
    defaults: &["user", "peer_host", "peer_port", "state"],
};

pub const CONSUMERS: Listing = Listing {
    keys: &[
        ("queue_name", Field("queue.name")),
        ("channel_pid", Field("channel_details.name")),
        ("consumer_tag", Field("consumer_tag")),
        ("ack_required", Field("ack_required")),
        ("prefetch_count", Field("prefetch_count")),
        ("active", Field("active")),
        ("activity_status", Field("activity_status")),
        ("exclusive", Field("exclusive")),
        ("arguments", Field("arguments")),
    ],
    defaults: &[
        "queue_name",
        "channel_pid",
        "consumer_tag",
        "ack_required",
        "prefetch_count",
        "active",
        "arguments",
    ],
};

pub const USERS: Listing = Listing {
    keys: &[("user", Field("name")), ("tags", Field("tags"))],
    defaults: &["user", "tags"],
};

pub const VHOSTS: Listing = Listing {
    keys: same!(
        "name",
        "description",
        "tags",
        "tracing",
        "default_queue_type"
    ),
    defaults: &["name"],
};

pub const PERMISSIONS: Listing = Listing {
    keys: same!("user", "configure", "write", "read"),
    defaults: &["user", "configure", "write", "read"],
};

pub const TOPIC_PERMISSIONS: Listing = Listing {
    keys: same!("user", "exchange", "write", "read"),
    defaults: &["user", "exchange", "write", "read"],
};

pub const POLICIES: Listing = Listing {
    keys: same!(
        "vhost",
        "name",
        "pattern",
        "apply-to",
        "definition",
        "priority"
    ),
    defaults: &[
        "vhost",
        "name",
        "pattern",
        "apply-to",
        "definition",
        "priority",
    ],
};

impl Listing {
    /// The columns asked for (the defaults when none), or the unknown ones as rabbitmqctl
    /// names them in its refusal.
    pub fn select(&self, asked: &[String]) -> Result<Vec<(String, Source)>, Vec<String>> {
        let names: Vec<String> = if asked.is_empty() {
            self.defaults.iter().map(|s| s.to_string()).collect()
        } else {
            // rabbitmqctl also takes "name,messages" as one argument.
            asked
                .iter()
                .flat_map(|a| a.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        for n in names {
            match self.keys.iter().find(|(k, _)| *k == n) {
                Some((_, s)) => out.push((n, *s)),
                None => unknown.push(n),
            }
        }
        if unknown.is_empty() {
            Ok(out)
        } else {
            Err(unknown)
        }
    }
}

/// A row: each column's value from one API object (null when the API has no such field).
pub fn row(object: &Value, columns: &[(String, Source)]) -> Vec<Value> {
    columns
        .iter()
        .map(|(_, s)| match s {
            Source::Const(c) => Value::from(*c),
            Source::Field(path) => path
                .split('.')
                .try_fold(object, |v, k| v.get(k))
                .cloned()
                .unwrap_or(Value::Null),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_asked_columns() {
        let cols = QUEUES.select(&[]).unwrap();
        let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["name", "messages"]);
        let cols = QUEUES
            .select(&["name,durable".into(), "consumers".into()])
            .unwrap();
        assert_eq!(cols.len(), 3);
        assert_eq!(
            QUEUES.select(&["name".into(), "nope".into()]).unwrap_err(),
            ["nope"]
        );
    }

    #[test]
    fn renamed_nested_and_constant_columns() {
        let consumer = json!({"queue": {"name": "q"}, "consumer_tag": "t"});
        let cols = CONSUMERS
            .select(&["queue_name".into(), "consumer_tag".into(), "active".into()])
            .unwrap();
        assert_eq!(row(&consumer, &cols), [json!("q"), json!("t"), Value::Null]);
        let binding = json!({"source": "x", "destination": "q", "destination_type": "queue"});
        let cols = BINDINGS.select(&[]).unwrap();
        assert_eq!(
            row(&binding, &cols)[..4],
            [json!("x"), json!("exchange"), json!("q"), json!("queue")]
        );
    }
}
