//! Importing a RabbitMQ definitions file (`rabbitmqctl export_definitions`, the management
//! API's `/api/definitions`): users, vhosts, permissions and topic permissions into the access
//! model, then each vhost's exchanges, policies and operator policies (RabbitMQ lists the
//! latter among its runtime `parameters`), queues and bindings as if declared by a client.
//! What Warren does not understand (other parameters, global parameters, ...) is named in
//! a warning, not fatal.

use super::Core;
use super::access::definitions::{AccessDefinitions, limits};
use super::exchange::Destination;
use super::policy::{self, OPERATOR_POLICY_COMPONENT, PolicyKind};
use super::vhost::{ExchangeDeclare, QueueDeclare};
use crate::protocol::{FieldTable, FieldValue};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Default, Deserialize)]
struct Topology {
    #[serde(default)]
    exchanges: Vec<ExchangeDef>,
    #[serde(default)]
    queues: Vec<QueueDef>,
    #[serde(default)]
    bindings: Vec<BindingDef>,
}

#[derive(Debug, Deserialize)]
struct ExchangeDef {
    name: String,
    vhost: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    arguments: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct QueueDef {
    name: String,
    vhost: String,
    #[serde(default)]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    arguments: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct BindingDef {
    source: String,
    vhost: String,
    destination: String,
    destination_type: String,
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    arguments: Map<String, Value>,
}

/// The sections RabbitMQ writes that this import reads.
const KNOWN: [&str; 14] = [
    "rabbit_version",
    "rabbitmq_version",
    "product_name",
    "product_version",
    "users",
    "vhosts",
    "permissions",
    "topic_permissions",
    "exchanges",
    "queues",
    "bindings",
    "explanation",
    "policies",
    "parameters",
];

/// What an import did and what it passed over.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub users: usize,
    pub vhosts: usize,
    pub exchanges: usize,
    pub queues: usize,
    pub bindings: usize,
    /// Policies and operator policies.
    pub policies: usize,
    /// One line per thing not imported, with why.
    pub skipped: Vec<String>,
}

/// A JSON argument value as a field-table value, typed as RabbitMQ types them.
fn field_value(v: &Value) -> Option<FieldValue> {
    Some(match v {
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => FieldValue::F64(n.as_f64()?),
        },
        Value::String(s) => FieldValue::LongString(s.clone().into_bytes().into()),
        Value::Array(a) => FieldValue::Array(a.iter().filter_map(field_value).collect()),
        Value::Object(o) => FieldValue::Table(table(o)),
        Value::Null => FieldValue::Void,
    })
}

fn table(args: &Map<String, Value>) -> FieldTable {
    let mut t = FieldTable::new();
    for (k, v) in args {
        if let Some(v) = field_value(v) {
            t.insert(k.clone(), v);
        }
    }
    t
}

impl Core {
    /// Imports a definitions document. The access model is merged (users and permissions
    /// named in it replace those of the same name), vhosts are created, and exchanges,
    /// queues and bindings are declared; a declaration that fails is skipped and reported.
    pub fn import_definitions(&self, json: &[u8]) -> Result<Imported, serde_json::Error> {
        let doc: Map<String, Value> = serde_json::from_slice(json)?;
        let access: AccessDefinitions = serde_json::from_value(Value::Object(doc.clone()))?;
        let topology: Topology = serde_json::from_value(Value::Object(doc.clone()))?;
        let mut out = Imported::default();
        for key in doc.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
            let non_empty = match &doc[key] {
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            };
            if non_empty {
                out.skipped
                    .push(format!("section '{key}' is not supported"));
            }
        }
        let (model, vhosts, errors) = access.to_model();
        out.skipped.extend(errors.iter().map(ToString::to_string));
        for def in vhosts {
            match self.add_vhost(&def.name) {
                Ok(_) => {
                    out.vhosts += 1;
                    self.apply_vhost_limits(&def.name, &limits(&def.limits));
                }
                Err(e) => out.skipped.push(format!("vhost '{}': {e}", def.name)),
            }
        }
        for u in &access.users {
            self.apply_user_limits(&u.name, &limits(&u.limits));
        }
        out.users = model.users.len();
        self.access.merge(model);
        for x in topology.exchanges {
            let Some(v) = self.vhost(&x.vhost) else {
                out.skipped
                    .push(format!("exchange '{}': no vhost '{}'", x.name, x.vhost));
                continue;
            };
            let declared = v.declare_exchange(ExchangeDeclare {
                name: x.name.clone(),
                kind: x.kind,
                passive: false,
                durable: x.durable,
                auto_delete: x.auto_delete,
                internal: x.internal,
                arguments: table(&x.arguments),
            });
            match declared {
                Ok(()) => out.exchanges += 1,
                Err(e) => out.skipped.push(format!("exchange '{}': {e}", x.name)),
            }
        }
        // Before the queues, as RabbitMQ orders it: each queue is declared under its policy.
        let (policies, errors) = policy::from_definitions(&access.policies, &access.parameters);
        out.skipped.extend(errors);
        for p in &access.parameters {
            let component = p.get("component").and_then(Value::as_str).unwrap_or("");
            if component != OPERATOR_POLICY_COMPONENT {
                let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                out.skipped.push(format!(
                    "parameter '{name}' of '{component}' is not supported"
                ));
            }
        }
        for (kind, p) in policies {
            let (vhost, name) = (p.vhost.clone(), p.name.clone());
            let set = match kind {
                PolicyKind::Policy => self.set_policy(&vhost, p),
                PolicyKind::Operator => self.set_operator_policy(&vhost, p),
            };
            match set {
                Ok(()) => out.policies += 1,
                Err(e) => out
                    .skipped
                    .push(format!("policy '{name}' in vhost '{vhost}': {e}")),
            }
        }
        for q in topology.queues {
            let Some(v) = self.vhost(&q.vhost) else {
                out.skipped
                    .push(format!("queue '{}': no vhost '{}'", q.name, q.vhost));
                continue;
            };
            let declared = v.declare_queue(
                QueueDeclare {
                    name: q.name.clone(),
                    passive: false,
                    durable: q.durable,
                    exclusive: false,
                    auto_delete: q.auto_delete,
                    arguments: table(&q.arguments),
                    client_named: true,
                },
                0,
            );
            match declared {
                Ok(_) => out.queues += 1,
                Err(e) => out.skipped.push(format!("queue '{}': {e}", q.name)),
            }
        }
        for b in topology.bindings {
            let Some(v) = self.vhost(&b.vhost) else {
                out.skipped.push(format!(
                    "binding from '{}': no vhost '{}'",
                    b.source, b.vhost
                ));
                continue;
            };
            let destination = match b.destination_type.as_str() {
                "queue" => Destination::Queue(b.destination.clone()),
                _ => Destination::Exchange(b.destination.clone()),
            };
            let bound = v.change_binding(
                true,
                &b.source,
                destination,
                b.routing_key,
                table(&b.arguments),
                0,
            );
            match bound {
                Ok(()) => out.bindings += 1,
                Err(e) => out.skipped.push(format!(
                    "binding '{}' -> '{}': {e}",
                    b.source, b.destination
                )),
            }
        }
        self.persist_access();
        for line in &out.skipped {
            tracing::warn!("definitions: {line}");
        }
        Ok(out)
    }
}
