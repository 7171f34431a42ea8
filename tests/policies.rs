//! Policies and operator policies, set through the broker's API and observed by a client over
//! a real socket: each acts on the queues and exchanges its pattern matches, now and later,
//! merged with their own arguments as RabbitMQ 3.10.8 on this machine merges them (for TTL
//! and length limits the lower value wins, for dead-lettering the queue's own argument; the
//! operator policy's lower limit wins; the highest priority policy applies).

mod common;

use common::*;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use serde_json::{Value, json};
use std::path::PathBuf;
use warren::broker::policy::{Policy, PolicyError};

fn policy(name: &str, pattern: &str, priority: i64, apply_to: &str, definition: Value) -> Policy {
    let body = json!({"pattern": pattern, "priority": priority, "apply-to": apply_to,
                      "definition": definition});
    Policy::from_body("/", name, body.as_object().expect("object")).expect("well-formed body")
}

fn set(broker: &Broker, name: &str, pattern: &str, priority: i64, definition: Value) {
    let p = policy(name, pattern, priority, "all", definition);
    broker.core().set_policy("/", p).expect("policy is valid");
}

/// The names of the policy and operator policy applying to a queue.
fn applied(broker: &Broker, queue: &str) -> (Option<String>, Option<String>) {
    let s = broker
        .core()
        .queue_policy_status("/", queue)
        .expect("queue exists");
    (s.policy, s.operator_policy)
}

async fn publish_n(ch: &Channel, queue: &str, n: usize) {
    for i in 0..n {
        publish(ch, "", queue, format!("m{i}").as_bytes()).await;
    }
}

async fn setup(broker: &Broker) -> (lapin::Connection, Channel) {
    let conn = connect(broker).await;
    let ch = confirm_channel(&conn).await;
    (conn, ch)
}

#[tokio::test]
async fn a_ttl_policy_expires_messages_of_existing_and_new_queues_it_matches() {
    let broker = broker();
    let (_conn, ch) = setup(&broker).await;
    declare_with(&ch, "ttl.old", FieldTable::default()).await;
    declare_with(&ch, "other", FieldTable::default()).await;
    set(&broker, "ttl", "^ttl\\.", 0, json!({"message-ttl": 50}));
    assert_eq!(applied(&broker, "ttl.old"), (Some("ttl".into()), None));
    assert_eq!(applied(&broker, "other"), (None, None));
    publish_n(&ch, "ttl.old", 20).await;
    publish_n(&ch, "other", 5).await;
    wait_for_count(&ch, "ttl.old", 0).await;

    declare_with(&ch, "ttl.new", FieldTable::default()).await;
    publish_n(&ch, "ttl.new", 20).await;
    wait_for_count(&ch, "ttl.new", 0).await;
    // The pattern did not match: nothing expired there.
    assert_eq!(passive_counts(&ch, "other").await.0, 5);
}

#[tokio::test]
async fn a_lower_max_length_trims_a_deep_queue_at_once_and_dead_letters_via_policy() {
    let broker = broker();
    let (_conn, ch) = setup(&broker).await;
    declare_with(&ch, "deep", FieldTable::default()).await;
    declare_with(&ch, "dead", FieldTable::default()).await;
    publish_n(&ch, "deep", 100).await;
    set(
        &broker,
        "cap",
        "^deep$",
        0,
        json!({"max-length": 10, "dead-letter-exchange": "", "dead-letter-routing-key": "dead"}),
    );
    // Set synchronously: trimmed before the call returned.
    assert_eq!(passive_counts(&ch, "deep").await.0, 10);
    let kept = drain_strings(&ch, "deep").await;
    let newest: Vec<String> = (90..100).map(|i| format!("m{i}")).collect();
    assert_eq!(kept, newest);
    wait_for_count(&ch, "dead", 90).await;
    let d = within(ch.basic_get("dead", BasicGetOptions { no_ack: true }))
        .await
        .expect("basic.get")
        .expect("a dead-lettered message");
    assert_eq!(d.delivery.data, b"m0");
    let reason = header(&d.delivery, "x-first-death-reason");
    assert_eq!(reason, Some(&AMQPValue::LongString("maxlen".into())));

    // And a message rejected from a queue the policy covers goes to its dead-letter
    // exchange too: 89 left in "dead", and this one.
    publish(&ch, "", "deep", b"refused").await;
    let got = within(ch.basic_get("deep", BasicGetOptions::default()))
        .await
        .expect("basic.get")
        .expect("a message");
    within(got.delivery.reject(BasicRejectOptions { requeue: false }))
        .await
        .expect("reject");
    wait_for_count(&ch, "dead", 90).await;
    let last = drain_strings(&ch, "dead").await;
    assert_eq!(last.last().map(String::as_str), Some("refused"));
}

