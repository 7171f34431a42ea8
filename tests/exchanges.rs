//! Exchanges end to end: routing by type, the predeclared `amq.*` exchanges, declare/delete
//! rules and RabbitMQ's reply codes and texts, exchange-to-exchange bindings, alternate
//! exchanges, internal and auto-delete exchanges.

mod common;

use common::*;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, ExchangeKind};

/// A server-named exclusive queue bound to `exchange` with `key` and `args`.
async fn bound_queue(ch: &Channel, exchange: &str, key: &str, args: FieldTable) -> String {
    let q = declare(
        ch,
        "",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
    )
    .await;
    bind(ch, &q, exchange, key, args).await;
    q
}

/// Binds `queue` to `exchange` with `key` and `args`.
async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str, args: FieldTable) {
    within(ch.queue_bind(queue, exchange, key, QueueBindOptions::default(), args))
        .await
        .expect("queue.bind");
}

async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind) {
    within(ch.exchange_declare(
        name,
        kind,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("exchange.declare");
}

fn table(entries: &[(&str, &str)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(
            (*k).into(),
            AMQPValue::LongString(LongString::from(v.as_bytes().to_vec())),
        );
    }
    t
}

async fn exchange_exists(conn: &lapin::Connection, name: &str) -> bool {
    let ch = within(conn.create_channel()).await.unwrap();
    let res = within(ch.exchange_declare(
        name,
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    match res {
        Ok(()) => {
            ch.close(200, "bye").await.unwrap();
            true
        }
        Err(e) => {
            assert_amqp(
                &e,
                404,
                &format!("NOT_FOUND - no exchange '{name}' in vhost '/'"),
            );
            false
        }
    }
}

#[tokio::test]
async fn direct_exchange_routes_by_exact_key() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_exchange(&ch, "d", ExchangeKind::Direct).await;
    let qa = bound_queue(&ch, "d", "a", FieldTable::default()).await;
    let qb = bound_queue(&ch, "d", "b", FieldTable::default()).await;
    let qa2 = bound_queue(&ch, "d", "a", FieldTable::default()).await;

    publish(&ch, "d", "a", b"to-a").await;
    publish(&ch, "d", "b", b"to-b").await;
    publish(&ch, "d", "c", b"to-nobody").await;
    publish(&ch, "d", "A", b"case-matters").await;

    assert_eq!(drain_strings(&ch, &qa).await, ["to-a"]);
    assert_eq!(drain_strings(&ch, &qa2).await, ["to-a"]);
    assert_eq!(drain_strings(&ch, &qb).await, ["to-b"]);
}

#[tokio::test]
async fn fanout_exchange_routes_to_every_queue_whatever_the_key() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_exchange(&ch, "f", ExchangeKind::Fanout).await;
    let q1 = bound_queue(&ch, "f", "", FieldTable::default()).await;
    let q2 = bound_queue(&ch, "f", "ignored", FieldTable::default()).await;

    publish(&ch, "f", "anything", b"one").await;
    publish(&ch, "f", "", b"two").await;

    assert_eq!(drain_strings(&ch, &q1).await, ["one", "two"]);
    assert_eq!(drain_strings(&ch, &q2).await, ["one", "two"]);
}

#[tokio::test]
async fn topic_exchange_matches_star_hash_and_empty_keys() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_exchange(&ch, "t", ExchangeKind::Topic).await;
    let orange = bound_queue(&ch, "t", "*.orange.*", FieldTable::default()).await;
    let rabbit = bound_queue(&ch, "t", "*.*.rabbit", FieldTable::default()).await;
    let lazy = bound_queue(&ch, "t", "lazy.#", FieldTable::default()).await;
    let all = bound_queue(&ch, "t", "#", FieldTable::default()).await;
    let empty = bound_queue(&ch, "t", "", FieldTable::default()).await;
    let middle = bound_queue(&ch, "t", "a.#.b", FieldTable::default()).await;
    let exact = bound_queue(&ch, "t", "x.y", FieldTable::default()).await;

    for key in [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "quick.orange.male.rabbit",
        "lazy",
        "orange",
        "",
        "a.b",
        "a.x.y.b",
        "a.b.c",
        "x.y",
        "x.y.z",
    ] {
        publish(&ch, "t", key, key.as_bytes()).await;
    }

    assert_eq!(
        drain_strings(&ch, &orange).await,
        [
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "quick.orange.fox"
        ]
    );
    assert_eq!(
        drain_strings(&ch, &rabbit).await,
        ["quick.orange.rabbit", "lazy.pink.rabbit"]
    );
    assert_eq!(
        drain_strings(&ch, &lazy).await,
        [
            "lazy.orange.elephant",
            "lazy.brown.fox",
            "lazy.pink.rabbit",
            "lazy"
        ]
    );
    assert_eq!(drain(&ch, &all).await.len(), 15, "# matches every key");
    assert_eq!(drain_strings(&ch, &empty).await, [""]);
    assert_eq!(drain_strings(&ch, &middle).await, ["a.b", "a.x.y.b"]);
    assert_eq!(drain_strings(&ch, &exact).await, ["x.y"]);
}

/// A binding key of many `#` against long routing keys: matching that tried every suffix for
/// every `#` spent seconds of CPU per message, exponential in the number of `#`.
#[tokio::test]
async fn topic_binding_of_many_hashes_routes_long_keys() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = bound_queue(
        &ch,
        "amq.topic",
        "#.#.#.#.#.#.#.#.#.#.z",
        FieldTable::default(),
    )
    .await;
    let long = |last: &str| {
        let mut key = "w.".repeat(120);
        key.push_str(last);
        key
    };

    publish(&ch, "amq.topic", &long("z"), b"121 words, ends in z").await;
    publish(&ch, "amq.topic", &long("y"), b"121 words, ends in y").await;
    publish(&ch, "amq.topic", &long("z.y"), b"122 words, z next to last").await;
    publish(&ch, "amq.topic", "z", b"just z").await;

    assert_eq!(
        drain_strings(&ch, &q).await,
        ["121 words, ends in z", "just z"]
    );
}

