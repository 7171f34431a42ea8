//! RabbitMQ policies and operator policies: named, prioritised rules that set queue and
//! exchange options (TTL, length limits, dead-lettering, alternate exchange, ...) on every
//! object of a vhost whose name a pattern matches, without the clients' arguments.
//!
//! What this module owns is the rules themselves, as RabbitMQ 4.3 has them
//! (`rabbit_policy`, `rabbit_policies`, `rabbit_queue_type_util:args_policy_lookup/3`):
//! - validation, with RabbitMQ's texts (the keys it knows, their types, operator policies'
//!   smaller key set);
//! - choice: of the policies that match an object, the one with the highest priority, one
//!   policy and one operator policy at a time;
//! - merging: a policy with an operator policy (`effective_policy_definition`), and that with
//!   a queue's own x-arguments (`QueueArgs`), key by key.
//!
//! The vhost keeps the policies (`PolicySet`) and applies them to its queues and exchanges.
//!
//! Accepted and stored but inert here, as Warren has nothing they act on: consumer-timeout,
//! consumer-disconnected-timeout, dead-letter-strategy, delivery-limit, initial-cluster-size,
//! max-age, max-in-memory-length, max-in-memory-bytes, queue-leader-locator, queue-mode
//! (inert in RabbitMQ 3.12+ too), queue-version, stream-filter-size-bytes,
//! stream-max-segment-size-bytes, target-group-size. max-priority is no policy key in
//! RabbitMQ (refused as unrecognised), nor are the ha-* keys of RabbitMQ 3.x mirroring.

pub use super::queue::QueueType;
use super::queue::{Overflow, QueueArgs};
use crate::protocol::FieldTable;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// What kind of objects a policy applies to (`apply-to`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyTo {
    #[default]
    All,
    Queues,
    ClassicQueues,
    QuorumQueues,
    Streams,
    Exchanges,
}

