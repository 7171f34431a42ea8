//! The test-broker control API over HTTP (`/api/warren/` on the management listener), as a
//! Python, Node or Java test suite uses it: reset, snapshot, wait, isolated vhosts, fault
//! plans, simulated alarms and the crash, with lapin on the AMQP side.

mod common;

use common::*;
use lapin::options::*;
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};

const ADMIN: &str = "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n"; // guest:guest

fn call(b: &Broker, method: &str, path: &str, body: Value) -> (u16, Value) {
    let host = b.management_addr().expect("management").to_string();
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let headers = format!("{ADMIN}Content-Type: application/json\r\n");
    let (head, text) = http_request(&host, method, path, &headers, &body);
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (http_status(&head), json)
}

#[test]
fn the_control_api_needs_an_administrator() {
    let b = management_broker();
    let host = b.management_addr().expect("management").to_string();
    let (head, _) = http_request(&host, "POST", "/api/warren/reset", "", "");
    assert_eq!(http_status(&head), 401);
    b.core().access().put_user(
        "watcher",
        warren::broker::access::password::PasswordHash::new("pw"),
        vec!["monitoring".into()],
    );
    // watcher:pw
    let (head, _) = http_request(
        &host,
        "GET",
        "/api/warren/snapshot",
        "Authorization: Basic d2F0Y2hlcjpwdw==\r\n",
        "",
    );
    assert_eq!(http_status(&head), 401);
}

#[test]
fn reset_snapshot_and_wait_over_http() {
    let b = management_broker();
    let rt = runtime();
    let conn = rt.block_on(connect(&b));
    let ch = rt.block_on(confirm_channel(&conn));
    rt.block_on(declare(&ch, "jobs", QueueDeclareOptions::default()));
    for _ in 0..2 {
        rt.block_on(publish(&ch, "", "jobs", b"j"));
    }
    let (status, s) = call(
        &b,
        "POST",
        "/api/warren/wait",
        json!({"queue": "jobs", "messages_ready": 2, "timeout_ms": 5000}),
    );
    assert_eq!(status, 200, "{s}");
    let jobs = s["vhosts"][0]["queues"]
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["name"] == "jobs"))
        .cloned()
        .expect("jobs in the snapshot");
    assert_eq!(jobs["messages_ready"], 2);
    assert_eq!(s["connections"].as_array().map(Vec::len), Some(1));

    let (status, timed_out) = call(
        &b,
        "POST",
        "/api/warren/wait",
        json!({"queue": "jobs", "messages_ready": 7, "timeout_ms": 50}),
    );
    assert_eq!(status, 408);
    assert_eq!(timed_out["error"], "timeout");
    let (status, refused) = call(&b, "POST", "/api/warren/wait", json!({"queues": "typo"}));
    assert_eq!(status, 400, "{refused}");

    let (status, _) = call(&b, "POST", "/api/warren/reset", Value::Null);
    assert_eq!(status, 204);
    let (_, s) = call(&b, "GET", "/api/warren/snapshot", Value::Null);
    assert_eq!(s["vhosts"][0]["queues"], json!([]));
    assert_eq!(s["connections"], json!([]));
    eventually(|| (!conn.status().connected()).then_some(()));
}

#[test]
fn an_isolated_vhost_comes_with_a_url_that_works() {
    let b = management_broker();
    let (status, iso) = call(&b, "POST", "/api/warren/isolated-vhosts", Value::Null);
    assert_eq!(status, 201, "{iso}");
    let url = iso["url"].as_str().expect("url").to_owned();
    let rt = runtime();
    let conn = rt
        .block_on(Connection::connect(&url, ConnectionProperties::default()))
        .expect("the isolated user connects");
    let ch = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(declare(&ch, "mine", QueueDeclareOptions::default()));
    let vhost = iso["vhost"].as_str().expect("vhost");
    assert!(b.snapshot().queue_in(vhost, "mine").is_some());
}