#[tokio::test]
async fn the_queues_own_argument_or_the_lower_limit_wins() {
    let broker = broker();
    let (_conn, ch) = setup(&broker).await;
    // A policy above the queue's own limit: the argument's 3 holds.
    declare_with(&ch, "lim.arg", args(&[("x-max-length", int(3))])).await;
    // No argument: the operator policy's 5 is below the policy's 10.
    declare_with(&ch, "lim.op", FieldTable::default()).await;
    // Dead-lettering: the queue's own exchange and key win over the policy's.
    declare_with(&ch, "lim.dlx", dead_letter_to("own-dead", None)).await;
    declare_with(&ch, "own-dead", FieldTable::default()).await;
    declare_with(&ch, "policy-dead", FieldTable::default()).await;
    set(
        &broker,
        "lim",
        "^lim\\.",
        0,
        json!({"max-length": 10, "dead-letter-exchange": "", "dead-letter-routing-key": "policy-dead"}),
    );
    let op = policy("op", "^lim\\.", 0, "queues", json!({"max-length": 5}));
    broker.core().set_operator_policy("/", op).expect("valid");
    assert_eq!(
        applied(&broker, "lim.op"),
        (Some("lim".into()), Some("op".into()))
    );
    let status = broker.core().queue_policy_status("/", "lim.op").unwrap();
    assert_eq!(
        Value::Object(status.effective_policy_definition),
        json!({"max-length": 5, "dead-letter-exchange": "", "dead-letter-routing-key": "policy-dead"})
    );
    publish_n(&ch, "lim.arg", 20).await;
    publish_n(&ch, "lim.op", 20).await;
    publish_n(&ch, "lim.dlx", 8).await;
    assert_eq!(passive_counts(&ch, "lim.arg").await.0, 3);
    assert_eq!(passive_counts(&ch, "lim.op").await.0, 5);
    assert_eq!(passive_counts(&ch, "lim.dlx").await.0, 5);
    // lim.dlx dropped 3 to its own dead-letter target, not the policy's.
    wait_for_count(&ch, "own-dead", 3).await;
    wait_for_count(&ch, "policy-dead", 17 + 15).await;

    // A TTL: the operator policy's 50 ms is below the queue's own minute.
    declare_with(&ch, "ttl.arg", args(&[("x-message-ttl", int(60_000))])).await;
    let op = policy("op-ttl", "^ttl\\.", 0, "all", json!({"message-ttl": 50}));
    broker.core().set_operator_policy("/", op).expect("valid");
    publish_n(&ch, "ttl.arg", 5).await;
    wait_for_count(&ch, "ttl.arg", 0).await;
}

#[tokio::test]
async fn the_highest_priority_applies_and_clearing_restores_what_is_left() {
    let broker = broker();
    let (_conn, ch) = setup(&broker).await;
    declare_with(&ch, "prio", FieldTable::default()).await;
    set(&broker, "low", "^pr", 1, json!({"max-length": 2}));
    set(&broker, "high", "^prio$", 5, json!({"max-length": 4}));
    assert_eq!(applied(&broker, "prio").0.as_deref(), Some("high"));
    // Listed lowest priority first, as RabbitMQ lists them.
    let names: Vec<String> = broker
        .core()
        .policies(Some("/"))
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["low", "high"]);
    publish_n(&ch, "prio", 10).await;
    assert_eq!(passive_counts(&ch, "prio").await.0, 4);

    assert!(broker.core().clear_policy("/", "high"));
    assert!(!broker.core().clear_policy("/", "high"));
    assert_eq!(applied(&broker, "prio").0.as_deref(), Some("low"));
    assert_eq!(passive_counts(&ch, "prio").await.0, 2);

    assert!(broker.core().clear_policy("/", "low"));
    assert_eq!(applied(&broker, "prio"), (None, None));
    publish_n(&ch, "prio", 10).await;
    assert_eq!(passive_counts(&ch, "prio").await.0, 12);

    // A cleared TTL no longer expires what arrives.
    set(&broker, "ttl", "^prio$", 0, json!({"message-ttl": 10}));
    assert!(broker.core().clear_policy("/", "ttl"));
    publish_n(&ch, "prio", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(passive_counts(&ch, "prio").await.0, 13);
}