impl ApplyTo {
    pub fn parse(s: &str) -> Result<ApplyTo, PolicyError> {
        Ok(match s {
            "all" => ApplyTo::All,
            "queues" => ApplyTo::Queues,
            "classic_queues" => ApplyTo::ClassicQueues,
            "quorum_queues" => ApplyTo::QuorumQueues,
            "streams" => ApplyTo::Streams,
            "exchanges" => ApplyTo::Exchanges,
            other => {
                return Err(PolicyError::Invalid(format!(
                    "apply-to '{other}' unrecognised; should be one of: 'queues', \
                     'classic_queues',  'quorum_queues', 'streams', 'exchanges', or 'all'"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApplyTo::All => "all",
            ApplyTo::Queues => "queues",
            ApplyTo::ClassicQueues => "classic_queues",
            ApplyTo::QuorumQueues => "quorum_queues",
            ApplyTo::Streams => "streams",
            ApplyTo::Exchanges => "exchanges",
        }
    }

    fn covers(self, target: Target) -> bool {
        matches!(
            (self, target),
            (ApplyTo::All, _)
                | (ApplyTo::Exchanges, Target::Exchange)
                | (ApplyTo::Queues, Target::Queue(_))
                | (ApplyTo::ClassicQueues, Target::Queue(QueueType::Classic))
                | (ApplyTo::QuorumQueues, Target::Queue(QueueType::Quorum))
                | (ApplyTo::Streams, Target::Queue(QueueType::Stream))
        )
    }
}

impl QueueType {
    /// Policy keys a queue of this type does not take: a policy with any of them does not
    /// apply to it at all (`rabbit_queue_type:is_policy_applicable/2`, each type's
    /// `unsupported_policies` in RabbitMQ 4.3; 3.10's classic queues still took the
    /// max-in-memory-* keys).
    fn unsupported(self) -> &'static [&'static str] {
        match self {
            QueueType::Classic => &[
                "max-age",
                "stream-max-segment-size-bytes",
                "initial-cluster-size",
                "delivery-limit",
                "dead-letter-strategy",
                "max-in-memory-length",
                "max-in-memory-bytes",
                "target-group-size",
            ],
            QueueType::Quorum => &[
                "queue-mode",
                "max-age",
                "stream-max-segment-size-bytes",
                "initial-cluster-size",
            ],
            QueueType::Stream => &[
                "expires",
                "message-ttl",
                "dead-letter-exchange",
                "dead-letter-routing-key",
                "max-length",
                "max-in-memory-length",
                "max-in-memory-bytes",
                "overflow",
                "queue-mode",
                "delivery-limit",
                "dead-letter-strategy",
                "target-group-size",
            ],
        }
    }
}

/// The object a policy is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Exchange,
    Queue(QueueType),
}

/// A policy or an operator policy, in the JSON shape of RabbitMQ's management API
/// (`/api/policies`) and of the definitions format's `policies` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub vhost: String,
    pub name: String,
    /// A regular expression, matched anywhere in an object's name (anchor it with ^...$).
    pub pattern: String,
    #[serde(rename = "apply-to", default)]
    pub apply_to: ApplyTo,
    pub definition: Map<String, Value>,
    #[serde(default)]
    pub priority: i64,
}

/// Which of the two lists a policy belongs to: operator policies are set by operators to
/// cap what users' policies and arguments ask for, with a smaller set of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Policy,
    Operator,
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The management API answers 404 `vhost_not_found`.
    #[error("no vhost '{0}'")]
    NoVhost(String),
    /// RabbitMQ's validation text; see `PolicyError::reason`.
    #[error("{0}")]
    Invalid(String),
    /// A body without a mandatory field: RabbitMQ's reason is the Erlang term, e.g.
    /// `[{key_missing,pattern}]`.
    #[error("{0}")]
    Malformed(String),
}

impl PolicyError {
    /// The text as RabbitMQ's management API (`reason`, 400 bad_request) and rabbitmqctl
    /// show a validation failure.
    pub fn reason(&self) -> String {
        match self {
            PolicyError::NoVhost(_) => "vhost_not_found".to_owned(),
            PolicyError::Invalid(text) => format!("Validation failed\n\n{text}\n"),
            PolicyError::Malformed(text) => text.clone(),
        }
    }
}

/// How a definition key's value is checked.
#[derive(Debug, Clone, Copy)]
enum Check {
    Text,
    /// An integer of at least this.
    IntFrom(i64),
    AnyInt,
    IntRange(i64, i64),
    OneOf(&'static [&'static str]),
    IntOneOf(&'static [i64]),
    /// RabbitMQ's max-age: a positive number and a unit, e.g. "7D".
    MaxAge,
}

/// Every definition key RabbitMQ 4.3 takes (`rabbit_policies`, and the quorum queue's
/// target-group-size), sorted: its check, the words of its refusal ("... is not a valid
/// {what}"), and whether operator policies take it too.
const KEYS: [(&str, Check, &str, bool); 22] = [
    (
        "alternate-exchange",
        Check::Text,
        "alternate exchange name",
        false,
    ),
    (
        "consumer-disconnected-timeout",
        Check::IntFrom(0),
        "consumer disconnected timeout",
        false,
    ),
    (
        "consumer-timeout",
        Check::IntFrom(0),
        "consumer timeout",
        false,
    ),
    (
        "dead-letter-exchange",
        Check::Text,
        "dead letter exchange name",
        false,
    ),
    (
        "dead-letter-routing-key",
        Check::Text,
        "dead letter routing key",
        false,
    ),
    (
        "dead-letter-strategy",
        Check::OneOf(&["at-most-once", "at-least-once"]),
        "dead letter strategy",
        false,
    ),
    ("delivery-limit", Check::AnyInt, "delivery limit", true),
    ("expires", Check::IntFrom(1), "queue expiry", true),
    (
        "initial-cluster-size",
        Check::IntFrom(0),
        "cluster size",
        false,
    ),
    ("max-age", Check::MaxAge, "max age", false),
    (
        "max-in-memory-bytes",
        Check::IntFrom(0),
        "maximum memory in bytes",
        true,
    ),
    (
        "max-in-memory-length",
        Check::IntFrom(0),
        "maximum memory in bytes",
        true,
    ),
    ("max-length", Check::IntFrom(0), "maximum length", true),
    (
        "max-length-bytes",
        Check::IntFrom(0),
        "maximum length in bytes",
        true,
    ),
    ("message-ttl", Check::IntFrom(0), "message TTL", true),
    (
        "overflow",
        Check::OneOf(&["drop-head", "reject-publish", "reject-publish-dlx"]),
        "overflow value",
        true,
    ),
    (
        "queue-leader-locator",
        Check::OneOf(&["client-local", "balanced", "random", "least-leaders"]),
        "queue leader locator value",
        false,
    ),
    (
        "queue-mode",
        Check::OneOf(&["default", "lazy"]),
        "queue-mode value",
        false,
    ),
    (
        "queue-version",
        Check::IntOneOf(&[1, 2]),
        "queue-version value",
        true,
    ),
    (
        "stream-filter-size-bytes",
        Check::IntRange(16, 255),
        "filter size. Valid range is 16-255",
        false,
    ),
    (
        "stream-max-segment-size-bytes",
        Check::IntRange(0, 3_000_000_000),
        "segment size",
        false,
    ),
    (
        "target-group-size",
        Check::IntFrom(1),
        "qq target count value",
        true,
    ),
];

fn passes(check: Check, v: &Value) -> bool {
    match check {
        Check::Text => v.is_string(),
        Check::IntFrom(min) => v.as_i64().is_some_and(|n| n >= min),
        Check::AnyInt => v.as_i64().is_some(),
        Check::IntRange(lo, hi) => v.as_i64().is_some_and(|n| (lo..=hi).contains(&n)),
        Check::OneOf(names) => v.as_str().is_some_and(|s| names.contains(&s)),
        Check::IntOneOf(ns) => v.as_i64().is_some_and(|n| ns.contains(&n)),
        Check::MaxAge => v.as_str().is_some_and(valid_max_age),
    }
}

/// `rabbit_amqqueue:check_max_age/1`: digits (a positive number) then one unit.
fn valid_max_age(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    number.parse::<u64>().is_ok_and(|n| n > 0) && ["Y", "M", "D", "h", "m", "s"].contains(&unit)
}

/// A JSON value as Erlang prints the term RabbitMQ decodes it to (`~tp`), for refusals.
pub fn erlang_term(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => binary(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(erlang_term).collect::<Vec<_>>().join(",")
        ),
        Value::Object(o) => format!(
            "#{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{} => {}", binary(k), erlang_term(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn binary(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    if s.is_ascii() {
        format!("<<\"{escaped}\">>")
    } else {
        format!("<<\"{escaped}\"/utf8>>")
    }
}

impl Policy {
    /// A policy from the body RabbitMQ's management API takes (`PUT /api/policies/vhost/name`)
    /// or a definitions file lists: pattern and definition mandatory, apply-to "all" and
    /// priority 0 by default. Refusals are RabbitMQ's, in its order; the definition itself
    /// is checked by `validate`. RabbitMQ also takes a fractional priority (1.5); here a
    /// priority is an integer (2.0 is read as 2).
    pub fn from_body(
        vhost: &str,
        name: &str,
        body: &Map<String, Value>,
    ) -> Result<Policy, PolicyError> {
        for key in ["pattern", "definition"] {
            if !body.contains_key(key) {
                return Err(PolicyError::Malformed(format!("[{{key_missing,{key}}}]")));
            }
        }
        let priority = match body.get("priority") {
            None | Some(Value::Null) => 0,
            Some(v) => {
                let n = match v {
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    Value::Number(n) => n
                        .as_i64()
                        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                    _ => None,
                };
                n.ok_or_else(|| {
                    PolicyError::Invalid(format!(
                        "priority should be a number, actually was {}",
                        erlang_term(v)
                    ))
                })?
            }
        };
        let pattern = match &body["pattern"] {
            Value::String(s) => s.clone(),
            other => {
                return Err(PolicyError::Invalid(format!(
                    "pattern should be a string, actually was {}",
                    erlang_term(other)
                )));
            }
        };
        let apply_to = match body.get("apply-to") {
            None | Some(Value::Null) => ApplyTo::All,
            Some(Value::String(s)) => ApplyTo::parse(s)?,
            Some(other) => ApplyTo::parse(&erlang_term(other))?,
        };
        let definition = match &body["definition"] {
            Value::Object(o) => o.clone(),
            other => {
                return Err(PolicyError::Invalid(format!(
                    "definition must be a dictionary: {}",
                    erlang_term(other)
                )));
            }
        };
        Ok(Policy {
            vhost: vhost.to_owned(),
            name: name.to_owned(),
            pattern,
            apply_to,
            definition,
            priority,
        })
    }

    /// Checks the policy as RabbitMQ does before storing it, in its order (priority,
    /// pattern, apply-to, definition), and compiles its pattern.
    pub fn validate(&self, kind: PolicyKind) -> Result<Regex, PolicyError> {
        let regex = Regex::new(&self.pattern).map_err(|e| {
            PolicyError::Invalid(format!(
                "pattern should be regular expression but is invalid: {e}"
            ))
        })?;
        if self.definition.is_empty() {
            return Err(PolicyError::Invalid("no policy provided".to_owned()));
        }
        // A map is sorted by key, as Erlang's maps:to_list/1 gives the terms: the first bad
        // value in that order is the one reported, then any unknown keys.
        let mut unknown = Vec::new();
        for (key, value) in &self.definition {
            match KEYS.iter().find(|(k, ..)| k == key) {
                Some((_, check, what, operator)) if kind == PolicyKind::Policy || *operator => {
                    if !passes(*check, value) {
                        return Err(PolicyError::Invalid(format!(
                            "{} is not a valid {what}",
                            erlang_term(value)
                        )));
                    }
                }
                _ => unknown.push(format!("{{{},{}}}", binary(key), erlang_term(value))),
            }
        }
        if !unknown.is_empty() {
            return Err(PolicyError::Invalid(format!(
                "[{}] are not recognised policy settings",
                unknown.join(",")
            )));
        }
        Ok(regex)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.definition.get(key)
    }
}

/// RabbitMQ's merge of a policy's value with an operator policy's for the same key
/// (`merge_policy_value/3`): the stricter limit, or the operator's word.
fn merge_value(key: &str, policy: &Value, operator: &Value) -> Value {
    let ints = (policy.as_i64(), operator.as_i64());
    match (key, ints) {
        (
            "message-ttl"
            | "max-length"
            | "max-length-bytes"
            | "max-in-memory-length"
            | "max-in-memory-bytes"
            | "expires",
            (Some(a), Some(b)),
        ) => a.min(b).into(),
        // A negative delivery limit is no limit: the limited side wins.
        ("delivery-limit", (Some(a), Some(b))) if a < 0 || b < 0 => a.max(b).into(),
        ("delivery-limit", (Some(a), Some(b))) => a.min(b).into(),
        ("target-group-size", (Some(a), Some(b))) => a.max(b).into(),
        _ => operator.clone(),
    }
}

/// The policy and operator policy that apply to one queue or exchange.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    pub policy: Option<Arc<Policy>>,
    pub operator: Option<Arc<Policy>>,
}

impl Applied {
    /// One key of the effective definition (`rabbit_policy:get/2`).
    fn get(&self, key: &str) -> Option<Value> {
        let p = self.policy.as_ref().and_then(|p| p.get(key));
        let o = self.operator.as_ref().and_then(|p| p.get(key));
        match (p, o) {
            (None, None) => None,
            (Some(v), None) | (None, Some(v)) => Some(v.clone()),
            (Some(a), Some(b)) => Some(merge_value(key, a, b)),
        }
    }

    /// The policy's definition merged with the operator policy's: RabbitMQ's
    /// `effective_policy_definition` (the objects' own arguments not included).
    pub fn effective_definition(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for p in [&self.policy, &self.operator].into_iter().flatten() {
            for key in p.definition.keys() {
                if !out.contains_key(key)
                    && let Some(v) = self.get(key)
                {
                    out.insert(key.clone(), v);
                }
            }
        }
        out
    }

    /// The arguments a queue acts on: its declared ones (`declared`, typed from `table`)
    /// merged with the effective definition as RabbitMQ 4.3's queue processes merge them
    /// (`process_args_policy`, the same in 3.10 for these keys): for TTL, expiry and
    /// length limits the lower value wins; for dead-lettering and overflow the queue's own
    /// argument wins, except that a quorum queue takes the policy's overflow.
    pub fn queue_args(&self, declared: &Arc<QueueArgs>, table: &FieldTable) -> Arc<QueueArgs> {
        if self.policy.is_none() && self.operator.is_none() {
            return declared.clone();
        }
        let mut a = QueueArgs::clone(declared);
        let number = |key| self.get(key).and_then(|v| v.as_u64());
        let lower = |own: Option<u64>, key| match (own, number(key)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (own, from_policy) => own.or(from_policy),
        };
        a.expires = lower(declared.expires, "expires");
        a.message_ttl = lower(declared.message_ttl, "message-ttl");
        a.max_length = lower(declared.max_length, "max-length");
        a.max_length_bytes = lower(declared.max_length_bytes, "max-length-bytes");
        let text = |key| self.get(key).and_then(|v| v.as_str().map(str::to_owned));
        if declared.dead_letter_exchange.is_none() {
            a.dead_letter_exchange = text("dead-letter-exchange");
        }
        if declared.dead_letter_routing_key.is_none() {
            a.dead_letter_routing_key = text("dead-letter-routing-key");
        }
        if declared.kind == QueueType::Quorum {
            let limit = self.get("delivery-limit").and_then(|v| v.as_i64());
            a.delivery_limit = declared.delivery_limit.with_policy(limit);
            if table.get("x-dead-letter-strategy").is_none()
                && let Some(s) = text("dead-letter-strategy")
            {
                a.at_least_once = s == "at-least-once";
            }
        }
        let own_overflow = table.get("x-overflow").is_some();
        let policy_first = QueueType::of(table) == QueueType::Quorum;
        if (!own_overflow || policy_first)
            && let Some(o) = text("overflow")
        {
            a.overflow = match o.as_str() {
                "reject-publish" => Overflow::RejectPublish,
                "reject-publish-dlx" => Overflow::RejectPublishDlx,
                _ => Overflow::DropHead,
            };
        }
        Arc::new(a)
    }

    /// The alternate exchange from the policies, which an exchange's own
    /// alternate-exchange argument overrides (`rabbit_policy:get_arg/3`).
    pub fn alternate_exchange(&self) -> Option<String> {
        self.get("alternate-exchange")
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// What the management API shows of it for a queue or exchange.
    pub fn status(&self) -> PolicyStatus {
        PolicyStatus {
            policy: self.policy.as_ref().map(|p| p.name.clone()),
            operator_policy: self.operator.as_ref().map(|p| p.name.clone()),
            effective_policy_definition: self.effective_definition(),
        }
    }
}

/// The policy fields of a queue or exchange in RabbitMQ's `/api/queues` (null for none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PolicyStatus {
    pub policy: Option<String>,
    pub operator_policy: Option<String>,
    pub effective_policy_definition: Map<String, Value>,
}

/// The definitions format's component name for operator policies, which RabbitMQ lists
/// under `parameters` (its `policies` section holds only policies).
pub const OPERATOR_POLICY_COMPONENT: &str = "operator_policy";

/// The policies and operator policies of a definitions document (its `policies` and
/// `parameters` sections), each with its vhost; what cannot be read is returned as a line
/// saying why. Parameters of other components are left to the caller.
pub fn from_definitions(
    policies: &[Value],
    parameters: &[Value],
) -> (Vec<(PolicyKind, Policy)>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let field =
        |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
    for p in policies {
        let Some(o) = p.as_object() else {
            errors.push(format!("policy {p} is not an object"));
            continue;
        };
        let (Some(vhost), Some(name)) = (field(o, "vhost"), field(o, "name")) else {
            errors.push(format!("policy {p} has no vhost or name"));
            continue;
        };
        match Policy::from_body(&vhost, &name, o) {
            Ok(policy) => out.push((PolicyKind::Policy, policy)),
            Err(e) => errors.push(format!("policy '{name}' in vhost '{vhost}': {e}")),
        }
    }
    for p in parameters {
        let Some(o) = p.as_object() else {
            continue;
        };
        if field(o, "component").as_deref() != Some(OPERATOR_POLICY_COMPONENT) {
            continue;
        }
        let (Some(vhost), Some(name)) = (field(o, "vhost"), field(o, "name")) else {
            errors.push(format!("operator policy {p} has no vhost or name"));
            continue;
        };
        let body = o
            .get("value")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match Policy::from_body(&vhost, &name, &body) {
            Ok(policy) => out.push((PolicyKind::Operator, policy)),
            Err(e) => errors.push(format!("operator policy '{name}' in vhost '{vhost}': {e}")),
        }
    }
    (out, errors)
}

impl Policy {
    /// The entry RabbitMQ's definitions export writes for it: a `policies` element for a
    /// policy, a `parameters` element for an operator policy.
    pub fn to_definition(&self, kind: PolicyKind) -> Value {
        match kind {
            PolicyKind::Policy => serde_json::to_value(self).unwrap_or(Value::Null),
            PolicyKind::Operator => serde_json::json!({
                "vhost": self.vhost,
                "component": OPERATOR_POLICY_COMPONENT,
                "name": self.name,
                "value": {
                    "pattern": self.pattern,
                    "definition": self.definition,
                    "priority": self.priority,
                    "apply-to": self.apply_to,
                },
            }),
        }
    }
}

/// A stored policy with its compiled pattern.
#[derive(Debug)]
struct Compiled {
    policy: Arc<Policy>,
    regex: Regex,
}

/// One vhost's policies and operator policies, each list in the order policies are chosen
/// in. A snapshot is replaced whole on every change, so matching reads an immutable list.
#[derive(Debug, Default)]
pub struct PolicySet {
    policies: Vec<Compiled>,
    operator: Vec<Compiled>,
}

impl PolicySet {
    fn list(&self, kind: PolicyKind) -> &Vec<Compiled> {
        match kind {
            PolicyKind::Policy => &self.policies,
            PolicyKind::Operator => &self.operator,
        }
    }

    fn list_mut(&mut self, kind: PolicyKind) -> &mut Vec<Compiled> {
        match kind {
            PolicyKind::Policy => &mut self.policies,
            PolicyKind::Operator => &mut self.operator,
        }
    }

    /// A copy with `policy` added or replacing the one of its name.
    pub fn with(&self, kind: PolicyKind, policy: Policy) -> Result<PolicySet, PolicyError> {
        let regex = policy.validate(kind)?;
        let mut next = self.clone();
        let list = next.list_mut(kind);
        list.retain(|c| c.policy.name != policy.name);
        list.push(Compiled {
            policy: Arc::new(policy),
            regex,
        });
        // Highest priority first. RabbitMQ leaves the order of equal priorities to its
        // table's hash order (3.10 picked 'b' over 'a' and 'y' over 'x'); sorting by name
        // makes the choice the same on every run.
        list.sort_by(|a, b| {
            (b.policy.priority, &a.policy.name).cmp(&(a.policy.priority, &b.policy.name))
        });
        Ok(next)
    }

    /// A copy without the policy `name`, if there was one.
    pub fn without(&self, kind: PolicyKind, name: &str) -> Option<PolicySet> {
        if !self.list(kind).iter().any(|c| c.policy.name == name) {
            return None;
        }
        let mut next = self.clone();
        next.list_mut(kind).retain(|c| c.policy.name != name);
        Some(next)
    }

    pub fn policies(&self, kind: PolicyKind) -> impl Iterator<Item = &Policy> {
        self.list(kind).iter().map(|c| c.policy.as_ref())
    }

    /// The policy and the operator policy that apply to the object `name`.
    pub fn matching(&self, name: &str, target: Target) -> Applied {
        Applied {
            policy: Self::best(&self.policies, name, target),
            operator: Self::best(&self.operator, name, target),
        }
    }

    fn best(list: &[Compiled], name: &str, target: Target) -> Option<Arc<Policy>> {
        list.iter()
            .find(|c| {
                c.policy.apply_to.covers(target)
                    && applicable(&c.policy, target)
                    && c.regex.is_match(name)
            })
            .map(|c| c.policy.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.operator.is_empty()
    }
}

impl Clone for PolicySet {
    fn clone(&self) -> Self {
        let copy = |l: &Vec<Compiled>| {
            l.iter()
                .map(|c| Compiled {
                    policy: c.policy.clone(),
                    regex: c.regex.clone(),
                })
                .collect()
        };
        PolicySet {
            policies: copy(&self.policies),
            operator: copy(&self.operator),
        }
    }
}

/// Whether a queue's type takes every key of the policy (exchanges take any).
fn applicable(policy: &Policy, target: Target) -> bool {
    match target {
        Target::Exchange => true,
        Target::Queue(t) => {
            let unsupported = t.unsupported();
            !policy
                .definition
                .keys()
                .any(|k| unsupported.contains(&k.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(name: &str, pattern: &str, priority: i64, definition: Value) -> Policy {
        Policy {
            vhost: "/".into(),
            name: name.into(),
            pattern: pattern.into(),
            apply_to: ApplyTo::All,
            definition: definition.as_object().cloned().unwrap_or_default(),
            priority,
        }
    }

    fn refusal(kind: PolicyKind, definition: Value) -> String {
        policy("p", ".*", 0, definition)
            .validate(kind)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn refusals_read_as_rabbitmq_writes_them() {
        let p = PolicyKind::Policy;
        // Texts seen from RabbitMQ 3.10.8's management API on this machine.
        assert_eq!(
            refusal(p, json!({"message-ttl": "abc"})),
            r#"<<"abc">> is not a valid message TTL"#
        );
        assert_eq!(
            refusal(p, json!({"message-ttl": -1})),
            "-1 is not a valid message TTL"
        );
        assert_eq!(
            refusal(p, json!({"message-ttl": 1.5})),
            "1.5 is not a valid message TTL"
        );
        assert_eq!(
            refusal(p, json!({"expires": 0})),
            "0 is not a valid queue expiry"
        );
        assert_eq!(refusal(p, json!({})), "no policy provided");
        assert_eq!(
            refusal(p, json!({"max-priority": 5})),
            r#"[{<<"max-priority">>,5}] are not recognised policy settings"#
        );
        assert_eq!(
            refusal(p, json!({"foo": 1, "bar": "x"})),
            r#"[{<<"bar">>,<<"x">>},{<<"foo">>,1}] are not recognised policy settings"#
        );
        assert_eq!(
            refusal(p, json!({"overflow": "foo"})),
            r#"<<"foo">> is not a valid overflow value"#
        );
        assert_eq!(
            refusal(p, json!({"dead-letter-exchange": 5})),
            "5 is not a valid dead letter exchange name"
        );
        let o = PolicyKind::Operator;
        assert_eq!(
            refusal(o, json!({"dead-letter-exchange": "x"})),
            r#"[{<<"dead-letter-exchange">>,<<"x">>}] are not recognised policy settings"#
        );
        assert_eq!(
            refusal(o, json!({"message-ttl": 1000, "ha-mode": "all"})),
            r#"[{<<"ha-mode">>,<<"all">>}] are not recognised policy settings"#
        );
        let bad = policy("p", "(", 0, json!({"message-ttl": 1}));
        let e = bad.validate(p).unwrap_err().to_string();
        assert!(
            e.starts_with("pattern should be regular expression but is invalid: "),
            "{e}"
        );
        assert_eq!(
            ApplyTo::parse("foo").unwrap_err().reason(),
            "Validation failed\n\napply-to 'foo' unrecognised; should be one of: 'queues', \
             'classic_queues',  'quorum_queues', 'streams', 'exchanges', or 'all'\n"
        );
    }

    #[test]
    fn good_definitions_pass() {
        let p = policy(
            "p",
            "^a",
            0,
            json!({"message-ttl": 0, "expires": 1, "max-length": 0, "overflow": "reject-publish-dlx",
                   "dead-letter-exchange": "", "dead-letter-routing-key": "k", "queue-mode": "lazy",
                   "delivery-limit": -1, "max-age": "7D", "alternate-exchange": "ae",
                   "stream-filter-size-bytes": 16, "queue-version": 2}),
        );
        assert!(p.validate(PolicyKind::Policy).is_ok());
        let op = policy(
            "o",
            "^a",
            0,
            json!({"message-ttl": 1, "max-length-bytes": 10, "overflow": "drop-head", "queue-version": 1}),
        );
        assert!(op.validate(PolicyKind::Operator).is_ok());
        assert!(!valid_max_age("0D") && !valid_max_age("7") && !valid_max_age("D"));
    }

    #[test]
    fn the_highest_priority_matching_policy_applies_per_type() {
        let set = PolicySet::default();
        let set = set
            .with(
                PolicyKind::Policy,
                policy("low", "^q", 1, json!({"max-length": 7})),
            )
            .unwrap();
        let set = set
            .with(
                PolicyKind::Policy,
                policy("high", "^q", 5, json!({"message-ttl": 1})),
            )
            .unwrap();
        // delivery-limit makes it inapplicable to classic queues, as in RabbitMQ.
        let set = set
            .with(
                PolicyKind::Policy,
                policy("dl", "^q", 9, json!({"delivery-limit": 3})),
            )
            .unwrap();
        let classic = Target::Queue(QueueType::Classic);
        let quorum = Target::Queue(QueueType::Quorum);
        let name = |a: Applied| a.policy.map(|p| p.name.clone());
        assert_eq!(name(set.matching("q1", classic)).as_deref(), Some("high"));
        assert_eq!(name(set.matching("q1", quorum)).as_deref(), Some("dl"));
        assert_eq!(name(set.matching("x", classic)), None);
        // Unanchored, as Erlang's re:run.
        let set = set
            .with(
                PolicyKind::Policy,
                policy("mid", "middle", 100, json!({"max-length": 1})),
            )
            .unwrap();
        assert_eq!(
            name(set.matching("in-the-middle-of", classic)).as_deref(),
            Some("mid")
        );
        // Equal priorities: the name that sorts first.
        let set = set
            .with(
                PolicyKind::Policy,
                policy("b", "^z", 1, json!({"max-length": 1})),
            )
            .unwrap()
            .with(
                PolicyKind::Policy,
                policy("a", "^z", 1, json!({"max-length": 1})),
            )
            .unwrap();
        assert_eq!(name(set.matching("z", classic)).as_deref(), Some("a"));
        let set = set.without(PolicyKind::Policy, "a").unwrap();
        assert_eq!(name(set.matching("z", classic)).as_deref(), Some("b"));
        assert!(set.without(PolicyKind::Policy, "a").is_none());
    }

    #[test]
    fn operator_policies_cap_and_arguments_merge_as_in_rabbitmq() {
        let applied = Applied {
            policy: Some(Arc::new(policy(
                "p",
                ".*",
                0,
                json!({"message-ttl": 1000, "max-length": 10, "dead-letter-exchange": "pdlx",
                       "overflow": "reject-publish", "delivery-limit": -1}),
            ))),
            operator: Some(Arc::new(policy(
                "o",
                ".*",
                0,
                json!({"message-ttl": 500, "max-length": 20, "expires": 100000, "delivery-limit": 5}),
            ))),
        };
        // As RabbitMQ 3.10.8 showed for such a pair.
        assert_eq!(
            Value::Object(applied.effective_definition()),
            json!({"message-ttl": 500, "max-length": 10, "dead-letter-exchange": "pdlx",
                   "expires": 100000, "overflow": "reject-publish", "delivery-limit": 5})
        );
        let mut table = FieldTable::new();
        table.insert("x-max-length", crate::protocol::FieldValue::I32(3));
        table.insert(
            "x-overflow",
            crate::protocol::FieldValue::LongString(b"drop-head".to_vec().into()),
        );
        let declared = Arc::new(QueueArgs {
            max_length: Some(3),
            message_ttl: Some(2000),
            dead_letter_exchange: Some("own".into()),
            ..QueueArgs::default()
        });
        let a = applied.queue_args(&declared, &table);
        assert_eq!(a.max_length, Some(3));
        assert_eq!(a.message_ttl, Some(500));
        assert_eq!(a.expires, Some(100000));
        assert_eq!(a.dead_letter_exchange.as_deref(), Some("own"));
        assert_eq!(a.overflow, Overflow::DropHead);
        let a = applied.queue_args(&Arc::new(QueueArgs::default()), &FieldTable::new());
        assert_eq!(a.max_length, Some(10));
        assert_eq!(a.dead_letter_exchange.as_deref(), Some("pdlx"));
        assert_eq!(a.overflow, Overflow::RejectPublish);
    }

    #[test]
    fn management_bodies_are_read_with_rabbitmqs_refusals() {
        let body = |v: Value| v.as_object().cloned().unwrap();
        let p = Policy::from_body(
            "/",
            "n",
            &body(json!({"pattern": "^a", "definition": {"max-length": 1}, "priority": "7"})),
        )
        .unwrap();
        assert_eq!((p.priority, p.apply_to), (7, ApplyTo::All));
        let reason = |v: Value| Policy::from_body("/", "n", &body(v)).unwrap_err().reason();
        assert_eq!(
            reason(json!({"definition": {"message-ttl": 1000}})),
            "[{key_missing,pattern}]"
        );
        assert_eq!(
            reason(json!({"pattern": "^x"})),
            "[{key_missing,definition}]"
        );
        assert_eq!(
            reason(
                json!({"pattern": "^x", "definition": {"message-ttl": 1000}, "priority": "abc"})
            ),
            "Validation failed\n\npriority should be a number, actually was <<\"abc\">>\n"
        );
        assert_eq!(
            reason(json!({"pattern": "^x", "apply-to": "foo", "definition": {"message-ttl": 1}})),
            ApplyTo::parse("foo").unwrap_err().reason()
        );
    }

    #[test]
    fn definitions_sections_round_trip() {
        let p = policy("p", "^a", 2, json!({"max-length": 1}));
        let o = policy("o", "^b", 0, json!({"message-ttl": 5}));
        // As RabbitMQ 3.10.8's /api/definitions wrote an operator policy.
        assert_eq!(
            o.to_definition(PolicyKind::Operator),
            json!({"vhost": "/", "component": "operator_policy", "name": "o",
                   "value": {"pattern": "^b", "definition": {"message-ttl": 5}, "priority": 0, "apply-to": "all"}})
        );
        let other =
            json!({"vhost": "/", "component": "federation-upstream", "name": "u", "value": {}});
        let (read, errors) = from_definitions(
            &[
                p.to_definition(PolicyKind::Policy),
                json!({"vhost": "/", "name": "bad", "pattern": "x"}),
            ],
            &[o.to_definition(PolicyKind::Operator), other],
        );
        assert_eq!(
            read,
            vec![(PolicyKind::Policy, p), (PolicyKind::Operator, o)]
        );
        assert_eq!(
            errors,
            ["policy 'bad' in vhost '/': [{key_missing,definition}]"]
        );
    }

    #[test]
    fn policies_read_and_write_rabbitmqs_json() {
        let text = r#"{"vhost":"/","name":"ttl","pattern":"^q","apply-to":"queues","definition":{"message-ttl":5},"priority":3}"#;
        let p: Policy = serde_json::from_str(text).unwrap();
        assert_eq!(p.apply_to, ApplyTo::Queues);
        assert_eq!(p.priority, 3);
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        let p: Policy = serde_json::from_str(
            r#"{"vhost":"/","name":"n","pattern":"x","definition":{"max-length":1}}"#,
        )
        .unwrap();
        assert_eq!((p.apply_to, p.priority), (ApplyTo::All, 0));
    }
}