#[tokio::test]
async fn headers_exchange_matches_all_any_and_the_with_x_forms() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_exchange(&ch, "h", ExchangeKind::Headers).await;
    let q_all = bound_queue(
        &ch,
        "h",
        "",
        table(&[("x-match", "all"), ("format", "pdf"), ("type", "report")]),
    )
    .await;
    let q_any = bound_queue(
        &ch,
        "h",
        "",
        table(&[("x-match", "any"), ("format", "pdf"), ("type", "report")]),
    )
    .await;
    let q_default = bound_queue(&ch, "h", "", table(&[("format", "pdf")])).await;
    let q_all_x = bound_queue(
        &ch,
        "h",
        "",
        table(&[
            ("x-match", "all-with-x"),
            ("x-foo", "bar"),
            ("format", "pdf"),
        ]),
    )
    .await;
    let q_any_x = bound_queue(
        &ch,
        "h",
        "",
        table(&[("x-match", "any-with-x"), ("x-foo", "bar")]),
    )
    .await;
    // With plain `all`, x- keys in the binding are ignored: nothing left to match, so all match.
    let q_all_only_x =
        bound_queue(&ch, "h", "", table(&[("x-match", "all"), ("x-foo", "bar")])).await;
    // With plain `any`, x- keys in the message are not looked at either.
    let q_any_ignores_x = bound_queue(
        &ch,
        "h",
        "",
        table(&[("x-match", "any"), ("x-foo", "bar"), ("kind", "k")]),
    )
    .await;

    let messages: [(&str, &[(&str, &str)]); 6] = [
        ("pdf-report", &[("format", "pdf"), ("type", "report")]),
        ("pdf", &[("format", "pdf")]),
        ("pdf-xfoo", &[("format", "pdf"), ("x-foo", "bar")]),
        ("xfoo", &[("x-foo", "bar")]),
        ("none", &[]),
        ("wrong-value", &[("format", "txt"), ("type", "log")]),
    ];
    for (body, headers) in messages {
        publish_with(
            &ch,
            "h",
            "ignored-key",
            body.as_bytes(),
            BasicPublishOptions::default(),
            BasicProperties::default().with_headers(table(headers)),
        )
        .await;
    }

    assert_eq!(drain_strings(&ch, &q_all).await, ["pdf-report"]);
    assert_eq!(
        drain_strings(&ch, &q_any).await,
        ["pdf-report", "pdf", "pdf-xfoo"]
    );
    assert_eq!(
        drain_strings(&ch, &q_default).await,
        ["pdf-report", "pdf", "pdf-xfoo"]
    );
    assert_eq!(drain_strings(&ch, &q_all_x).await, ["pdf-xfoo"]);
    assert_eq!(drain_strings(&ch, &q_any_x).await, ["pdf-xfoo", "xfoo"]);
    assert_eq!(
        drain_strings(&ch, &q_all_only_x).await,
        [
            "pdf-report",
            "pdf",
            "pdf-xfoo",
            "xfoo",
            "none",
            "wrong-value"
        ]
    );
    assert!(drain(&ch, &q_any_ignores_x).await.is_empty());
}

