//! Users, vhosts and permissions with RabbitMQ's codes and texts (observed on RabbitMQ
//! 3.10.8 on this machine, see each test): logging in, vhost access and isolation, the
//! configure / write / read checks of each method, topic permissions, a definitions import,
//! and the model surviving a restart.

mod common;

use common::*;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::net::SocketAddr;

fn url(addr: SocketAddr, user: &str, password: &str, vhost: &str) -> String {
    let vhost = vhost.replace('%', "%25").replace('/', "%2f");
    format!("amqp://{user}:{password}@{addr}/{vhost}")
}

async fn login(
    addr: SocketAddr,
    user: &str,
    password: &str,
    vhost: &str,
) -> lapin::Result<Connection> {
    within(Connection::connect(
        &url(addr, user, password, vhost),
        ConnectionProperties::default(),
    ))
    .await
}

fn definitions() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/definitions.json"
    ))
    .expect("fixture")
}

#[tokio::test]
async fn logging_in_and_opening_a_vhost_as_rabbitmq_answers() {
    let broker = broker();
    let core = broker.core();
    core.add_vhost("v").unwrap();
    core.add_admin("admin", "s3cret");
    core.access().put_user(
        "idle",
        warren::broker::access::password::PasswordHash::new("pw"),
        vec![],
    );
    let addr = broker.addr();
    assert!(login(addr, "admin", "s3cret", "v").await.is_ok());
    // A wrong password and an unknown user are refused alike.
    for (user, password) in [("admin", "wrong"), ("nobody", "s3cret")] {
        let err = login(addr, user, password, "/").await.unwrap_err();
        assert_amqp(
            &err,
            403,
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
        );
    }
    // No permissions on the vhost: refused at connection.open.
    let err = login(addr, "idle", "pw", "/").await.unwrap_err();
    assert_amqp(
        &err,
        530,
        "NOT_ALLOWED - access to vhost '/' refused for user 'idle'",
    );
    let err = login(addr, "admin", "s3cret", "nope").await.unwrap_err();
    assert_amqp(&err, 530, "NOT_ALLOWED - vhost nope not found");
}

