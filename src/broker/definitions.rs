//! Importing a RabbitMQ definitions file (`rabbitmqctl export_definitions`, the management
//! API's `/api/definitions`): users, vhosts, permissions and topic permissions into the access
//! model, then each vhost's exchanges, policies and operator policies (RabbitMQ lists the
//! latter among its runtime `parameters`), queues and bindings as if declared by a client.
//! What Warren does not understand (other parameters, global parameters, ...) is named in
//! a warning, not fatal.

use super::Core;
use super::access::definitions::{AccessDefinitions, limits};
use super::exchange::Destination;
use super::json::{table, table_json};
use super::policy::{self, OPERATOR_POLICY_COMPONENT, PolicyKind};
use super::vhost::{ExchangeDeclare, QueueDeclare};
use super::vhost_metadata::VhostMetadata;
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
const KNOWN: [&str; 15] = [
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
    // Read below: internal_cluster_id is passed over in silence, the rest named.
    "global_parameters",
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
        // RabbitMQ exports its cluster's id with every definitions file; anything else there
        // (cluster_name, ...) is named.
        if let Some(Value::Array(globals)) = doc.get("global_parameters") {
            for g in globals {
                let name = g["name"].as_str().unwrap_or("?");
                if name != "internal_cluster_id" {
                    out.skipped
                        .push(format!("global_parameters '{name}' is not supported"));
                }
            }
        }
        let (model, vhosts, errors) = access.to_model();
        out.skipped.extend(errors.iter().map(ToString::to_string));
        for def in vhosts {
            let current = self
                .vhost(&def.name)
                .map(|v| v.metadata())
                .unwrap_or_else(|| VhostMetadata::initial(&def.name));
            let metadata = match def.metadata_over(current) {
                Ok(m) => m,
                Err(e) => {
                    out.skipped.push(format!("vhost '{}': {e}", def.name));
                    continue;
                }
            };
            match self.add_vhost(&def.name) {
                Ok(v) => {
                    out.vhosts += 1;
                    v.set_metadata(metadata);
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
        // Each vhost saves its durable definitions once, after the whole import.
        let _batches: Vec<_> = self
            .vhost_names()
            .iter()
            .filter_map(|n| self.vhost(n))
            .map(|v| v.batch())
            .collect();
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
                "queue" => Destination::Queue(b.destination.as_str().into()),
                _ => Destination::Exchange(b.destination.as_str().into()),
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

impl Core {
    /// The broker's definitions in RabbitMQ's format: everything (`vhost` None: users,
    /// vhosts, permissions, and every vhost's exchanges, queues and bindings), or one vhost's
    /// topology in the per-vhost shape, whose objects carry no vhost. Exclusive queues, the
    /// default exchange and amq.* exchanges are not definitions, as in RabbitMQ.
    pub fn export_definitions(&self, vhost: Option<&str>) -> Value {
        let mut names = self.vhost_names();
        names.sort();
        names.retain(|n| vhost.is_none_or(|v| v == n));
        let (mut exchanges, mut queues, mut bindings) = (Vec::new(), Vec::new(), Vec::new());
        let tag = |mut o: Map<String, Value>, name: &str| {
            if vhost.is_none() {
                o.insert("vhost".into(), Value::from(name));
            }
            Value::Object(o)
        };
        for name in &names {
            let Some(v) = self.vhost(name) else {
                continue;
            };
            let mut xs = v.exchanges();
            xs.retain(|x| !x.name.is_empty() && !x.name.starts_with("amq."));
            xs.sort_by(|a, b| a.name.cmp(&b.name));
            for x in &xs {
                let mut o = Map::new();
                o.insert("name".into(), x.name.clone().into());
                o.insert("type".into(), x.settings.kind.as_str().into());
                o.insert("durable".into(), x.settings.durable.into());
                o.insert("auto_delete".into(), x.settings.auto_delete.into());
                o.insert("internal".into(), x.settings.internal.into());
                o.insert("arguments".into(), table_json(&x.settings.arguments));
                exchanges.push(tag(o, name));
            }
            let mut qs = v.queues();
            qs.retain(|q| q.owner.is_none());
            qs.sort_by(|a, b| a.name.cmp(&b.name));
            for q in &qs {
                let mut o = Map::new();
                o.insert("name".into(), (*q.name).into());
                o.insert("durable".into(), q.settings.durable.into());
                o.insert("auto_delete".into(), q.settings.auto_delete.into());
                o.insert("arguments".into(), table_json(&q.settings.arguments));
                queues.push(tag(o, name));
            }
            let all_exchanges = v.exchanges();
            let mut sources: Vec<_> = all_exchanges
                .iter()
                .filter(|x| !x.name.is_empty())
                .collect();
            sources.sort_by(|a, b| a.name.cmp(&b.name));
            for x in sources {
                for b in x.bindings() {
                    let (dest, kind) = match &b.destination {
                        Destination::Queue(q) => (q, "queue"),
                        Destination::Exchange(e) => (e, "exchange"),
                    };
                    // Bindings to exclusive queues go with their queues.
                    if kind == "queue" && !qs.iter().any(|q| &q.name == dest) {
                        continue;
                    }
                    let mut o = Map::new();
                    o.insert("source".into(), x.name.clone().into());
                    if vhost.is_none() {
                        o.insert("vhost".into(), Value::from(name.as_str()));
                    }
                    o.insert("destination".into(), (**dest).into());
                    o.insert("destination_type".into(), kind.into());
                    o.insert("routing_key".into(), b.routing_key.clone().into());
                    o.insert("arguments".into(), table_json(&b.arguments));
                    bindings.push(Value::Object(o));
                }
            }
        }
        let version = super::RABBITMQ_VERSION;
        let mut doc = Map::new();
        doc.insert("rabbit_version".into(), version.into());
        if vhost.is_none() {
            let access = self.access_definitions();
            doc.insert("rabbitmq_version".into(), version.into());
            doc.insert("product_name".into(), "Warren".into());
            doc.insert("product_version".into(), env!("CARGO_PKG_VERSION").into());
            let mut access = serde_json::to_value(&access).unwrap_or(Value::Null);
            if let Value::Object(a) = &mut access {
                // RabbitMQ writes `"limits": {}` for a user without limits.
                if let Some(Value::Array(users)) = a.get_mut("users") {
                    for u in users.iter_mut().filter_map(Value::as_object_mut) {
                        u.entry("limits")
                            .or_insert_with(|| Value::Object(Map::new()));
                    }
                }
                doc.append(a);
            }
            doc.insert("global_parameters".into(), Value::Array(Vec::new()));
            // RabbitMQ writes both sections even when they are empty.
            for section in ["parameters", "policies"] {
                doc.entry(section)
                    .or_insert_with(|| Value::Array(Vec::new()));
            }
        }
        if let Some(v) = vhost {
            let in_vhost = |list: Vec<Value>| -> Vec<Value> {
                list.into_iter()
                    .filter(|p| p["vhost"] == v)
                    .map(|mut p| {
                        if let Some(o) = p.as_object_mut() {
                            o.remove("vhost");
                        }
                        p
                    })
                    .collect()
            };
            let parameters = in_vhost(self.operator_policies_definitions());
            doc.insert("parameters".into(), Value::Array(parameters));
            doc.insert(
                "policies".into(),
                Value::Array(in_vhost(self.policies_definitions())),
            );
        }
        doc.insert("queues".into(), Value::Array(queues));
        doc.insert("exchanges".into(), Value::Array(exchanges));
        doc.insert("bindings".into(), Value::Array(bindings));
        Value::Object(doc)
    }

    /// Imports one vhost's definitions (the per-vhost shape, whose objects name no vhost).
    pub fn import_vhost_definitions(
        &self,
        vhost: &str,
        json: &[u8],
    ) -> Result<Imported, serde_json::Error> {
        let mut doc: Map<String, Value> = serde_json::from_slice(json)?;
        for section in ["queues", "exchanges", "bindings", "policies", "parameters"] {
            if let Some(Value::Array(list)) = doc.get_mut(section) {
                for o in list.iter_mut().filter_map(Value::as_object_mut) {
                    o.insert("vhost".into(), Value::from(vhost));
                }
            }
        }
        for section in ["users", "vhosts", "permissions", "topic_permissions"] {
            doc.remove(section);
        }
        let bytes = serde_json::to_vec(&Value::Object(doc))?;
        self.import_definitions(&bytes)
    }
}
