//! The access part of RabbitMQ's definitions format (`rabbitmqctl export_definitions`):
//! users with their password hashes, vhosts, permissions and topic permissions. Read from a
//! definitions file at boot, and the shape the data directory keeps the model in, so what
//! RabbitMQ exports, Warren imports, and the other way round.

use super::password::{Hashing, PasswordHash};
use super::{Model, Permissions, TopicPermissions, User};
use crate::broker::vhost_metadata::{VhostMetadata, parse_queue_type, parse_tags};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AccessDefinitions {
    #[serde(default)]
    pub users: Vec<UserDef>,
    #[serde(default)]
    pub vhosts: Vec<VhostDef>,
    #[serde(default)]
    pub permissions: Vec<PermissionDef>,
    #[serde(default)]
    pub topic_permissions: Vec<TopicPermissionDef>,
    /// Policies, as RabbitMQ lists them (see `policy::from_definitions`); kept as JSON so
    /// that one odd entry does not make the whole document unreadable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<serde_json::Value>,
    /// Runtime parameters; of these Warren keeps only operator policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UserDef {
    pub name: String,
    #[serde(default)]
    pub password_hash: String,
    #[serde(default = "default_hashing")]
    pub hashing_algorithm: String,
    /// RabbitMQ 3.x writes a comma-separated string, 4.x a list; both are read.
    #[serde(default)]
    pub tags: Tags,
    /// max-connections and max-channels.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub limits: serde_json::Value,
}