#[tokio::test]
async fn vhosts_are_isolated() {
    let broker = broker();
    broker.core().add_vhost("a").unwrap();
    broker.core().add_vhost("b").unwrap();
    broker.core().add_admin("u", "p");
    let a = login(broker.addr(), "u", "p", "a").await.unwrap();
    let b = login(broker.addr(), "u", "p", "b").await.unwrap();
    let cha = confirm_channel(&a).await;
    declare_with(&cha, "q", FieldTable::default()).await;
    publish(&cha, "", "q", b"in a").await;
    let chb = within(b.create_channel()).await.unwrap();
    let res = within(chb.queue_declare(
        "q",
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res.map(|_| ()),
        404,
        "NOT_FOUND - no queue 'q' in vhost 'b'",
    );
    // Each vhost has its own amq.* exchanges.
    let chb = confirm_channel(&b).await;
    declare_with(&chb, "q", FieldTable::default()).await;
    publish(&chb, "amq.fanout", "", b"x").await;
    assert_eq!(drain_strings(&cha, "q").await, ["in a"]);
}

#[tokio::test]
async fn each_method_checks_its_permission() {
    let broker = broker();
    let core = broker.core();
    let imported = core.import_definitions(&definitions()).expect("valid JSON");
    assert_eq!(
        (
            imported.users,
            imported.queues,
            imported.exchanges,
            imported.bindings
        ),
        (1, 1, 1, 1)
    );
    assert!(
        imported
            .skipped
            .iter()
            .any(|s| s.contains("global_parameters")),
        "{:?}",
        imported.skipped
    );
    // The password was never seen: the hash came from the definitions.
    let conn = login(broker.addr(), "app", "test12", "prod")
        .await
        .expect("app logs in");
    // RabbitMQ 4.3's texts, which name the kind of access (3.10's did not).
    let refused = |what: &str, kind: &str, name: &str| {
        format!(
            "ACCESS_REFUSED - {what} access to {kind} '{name}' in vhost 'prod' refused for user 'app'"
        )
    };
    // configure
    let ch = within(conn.create_channel()).await.unwrap();
    let res = within(ch.queue_declare(
        "other",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res.map(|_| ()),
        403,
        &refused("configure", "queue", "other"),
    );
    // A server-named queue is checked under its generated name, which "^app\." refuses.
    let ch = within(conn.create_channel()).await.unwrap();
    let res =
        within(ch.queue_declare("", QueueDeclareOptions::default(), FieldTable::default())).await;
    assert!(matches!(res, Err(lapin::Error::ProtocolError(ref e)) if e.get_id() == 403));
    // A passive declare needs any permission on the queue (RabbitMQ 4.3; 3.10 asked none).
    let ch = within(conn.create_channel()).await.unwrap();
    passive_counts(&ch, "app.orders").await;
    let ch = within(conn.create_channel()).await.unwrap();
    let res = within(ch.queue_declare(
        "zzz",
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res.map(|_| ()), 403, &refused("configure", "queue", "zzz"));
    // write: the default exchange is amq.default, allowed; amq.direct is not.
    publish(&confirm_channel(&conn).await, "", "app.orders", b"ok").await;
    let ch = within(conn.create_channel()).await.unwrap();
    let mut errors = watch_channel(&ch);
    let _ = within(ch.basic_publish(
        "amq.direct",
        "k",
        BasicPublishOptions::default(),
        b"x",
        BasicProperties::default(),
    ))
    .await;
    assert_amqp(
        &errors.next().await,
        403,
        &refused("write", "exchange", "amq.direct"),
    );
    // read: consume and get on a queue the pattern allows, not on another.
    let ch = within(conn.create_channel()).await.unwrap();
    assert_eq!(drain_strings(&ch, "app.orders").await, ["ok"]);
    let admin = connect(&broker).await;
    let ach = within(admin.create_channel()).await.unwrap();
    core.add_admin("root", "pw");
    drop(ach);
    let root = login(broker.addr(), "root", "pw", "prod").await.unwrap();
    let rch = within(root.create_channel()).await.unwrap();
    declare_with(&rch, "private", FieldTable::default()).await;
    let ch = within(conn.create_channel()).await.unwrap();
    let res = within(ch.basic_get("private", BasicGetOptions::default())).await;
    expect_amqp(res.map(|_| ()), 403, &refused("read", "queue", "private"));
    // bind: write on the queue, read on the exchange.
    let ch = within(conn.create_channel()).await.unwrap();
    let res = within(ch.queue_bind(
        "app.orders",
        "amq.fanout",
        "",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 403, &refused("read", "exchange", "amq.fanout"));
    // topic permissions: routing keys must start with the user's name on amq.topic.
    let ch = confirm_channel(&conn).await;
    publish(&ch, "amq.topic", "app.created", b"fine").await;
    let mut errors = watch_channel(&ch);
    let _ = within(ch.basic_publish(
        "amq.topic",
        "other.created",
        BasicPublishOptions::default(),
        b"x",
        BasicProperties::default(),
    ))
    .await;
    assert_amqp(
        &errors.next().await,
        403,
        "ACCESS_REFUSED - write access to topic 'other.created' in exchange 'amq.topic' in vhost 'prod' refused for user 'app'",
    );
}

#[tokio::test]
async fn users_vhosts_and_permissions_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("warren-access-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let broker = Broker::start_in(&dir).expect("broker");
        broker.core().import_definitions(&definitions()).unwrap();
        // A vhost with 4.x metadata, as RabbitMQ 4.3 exports it.
        let extra = br#"{"vhosts": [{"name": "extra", "limits": {}, "metadata":
            {"description": "kept", "tags": ["t1", "t2"], "default_queue_type": "quorum"}}]}"#;
        broker.core().import_definitions(extra).unwrap();
        broker.core().add_admin("ops", "pw");
        let conn = login(broker.addr(), "app", "test12", "prod").await.unwrap();
        let _ = conn.close(200, "bye").await;
        broker.shutdown();
    }
    let broker = Broker::start_in(&dir).expect("broker restarts");
    let conn = login(broker.addr(), "app", "test12", "prod")
        .await
        .expect("app still logs in");
    let ch = within(conn.create_channel()).await.unwrap();
    // The durable queue of the import survived in its vhost.
    assert_eq!(passive_counts(&ch, "app.orders").await.0, 0);
    assert!(login(broker.addr(), "ops", "pw", "extra").await.is_ok());
    assert!(login(broker.addr(), "guest", "guest", "/").await.is_ok());
    let meta = broker.core().vhost("extra").expect("extra").metadata();
    assert_eq!(meta.description, "kept");
    assert_eq!(meta.tags, ["t1", "t2"]);
    assert_eq!(meta.queue_type().as_str(), "quorum");
    let root = broker.core().vhost("/").expect("/").metadata();
    assert_eq!(root.description, "Default virtual host");
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Permissions cleared while a client is connected apply to its next method, even one it
/// used before (observed on RabbitMQ 3.10.8: its permission caches are flushed).
#[tokio::test]
async fn revoked_permissions_apply_to_the_next_method() {
    let broker = broker();
    broker.core().add_admin("u", "p");
    let conn = login(broker.addr(), "u", "p", "/").await.unwrap();
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "q", FieldTable::default()).await;
    publish(&ch, "", "q", b"before").await;
    broker.core().access().set_permissions(
        "u",
        "/",
        warren::broker::access::Permissions::new("", "", "").unwrap(),
    );
    let mut errors = watch_channel(&ch);
    let _ = within(ch.basic_publish(
        "",
        "q",
        BasicPublishOptions::default(),
        b"after",
        BasicProperties::default(),
    ))
    .await;
    assert_amqp(
        &errors.next().await,
        403,
        "ACCESS_REFUSED - write access to exchange 'amq.default' in vhost '/' refused for user 'u'",
    );
}

