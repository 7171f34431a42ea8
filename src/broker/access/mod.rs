//! Who may log in, to which vhost, and do what there: RabbitMQ's internal access model
//! (`rabbit_auth_backend_internal`). Users with salted password hashes and tags; per user and
//! vhost, three regular expressions saying which resources may be configured, written to and
//! read from; per user, vhost and topic exchange, two more on routing keys.
//!
//! Checks run where RabbitMQ runs them (the channel calls `check`); a failed one is a 403
//! with RabbitMQ's text. The model is shared by every connection and changes rarely, so it
//! sits behind one `RwLock`; a connection looks its permissions up once per vhost and keeps
//! them (`Grant`) until the model's epoch moves.

pub mod definitions;
pub mod password;

use password::PasswordHash;
use regex::Regex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A user as the broker knows it.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: PasswordHash,
    /// administrator, monitoring, management, policymaker, impersonator, or any other word.
    pub tags: Vec<String>,
}

impl User {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// A permission pattern: RabbitMQ's regular expression, where "" means "^$" (nothing but
/// the empty name).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, regex::Error> {
        let effective = if source.is_empty() { "^$" } else { source };
        Ok(Pattern {
            source: source.to_owned(),
            regex: Regex::new(effective)?,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

/// What a user may do in one vhost.
#[derive(Debug, Clone)]
pub struct Permissions {
    pub configure: Pattern,
    pub write: Pattern,
    pub read: Pattern,
}

impl Permissions {
    /// configure, write and read on everything.
    pub fn all() -> Permissions {
        let any = || Pattern::new(".*").expect("\".*\" compiles");
        Permissions {
            configure: any(),
            write: any(),
            read: any(),
        }
    }

    pub fn new(configure: &str, write: &str, read: &str) -> Result<Permissions, regex::Error> {
        Ok(Permissions {
            configure: Pattern::new(configure)?,
            write: Pattern::new(write)?,
            read: Pattern::new(read)?,
        })
    }
}

/// Routing-key patterns for one topic exchange (`set_topic_permissions`). The patterns may
/// name `{username}` and `{vhost}`, replaced when checked.
#[derive(Debug, Clone)]
pub struct TopicPermissions {
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// The three kinds of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Configure,
    Write,
    Read,
}

/// What a resource is, as RabbitMQ names it in its refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Exchange,
    Queue,
    Topic,
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResourceKind::Exchange => "exchange",
            ResourceKind::Queue => "queue",
            ResourceKind::Topic => "topic",
        })
    }
}

/// The access model: users, vhost names, permissions and topic permissions.
#[derive(Debug, Default)]
pub struct AccessControl {
    state: RwLock<Model>,
    /// Bumped by every change, so cached grants know to look again.
    epoch: AtomicU64,
}

#[derive(Debug, Default, Clone)]
pub struct Model {
    pub users: HashMap<String, User>,
    /// (user, vhost) → permissions.
    pub permissions: HashMap<(String, String), Arc<Permissions>>,
    /// (user, vhost) → topic permissions, one per exchange.
    pub topic_permissions: HashMap<(String, String), Vec<TopicPermissions>>,
    /// Users that may log in from loopback addresses only (RabbitMQ's `loopback_users`).
    pub loopback_users: Vec<String>,
}

/// A user's access to one vhost, looked up at connection.open.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user: String,
    pub vhost: String,
    pub permissions: Arc<Permissions>,
    pub topic: Vec<TopicPermissions>,
    pub impersonator: bool,
    pub epoch: u64,
}

impl Grant {
    /// Checks `access` to a resource, with RabbitMQ's refusal text on failure. The default
    /// exchange is checked under the name `amq.default`, as RabbitMQ does.
    pub fn check(&self, access: Access, kind: ResourceKind, name: &str) -> Result<(), String> {
        let name = if kind == ResourceKind::Exchange && name.is_empty() {
            "amq.default"
        } else {
            name
        };
        let pattern = match access {
            Access::Configure => &self.permissions.configure,
            Access::Write => &self.permissions.write,
            Access::Read => &self.permissions.read,
        };
        if pattern.matches(name) {
            Ok(())
        } else {
            // RabbitMQ 4.3 names the kind of access (3.10 did not).
            let what = match access {
                Access::Configure => "configure",
                Access::Write => "write",
                Access::Read => "read",
            };
            Err(format!(
                "{what} access to {kind} '{name}' in vhost '{}' refused for user '{}'",
                self.vhost, self.user
            ))
        }
    }

    /// A passive declare: RabbitMQ 4.3 asks for any of read, write and configure, and
    /// reports the configure refusal.
    pub fn check_any(&self, kind: ResourceKind, name: &str) -> Result<(), String> {
        self.check(Access::Read, kind, name)
            .or_else(|_| self.check(Access::Write, kind, name))
            .or_else(|_| self.check(Access::Configure, kind, name))
    }

