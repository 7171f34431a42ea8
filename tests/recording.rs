//! Recording connections, replaying transcripts and diffing them (`warren::testing`): a lapin
//! session recorded by one broker, replayed against another, compared; the RabbitMQ 3.10.8
//! transcript in tests/fixtures replayed against Warren.

mod common;

use common::*;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};
use std::time::Duration;
use warren::testing::diff::diff;
use warren::testing::replay::{Options, replay};
use warren::testing::{Dir, Kind, Record, Selector, transcript};

const NAME: &str = "recorded-session";
/// Generous: a replay only waits this long when the broker answers less than recorded.
const REPLAY: Options = Options {
    wait: Duration::from_secs(2),
    pace: true,
};

async fn connect_named(broker: &Broker, name: &str) -> Connection {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    within(Connection::connect(&broker.url(), props))
        .await
        .expect("connect")
}

/// A small session touching the handshake, declares, publish with confirms, get, consume,
/// ack and a channel error; it leaves nothing behind.
async fn session(broker: &Broker) {
    let conn = connect_named(broker, NAME).await;
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare("", exclusive, FieldTable::default())
        .await
        .expect("declare")
        .name()
        .to_string();
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(10));
    ch.queue_declare("rec.q", QueueDeclareOptions::default(), args)
        .await
        .expect("declare rec.q");
    for body in [&b"hello"[..], b"world"] {
        let props = BasicProperties::default().with_content_type("text/plain".into());
        ch.basic_publish("", &q, BasicPublishOptions::default(), body, props)
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }
    let got = ch
        .basic_get(&q, BasicGetOptions::default())
        .await
        .expect("get")
        .expect("a message");
    got.ack(BasicAckOptions::default()).await.expect("ack");
    let mut consumer = ch
        .basic_consume(
            &q,
            "",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let d = next_delivery(&mut consumer).await;
    assert_eq!(d.data, b"world");
    d.ack(BasicAckOptions::default()).await.expect("ack");
    ch.basic_cancel(consumer.tag().as_str(), BasicCancelOptions::default())
        .await
        .expect("cancel");
    ch.queue_delete("rec.q", QueueDeleteOptions::default())
        .await
        .expect("delete");
    let ch2 = conn.create_channel().await.expect("channel 2");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let missing = ch2
        .queue_declare("rec.missing", passive, FieldTable::default())
        .await;
    assert!(
        missing.is_err(),
        "a passive declare of a missing queue fails"
    );
    conn.close(200, "bye").await.expect("close");
}

fn methods(records: &[Record], dir: Dir) -> Vec<&str> {
    records
        .iter()
        .filter(|r| r.dir == dir && r.kind == Kind::Method)
        .filter_map(|r| r.method.as_deref())
        .collect()
}

fn find<'a>(records: &'a [Record], dir: Dir, method: &str) -> &'a Record {
    records
        .iter()
        .find(|r| r.dir == dir && r.is_method(method))
        .unwrap_or_else(|| panic!("no {method} in the transcript"))
}

async fn recorded_session() -> Vec<Record> {
    let broker = broker();
    let recording = broker.record(Selector::connection_name(NAME));
    // Not selected: another name.
    let other = connect_named(&broker, "someone-else").await;
    session(&broker).await;
    other.close(200, "bye").await.expect("close");
    recording.stop().expect("transcript")
}