fn default_hashing() -> String {
    Hashing::Sha256.rabbitmq_name().to_owned()
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tags {
    List(Vec<String>),
    Text(String),
    #[default]
    #[serde(skip)]
    None,
}

impl Tags {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Tags::List(l) => l.clone(),
            Tags::Text(t) => t
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            Tags::None => Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct VhostDef {
    pub name: String,
    /// max-connections and max-queues: an object (RabbitMQ 4.x) or a list of pairs (3.x).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub limits: serde_json::Value,
    /// Description, tags, default queue type, deletion protection (see `VhostMetadata`),
    /// as RabbitMQ 4.x exports them; kept as JSON so that a bad value is reported for its
    /// vhost instead of making the whole document unreadable.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub metadata: serde_json::Value,
    /// RabbitMQ also reads a description and tags beside `metadata` (and they win).
    #[serde(default, skip_serializing)]
    pub description: Option<String>,
    #[serde(default, skip_serializing)]
    pub tags: Option<serde_json::Value>,
}

impl VhostDef {
    /// A vhost with neither limits nor metadata.
    pub fn named(name: impl Into<String>) -> VhostDef {
        VhostDef {
            name: name.into(),
            limits: serde_json::Value::Null,
            metadata: serde_json::Value::Null,
            description: None,
            tags: None,
        }
    }

    /// The vhost's metadata as RabbitMQ 4.3's `rabbit_definitions:add_vhost/2` puts it over
    /// `current` (what the vhost has, or `VhostMetadata::initial` for a new one): the
    /// description and tags are replaced, the default queue type and the deletion protection
    /// only where the definitions give them.
    pub fn metadata_over(&self, current: VhostMetadata) -> Result<VhostMetadata, String> {
        let empty = serde_json::Map::new();
        let o = self.metadata.as_object().unwrap_or(&empty);
        let mut out = current;
        if self.metadata.is_object() || self.description.is_some() {
            out.description = self
                .description
                .as_deref()
                .or_else(|| o.get("description").and_then(|d| d.as_str()))
                .unwrap_or_default()
                .to_owned();
            out.tags = parse_tags(self.tags.as_ref().or_else(|| o.get("tags")));
        }
        if let Some(t) = parse_queue_type(o.get("default_queue_type"))? {
            out.default_queue_type = Some(t);
        }
        if let Some(p) = o.get("protected_from_deletion").and_then(|p| p.as_bool()) {
            out.protected_from_deletion = p;
        }
        Ok(out)
    }
}

/// A limits value as (name, number) pairs, from either of RabbitMQ's two shapes. A negative
/// number means no limit.
pub fn limits(v: &serde_json::Value) -> Vec<(String, i64)> {
    use serde_json::Value;
    match v {
        Value::Object(o) => o
            .iter()
            .filter_map(|(k, n)| Some((k.clone(), n.as_i64()?)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|pair| {
                let pair = pair.as_array()?;
                Some((pair.first()?.as_str()?.to_owned(), pair.get(1)?.as_i64()?))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Limits as RabbitMQ 4.x writes them: an object, or nothing when there are none.
pub fn limits_value(pairs: &[(String, i64)]) -> serde_json::Value {
    if pairs.is_empty() {
        return serde_json::Value::Null;
    }
    let map = pairs
        .iter()
        .map(|(k, n)| (k.clone(), serde_json::Value::from(*n)))
        .collect();
    serde_json::Value::Object(map)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PermissionDef {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TopicPermissionDef {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// Why a definition could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("user '{0}': unknown hashing algorithm '{1}'")]
    Hashing(String, String),
    #[error("user '{0}': password_hash is not a valid hash")]
    Hash(String),
    #[error("permissions of '{user}' on '{vhost}': {error}")]
    Pattern {
        user: String,
        vhost: String,
        error: regex::Error,
    },
}

impl AccessDefinitions {
    /// The model these definitions describe, and the vhosts they list. Entries that
    /// cannot be taken are returned as errors beside the rest (the caller logs them).
    pub fn to_model(&self) -> (Model, Vec<&VhostDef>, Vec<DefinitionError>) {
        let mut model = Model::default();
        let mut errors = Vec::new();
        for u in &self.users {
            let Some(hashing) = Hashing::from_rabbitmq(&u.hashing_algorithm) else {
                errors.push(DefinitionError::Hashing(
                    u.name.clone(),
                    u.hashing_algorithm.clone(),
                ));
                continue;
            };
            let Some(password) = PasswordHash::from_base64(hashing, &u.password_hash) else {
                errors.push(DefinitionError::Hash(u.name.clone()));
                continue;
            };
            let user = User {
                name: u.name.clone(),
                password,
                tags: u.tags.to_vec(),
            };
            model.users.insert(u.name.clone(), user);
        }
        for p in &self.permissions {
            match Permissions::new(&p.configure, &p.write, &p.read) {
                Ok(perms) => {
                    let key = (p.user.clone(), p.vhost.clone());
                    model.permissions.insert(key, Arc::new(perms));
                }
                Err(error) => errors.push(DefinitionError::Pattern {
                    user: p.user.clone(),
                    vhost: p.vhost.clone(),
                    error,
                }),
            }
        }
        for t in &self.topic_permissions {
            let key = (t.user.clone(), t.vhost.clone());
            model
                .topic_permissions
                .entry(key)
                .or_default()
                .push(TopicPermissions {
                    exchange: t.exchange.clone(),
                    write: t.write.clone(),
                    read: t.read.clone(),
                });
        }
        (model, self.vhosts.iter().collect(), errors)
    }

    /// The definitions of `model` with the vhosts `vhosts` and the users' limits, sorted
    /// for a stable file.
    pub fn from_model(
        model: &Model,
        mut vhosts: Vec<VhostDef>,
        user_limits: impl Fn(&str) -> serde_json::Value,
    ) -> AccessDefinitions {
        let mut users: Vec<UserDef> = model
            .users
            .values()
            .map(|u| UserDef {
                name: u.name.clone(),
                password_hash: u.password.to_base64(),
                hashing_algorithm: u.password.hashing.rabbitmq_name().to_owned(),
                tags: Tags::List(u.tags.clone()),
                limits: user_limits(&u.name),
            })
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        vhosts.sort_by(|a, b| a.name.cmp(&b.name));
        let mut permissions: Vec<PermissionDef> = model
            .permissions
            .iter()
            .map(|((user, vhost), p)| PermissionDef {
                user: user.clone(),
                vhost: vhost.clone(),
                configure: p.configure.source().to_owned(),
                write: p.write.source().to_owned(),
                read: p.read.source().to_owned(),
            })
            .collect();
        permissions.sort_by(|a, b| (&a.user, &a.vhost).cmp(&(&b.user, &b.vhost)));
        let mut topic_permissions: Vec<TopicPermissionDef> = model
            .topic_permissions
            .iter()
            .flat_map(|((user, vhost), list)| {
                list.iter().map(move |t| TopicPermissionDef {
                    user: user.clone(),
                    vhost: vhost.clone(),
                    exchange: t.exchange.clone(),
                    write: t.write.clone(),
                    read: t.read.clone(),
                })
            })
            .collect();
        topic_permissions.sort_by(|a, b| {
            (&a.user, &a.vhost, &a.exchange).cmp(&(&b.user, &b.vhost, &b.exchange))
        });
        AccessDefinitions {
            users,
            vhosts,
            permissions,
            topic_permissions,
            policies: Vec::new(),
            parameters: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rabbitmq_export_reads_and_writes_back() {
        let json = r#"{
            "rabbit_version": "3.10.8",
            "users": [
                {"name": "app", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                 "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "monitoring,impersonator", "limits": {}},
                {"name": "ops", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                 "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]}
            ],
            "vhosts": [{"name": "/"}, {"name": "prod", "limits": [["max-queues", 3]]}],
            "permissions": [{"user": "app", "vhost": "prod", "configure": "^app-", "write": ".*", "read": ".*"}],
            "topic_permissions": [{"user": "app", "vhost": "prod", "exchange": "amq.topic", "write": "^a", "read": ".*"}],
            "queues": [], "exchanges": [], "bindings": []
        }"#;
        let defs: AccessDefinitions = serde_json::from_str(json).unwrap();
        let (model, vhosts, errors) = defs.to_model();
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<&str> = vhosts.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["/", "prod"]);
        assert_eq!(limits(&vhosts[1].limits), [("max-queues".to_string(), 3)]);
        let app = &model.users["app"];
        assert!(app.password.verify("test12"));
        assert_eq!(app.tags, ["monitoring", "impersonator"]);
        assert_eq!(model.users["ops"].tags, ["administrator"]);
        let vhosts = names.iter().map(|n| VhostDef::named(*n)).collect();
        let back = AccessDefinitions::from_model(&model, vhosts, |_| serde_json::Value::Null);
        let text = serde_json::to_string(&back).unwrap();
        let again: AccessDefinitions = serde_json::from_str(&text).unwrap();
        let (model2, _, _) = again.to_model();
        assert!(model2.users["app"].password.verify("test12"));
        assert_eq!(
            model2.permissions[&("app".to_string(), "prod".to_string())]
                .configure
                .source(),
            "^app-"
        );
    }
}