/// A file exported by `rabbitmqctl export_definitions` from RabbitMQ 3.10.8 on this machine:
/// its users log in with the passwords they had there, and its topology is declared.
#[tokio::test]
async fn a_rabbitmq_export_imports_and_its_users_log_in() {
    let broker = broker();
    let export = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rabbitmq-3.10.8-export.json"
    ))
    .unwrap();
    let done = broker
        .core()
        .import_definitions(&export)
        .expect("valid JSON");
    assert_eq!(
        (
            done.users,
            done.vhosts,
            done.queues,
            done.exchanges,
            done.bindings
        ),
        (4, 2, 4, 4, 4),
        "{:?}",
        done.skipped
    );
    for (user, password) in [
        ("def_admin", "adminpw"),
        ("def_app", "app-secret"),
        ("guest", "guest"),
    ] {
        let conn = login(broker.addr(), user, password, "defs_v").await;
        assert!(conn.is_ok(), "{user} logs in: {conn:?}");
    }
    // A user whose password was cleared cannot log in with one.
    assert!(
        login(broker.addr(), "def_nopw", "", "defs_v")
            .await
            .is_err()
    );
    let conn = login(broker.addr(), "def_admin", "adminpw", "defs_v")
        .await
        .unwrap();
    let ch = within(conn.create_channel()).await.unwrap();
    assert_eq!(passive_counts(&ch, "app.orders").await, (0, 0));
}

/// Deleting a vhost or a user closes their connections with RabbitMQ's 320 texts (observed
/// on RabbitMQ 3.10.8).
#[tokio::test]
async fn deleting_a_vhost_or_a_user_closes_their_connections() {
    let broker = broker();
    let core = broker.core();
    core.add_vhost("doomed").unwrap();
    core.add_admin("u", "p");
    core.add_admin("leaving", "p");
    let on_vhost = login(broker.addr(), "u", "p", "doomed").await.unwrap();
    let by_user = login(broker.addr(), "leaving", "p", "/").await.unwrap();
    let mut vhost_errors = watch_connection(&on_vhost);
    let mut user_errors = watch_connection(&by_user);
    assert!(core.delete_vhost("doomed"));
    assert_amqp(
        &vhost_errors.next().await,
        320,
        "CONNECTION_FORCED - vhost 'doomed' is deleted",
    );
    assert!(core.delete_user("leaving"));
    assert_amqp(
        &user_errors.next().await,
        320,
        "CONNECTION_FORCED - user 'leaving' is deleted",
    );
    let err = login(broker.addr(), "u", "p", "doomed").await.unwrap_err();
    assert_amqp(&err, 530, "NOT_ALLOWED - vhost doomed not found");
}