#[tokio::test]
async fn a_session_is_recorded_frame_by_frame() {
    let t = recorded_session().await;
    assert!(t.iter().all(|r| r.conn == 1), "one connection selected");
    assert_eq!(t[0].kind, Kind::ProtocolHeader);
    let c2s = methods(&t, Dir::ClientToServer);
    let s2c = methods(&t, Dir::ServerToClient);
    assert_eq!(
        c2s[..4],
        [
            "connection.start-ok",
            "connection.tune-ok",
            "connection.open",
            "channel.open"
        ]
    );
    assert_eq!(
        s2c[..3],
        ["connection.start", "connection.tune", "connection.open-ok"]
    );
    for m in [
        "basic.publish",
        "basic.get",
        "basic.ack",
        "basic.consume",
        "basic.cancel",
        "connection.close",
    ] {
        assert!(c2s.contains(&m), "client sent {m}: {c2s:?}");
    }
    for m in [
        "queue.declare-ok",
        "basic.get-ok",
        "basic.deliver",
        "basic.ack",
        "channel.close",
        "connection.close-ok",
    ] {
        assert!(s2c.contains(&m), "broker sent {m}: {s2c:?}");
    }

    let start_ok = find(&t, Dir::ClientToServer, "connection.start-ok");
    let fields = start_ok.fields.as_ref().expect("fields");
    assert_eq!(
        fields["response"],
        json!({"redacted": "PLAIN", "user": "guest"})
    );
    assert_eq!(fields["client_properties"]["connection_name"], json!(NAME));

    let declare = t
        .iter()
        .find(|r| {
            r.is_method("queue.declare") && r.fields.as_ref().is_some_and(|f| f["queue"] == "rec.q")
        })
        .expect("rec.q declared");
    let args = &declare.fields.as_ref().expect("fields")["arguments"];
    assert_eq!(
        args,
        &json!({"x-max-length": {"I": 10}}),
        "argument types are kept"
    );

    // The publish fast path is seen at the socket like everything else.
    let publish = t
        .iter()
        .position(|r| r.is_method("basic.publish"))
        .expect("publish");
    let (header, body) = (&t[publish + 1], &t[publish + 2]);
    assert_eq!((header.kind, header.body_size), (Kind::Header, Some(5)));
    assert_eq!(
        header.properties.as_ref().expect("properties")["content_type"],
        json!("text/plain")
    );
    assert_eq!(
        (body.kind, body.body.as_deref()),
        (Kind::Body, Some("hello"))
    );

    let close = find(&t, Dir::ServerToClient, "channel.close");
    let fields = close.fields.as_ref().expect("fields");
    assert_eq!(fields["reply_code"], json!(404));
    assert_eq!(close.ch, 2);
    assert!(t.windows(2).all(|w| w[0].t <= w[1].t), "times only grow");
    let text = transcript::to_lines(&t);
    assert_eq!(transcript::parse(&text).expect("reads back"), t);
}

#[tokio::test]
async fn a_replay_against_another_warren_diffs_clean() {
    let original = recorded_session().await;
    let other = broker();
    let replayed = replay(&original, &other.url(), REPLAY)
        .await
        .expect("replays");
    if let Some(d) = diff(&original, &replayed) {
        panic!("the replay differs:\n{d}");
    }
    assert!(
        methods(&replayed, Dir::ServerToClient).contains(&"basic.deliver"),
        "the new broker answered"
    );
}

#[tokio::test]
async fn a_changed_behaviour_is_the_first_difference() {
    let original = recorded_session().await;
    let other = broker();
    // The other broker already has rec.q, with other arguments: the declare is refused.
    let conn = connect(&other).await;
    let ch = conn.create_channel().await.expect("channel");
    declare_with(&ch, "rec.q", args(&[("x-max-length", int(5))])).await;
    // Channel 1 is closed early: frames sent on it later go unanswered, each costing a wait.
    let short = Options {
        wait: Duration::from_millis(300),
        pace: false,
    };
    let replayed = replay(&original, &other.url(), short)
        .await
        .expect("replays");
    let d = diff(&original, &replayed).expect("a difference");
    let (a, b) = (
        d.a.clone().expect("A has it"),
        d.b.clone().expect("B has it"),
    );
    assert_eq!(a.value["method"], json!("queue.declare-ok"), "{d}");
    assert_eq!(b.value["method"], json!("channel.close"), "{d}");
    assert_eq!(b.value["fields"]["reply_code"], json!(406), "{d}");
    assert_eq!(d.key.ch, 1);

    // A transcript edited by hand: the body published first is no longer what comes back.
    let mut edited = original.clone();
    let body = edited
        .iter_mut()
        .find(|r| r.kind == Kind::Body && r.dir == Dir::ClientToServer)
        .expect("a published body");
    body.body = Some("HELLO".into());
    let fresh = broker();
    let replayed = replay(&edited, &fresh.url(), REPLAY)
        .await
        .expect("replays");
    let d = diff(&original, &replayed).expect("a difference");
    assert_eq!(
        d.a.expect("A").value["body"],
        json!("hello"),
        "the publish itself differs first"
    );
}

/// A broker that follows RabbitMQ 3.10, the release the stored transcripts come from (later
/// releases offer one more SASL mechanism, ANONYMOUS).
fn broker_as_rabbitmq_3_10() -> Broker {
    common::init_logs();
    Broker::builder()
        .profile(warren::broker::profile::Profile::V3_10)
        .start()
        .expect("broker")
}