    /// Checks a routing key against the topic permissions of `exchange` (a topic exchange),
    /// if the user has any for it; none means no restriction, as in RabbitMQ.
    pub fn check_topic(&self, access: Access, exchange: &str, key: &str) -> Result<(), String> {
        let Some(tp) = self.topic.iter().find(|t| t.exchange == exchange) else {
            return Ok(());
        };
        let source = match access {
            Access::Read => &tp.read,
            _ => &tp.write,
        };
        // Plain substitution, as RabbitMQ does it (the values are not escaped).
        let expanded = source
            .replace("{username}", &self.user)
            .replace("{vhost}", &self.vhost);
        let allowed = Pattern::new(&expanded).is_ok_and(|p| p.matches(key));
        if allowed {
            Ok(())
        } else {
            // RabbitMQ 4.3 names the kind of access (3.10 did not).
            let what = if access == Access::Read {
                "read"
            } else {
                "write"
            };
            Err(format!(
                "{what} access to topic '{key}' in exchange '{exchange}' in vhost '{}' refused for user '{}'",
                self.vhost, self.user
            ))
        }
    }
}

impl AccessControl {
    /// The model RabbitMQ starts with: user guest/guest, administrator, loopback only, with
    /// every permission on "/".
    pub fn with_guest() -> AccessControl {
        let ac = AccessControl::default();
        ac.put_user(
            "guest",
            PasswordHash::new("guest"),
            vec!["administrator".into()],
        );
        ac.set_permissions("guest", "/", Permissions::all());
        ac.write().loopback_users.push("guest".into());
        ac
    }

    fn read(&self) -> RwLockReadGuard<'_, Model> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Model> {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A copy of the whole model, for persisting and export.
    pub fn snapshot(&self) -> Model {
        self.read().clone()
    }

    /// Adds what `other` defines, replacing users and permissions of the same names (a
    /// definitions import).
    pub fn merge(&self, other: Model) {
        let mut m = self.write();
        m.users.extend(other.users);
        m.permissions.extend(other.permissions);
        m.topic_permissions.extend(other.topic_permissions);
    }

    /// Replaces the whole model (a restart).
    pub fn replace(&self, model: Model) {
        let mut m = self.write();
        let loopback_users = std::mem::take(&mut m.loopback_users);
        *m = Model {
            loopback_users,
            ..model
        };
    }

    pub fn put_user(&self, name: &str, password: PasswordHash, tags: Vec<String>) {
        let user = User {
            name: name.to_owned(),
            password,
            tags,
        };
        self.write().users.insert(name.to_owned(), user);
    }

    pub fn delete_user(&self, name: &str) -> bool {
        let mut m = self.write();
        m.permissions.retain(|(u, _), _| u != name);
        m.topic_permissions.retain(|(u, _), _| u != name);
        m.users.remove(name).is_some()
    }

    pub fn user(&self, name: &str) -> Option<User> {
        self.read().users.get(name).cloned()
    }

    pub fn set_permissions(&self, user: &str, vhost: &str, p: Permissions) {
        self.write()
            .permissions
            .insert((user.to_owned(), vhost.to_owned()), Arc::new(p));
    }

    pub fn set_topic_permissions(&self, user: &str, vhost: &str, tp: TopicPermissions) {
        let mut m = self.write();
        let list = m
            .topic_permissions
            .entry((user.to_owned(), vhost.to_owned()))
            .or_default();
        list.retain(|t| t.exchange != tp.exchange);
        list.push(tp);
    }

    /// Removes a user's permissions on a vhost; whether there were any.
    pub fn clear_permissions(&self, user: &str, vhost: &str) -> bool {
        self.write()
            .permissions
            .remove(&(user.to_owned(), vhost.to_owned()))
            .is_some()
    }

    /// Removes a user's topic permissions on a vhost, for one exchange or (None) all;
    /// whether there were any.
    pub fn clear_topic_permissions(&self, user: &str, vhost: &str, exchange: Option<&str>) -> bool {
        let mut m = self.write();
        let key = (user.to_owned(), vhost.to_owned());
        let Some(list) = m.topic_permissions.get_mut(&key) else {
            return false;
        };
        let before = list.len();
        list.retain(|t| exchange.is_some_and(|x| x != t.exchange));
        let removed = list.len() != before;
        if list.is_empty() {
            m.topic_permissions.remove(&key);
        }
        removed
    }

