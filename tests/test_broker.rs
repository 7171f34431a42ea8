//! Warren as a test broker, end to end with lapin: reset, snapshots and waiting on state,
//! per-test vhosts, every kind of injected fault, simulated alarms, and a crash with
//! recovery. The HTTP side of the same features is in `test_control_api.rs`.

mod common;

use common::*;
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::time::{Duration, Instant};
use warren::broker::alarm::Resource;
use warren::testing::{Action, FaultPlan, Step, Target};

async fn connect_named(broker: &Broker, name: &str) -> Connection {
    within(Connection::connect(
        &broker.url(),
        ConnectionProperties::default().with_connection_name(name.into()),
    ))
    .await
    .expect("connect")
}

fn plan(name: &str, action: Action) -> FaultPlan {
    FaultPlan::new(Target::ConnectionName(name.into()), Step::now(action))
}

async fn queue_with(ch: &lapin::Channel, name: &str) {
    declare(ch, name, QueueDeclareOptions::default()).await;
}

#[tokio::test]
async fn reset_closes_connections_and_removes_everything_made_since_start() {
    let broker = Broker::builder()
        .user("admin", "secret")
        .vhost("kept")
        .start()
        .expect("broker starts");
    let conn = connect(&broker).await;
    let mut closed = watch_connection(&conn);
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "q1").await;
    within(ch.exchange_declare(
        "x1",
        lapin::ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("exchange");
    within(ch.queue_bind(
        "q1",
        "x1",
        "",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("bind");
    for _ in 0..5 {
        publish(&ch, "", "q1", b"m").await;
    }
    broker.isolated_vhost().expect("isolated vhost");
    assert_eq!(broker.snapshot().ready("q1"), 5);

    let started = Instant::now();
    broker.reset();
    let took = started.elapsed();
    assert_amqp(
        &closed.next().await,
        320,
        "CONNECTION_FORCED - broker forced connection closure with reason 'reset'",
    );
    let s = broker.snapshot();
    let names: Vec<&str> = s.vhosts.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        ["/", "kept"],
        "isolated vhosts are gone, the builder's stay"
    );
    let root = s.vhost("/").expect("vhost /");
    assert!(root.queues.is_empty() && root.exchanges.is_empty() && root.bindings.is_empty());
    assert!(s.connections.is_empty());
    assert!(took < Duration::from_secs(1), "reset took {took:?}");

    // The builder's user is still there; a new connection works on a clean "/".
    let url = format!("amqp://admin:secret@{}/kept", broker.addr());
    let admin = within(Connection::connect(&url, ConnectionProperties::default()))
        .await
        .expect("the builder's user logs in after reset");
    admin.close(200, "bye").await.expect("close");
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "q1").await;
    assert_eq!(broker.snapshot().ready("q1"), 0, "q1 starts empty again");
}

#[tokio::test]
async fn tests_wait_on_state_instead_of_sleeping() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "work").await;
    for _ in 0..3 {
        publish(&ch, "", "work", b"job").await;
    }
    let s = broker
        .wait_until(WAIT, |s| s.ready("work") == 3)
        .expect("three ready");
    assert_eq!(s.queue("work").map(|q| q.durable), Some(false));
    within(ch.basic_qos(10, BasicQosOptions::default()))
        .await
        .expect("qos");
    let _consumer = within(ch.basic_consume(
        "work",
        "c1",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("consume");
    let s = broker
        .wait_until(WAIT, |s| s.unacked("work") == 3 && s.ready("work") == 0)
        .expect("three unacked");
    let q = s.queue("work").expect("queue");
    assert_eq!(q.consumers.len(), 1);
    assert_eq!(
        (q.consumers[0].tag.as_str(), q.consumers[0].prefetch_count),
        ("c1", 10)
    );
    let missed = broker.wait_until(Duration::from_millis(50), |s| s.ready("work") == 99);
    assert_eq!(missed.expect_err("never 99").ready("work"), 0);
}

#[tokio::test]
async fn isolated_vhosts_keep_parallel_tests_apart() {
    let broker = broker();
    let a = broker.isolated_vhost().expect("vhost a");
    let b = broker.isolated_vhost().expect("vhost b");
    assert_ne!(a.vhost, b.vhost);
    let conn_a = within(Connection::connect(
        &a.url(broker.addr()),
        ConnectionProperties::default(),
    ))
    .await
    .expect("a's user connects to a");
    let ch = confirm_channel(&conn_a).await;
    queue_with(&ch, "shared-name").await;
    publish(&ch, "", "shared-name", b"a").await;
    assert_eq!(
        broker
            .snapshot()
            .queue_in(&a.vhost, "shared-name")
            .map(|q| q.messages_ready),
        Some(1)
    );
    assert!(
        broker
            .snapshot()
            .queue_in(&b.vhost, "shared-name")
            .is_none()
    );
    // a's user may not open b's vhost.
    let cross = format!(
        "amqp://{}:{}@{}/{}",
        a.user,
        a.password,
        broker.addr(),
        b.vhost
    );
    let refused = within(Connection::connect(&cross, ConnectionProperties::default())).await;
    assert!(refused.is_err(), "a's user is refused on b's vhost");
}

#[tokio::test]
async fn an_injected_connection_close_carries_the_code_and_text() {
    let broker = broker();
    let conn = connect_named(&broker, "orders").await;
    let mut closed = watch_connection(&conn);
    let bystander = connect_named(&broker, "other").await;
    broker.inject_fault(plan(
        "orders",
        Action::CloseConnection {
            code: 320,
            text: "maintenance".into(),
        },
    ));
    assert_amqp(&closed.next().await, 320, "CONNECTION_FORCED - maintenance");
    assert!(bystander.status().connected(), "other connections stay");
}

#[tokio::test]
async fn an_injected_channel_close_closes_only_that_channel() {
    let broker = broker();
    let conn = connect_named(&broker, "ch-close").await;
    let ch1 = conn.create_channel().await.expect("channel 1");
    let mut errors = watch_channel(&ch1);
    let ch2 = conn.create_channel().await.expect("channel 2");
    broker.inject_fault(plan(
        "ch-close",
        Action::CloseChannel {
            channel: Some(ch1.id()),
            code: 406,
            text: "boom".into(),
        },
    ));
    assert_amqp(&errors.next().await, 406, "PRECONDITION_FAILED - boom");
    queue_with(&ch2, "still-fine").await;
    assert!(conn.status().connected());
}

#[tokio::test]
async fn after_n_publishes_the_connection_is_dropped_and_the_n_messages_kept() {
    let broker = broker();
    let conn = connect_named(&broker, "dropper").await;
    let mut closed = watch_connection(&conn);
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "dq").await;
    broker.inject_fault(FaultPlan::new(
        Target::ConnectionName("dropper".into()),
        Step::after_publishes(3, Action::DropConnection),
    ));
    for _ in 0..3 {
        start_publish(&ch, "dq", b"x").await;
    }
    let e = closed.next().await;
    assert!(
        matches!(
            e,
            lapin::Error::IOError(_) | lapin::Error::InvalidConnectionState(_)
        ),
        "a dropped socket, not a close: {e:?}"
    );
    broker
        .wait_until(WAIT, |s| s.ready("dq") == 3 && s.connections.is_empty())
        .expect("the three messages are in, the connection gone");
}