/// Transcripts RabbitMQ 3.10.8 answered on this machine (tests/fixtures/recording; see README's
/// "Recording and replay"), replayed against Warren: CI has no RabbitMQ, so Warren is held to
/// the stored answers. `rabbitmq-3.10.8-pika.jsonl` is the pika scenario of interop/recording;
/// `rabbitmq-3.10.8-open-while-closing.jsonl` a channel.open on a channel the broker is
/// closing, the first difference `warren diff` found.
#[tokio::test]
async fn warren_answers_the_rabbitmq_transcripts_alike() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/recording");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    for path in files {
        let rabbit = transcript::read_file(&path).expect("fixture");
        let broker = broker_as_rabbitmq_3_10();
        let replayed = replay(&rabbit, &broker.url(), REPLAY)
            .await
            .expect("replays");
        if let Some(d) = diff(&rabbit, &replayed) {
            panic!(
                "Warren answers {} differently from RabbitMQ:\n{d}",
                path.display()
            );
        }
    }
}

#[test]
fn recordings_are_controlled_over_http() {
    let broker = management_broker();
    let host = broker.management_addr().expect("management").to_string();
    let admin = "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\nContent-Type: application/json\r\n";
    let (head, body) = http_request(
        &host,
        "POST",
        "/api/warren/recordings",
        admin,
        r#"{"connection_name":"over-http","bodies":true}"#,
    );
    assert_eq!(http_status(&head), 201, "{head}\n{body}");
    let created: Value = serde_json::from_str(&body).expect("json");
    let id = created["id"].as_u64().expect("an id");

    let rt = runtime();
    rt.block_on(async {
        let conn = connect_named(&broker, "over-http").await;
        let ch = conn.create_channel().await.expect("channel");
        ch.close(200, "bye").await.expect("close channel");
        conn.close(200, "bye").await.expect("close");
    });
    let (head, list) = http_request(&host, "GET", "/api/warren/recordings", admin, "");
    assert_eq!(http_status(&head), 200);
    let list: Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list[0]["id"], json!(id));
    assert_eq!(list[0]["connections"], json!(1));

    let (head, lines) = http_request(
        &host,
        "GET",
        &format!("/api/warren/recordings/{id}"),
        admin,
        "",
    );
    assert_eq!(http_status(&head), 200);
    assert!(
        head.to_ascii_lowercase().contains("application/x-ndjson"),
        "{head}"
    );
    let t = transcript::parse(&lines).expect("JSON lines");
    assert!(t.iter().any(|r| r.is_method("channel.open-ok")), "{lines}");

    let (head, _) = http_request(
        &host,
        "DELETE",
        &format!("/api/warren/recordings/{id}"),
        admin,
        "",
    );
    assert_eq!(http_status(&head), 204);
    let (head, _) = http_request(
        &host,
        "GET",
        &format!("/api/warren/recordings/{id}"),
        admin,
        "",
    );
    assert_eq!(http_status(&head), 404);
    let (head, _) = http_request(&host, "GET", "/api/warren/recordings", "", "");
    assert_eq!(http_status(&head), 401, "not without credentials");
}

#[test]
fn no_recorder_when_nothing_records() {
    let broker = broker();
    assert!(broker.core().recordings().tap().is_none());
    let r = broker.record(Selector::all());
    assert!(broker.core().recordings().tap().is_some());
    r.stop().expect("transcript");
    assert!(broker.core().recordings().tap().is_none());
}

/// `warren replay` and `warren diff` as a user runs them: files in, exit codes out.
#[test]
fn the_commands_replay_and_diff_files() {
    let warren = env!("CARGO_BIN_EXE_warren");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/recording/rabbitmq-3.10.8-pika.jsonl"
    );
    let dir = std::env::temp_dir().join(format!("warren-recording-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("warren.jsonl");
    let broker = broker_as_rabbitmq_3_10();
    let replay = std::process::Command::new(warren)
        .args(["replay", fixture, "--against", &broker.url(), "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(replay.status.success(), "{replay:?}");
    let diff = |b: &std::path::Path| {
        std::process::Command::new(warren)
            .args(["diff", fixture])
            .arg(b)
            .output()
            .expect("runs")
    };
    let same = diff(&out);
    assert_eq!(same.status.code(), Some(0), "{same:?}");

    let edited = dir.join("edited.jsonl");
    let text = std::fs::read_to_string(&out).expect("replayed");
    std::fs::write(
        &edited,
        text.replace("NOT_FOUND - no queue", "NOT_FOUND - no such queue"),
    )
    .expect("write");
    let different = diff(&edited);
    assert_eq!(different.status.code(), Some(1), "{different:?}");
    let shown = String::from_utf8_lossy(&different.stdout);
    assert!(
        shown.contains("first difference") && shown.contains("no such queue"),
        "{shown}"
    );

    let broken = dir.join("broken.jsonl");
    std::fs::write(&broken, "{\"dir\":\"c2s\"").expect("write");
    assert_eq!(diff(&broken).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
