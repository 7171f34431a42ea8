//! `warren ctl`: the real binary driving an in-process broker's management API, checked by
//! what it prints and by what AMQP clients then feel.

mod common;

use common::{WAIT, eventually, management_broker as broker, runtime, within};
use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use std::process::{Command, Output};
use std::time::Duration;
use warren::Broker;

/// `warren ctl --url http://MANAGEMENT ARGS...`, with the environment's WARREN_* cleared.
fn ctl(b: &Broker, args: &[&str]) -> Output {
    let url = format!("http://{}", b.management_addr().expect("management on"));
    Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("ctl")
        .args(["--url", &url])
        .args(args)
        .env_remove("WARREN_URL")
        .env_remove("WARREN_USER")
        .env_remove("WARREN_PASSWORD")
        .output()
        .expect("warren ctl runs")
}

/// Runs a command that must succeed; its stdout.
#[track_caller]
fn ok(b: &Broker, args: &[&str]) -> String {
    let out = ctl(b, args);
    assert!(
        out.status.success(),
        "warren ctl {args:?} failed with {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs a command that must fail: its exit code and stderr.
#[track_caller]
fn fails(b: &Broker, args: &[&str]) -> (i32, String) {
    let out = ctl(b, args);
    assert!(!out.status.success(), "warren ctl {args:?} succeeded");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Publishes `n` messages to `queue` through the default exchange, each confirmed.
fn publish(url: &str, queue: &str, n: usize) {
    runtime().block_on(async {
        let conn = within(Connection::connect(url, ConnectionProperties::default()))
            .await
            .expect("connect");
        let ch = common::confirm_channel(&conn).await;
        for i in 0..n {
            common::publish(&ch, "", queue, format!("m{i}").as_bytes()).await;
        }
        conn.close(200, "done").await.expect("close");
    });
}

fn declare(url: &str, queue: &str, durable: bool) {
    runtime().block_on(async {
        let conn = within(Connection::connect(url, ConnectionProperties::default()))
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        let options = QueueDeclareOptions {
            durable,
            ..Default::default()
        };
        ch.queue_declare(queue, options, FieldTable::default())
            .await
            .expect("declare");
        conn.close(200, "done").await.expect("close");
    });
}

#[test]
fn a_user_made_with_ctl_logs_in_to_the_vhost_made_with_ctl() {
    let b = broker();
    assert_eq!(ok(&b, &["add_vhost", "v1"]), "Adding vhost \"v1\" ...\n");
    // rabbitmqctl's metadata options; the vhost list shows them.
    ok(
        &b,
        &[
            "add_vhost",
            "v2",
            "--description",
            "second",
            "--tags",
            "a,b",
            "--default-queue-type",
            "quorum",
        ],
    );
    let listed = ok(
        &b,
        &["list_vhosts", "name", "description", "default_queue_type"],
    );
    assert!(listed.contains("v2\tsecond\tquorum\n"), "{listed}");
    assert_eq!(
        ok(&b, &["add_user", "alice", "s3cret"]),
        "Adding user \"alice\" ...\n"
    );
    assert_eq!(
        ok(
            &b,
            &["set_permissions", "-p", "v1", "alice", ".*", ".*", ".*"]
        ),
        "Setting permissions for user \"alice\" in vhost \"v1\" ...\n"
    );
    ok(&b, &["set_user_tags", "alice", "monitoring", "policymaker"]);

    let perms = ok(&b, &["list_permissions", "-p", "v1"]);
    assert!(
        perms.starts_with(
            "Listing permissions for vhost \"v1\" ...\nuser\tconfigure\twrite\tread\n"
        ),
        "{perms}"
    );
    assert!(perms.contains("\nalice\t.*\t.*\t.*\n"), "{perms}");
    let users = ok(&b, &["-q", "list_users"]);
    assert!(users.starts_with("user\ttags\n"), "{users}");
    assert!(
        users.contains("alice\t[monitoring, policymaker]\n"),
        "{users}"
    );
    let vhosts = ok(&b, &["list_vhosts", "-q", "--no-table-headers"]);
    assert_eq!(vhosts, "/\nv1\nv2\n");

    // The new user logs in over AMQP to the new vhost and may declare there...
    let addr = b.addr();
    runtime().block_on(async {
        let url = format!("amqp://alice:s3cret@{addr}/v1");
        let conn = within(Connection::connect(&url, ConnectionProperties::default()))
            .await
            .expect("alice logs in to v1");
        let ch = conn.create_channel().await.expect("channel");
        ch.queue_declare(
            "alices",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("alice may configure in v1");
        conn.close(200, "bye").await.expect("close");
    });
    // ...and the management API with her tags and the password change_password gave.
    ok(&b, &["change_password", "alice", "n3w"]);
    let queues = ok(
        &b,
        &[
            "-u",
            "alice",
            "--password",
            "n3w",
            "-p",
            "v1",
            "-q",
            "list_queues",
        ],
    );
    assert_eq!(queues, "name\tmessages\nalices\t0\n");
    let (code, err) = fails(&b, &["-u", "alice", "--password", "s3cret", "list_users"]);
    assert_eq!(code, 77, "{err}");
    assert!(err.contains("Login failed"), "{err}");

    assert_eq!(
        ok(&b, &["delete_user", "alice"]),
        "Deleting user \"alice\" ...\n"
    );
    ok(&b, &["delete_vhost", "v1"]);
    ok(&b, &["delete_vhost", "v2"]);
    assert_eq!(ok(&b, &["-q", "list_vhosts", "--no-table-headers"]), "/\n");
}

#[test]
fn list_queues_prints_the_asked_columns_and_purge_empties_a_queue() {
    let b = broker();
    let url = b.url();
    declare(&url, "q1", false);
    declare(&url, "q2", true);
    publish(&url, "q1", 3);

    let out = ok(&b, &["list_queues"]);
    assert_eq!(
        out,
        "Timeout: 60.0 seconds ...\nListing queues for vhost / ...\nname\tmessages\nq1\t3\nq2\t0\n"
    );
    let out = ok(
        &b,
        &[
            "-q",
            "list_queues",
            "name",
            "messages",
            "messages_ready",
            "messages_unacknowledged",
            "durable",
            "auto_delete",
            "exclusive",
            "consumers",
            "arguments",
            "policy",
        ],
    );
    assert_eq!(
        out,
        "name\tmessages\tmessages_ready\tmessages_unacknowledged\tdurable\tauto_delete\texclusive\tconsumers\targuments\tpolicy\n\
         q1\t3\t3\t0\tfalse\tfalse\tfalse\t0\t[]\t\n\
         q2\t0\t0\t0\ttrue\tfalse\tfalse\t0\t[]\t\n"
    );
    assert_eq!(
        ok(
            &b,
            &["list_queues", "-q", "--no-table-headers", "name,messages"]
        ),
        "q1\t3\nq2\t0\n"
    );

    // JSON: the array alone on stdout, keys as asked.
    let out = ok(
        &b,
        &[
            "list_queues",
            "--formatter",
            "json",
            "name",
            "messages",
            "durable",
        ],
    );
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        rows,
        serde_json::json!([
            {"name": "q1", "messages": 3, "durable": false},
            {"name": "q2", "messages": 0, "durable": true},
        ])
    );

    assert_eq!(
        ok(&b, &["purge_queue", "q1"]),
        "Purging queue 'q1' in vhost '/' ...\n"
    );
    assert_eq!(
        ok(&b, &["-q", "--no-table-headers", "list_queues"]),
        "q1\t0\nq2\t0\n"
    );

    let (code, err) = fails(&b, &["purge_queue", "nope"]);
    assert_eq!(code, 69);
    assert!(
        err.contains("Queue 'nope' in vhost '/' does not exist"),
        "{err}"
    );
}

#[test]
fn exchanges_bindings_and_consumers_list_with_rabbitmqctl_columns() {
    let b = broker();
    let url = b.url();
    let rt = runtime();
    let _client = rt.block_on(async {
        let conn = within(Connection::connect(&url, ConnectionProperties::default()))
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        ch.exchange_declare(
            "events",
            lapin::ExchangeKind::Topic,
            Default::default(),
            FieldTable::default(),
        )
        .await
        .expect("exchange");
        ch.queue_declare(
            "audit",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue");
        ch.queue_bind(
            "audit",
            "events",
            "a.#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
        let consumer = ch
            .basic_consume(
                "audit",
                "auditor",
                Default::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        (conn, consumer)
    });
    let exchanges = ok(&b, &["-q", "list_exchanges", "name", "type", "durable"]);
    assert!(
        exchanges.starts_with("name\ttype\tdurable\n"),
        "{exchanges}"
    );
    assert!(
        exchanges.contains("\nevents\ttopic\tfalse\n"),
        "{exchanges}"
    );
    assert!(
        exchanges.contains("\namq.fanout\tfanout\ttrue\n"),
        "{exchanges}"
    );

    let bindings = ok(&b, &["list_bindings"]);
    assert!(
        bindings.starts_with(
            "Listing bindings for vhost /...\nsource_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments\n"
        ),
        "{bindings}"
    );
    assert!(
        bindings.contains("\n\texchange\taudit\tqueue\taudit\t[]\n"),
        "{bindings}"
    );
    assert!(
        bindings.contains("\nevents\texchange\taudit\tqueue\ta.#\t[]\n"),
        "{bindings}"
    );

    let consumers = ok(
        &b,
        &[
            "-q",
            "list_consumers",
            "queue_name",
            "consumer_tag",
            "ack_required",
            "prefetch_count",
        ],
    );
    assert_eq!(
        consumers,
        "queue_name\tconsumer_tag\tack_required\tprefetch_count\naudit\tauditor\ttrue\t0\n"
    );
}

#[test]
fn set_policy_trims_a_queue_and_clear_policy_removes_it() {
    let b = broker();
    let url = b.url();
    declare(&url, "lim-q", false);
    assert_eq!(
        ok(
            &b,
            &[
                "set_policy",
                "--apply-to",
                "queues",
                "--priority",
                "3",
                "cap",
                "^lim-",
                r#"{"max-length":2}"#
            ]
        ),
        "Setting policy \"cap\" for pattern \"^lim-\" to \"{\"max-length\":2}\" with priority \"3\" for vhost \"/\" ...\n"
    );
    assert_eq!(
        ok(&b, &["-q", "list_policies"]),
        "vhost\tname\tpattern\tapply-to\tdefinition\tpriority\n/\tcap\t^lim-\tqueues\t{\"max-length\":2}\t3\n"
    );
    publish(&url, "lim-q", 5);
    assert_eq!(
        ok(
            &b,
            &[
                "-q",
                "--no-table-headers",
                "list_queues",
                "name",
                "messages",
                "policy"
            ]
        ),
        "lim-q\t2\tcap\n"
    );
    assert_eq!(
        ok(&b, &["clear_policy", "cap"]),
        "Clearing policy \"cap\" on vhost \"/\" ...\n"
    );
    assert_eq!(ok(&b, &["-q", "list_policies"]), "");
    let (code, err) = fails(&b, &["set_policy", "bad", ".*", "{not json"]);
    assert_eq!(code, 65);
    assert!(err.contains("not JSON"), "{err}");
}

#[test]
fn close_connection_closes_a_client_connection() {
    let b = broker();
    let url = b.url();
    let rt = runtime();
    let conn = rt.block_on(async {
        within(Connection::connect(&url, ConnectionProperties::default()))
            .await
            .expect("connect")
    });
    let port = eventually(|| {
        let out = ok(&b, &["-q", "--no-table-headers", "list_connections"]);
        let row = out.lines().next()?.to_owned();
        let cells: Vec<&str> = row.split('\t').collect();
        assert_eq!(cells.len(), 4, "{row}");
        assert_eq!(
            (cells[0], cells[1], cells[3]),
            ("guest", "127.0.0.1", "running")
        );
        Some(cells[2].to_owned())
    });
    let out = ok(
        &b,
        &[
            "list_connections",
            "--formatter",
            "json",
            "name",
            "peer_port",
        ],
    );
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(rows[0]["peer_port"].to_string(), port);
    let name = rows[0]["name"].as_str().expect("name").to_owned();

    assert_eq!(
        ok(&b, &["close_connection", &name, "go away"]),
        format!("Closing connection \"{name}\", reason: go away...\n")
    );
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + WAIT;
        while conn.status().connected() {
            assert!(tokio::time::Instant::now() < deadline, "not closed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    eventually(|| ok(&b, &["-q", "list_connections"]).is_empty().then_some(()));
    let (code, err) = fails(&b, &["close_connection", &name, "again"]);
    assert_eq!(code, 69);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn definitions_exported_from_one_broker_import_into_another() {
    let a = broker();
    ok(&a, &["add_vhost", "shop"]);
    ok(&a, &["add_user", "bob", "pw"]);
    ok(
        &a,
        &["set_permissions", "-p", "shop", "bob", "^bob-", ".*", ".*"],
    );
    declare(&a.url(), "orders", true);
    let dir = std::env::temp_dir().join(format!("warren-ctl-defs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("defs.json");
    let file = file.to_str().expect("utf-8 path");
    assert_eq!(
        ok(&a, &["export_definitions", file]),
        format!("Exporting definitions in JSON to a file at \"{file}\" ...\n")
    );
    // "-" is stdout, the JSON alone.
    let stdout = ok(&a, &["export_definitions", "-"]);
    let defs: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert!(
        defs["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .any(|q| q["name"] == "orders")
    );

    let b = broker();
    assert_eq!(
        ok(&b, &["import_definitions", file]),
        format!("Importing definitions in JSON from a file at \"{file}\" ...\n")
    );
    assert_eq!(
        ok(&b, &["-q", "--no-table-headers", "list_queues"]),
        "orders\t0\n"
    );
    assert_eq!(
        ok(&b, &["-q", "--no-table-headers", "list_vhosts"]),
        "/\nshop\n"
    );
    let perms = ok(&b, &["-q", "list_permissions", "-p", "shop"]);
    assert!(perms.contains("bob\t^bob-\t.*\t.*\n"), "{perms}");
    let _ = std::fs::remove_dir_all(&dir);

    let bad = dir.with_extension("bad.json");
    std::fs::write(&bad, "{oops").expect("write");
    let (code, err) = fails(&b, &["import_definitions", bad.to_str().expect("path")]);
    assert_eq!(code, 65, "{err}");
    let _ = std::fs::remove_file(&bad);
}

#[test]
fn errors_exit_non_zero_with_the_reason() {
    let b = broker();
    let (code, err) = fails(&b, &["list_queues", "-p", "nosuch"]);
    assert_eq!(code, 69);
    assert!(
        err.contains("Virtual host \"nosuch\" does not exist"),
        "{err}"
    );
    // The API's own reason when it refuses.
    let (code, err) = fails(
        &b,
        &["set_permissions", "-p", "nosuch", "guest", ".*", ".*", ".*"],
    );
    assert_eq!(code, 65);
    assert!(err.contains("vhost_or_user_not_found"), "{err}");
    let (code, err) = fails(&b, &["delete_user", "nobody"]);
    assert_eq!(code, 67);
    assert!(err.contains("User \"nobody\" does not exist"), "{err}");
    let (code, err) = fails(&b, &["list_queues", "name", "colour"]);
    assert_eq!(code, 64);
    assert!(
        err.contains("Info key(s) colour are not supported"),
        "{err}"
    );
    let (code, _) = fails(&b, &["no_such_command"]);
    assert_eq!(code, 64);

    // Nothing listening: unreachable is 69, like rabbitmqctl with its node down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "ctl",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "list_users",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the management API"));
}

#[test]
fn status_and_environment_settings() {
    let b = broker();
    let out = ok(&b, &["status"]);
    assert!(out.starts_with("Status of node rabbit@"), "{out}");
    assert!(out.contains("\nWarren version: "), "{out}");
    assert!(
        out.contains(&format!("port: {}, protocol: amqp", b.addr().port())),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&b, &["status", "--formatter", "json"])).expect("JSON");
    assert_eq!(json["product_name"], "Warren");

    // WARREN_URL, WARREN_USER and WARREN_PASSWORD stand for the flags.
    let url = format!("http://{}", b.management_addr().expect("management"));
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["ctl", "-q", "list_users"])
        .env("WARREN_URL", &url)
        .env("WARREN_USER", "guest")
        .env("WARREN_PASSWORD", "wrong")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(77));
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["ctl", "-q", "list_users"])
        .env("WARREN_URL", &url)
        .env("WARREN_PASSWORD", "guest")
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "user\ttags\nguest\t[administrator]\n"
    );
}

/// `warren` without a subcommand is still the broker: its flags parse, and mixing them with
/// `ctl` is refused.
#[test]
fn broker_flags_are_unchanged_beside_ctl() {
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--listen", "127.0.0.1:0", "--in-memory", "ctl", "status"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        help.contains("--listen <ADDR:PORT>") && help.contains("ctl"),
        "{help}"
    );
}

#[test]
fn test_broker_commands_reset_snapshot_and_inject_faults() {
    let b = broker();
    let rt = runtime();
    let conn = rt.block_on(common::connect(&b));
    let ch = rt.block_on(common::confirm_channel(&conn));
    rt.block_on(common::declare(
        &ch,
        "ctl-q",
        QueueDeclareOptions::default(),
    ));
    let snapshot: serde_json::Value =
        serde_json::from_str(&ok(&b, &["snapshot"])).expect("snapshot is JSON");
    assert_eq!(snapshot["vhosts"][0]["queues"][0]["name"], "ctl-q");

    let made: serde_json::Value = serde_json::from_str(&ok(
        &b,
        &[
            "-q",
            "inject_fault",
            r#"{"target":"all","steps":[{"action":"nack_confirms","count":1}]}"#,
        ],
    ))
    .expect("the plan's id as JSON");
    assert!(made["id"].is_u64());
    assert_eq!(
        rt.block_on(common::publish(&ch, "", "ctl-q", b"x")),
        lapin::publisher_confirm::Confirmation::Nack(None)
    );
    let (code, err) = fails(&b, &["inject_fault", "{not json"]);
    assert_eq!(code, 65, "{err}");

    ok(&b, &["simulate_alarm", "memory", "on"]);
    assert!(b.core().alarms().any());
    ok(&b, &["simulate_alarm", "memory", "off"]);
    assert!(!b.core().alarms().any());

    let iso: serde_json::Value = serde_json::from_str(&ok(&b, &["isolated_vhost"])).expect("JSON");
    assert!(
        iso["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("amqp://"))
    );

    ok(&b, &["reset"]);
    eventually(|| (!conn.status().connected()).then_some(()));
    assert!(b.snapshot().vhost("/").is_some_and(|v| v.queues.is_empty()));
    assert_eq!(b.snapshot().vhosts.len(), 1, "the isolated vhost is gone");
}

/// `trace_on` and `trace_off` print what rabbitmqctl 3.10.8 prints and switch the vhost's
/// firehose tracer, which `GET /api/vhosts/{vhost}` shows as `tracing`; the vhost keeps its
/// description. As with rabbitmqctl, a vhost that does not exist is no error (nor made). A
/// `tracing` that is not a boolean is refused as RabbitMQ refuses it.
#[test]
fn trace_on_and_off_switch_the_firehose_tracer() {
    let b = broker();
    let vhost = b.core().vhost("/").expect("vhost /");
    let description = vhost.metadata().description;
    assert!(!vhost.tracing());
    assert_eq!(
        ok(&b, &["trace_on"]),
        "Starting tracing for vhost \"/\" ...\nTrace enabled for vhost /\n"
    );
    assert!(vhost.tracing());
    assert_eq!(vhost.metadata().description, description);
    let host = b.management_addr().expect("management on").to_string();
    let auth = "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n";
    let (_, shown) = common::http_request(&host, "GET", "/api/vhosts/%2F", auth, "");
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(shown["tracing"], true);
    assert_eq!(
        ok(&b, &["trace_off"]),
        "Stopping tracing for vhost \"/\" ...\nTrace disabled for vhost /\n"
    );
    assert!(!vhost.tracing());

    assert_eq!(
        ok(&b, &["-p", "nosuch", "trace_on"]),
        "Starting tracing for vhost \"nosuch\" ...\nTrace enabled for vhost nosuch\n"
    );
    assert!(b.core().vhost("nosuch").is_none());

    let json = format!("{auth}Content-Type: application/json\r\n");
    let (head, body) =
        common::http_request(&host, "PUT", "/api/vhosts/%2F", &json, r#"{"tracing":5}"#);
    assert_eq!(common::http_status(&head), 400);
    assert_eq!(
        body,
        r#"{"error":"bad_request","reason":["not_boolean",5]}"#
    );
    let (head, _) = common::http_request(
        &host,
        "PUT",
        "/api/vhosts/%2F",
        &json,
        r#"{"tracing":"true"}"#,
    );
    assert_eq!(common::http_status(&head), 204);
    assert!(vhost.tracing());
}