#[tokio::test]
async fn confirms_can_be_withheld_nacked_or_delayed() {
    let broker = broker();
    let conn = connect_named(&broker, "confirmer").await;
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "cq").await;

    broker.inject_fault(plan(
        "confirmer",
        Action::WithholdConfirms { count: Some(1) },
    ));
    let withheld = start_publish(&ch, "cq", b"1").await;
    let next = start_publish(&ch, "cq", b"2").await;
    assert_eq!(
        within(next).await.expect("second confirm"),
        Confirmation::Ack(None)
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), withheld)
            .await
            .is_err(),
        "the first confirm never comes"
    );

    broker.inject_fault(plan("confirmer", Action::NackConfirms { count: Some(1) }));
    let nacked = start_publish(&ch, "cq", b"3").await;
    assert_eq!(
        within(nacked).await.expect("nack"),
        Confirmation::Nack(None)
    );
    let acked = start_publish(&ch, "cq", b"4").await;
    assert_eq!(within(acked).await.expect("ack"), Confirmation::Ack(None));

    broker.inject_fault(plan(
        "confirmer",
        Action::DelayConfirms {
            ms: 300,
            count: Some(1),
        },
    ));
    let started = Instant::now();
    let delayed = start_publish(&ch, "cq", b"5").await;
    assert_eq!(within(delayed).await.expect("ack"), Confirmation::Ack(None));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(broker.snapshot().ready("cq"), 5, "every message was routed");
}