#[tokio::test]
async fn predeclared_amq_exchanges_are_usable() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let qd = bound_queue(&ch, "amq.direct", "k", FieldTable::default()).await;
    let qf = bound_queue(&ch, "amq.fanout", "", FieldTable::default()).await;
    let qt = bound_queue(&ch, "amq.topic", "a.*", FieldTable::default()).await;
    let qh = bound_queue(&ch, "amq.headers", "", table(&[("h", "1")])).await;
    let qm = bound_queue(&ch, "amq.match", "", table(&[("m", "1")])).await;

    publish(&ch, "amq.direct", "k", b"direct").await;
    publish(&ch, "amq.fanout", "", b"fanout").await;
    publish(&ch, "amq.topic", "a.b", b"topic").await;
    for (exchange, key) in [("amq.headers", "h"), ("amq.match", "m")] {
        publish_with(
            &ch,
            exchange,
            "",
            exchange.as_bytes(),
            BasicPublishOptions::default(),
            BasicProperties::default().with_headers(table(&[(key, "1")])),
        )
        .await;
    }

    assert_eq!(drain_strings(&ch, &qd).await, ["direct"]);
    assert_eq!(drain_strings(&ch, &qf).await, ["fanout"]);
    assert_eq!(drain_strings(&ch, &qt).await, ["topic"]);
    assert_eq!(drain_strings(&ch, &qh).await, ["amq.headers"]);
    assert_eq!(drain_strings(&ch, &qm).await, ["amq.match"]);

    // They exist (passive) and an equivalent redeclare (durable, same type) is fine.
    for (name, kind) in [
        ("amq.direct", ExchangeKind::Direct),
        ("amq.fanout", ExchangeKind::Fanout),
        ("amq.topic", ExchangeKind::Topic),
        ("amq.headers", ExchangeKind::Headers),
        ("amq.match", ExchangeKind::Headers),
    ] {
        assert!(exchange_exists(&conn, name).await, "{name} exists");
        within(ch.exchange_declare(
            name,
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .unwrap_or_else(|e| panic!("equivalent redeclare of {name}: {e}"));
    }
}

#[tokio::test]
async fn declaring_a_reserved_amq_name_is_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.exchange_declare(
        "amq.foo",
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res,
        403,
        "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'",
    );
    // A channel error: the connection stays usable.
    assert!(conn.status().connected());
    assert!(!exchange_exists(&conn, "amq.foo").await);
}

#[tokio::test]
async fn deleting_a_system_exchange_is_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.exchange_delete("amq.direct", ExchangeDeleteOptions::default())).await;
    expect_amqp(
        res,
        403,
        "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed",
    );
    assert!(exchange_exists(&conn, "amq.direct").await);
}

#[tokio::test]
async fn redeclaring_with_another_type_or_durability_is_inequivalent() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare_exchange(&ch, "x", ExchangeKind::Direct).await;
    // Equivalent redeclare is fine.
    declare_exchange(&ch, "x", ExchangeKind::Direct).await;

    let res = within(ch.exchange_declare(
        "x",
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' in vhost '/': \
         received 'fanout' but current is 'direct'",
    );

    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.exchange_declare(
        "x",
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'x' in vhost '/': \
         received 'true' but current is 'false'",
    );

    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.exchange_declare(
        "x",
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for exchange 'x' in vhost '/': \
         received 'true' but current is 'false'",
    );
    // The original is untouched.
    assert!(exchange_exists(&conn, "x").await);
}