    /// Forgets every permission on a deleted vhost.
    pub fn vhost_deleted(&self, vhost: &str) {
        let mut m = self.write();
        m.permissions.retain(|(_, v), _| v != vhost);
        m.topic_permissions.retain(|(_, v), _| v != vhost);
    }

    /// Whether `user` may log in with `password` from a peer that is (or is not) on
    /// loopback. An unknown user costs the same hash as a known one.
    pub fn authenticate(&self, user: &str, password: &str, from_loopback: bool) -> bool {
        let m = self.read();
        let (hash, known) = match m.users.get(user) {
            Some(u) => (&u.password, true),
            None => (PasswordHash::decoy(), false),
        };
        let ok = hash.verify(password);
        known && ok && (from_loopback || !m.loopback_users.iter().any(|u| u == user))
    }

    /// Whether `user` exists and may connect from a peer that is (or is not) on loopback,
    /// without a password: SASL EXTERNAL, where TLS has verified who the peer is.
    pub fn user_may_connect(&self, user: &str, from_loopback: bool) -> bool {
        let m = self.read();
        m.users.contains_key(user) && (from_loopback || !m.loopback_users.iter().any(|u| u == user))
    }

    /// A grant that allows nothing: what a connection holds once its user's permissions on
    /// its vhost are gone.
    pub fn no_grant(&self, user: &str, vhost: &str) -> Grant {
        let nothing = || Pattern::new("[^\\s\\S]").expect("a class matching nothing compiles");
        Grant {
            user: user.to_owned(),
            vhost: vhost.to_owned(),
            permissions: Arc::new(Permissions {
                configure: nothing(),
                write: nothing(),
                read: nothing(),
            }),
            topic: Vec::new(),
            impersonator: false,
            epoch: self.epoch(),
        }
    }

    /// The user's access to `vhost`, if it has any there.
    pub fn grant(&self, user: &str, vhost: &str) -> Option<Grant> {
        let epoch = self.epoch();
        let m = self.read();
        let key = (user.to_owned(), vhost.to_owned());
        let permissions = m.permissions.get(&key)?.clone();
        Some(Grant {
            user: user.to_owned(),
            vhost: vhost.to_owned(),
            permissions,
            topic: m.topic_permissions.get(&key).cloned().unwrap_or_default(),
            impersonator: m.users.get(user).is_some_and(|u| u.has_tag("impersonator")),
            epoch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(configure: &str, write: &str, read: &str) -> Grant {
        Grant {
            user: "u".into(),
            vhost: "/".into(),
            permissions: Arc::new(Permissions::new(configure, write, read).unwrap()),
            topic: vec![TopicPermissions {
                exchange: "amq.topic".into(),
                write: "^{username}\\.".into(),
                read: ".*".into(),
            }],
            impersonator: false,
            epoch: 0,
        }
    }

    #[test]
    fn patterns_follow_rabbitmq() {
        let g = grant("^q-.*", "", ".*");
        assert!(
            g.check(Access::Configure, ResourceKind::Queue, "q-1")
                .is_ok()
        );
        assert_eq!(
            g.check(Access::Configure, ResourceKind::Queue, "x")
                .unwrap_err(),
            "configure access to queue 'x' in vhost '/' refused for user 'u'"
        );
        // "" is "^$": nothing but the empty name, and the default exchange is amq.default.
        assert_eq!(
            g.check(Access::Write, ResourceKind::Exchange, "")
                .unwrap_err(),
            "write access to exchange 'amq.default' in vhost '/' refused for user 'u'"
        );
        assert!(g.check(Access::Read, ResourceKind::Exchange, "").is_ok());
    }

    #[test]
    fn topic_permissions_expand_the_user_name() {
        let g = grant(".*", ".*", ".*");
        assert!(
            g.check_topic(Access::Write, "amq.topic", "u.orders")
                .is_ok()
        );
        assert!(
            g.check_topic(Access::Write, "amq.topic", "v.orders")
                .is_err()
        );
        assert!(g.check_topic(Access::Write, "other", "v.orders").is_ok());
    }

    #[test]
    fn unknown_users_and_wrong_passwords_are_refused_alike() {
        let ac = AccessControl::with_guest();
        assert!(ac.authenticate("guest", "guest", true));
        assert!(!ac.authenticate("guest", "guest", false));
        assert!(!ac.authenticate("guest", "nope", true));
        assert!(!ac.authenticate("nobody", "guest", true));
        ac.put_user("app", PasswordHash::new("pw"), vec![]);
        assert!(ac.authenticate("app", "pw", false));
        assert!(ac.grant("app", "/").is_none());
        ac.set_permissions("app", "/", Permissions::all());
        assert!(ac.grant("app", "/").is_some());
        ac.delete_user("app");
        assert!(ac.grant("app", "/").is_none());
    }
}