/// Connection and queue limits per vhost and connection limits per user, with RabbitMQ's
/// texts (observed on RabbitMQ 3.10.8), set from definitions as RabbitMQ exports them.
#[tokio::test]
async fn vhost_and_user_limits_refuse_as_rabbitmq_does() {
    let broker = broker();
    let core = broker.core();
    let defs = br#"{
        "users": [{"name": "lu", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [],
                   "limits": {"max-connections": 1}}],
        "vhosts": [{"name": "lim", "limits": [["max-connections", 2], ["max-queues", 1]]}],
        "permissions": [{"user": "lu", "vhost": "lim", "configure": ".*", "write": ".*", "read": ".*"},
                        {"user": "guest", "vhost": "lim", "configure": ".*", "write": ".*", "read": ".*"}]
    }"#;
    core.import_definitions(defs).unwrap();
    let first = login(broker.addr(), "lu", "test12", "lim").await.unwrap();
    let err = login(broker.addr(), "lu", "test12", "lim")
        .await
        .unwrap_err();
    assert_amqp(
        &err,
        530,
        "NOT_ALLOWED - connection refused for user 'lu': user connection limit (1) is reached",
    );
    let _second = login(broker.addr(), "guest", "guest", "lim").await.unwrap();
    let err = login(broker.addr(), "guest", "guest", "lim")
        .await
        .unwrap_err();
    assert_amqp(
        &err,
        530,
        "NOT_ALLOWED - access to vhost 'lim' refused for user 'guest': connection limit (2) is reached",
    );
    let ch = within(first.create_channel()).await.unwrap();
    declare_with(&ch, "one", FieldTable::default()).await;
    declare_with(&ch, "one", FieldTable::default()).await;
    let res =
        within(ch.queue_declare("two", QueueDeclareOptions::default(), FieldTable::default()))
            .await;
    expect_amqp(
        res.map(|_| ()),
        406,
        "PRECONDITION_FAILED - cannot declare queue 'two': queue limit in vhost 'lim' (1) is reached",
    );
}

/// `--connection-max` (RabbitMQ's `connection_max`): past it connection.open is refused
/// with 530 and the text of `rabbit_reader:is_over_node_connection_limit/1`; a closed
/// connection frees its place.
#[tokio::test]
async fn the_node_connection_limit_refuses_as_rabbitmq_does() {
    let broker = broker();
    broker.core().set_connection_max(Some(2));
    let a = login(broker.addr(), "guest", "guest", "/").await.unwrap();
    let _b = login(broker.addr(), "guest", "guest", "/").await.unwrap();
    let err = login(broker.addr(), "guest", "guest", "/")
        .await
        .unwrap_err();
    assert_amqp(
        &err,
        530,
        "NOT_ALLOWED - connection refused: node connection limit (2) is reached",
    );
    within(a.close(200, "bye")).await.unwrap();
    // The closed connection leaves the count once its task has ended: bounded retries.
    let mut again = None;
    for _ in 0..250 {
        if let Ok(c) = login(broker.addr(), "guest", "guest", "/").await {
            again = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a closed connection frees its place");
}

/// The user limit max-channels counts channels open on all of the user's connections, and
/// one more is refused with connection.close 530 and RabbitMQ's text, class and method 0
/// (observed on RabbitMQ 3.10.8 with `set_user_limits u '{"max-channels": 2}'`: two channels
/// on one connection, the first on another refused). A closed channel frees its place; the
/// limit is kept in access.json and holds after a restart.
#[tokio::test]
async fn the_max_channels_user_limit_refuses_as_rabbitmq_does_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("warren-max-channels-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let defs = br#"{
        "users": [{"name": "cu", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [],
                   "limits": {"max-channels": 2}}],
        "permissions": [{"user": "cu", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
    }"#;
    let text = "NOT_ALLOWED - number of channels opened for user 'cu' has reached the maximum allowed user limit of (2)";
    {
        let broker = Broker::start_in(&dir).expect("broker");
        broker.core().import_definitions(defs).unwrap();
        let a = login(broker.addr(), "cu", "test12", "/").await.unwrap();
        let first = within(a.create_channel()).await.unwrap();
        let _second = within(a.create_channel()).await.unwrap();
        let b = login(broker.addr(), "cu", "test12", "/").await.unwrap();
        let mut closed = watch_connection(&b);
        let _ = within(b.create_channel()).await;
        assert_amqp(&closed.next().await, 530, text);
        // Another user is not counted against cu.
        let g = connect(&broker).await;
        let mut kept = Vec::new();
        for _ in 0..3 {
            kept.push(within(g.create_channel()).await.unwrap());
        }
        within(first.close(200, "bye")).await.unwrap();
        let c = login(broker.addr(), "cu", "test12", "/").await.unwrap();
        within(c.create_channel())
            .await
            .expect("a closed channel frees its place");
        broker.shutdown();
    }
    let saved = std::fs::read_to_string(dir.join("access.json")).unwrap();
    assert!(saved.contains("\"max-channels\": 2"), "{saved}");
    let broker = Broker::start_in(&dir).expect("broker restarts");
    let a = login(broker.addr(), "cu", "test12", "/").await.unwrap();
    let mut closed = watch_connection(&a);
    // lapin closes a channel whose last handle is dropped: keep them.
    let _kept = (
        within(a.create_channel()).await.unwrap(),
        within(a.create_channel()).await.unwrap(),
    );
    let _ = within(a.create_channel()).await;
    assert_amqp(&closed.next().await, 530, text);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