#[tokio::test]
async fn publishes_and_declares_can_be_refused() {
    let broker = broker();
    let conn = connect_named(&broker, "refused").await;
    let mut conn_errors = watch_connection(&conn);
    let ch = conn.create_channel().await.expect("channel");
    let mut errors = watch_channel(&ch);
    queue_with(&ch, "rq").await;
    broker.inject_fault(plan(
        "refused",
        Action::RefusePublishes {
            count: 1,
            code: 403,
            text: "no publishing today".into(),
        },
    ));
    let _ = ch
        .basic_publish(
            "",
            "rq",
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        )
        .await;
    assert_amqp(
        &errors.next().await,
        403,
        "ACCESS_REFUSED - no publishing today",
    );
    assert_eq!(broker.snapshot().ready("rq"), 0);

    let ch = conn.create_channel().await.expect("channel");
    broker.inject_fault(plan(
        "refused",
        Action::FailQueueDeclare {
            count: 1,
            code: 541,
            text: "declare failed".into(),
        },
    ));
    let res =
        within(ch.queue_declare("rq2", QueueDeclareOptions::default(), FieldTable::default()))
            .await;
    if res.is_ok() {
        panic!("the declare after the plan must fail");
    }
    assert_amqp(
        &conn_errors.next().await,
        541,
        "INTERNAL_ERROR - declare failed",
    );
}

#[tokio::test]
async fn blocked_and_unblocked_can_be_sent_on_demand() {
    let broker = broker();
    let conn = connect_named(&broker, "blocky").await;
    broker.inject_fault(plan(
        "blocky",
        Action::Block {
            reason: "low on memory".into(),
        },
    ));
    eventually(|| conn.status().blocked().then_some(()));
    broker.inject_fault(plan("blocky", Action::Unblock));
    eventually(|| (!conn.status().blocked()).then_some(()));
}

#[tokio::test]
async fn stalls_and_delayed_deliveries_hold_traffic_back() {
    let broker = broker();
    let conn = connect_named(&broker, "slow").await;
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "sq").await;
    for (action, what) in [
        (Action::StallWrites { ms: 300 }, "writes"),
        (Action::StallReads { ms: 300 }, "reads"),
    ] {
        broker.inject_fault(plan("slow", action));
        let started = Instant::now();
        publish(&ch, "", "sq", b"x").await;
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "stalled {what}: confirmed after {:?}",
            started.elapsed()
        );
    }
    broker.inject_fault(plan(
        "slow",
        Action::DelayDeliveries {
            ms: 300,
            count: Some(1),
        },
    ));
    let started = Instant::now();
    let mut consumer = within(ch.basic_consume(
        "sq",
        "",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("consume");
    let first = within(consumer.next())
        .await
        .expect("a delivery")
        .expect("ok");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    first.ack(BasicAckOptions::default()).await.expect("ack");
}

#[tokio::test]
async fn a_plan_waits_for_its_connection_and_steps_run_in_order() {
    let broker = broker();
    broker.inject_fault(
        FaultPlan::new(
            Target::ConnectionName("later".into()),
            Step::after_publishes(2, Action::NackConfirms { count: Some(1) }),
        )
        .then(Step::after(
            Duration::from_millis(100),
            Action::CloseConnection {
                code: 320,
                text: "scripted".into(),
            },
        )),
    );
    assert_eq!(
        broker.core().fault_plans().len(),
        1,
        "waiting for the connection"
    );
    let conn = connect_named(&broker, "later").await;
    let mut closed = watch_connection(&conn);
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "lq").await;
    assert!(
        broker.core().fault_plans().is_empty(),
        "taken by the connection"
    );
    assert_eq!(publish(&ch, "", "lq", b"1").await, Confirmation::Ack(None));
    assert_eq!(publish(&ch, "", "lq", b"2").await, Confirmation::Ack(None));
    assert_eq!(publish(&ch, "", "lq", b"3").await, Confirmation::Nack(None));
    assert_amqp(&closed.next().await, 320, "CONNECTION_FORCED - scripted");
}