#[tokio::test]
async fn apply_to_and_the_exchanges_own_alternate_exchange_are_respected() {
    let broker = broker();
    let (_conn, ch) = setup(&broker).await;
    let declare_x = |name: &'static str, kind, arguments: FieldTable| {
        let ch = ch.clone();
        async move {
            within(ch.exchange_declare(name, kind, ExchangeDeclareOptions::default(), arguments))
                .await
                .expect("exchange.declare");
        }
    };
    declare_x("ae", lapin::ExchangeKind::Fanout, FieldTable::default()).await;
    declare_x("own-ae", lapin::ExchangeKind::Fanout, FieldTable::default()).await;
    declare_with(&ch, "ae-q", FieldTable::default()).await;
    declare_with(&ch, "own-ae-q", FieldTable::default()).await;
    within(ch.queue_bind("ae-q", "ae", "", Default::default(), FieldTable::default()))
        .await
        .unwrap();
    within(ch.queue_bind(
        "own-ae-q",
        "own-ae",
        "",
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    declare_x("both", lapin::ExchangeKind::Direct, FieldTable::default()).await;
    declare_x(
        "both-own",
        lapin::ExchangeKind::Direct,
        args(&[("alternate-exchange", s("own-ae"))]),
    )
    .await;
    declare_with(&ch, "both", FieldTable::default()).await;
    // Only exchanges: the queue of the same name keeps no limit.
    let p = policy(
        "x-only",
        "^both",
        0,
        "exchanges",
        json!({"alternate-exchange": "ae", "max-length": 1}),
    );
    broker.core().set_policy("/", p).expect("valid");
    assert_eq!(applied(&broker, "both"), (None, None));
    let x = broker.core().exchange_policy_status("/", "both").unwrap();
    assert_eq!(x.policy.as_deref(), Some("x-only"));
    publish_n(&ch, "both", 3).await;
    assert_eq!(passive_counts(&ch, "both").await.0, 3);
    // Unroutable through "both": its policy's alternate exchange takes it. "both-own" has
    // its own, which wins.
    publish(&ch, "both", "nowhere", b"a").await;
    publish(&ch, "both-own", "nowhere", b"b").await;
    assert_eq!(drain_strings(&ch, "ae-q").await, ["a"]);
    assert_eq!(drain_strings(&ch, "own-ae-q").await, ["b"]);

    // Only queues: the exchange loses its alternate exchange, the queue gets its limit.
    let p = policy(
        "x-only",
        "^both",
        0,
        "queues",
        json!({"alternate-exchange": "ae", "max-length": 1}),
    );
    broker.core().set_policy("/", p).expect("valid");
    assert_eq!(passive_counts(&ch, "both").await.0, 1);
    publish(&ch, "both", "nowhere", b"c").await;
    assert!(drain(&ch, "ae-q").await.is_empty());

    // quorum_queues: only a queue declared as a quorum queue.
    declare_with(&ch, "typed.classic", FieldTable::default()).await;
    let quorum = args(&[("x-queue-type", s("quorum"))]);
    within(ch.queue_declare(
        "typed.quorum",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        quorum,
    ))
    .await
    .expect("queue.declare");
    let p = policy(
        "qq",
        "^typed\\.",
        0,
        "quorum_queues",
        json!({"max-length": 1}),
    );
    broker.core().set_policy("/", p).expect("valid");
    assert_eq!(applied(&broker, "typed.quorum").0.as_deref(), Some("qq"));
    assert_eq!(applied(&broker, "typed.classic").0, None);
    // delivery-limit is a quorum queue's key: such a policy passes classic queues by.
    let p = policy("dl", "^typed\\.", 9, "queues", json!({"delivery-limit": 3}));
    broker.core().set_policy("/", p).expect("valid");
    assert_eq!(applied(&broker, "typed.quorum").0.as_deref(), Some("dl"));
    assert_eq!(applied(&broker, "typed.classic").0, None);
}

#[tokio::test]
async fn invalid_policies_are_refused_with_rabbitmqs_text() {
    let broker = broker();
    let core = broker.core();
    let refusal = |p: Result<(), PolicyError>| p.expect_err("refused").reason();
    let p = |definition| policy("p", "^a", 0, "all", definition);
    assert_eq!(
        refusal(core.set_policy("/", p(json!({"message-ttl": "abc"})))),
        "Validation failed\n\n<<\"abc\">> is not a valid message TTL\n"
    );
    assert_eq!(
        refusal(core.set_policy("/", p(json!({"max-priority": 5})))),
        "Validation failed\n\n[{<<\"max-priority\">>,5}] are not recognised policy settings\n"
    );
    assert_eq!(
        refusal(core.set_operator_policy("/", p(json!({"dead-letter-exchange": "x"})))),
        "Validation failed\n\n[{<<\"dead-letter-exchange\">>,<<\"x\">>}] are not recognised policy settings\n"
    );
    let bad_pattern = Policy {
        pattern: "(".into(),
        ..p(json!({"message-ttl": 1}))
    };
    assert!(
        refusal(core.set_policy("/", bad_pattern)).starts_with(
            "Validation failed\n\npattern should be regular expression but is invalid"
        )
    );
    assert_eq!(
        core.set_policy("nowhere", p(json!({"message-ttl": 1}))),
        Err(PolicyError::NoVhost("nowhere".into()))
    );
    assert!(core.policies(None).is_empty() && core.operator_policies(None).is_empty());
    // Operators may cap these.
    core.set_operator_policy(
        "/",
        p(json!({"max-length": 1, "message-ttl": 1, "expires": 1})),
    )
    .expect("valid");
    assert_eq!(core.operator_policies(Some("/")).len(), 1);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warren-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn policies_survive_a_restart_and_apply_to_recovered_queues() {
    init_logs();
    let dir = temp_dir("policies-restart");
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    {
        let broker = Broker::start_in(&dir).expect("starts");
        let (_conn, ch) = setup(&broker).await;
        within(ch.queue_declare("kept", durable, FieldTable::default()))
            .await
            .unwrap();
        for i in 0..10 {
            publish_with(
                &ch,
                "",
                "kept",
                format!("m{i}").as_bytes(),
                BasicPublishOptions::default(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await;
        }
        set(&broker, "cap", "^kept$", 3, json!({"max-length": 4}));
        let op = policy("op", ".*", 0, "queues", json!({"expires": 3_600_000}));
        broker.core().set_operator_policy("/", op).unwrap();
        assert_eq!(passive_counts(&ch, "kept").await.0, 4);
        broker.shutdown();
    }
    let access = std::fs::read_to_string(dir.join("access.json")).expect("access.json");
    let access: Value = serde_json::from_str(&access).expect("JSON");
    assert_eq!(access["policies"][0]["name"], "cap");
    assert_eq!(access["parameters"][0]["component"], "operator_policy");

    let broker = Broker::start_in(&dir).expect("starts again");
    let (_conn, ch) = setup(&broker).await;
    assert_eq!(broker.core().policies(None)[0].name, "cap");
    assert_eq!(broker.core().operator_policies(None)[0].name, "op");
    assert_eq!(
        applied(&broker, "kept"),
        (Some("cap".into()), Some("op".into()))
    );
    publish_n(&ch, "kept", 10).await;
    assert_eq!(passive_counts(&ch, "kept").await.0, 4);
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn definitions_import_policies_and_operator_policies() {
    let broker = broker();
    // The shape RabbitMQ 3.10.8's /api/definitions writes, policies before the queues
    // they cover.
    let doc = json!({
        "rabbit_version": "3.10.8",
        "vhosts": [{"name": "/"}],
        "policies": [
            {"vhost": "/", "name": "imp", "pattern": "^imp", "apply-to": "queues",
             "definition": {"max-length": 7}, "priority": 2},
            {"vhost": "/", "name": "broken", "pattern": "^x", "apply-to": "queues",
             "definition": {"ha-mode": "all"}, "priority": 0}
        ],
        "parameters": [
            {"vhost": "/", "component": "operator_policy", "name": "imp-op",
             "value": {"pattern": "^imp", "definition": {"max-length": 3}, "priority": 0, "apply-to": "all"}},
            {"vhost": "/", "component": "federation-upstream", "name": "up", "value": {"uri": "amqp://"}}
        ],
        "queues": [{"name": "imported", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}}]
    });
    let imported = broker
        .core()
        .import_definitions(doc.to_string().as_bytes())
        .expect("valid JSON");
    assert_eq!((imported.policies, imported.queues), (2, 1));
    assert!(
        imported.skipped.iter().any(|s| s.contains("broken")
            && s.contains("[{<<\"ha-mode\">>,<<\"all\">>}] are not recognised policy settings")),
        "{:?}",
        imported.skipped
    );
    assert!(
        imported
            .skipped
            .iter()
            .any(|s| s.contains("federation-upstream")),
        "{:?}",
        imported.skipped
    );
    assert_eq!(
        applied(&broker, "imported"),
        (Some("imp".into()), Some("imp-op".into()))
    );
    let (_conn, ch) = setup(&broker).await;
    publish_n(&ch, "imported", 10).await;
    assert_eq!(passive_counts(&ch, "imported").await.0, 3);
    // And they export in the same shape.
    assert_eq!(
        broker.core().policies_definitions(),
        vec![doc["policies"][0].clone()]
    );
    assert_eq!(
        broker.core().operator_policies_definitions(),
        vec![doc["parameters"][0].clone()]
    );
}