#[test]
fn faults_are_injected_listed_and_cleared_over_http() {
    let b = management_broker();
    let rt = runtime();
    let conn = rt
        .block_on(Connection::connect(
            &b.url(),
            ConnectionProperties::default().with_connection_name("http-target".into()),
        ))
        .expect("connect");
    let ch = rt.block_on(confirm_channel(&conn));
    rt.block_on(declare(&ch, "q", QueueDeclareOptions::default()));

    let (status, made) = call(
        &b,
        "POST",
        "/api/warren/faults",
        json!({"target": {"connection_name": "http-target"},
               "steps": [{"action": "nack_confirms", "count": 1}]}),
    );
    assert_eq!(status, 201, "{made}");
    assert!(made["id"].as_u64().is_some());
    assert_eq!(
        rt.block_on(publish(&ch, "", "q", b"x")),
        Confirmation::Nack(None)
    );
    assert_eq!(
        rt.block_on(publish(&ch, "", "q", b"y")),
        Confirmation::Ack(None)
    );

    // A persistent plan for connections to come is listed until cleared.
    let (status, _) = call(
        &b,
        "POST",
        "/api/warren/faults",
        json!({"target": {"user": "nobody"}, "persistent": true,
               "steps": [{"after_ms": 10, "action": "drop_connection"}]}),
    );
    assert_eq!(status, 201);
    let (_, list) = call(&b, "GET", "/api/warren/faults", Value::Null);
    assert_eq!(list[0]["target"], json!({"user": "nobody"}));
    assert_eq!(list[0]["steps"][0]["action"], "drop_connection");
    let (status, _) = call(&b, "DELETE", "/api/warren/faults", Value::Null);
    assert_eq!(status, 204);
    let (_, list) = call(&b, "GET", "/api/warren/faults", Value::Null);
    assert_eq!(list, json!([]));

    let (status, bad) = call(
        &b,
        "POST",
        "/api/warren/faults",
        json!({"target": "all", "steps": [{"action": "explode"}]}),
    );
    assert_eq!(status, 400);
    assert!(
        bad["reason"]
            .as_str()
            .is_some_and(|r| r.contains("explode")),
        "{bad}"
    );

    // A simulated alarm blocks the publisher until it is cleared.
    let (status, _) = call(
        &b,
        "PUT",
        "/api/warren/alarms/memory",
        json!({"raised": true}),
    );
    assert_eq!(status, 204);
    let confirm = rt
        .block_on(ch.basic_publish(
            "",
            "q",
            BasicPublishOptions::default(),
            b"z",
            BasicProperties::default(),
        ))
        .expect("sent");
    eventually(|| conn.status().blocked().then_some(()));
    let (status, _) = call(
        &b,
        "PUT",
        "/api/warren/alarms/memory",
        json!({"raised": false}),
    );
    assert_eq!(status, 204);
    assert_eq!(
        rt.block_on(within(confirm)).expect("confirmed"),
        Confirmation::Ack(None)
    );
    let (status, _) = call(&b, "PUT", "/api/warren/alarms/cpu", json!({"raised": true}));
    assert_eq!(status, 404);
}

#[test]
fn a_crash_over_http_drops_connections_and_keeps_durable_messages() {
    init_logs();
    let b = Broker::builder()
        .management()
        .temp_data_dir()
        .start()
        .expect("broker starts");
    let rt = runtime();
    let conn = rt.block_on(connect(&b));
    let ch = rt.block_on(confirm_channel(&conn));
    rt.block_on(ch.queue_declare(
        "keep",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .expect("declare");
    rt.block_on(publish_with(
        &ch,
        "",
        "keep",
        b"m",
        BasicPublishOptions::default(),
        BasicProperties::default().with_delivery_mode(2),
    ));
    let (status, _) = call(&b, "POST", "/api/warren/crash", Value::Null);
    assert_eq!(status, 204);
    eventually(|| (!conn.status().connected()).then_some(()));
    assert_eq!(b.snapshot().ready("keep"), 1);
}