#[tokio::test]
async fn a_simulated_alarm_blocks_publishers_until_cleared() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "aq").await;
    broker.simulate_alarm(Resource::Memory, true);
    let confirm = start_publish(&ch, "aq", b"x").await;
    eventually(|| conn.status().blocked().then_some(()));
    assert!(
        broker
            .wait_until(Duration::from_millis(100), |s| s.ready("aq") == 1)
            .is_err(),
        "not read while the alarm is up"
    );
    broker.simulate_alarm(Resource::Memory, false);
    assert_eq!(
        within(confirm).await.expect("confirm"),
        Confirmation::Ack(None)
    );
    eventually(|| (!conn.status().blocked()).then_some(()));
}

#[tokio::test]
async fn clearing_faults_ends_those_in_force() {
    let broker = broker();
    let conn = connect_named(&broker, "cleared").await;
    let ch = confirm_channel(&conn).await;
    queue_with(&ch, "fq").await;
    broker.inject_fault(plan("cleared", Action::WithholdConfirms { count: None }));
    let held = start_publish(&ch, "fq", b"x").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), held)
            .await
            .is_err()
    );
    broker.clear_faults();
    assert_eq!(publish(&ch, "", "fq", b"y").await, Confirmation::Ack(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_recover_keeps_every_confirmed_persistent_message() {
    init_logs();
    let broker = Broker::builder()
        .temp_data_dir()
        .start()
        .expect("broker starts");
    let conn = connect(&broker).await;
    let mut closed = watch_connection(&conn);
    let ch = confirm_channel(&conn).await;
    declare_durable(&ch, "durable-q").await;
    queue_with(&ch, "transient-q").await;
    let persistent = BasicProperties::default().with_delivery_mode(2);
    for i in 0..10u8 {
        publish_with(
            &ch,
            "",
            "durable-q",
            &[i],
            BasicPublishOptions::default(),
            persistent.clone(),
        )
        .await;
    }
    publish(&ch, "", "transient-q", b"gone").await;
    // Two of them delivered and never acked.
    let consumer_ch = conn.create_channel().await.expect("channel");
    within(consumer_ch.basic_qos(2, BasicQosOptions::default()))
        .await
        .expect("qos");
    let _c = within(consumer_ch.basic_consume(
        "durable-q",
        "",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("consume");
    broker
        .wait_until(WAIT, |s| s.unacked("durable-q") == 2)
        .expect("two unacked");

    let b = &broker;
    tokio::task::block_in_place(|| b.crash_and_recover()).expect("recovers");
    let e = closed.next().await;
    assert!(
        !matches!(e, lapin::Error::ProtocolError(_)),
        "dropped without a close: {e:?}"
    );
    let s = broker.snapshot();
    assert_eq!(
        s.ready("durable-q"),
        10,
        "all ten back, the unacked ones too"
    );
    assert!(
        s.queue("transient-q").is_none(),
        "a transient queue does not survive"
    );
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.expect("channel");
    let bodies = drain(&ch, "durable-q").await;
    let mut sorted = bodies.clone();
    sorted.sort();
    assert_eq!(sorted, (0..10u8).map(|i| vec![i]).collect::<Vec<_>>());
}