#[tokio::test]
async fn passive_declare_of_a_missing_exchange_is_not_found() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.exchange_declare(
        "x",
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 404, "NOT_FOUND - no exchange 'x' in vhost '/'");
    assert!(conn.status().connected());
}

#[tokio::test]
async fn unknown_exchange_type_closes_the_connection() {
    let broker = broker();
    let conn = connect(&broker).await;
    let mut errors = watch_connection(&conn);
    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.exchange_declare(
        "x",
        ExchangeKind::Custom("bogus".into()),
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 503, "COMMAND_INVALID - unknown exchange type 'bogus'");
    assert_amqp(
        &errors.next().await,
        503,
        "COMMAND_INVALID - unknown exchange type 'bogus'",
    );
    assert!(!conn.status().connected());
    // Nothing was declared.
    let conn = connect(&broker).await;
    assert!(!exchange_exists(&conn, "x").await);
}

#[tokio::test]
async fn the_default_exchange_cannot_be_bound_unbound_or_deleted() {
    let broker = broker();
    let conn = connect(&broker).await;
    const TEXT: &str = "ACCESS_REFUSED - operation not permitted on the default exchange";

    let ch = conn.create_channel().await.unwrap();
    let q = declare(&ch, "q", QueueDeclareOptions::default()).await;
    let res = within(ch.queue_bind(
        &q,
        "",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 403, TEXT);

    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.queue_unbind(&q, "", &q, FieldTable::default())).await;
    expect_amqp(res, 403, TEXT);

    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.exchange_delete("", ExchangeDeleteOptions::default())).await;
    expect_amqp(res, 403, TEXT);

    let ch = conn.create_channel().await.unwrap();
    declare_exchange(&ch, "src", ExchangeKind::Direct).await;
    let res = within(ch.exchange_bind(
        "",
        "src",
        "k",
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 403, TEXT);

    // The default exchange still routes by queue name.
    let ch = confirm_channel(&conn).await;
    publish(&ch, "", &q, b"still works").await;
    assert_eq!(drain_strings(&ch, &q).await, ["still works"]);
}

#[tokio::test]
async fn deleting_a_missing_exchange_succeeds() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    within(ch.exchange_delete("nope", ExchangeDeleteOptions::default()))
        .await
        .expect("delete of a missing exchange is ok");
    within(ch.exchange_delete(
        "nope",
        ExchangeDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await
    .expect("if-unused delete of a missing exchange is ok");
    // The channel is still open.
    declare_exchange(&ch, "after", ExchangeKind::Fanout).await;
}

#[tokio::test]
async fn if_unused_delete_of_an_exchange_with_bindings_fails() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare_exchange(&ch, "x", ExchangeKind::Direct).await;
    let q = declare(&ch, "q", QueueDeclareOptions::default()).await;
    bind(&ch, &q, "x", "k", FieldTable::default()).await;
    let res = within(ch.exchange_delete(
        "x",
        ExchangeDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - exchange 'x' in vhost '/' in use",
    );
    assert!(exchange_exists(&conn, "x").await);

    // Without bindings, if-unused deletes it.
    let ch = conn.create_channel().await.unwrap();
    within(ch.queue_unbind(&q, "x", "k", FieldTable::default()))
        .await
        .unwrap();
    within(ch.exchange_delete(
        "x",
        ExchangeDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await
    .expect("unused exchange is deleted");
    assert!(!exchange_exists(&conn, "x").await);
}

#[tokio::test]
async fn exchange_to_exchange_bindings_route_until_unbound() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_exchange(&ch, "src", ExchangeKind::Topic).await;
    declare_exchange(&ch, "dst", ExchangeKind::Fanout).await;
    let q = bound_queue(&ch, "dst", "", FieldTable::default()).await;
    within(ch.exchange_bind(
        "dst",
        "src",
        "a.*",
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("exchange.bind");

    publish(&ch, "src", "a.b", b"via-binding").await;
    publish(&ch, "src", "b.c", b"not-matching").await;
    assert_eq!(drain_strings(&ch, &q).await, ["via-binding"]);

    within(ch.exchange_unbind(
        "dst",
        "src",
        "a.*",
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("exchange.unbind");
    publish(&ch, "src", "a.b", b"after-unbind").await;
    assert!(drain(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn exchange_bindings_do_not_deliver_twice_or_loop() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_exchange(&ch, "e1", ExchangeKind::Fanout).await;
    declare_exchange(&ch, "e2", ExchangeKind::Fanout).await;
    let q = bound_queue(&ch, "e1", "", FieldTable::default()).await;
    bind(&ch, &q, "e2", "", FieldTable::default()).await;
    // A cycle: e1 -> e2 -> e1.
    for (d, s) in [("e2", "e1"), ("e1", "e2")] {
        within(ch.exchange_bind(
            d,
            s,
            "",
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    publish(&ch, "e1", "", b"once").await;
    assert_eq!(drain_strings(&ch, &q).await, ["once"]);
}

#[tokio::test]
async fn alternate_exchange_receives_unroutable_messages() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_exchange(&ch, "ae", ExchangeKind::Fanout).await;
    let unrouted = bound_queue(&ch, "ae", "", FieldTable::default()).await;
    let mut args = FieldTable::default();
    args.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString("ae".into()),
    );
    within(ch.exchange_declare(
        "main",
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        args,
    ))
    .await
    .unwrap();
    let routed = bound_queue(&ch, "main", "k", FieldTable::default()).await;

    publish(&ch, "main", "k", b"routed").await;
    // Mandatory but routed through the alternate exchange: no basic.return.
    let confirmation = publish_with(
        &ch,
        "main",
        "other",
        b"unroutable",
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        BasicProperties::default(),
    )
    .await;
    assert_eq!(
        confirmation,
        lapin::publisher_confirm::Confirmation::Ack(None)
    );

    assert_eq!(drain_strings(&ch, &routed).await, ["routed"]);
    assert_eq!(drain_strings(&ch, &unrouted).await, ["unroutable"]);
}

#[tokio::test]
async fn publishing_to_an_internal_exchange_is_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    within(ch.exchange_declare(
        "inner",
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    declare_exchange(&ch, "outer", ExchangeKind::Fanout).await;
    let q = bound_queue(&ch, "inner", "", FieldTable::default()).await;
    within(ch.exchange_bind(
        "inner",
        "outer",
        "",
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    // Reachable through an exchange binding.
    publish(&ch, "outer", "", b"via-outer").await;
    assert_eq!(drain_strings(&ch, &q).await, ["via-outer"]);

    // Not directly.
    let pub_ch = conn.create_channel().await.unwrap();
    let mut errors = watch_channel(&pub_ch);
    pub_ch
        .basic_publish(
            "inner",
            "",
            BasicPublishOptions::default(),
            b"direct",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    assert_amqp(
        &errors.next().await,
        403,
        "ACCESS_REFUSED - cannot publish to internal exchange 'inner' in vhost '/'",
    );
    assert!(drain(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn auto_delete_exchange_goes_with_its_last_binding() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let auto = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    within(ch.exchange_declare("ad", ExchangeKind::Direct, auto, FieldTable::default()))
        .await
        .unwrap();
    // Not deleted before it ever had a binding.
    assert!(exchange_exists(&conn, "ad").await);

    let q1 = declare(&ch, "q1", QueueDeclareOptions::default()).await;
    let q2 = declare(&ch, "q2", QueueDeclareOptions::default()).await;
    for q in [&q1, &q2] {
        bind(&ch, q, "ad", "k", FieldTable::default()).await;
    }
    within(ch.queue_unbind(&q1, "ad", "k", FieldTable::default()))
        .await
        .unwrap();
    assert!(exchange_exists(&conn, "ad").await, "one binding is left");
    within(ch.queue_unbind(&q2, "ad", "k", FieldTable::default()))
        .await
        .unwrap();
    assert!(!exchange_exists(&conn, "ad").await, "last binding removed");

    // Also when the last binding goes because its queue is deleted.
    within(ch.exchange_declare("ad2", ExchangeKind::Fanout, auto, FieldTable::default()))
        .await
        .unwrap();
    bind(&ch, &q1, "ad2", "", FieldTable::default()).await;
    within(ch.queue_delete(&q1, QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert!(!exchange_exists(&conn, "ad2").await, "queue deleted");
}

#[tokio::test]
async fn redeclaring_with_another_alternate_exchange_is_inequivalent() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare_exchange(&ch, "x", ExchangeKind::Direct).await;
    let mut args = FieldTable::default();
    args.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString("ae".into()),
    );
    let res = within(ch.exchange_declare(
        "x",
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        args,
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'x' in \
         vhost '/': received the value 'ae' of type 'longstr' but current is none",
    );
}

#[tokio::test]
async fn binding_to_a_missing_exchange_is_not_found() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare_exchange(&ch, "dst", ExchangeKind::Fanout).await;
    let res = within(ch.exchange_bind(
        "dst",
        "nopex",
        "",
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 404, "NOT_FOUND - no exchange 'nopex' in vhost '/'");
}

/// A channel that keeps publishing the same key sees every change another channel makes to
/// the topology at once: the route it last used must not outlive a declare, bind, unbind or
/// delete.
#[tokio::test]
async fn a_publishing_channel_follows_topology_changes_made_elsewhere() {
    let broker = broker();
    let conn = connect(&broker).await;
    let publisher = confirm_channel(&conn).await;
    let admin = within(conn.create_channel()).await.unwrap();
    let durable = QueueDeclareOptions::default();

    // Default exchange: the queue appears, goes, and comes back as a new queue of that name.
    publish(&publisher, "", "q", b"before").await;
    declare(&admin, "q", durable).await;
    publish(&publisher, "", "q", b"first").await;
    assert_eq!(drain_strings(&admin, "q").await, ["first"]);
    within(admin.queue_delete("q", QueueDeleteOptions::default()))
        .await
        .unwrap();
    publish(&publisher, "", "q", b"gone").await;
    declare(&admin, "q", durable).await;
    publish(&publisher, "", "q", b"second").await;
    assert_eq!(drain_strings(&admin, "q").await, ["second"]);

    // A direct exchange: bind, unbind, bind to another queue, delete and redeclare.
    declare_exchange(&admin, "d", ExchangeKind::Direct).await;
    declare(&admin, "other", durable).await;
    publish(&publisher, "d", "k", b"unbound").await;
    bind(&admin, "q", "d", "k", FieldTable::default()).await;
    publish(&publisher, "d", "k", b"bound").await;
    within(admin.queue_unbind("q", "d", "k", FieldTable::default()))
        .await
        .unwrap();
    publish(&publisher, "d", "k", b"unbound again").await;
    bind(&admin, "other", "d", "k", FieldTable::default()).await;
    publish(&publisher, "d", "k", b"to other").await;
    within(admin.exchange_delete("d", ExchangeDeleteOptions::default()))
        .await
        .unwrap();
    declare_exchange(&admin, "d", ExchangeKind::Direct).await;
    publish(&publisher, "d", "k", b"new exchange, no bindings").await;
    assert_eq!(drain_strings(&admin, "q").await, ["bound"]);
    assert_eq!(drain_strings(&admin, "other").await, ["to other"]);

    // An exchange deleted under the publisher: its next publish is refused.
    within(admin.exchange_delete("d", ExchangeDeleteOptions::default()))
        .await
        .unwrap();
    let err = within(publisher.basic_publish(
        "d",
        "k",
        BasicPublishOptions::default(),
        b"missing",
        BasicProperties::default(),
    ))
    .await
    .expect("sent")
    .await
    .expect_err("a publish to a deleted exchange closes the channel");
    assert_amqp(&err, 404, "NOT_FOUND - no exchange 'd' in vhost '/'");
}

/// A headers binding with an x-match RabbitMQ does not know is refused with its texts
/// (observed on RabbitMQ 3.10.8; 4.3's source words them the same).
#[tokio::test]
async fn a_headers_binding_needs_a_known_x_match() {
    use lapin::types::ShortString;
    let broker = broker();
    let conn = connect(&broker).await;
    let cases = [
        (
            AMQPValue::LongString("foo".into()),
            "PRECONDITION_FAILED - Invalid x-match field value <<\"foo\">>; expected all, any, all-with-x, or any-with-x",
        ),
        (
            AMQPValue::LongString("".into()),
            "PRECONDITION_FAILED - Invalid x-match field value <<>>; expected all, any, all-with-x, or any-with-x",
        ),
        (
            AMQPValue::LongLongInt(1),
            "PRECONDITION_FAILED - Invalid x-match field type long (value 1); expected longstr",
        ),
    ];
    for (value, text) in cases {
        let ch = conn.create_channel().await.unwrap();
        let q = declare(&ch, "", QueueDeclareOptions::default()).await;
        let mut arguments = FieldTable::default();
        arguments.insert(ShortString::from("x-match"), value);
        let res = within(ch.queue_bind(
            &q,
            "amq.headers",
            "",
            QueueBindOptions::default(),
            arguments,
        ))
        .await;
        expect_amqp(res, 406, text);
    }
}

/// `x-local-random` (RabbitMQ 4.0+, docs/local-random-exchange.md): each message goes to one
/// bound queue at random, whatever its key or CC header, and is returned when nothing is
/// bound. Bindings must have an empty key and lead to a classic queue; the 406 texts are
/// those of 4.3's `rabbit_exchange_type_local_random:validate_binding/2` (RabbitMQ 3.10 on
/// this machine has no such type to compare with).
#[tokio::test]
async fn local_random_exchange_sends_each_message_to_one_bound_queue() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let local_random = ExchangeKind::Custom("x-local-random".into());
    declare_exchange(&ch, "rpc", local_random.clone()).await;

    // Nothing bound: a mandatory message comes back.
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let returned = publish_with(&ch, "rpc", "", b"nobody", mandatory, Default::default()).await;
    assert!(returned.take_message().is_some(), "returned");

    let queues = [
        bound_queue(&ch, "rpc", "", FieldTable::default()).await,
        bound_queue(&ch, "rpc", "", FieldTable::default()).await,
        bound_queue(&ch, "rpc", "", FieldTable::default()).await,
    ];
    // One key for all: a route remembered for the key would send them all to one queue.
    for _ in 0..300 {
        publish(&ch, "rpc", "any", b"request").await;
    }
    let mut cc = FieldTable::default();
    cc.insert(
        "CC".into(),
        AMQPValue::FieldArray(vec![AMQPValue::LongString("other".into())].into()),
    );
    let with_cc = BasicProperties::default().with_headers(cc);
    publish_with(&ch, "rpc", "", b"cc", Default::default(), with_cc).await;
    let mut total = 0;
    for q in &queues {
        let (ready, _) = passive_counts(&ch, q).await;
        // 101 expected each; none empty unless the pick is far from random.
        assert!(ready > 30, "{q}: {ready} of 301");
        total += ready;
    }
    assert_eq!(total, 301, "each message to exactly one queue");

    let refused = |ch: lapin::Channel, queue: String, key: &'static str| async move {
        within(ch.queue_bind(
            &queue,
            "rpc",
            key,
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
    };
    let ch2 = within(conn.create_channel()).await.expect("channel");
    expect_amqp(
        refused(ch2, queues[0].clone(), "k").await,
        406,
        "PRECONDITION_FAILED - Non empty binding 'k' key not permitted",
    );
    let ch3 = within(conn.create_channel()).await.expect("channel");
    within(ch3.queue_declare(
        "rpc-quorum",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        table(&[("x-queue-type", "quorum")]),
    ))
    .await
    .expect("quorum queue");
    expect_amqp(
        refused(ch3, "rpc-quorum".into(), "").await,
        406,
        "PRECONDITION_FAILED - Queue type rabbit_quorum_queue not valid for this exchange type",
    );
    let ch4 = within(conn.create_channel()).await.expect("channel");
    declare_exchange(&ch4, "onward", ExchangeKind::Fanout).await;
    expect_amqp(
        within(ch4.exchange_bind(
            "onward",
            "rpc",
            "",
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ))
        .await,
        406,
        "PRECONDITION_FAILED - Destination not found",
    );
}
