//! The management HTTP API driven by `rabbitmq_http_client` (the crate rabbitmqadmin v2 is
//! built on) and by plain HTTP, against a broker with stock AMQP clients on it: what it lists
//! is what the clients did, and what it changes the clients feel.

mod common;

use common::{
    WAIT, eventually, http_request, http_status, management_broker as broker, runtime, within,
};
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rabbitmq_http_client::blocking_api::Client;
use rabbitmq_http_client::commons::ExchangeType;
use rabbitmq_http_client::{password_hashing, requests};
use std::time::Duration;
use warren::Broker;

fn endpoint(b: &Broker) -> String {
    format!("http://{}/api", b.management_addr().expect("management on"))
}

fn client(b: &Broker) -> Client<String, &'static str, &'static str> {
    Client::new(endpoint(b), "guest", "guest")
}

/// `request` to a URL with basic auth: the status and the body.
fn http(method: &str, url: &str, (user, password): (&str, &str), body: &str) -> (u16, String) {
    use base64::Engine;
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut headers = format!("Authorization: Basic {auth}\r\n");
    if !body.is_empty() {
        headers.push_str("Content-Type: application/json\r\n");
    }
    let (head, body) = http_request(host, method, path, &headers, body);
    (http_status(&head), body)
}

fn http_get(url: &str, user: &str, password: &str) -> (u16, String) {
    http("GET", url, (user, password), "")
}

fn http_put(url: &str, body: &str) -> u16 {
    http("PUT", url, ("guest", "guest"), body).0
}

fn http_delete(url: &str) -> u16 {
    http("DELETE", url, ("guest", "guest"), "").0
}

/// A GET with `extra` headers and no login: the status line and headers (lower-cased
/// names), and the body.
fn raw_get(b: &Broker, path: &str, extra: &str) -> (String, String) {
    let host = b.management_addr().expect("management").to_string();
    let (head, body) = http_request(&host, "GET", path, extra, "");
    (head.to_lowercase(), body)
}

fn get(b: &Broker, path: &str, user: &str, password: &str) -> (u16, String) {
    let url = format!("http://{}{path}", b.management_addr().expect("management"));
    http_get(&url, user, password)
}

#[test]
fn overview_lists_and_declares_through_the_http_client() {
    let b = broker();
    let c = client(&b);
    let overview = c.overview().expect("overview");
    assert_eq!(overview.object_totals.queues, 0);
    // The default exchange and amq.direct, fanout, headers, match, topic and
    // rabbitmq.trace, as a fresh RabbitMQ counts them.
    assert_eq!(overview.object_totals.exchanges, 7);

    let args = Some(serde_json::Map::from_iter([(
        "x-max-length".to_owned(),
        serde_json::json!(5),
    )]));
    c.declare_queue(
        "/",
        &requests::QueueParams::new_durable_classic_queue("orders", args),
    )
    .expect("declare queue");
    c.declare_exchange(
        "/",
        &requests::ExchangeParams::new("events", ExchangeType::Topic, true, false, None),
    )
    .expect("declare exchange");
    c.bind_queue("/", "orders", "events", Some("order.#"), None)
        .expect("bind");
    for i in 0..7 {
        let routed = c
            .publish_message(
                "/",
                "events",
                "order.new",
                &format!("m{i}"),
                Default::default(),
            )
            .expect("publish");
        assert!(routed.routed);
    }
    let q = c.get_queue_info("/", "orders").expect("queue info");
    assert_eq!(q.name, "orders");
    assert!(q.durable);
    // x-max-length 5 dropped the two oldest.
    assert_eq!(q.message_count, 5);
    let got = c
        .get_messages("/", "orders", 2, "ack_requeue_false")
        .expect("get");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].payload, "m2");
    assert_eq!(
        c.get_queue_info("/", "orders").expect("info").message_count,
        3
    );
    c.purge_queue("/", "orders").expect("purge");
    assert_eq!(
        c.get_queue_info("/", "orders").expect("info").message_count,
        0
    );

    let bindings = c.list_bindings_in("/").expect("bindings");
    assert!(
        bindings.iter().any(|b| b.source == "events"
            && b.destination == "orders"
            && b.routing_key == "order.#")
    );
    let exchanges = c.list_exchanges_in("/").expect("exchanges");
    assert!(exchanges.iter().any(|x| x.name == "events"));

    c.delete_queue("/", "orders", false).expect("delete");
    assert!(c.get_queue_info("/", "orders").is_err());
    assert!(
        c.delete_queue("/", "orders", false).is_err(),
        "404 the second time"
    );
    c.delete_queue("/", "orders", true)
        .expect("idempotent delete");
}

#[test]
fn connections_channels_and_consumers_show_what_clients_do_and_close_on_request() {
    let b = broker();
    let c = client(&b);
    let rt = runtime();
    let url = b.url();
    let (conn, _consumer) = rt.block_on(async {
        let props = ConnectionProperties::default().with_connection_name("billing-worker".into());
        let conn = within(Connection::connect(&url, props))
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        ch.queue_declare(
            "work",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("declare");
        ch.basic_qos(7, BasicQosOptions::default())
            .await
            .expect("qos");
        let consumer = ch
            .basic_consume(
                "work",
                "worker-1",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        (conn, consumer)
    });
    let conns = c.list_connections().expect("connections");
    assert_eq!(conns.len(), 1);
    let info = &conns[0];
    assert_eq!(info.username, "guest");
    assert_eq!(info.client_properties.connection_name, "billing-worker");
    let channels = c.list_channels().expect("channels");
    assert_eq!(channels.len(), 1);
    let consumers = c.list_consumers().expect("consumers");
    assert_eq!(consumers.len(), 1);
    assert_eq!(consumers[0].consumer_tag, "worker-1");
    assert_eq!(consumers[0].prefetch_count, 7);
    assert_eq!(consumers[0].queue.name, "work");

    c.close_connection(&info.name, Some("test says bye"), false)
        .expect("close");
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + WAIT;
        while conn.status().connected() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "connection not closed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    eventually(|| c.list_connections().ok().filter(|l| l.is_empty()));
}

#[test]
fn users_vhosts_permissions_and_definitions_round_trip() {
    let b = broker();
    let c = client(&b);
    c.create_vhost(&requests::VirtualHostParams::named("tenant-a"))
        .expect("vhost");
    let salt = password_hashing::salt();
    let hash = password_hashing::base64_encoded_salted_password_hash_sha256(&salt, "s3cret");
    c.create_user(&requests::UserParams::new("alice", &hash, "management"))
        .expect("user");
    c.declare_permissions(&requests::Permissions {
        user: "alice",
        vhost: "tenant-a",
        configure: "^alice\\.",
        write: ".*",
        read: ".*",
    })
    .expect("permissions");
    assert!(
        c.list_users()
            .expect("users")
            .iter()
            .any(|u| u.name == "alice")
    );
    let perms = c.list_permissions_of("alice").expect("perms");
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0].configure, "^alice\\.");

    // Alice logs in over AMQP with the password whose hash the HTTP client made, and her
    // configure pattern holds.
    let rt = runtime();
    let url = format!("amqp://alice:s3cret@{}/tenant-a", b.addr());
    rt.block_on(async {
        let conn = within(Connection::connect(&url, ConnectionProperties::default()))
            .await
            .expect("alice logs in");
        let ch = conn.create_channel().await.expect("channel");
        ch.queue_declare(
            "alice.q",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("allowed");
        let refused = ch
            .queue_declare(
                "bob.q",
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await;
        assert!(refused.is_err(), "configure pattern refuses bob.q");
    });

    // Alice, tagged management only, sees her vhost and not the users list.
    let (status, _) = get(&b, "/api/users", "alice", "s3cret");
    assert_eq!(status, 401);
    let (status, body) = get(&b, "/api/vhosts", "alice", "s3cret");
    assert_eq!(status, 200);
    let vhosts: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(vhosts.as_array().map(Vec::len), Some(1));
    assert_eq!(vhosts[0]["name"], "tenant-a");
    let (status, _) = get(&b, "/api/overview", "alice", "wrong");
    assert_eq!(status, 401);

    // The definitions export holds all of it and imports into a fresh broker, where
    // alice logs in with the same password.
    let defs = c
        .export_cluster_wide_definitions_as_string()
        .expect("export");
    let doc: serde_json::Value = serde_json::from_str(&defs).expect("json");
    let b2 = broker();
    client(&b2).import_definitions(doc).expect("import");
    let url2 = format!("amqp://alice:s3cret@{}/tenant-a", b2.addr());
    rt.block_on(async {
        let conn = within(Connection::connect(&url2, ConnectionProperties::default()))
            .await
            .expect("alice logs in on the second broker");
        let ch = conn.create_channel().await.expect("channel");
        ch.queue_declare(
            "alice.q",
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("the queue came with the definitions");
    });

    c.delete_user("alice", false).expect("delete user");
    c.delete_vhost("tenant-a", false).expect("delete vhost");
    assert!(c.get_vhost("tenant-a").is_err());
}

#[test]
fn message_rates_follow_publishing() {
    let b = broker();
    let rt = runtime();
    let url = b.url();
    rt.block_on(async {
        let conn = within(Connection::connect(&url, ConnectionProperties::default()))
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        ch.queue_declare(
            "rated",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("declare");
        for _ in 0..50 {
            ch.basic_publish(
                "",
                "rated",
                BasicPublishOptions::default(),
                b"x",
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        }
        // The counters are sampled every few seconds: wait for them, not for the clock.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) =
                tokio::task::block_in_place(|| get(&b, "/api/queues/%2F/rated", "guest", "guest"));
            assert_eq!(status, 200);
            let q: serde_json::Value = serde_json::from_str(&body).expect("json");
            let published = q["message_stats"]["publish"].as_u64().unwrap_or(0);
            if published == 50 && q["messages"] == 50 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "publish count {published}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(conn);
    });
}

#[test]
fn policies_set_through_the_api_act_on_queues_and_show_on_them() {
    let b = broker();
    let c = client(&b);
    c.declare_queue(
        "/",
        &requests::QueueParams::new_durable_classic_queue("capped.jobs", None),
    )
    .expect("declare");
    for i in 0..10 {
        c.publish_message(
            "/",
            "amq.default",
            "capped.jobs",
            &format!("m{i}"),
            Default::default(),
        )
        .expect("publish");
    }
    let url = format!(
        "http://{}/api/policies/%2F/cap",
        b.management_addr().expect("mgmt")
    );
    let body = r#"{"pattern":"^capped\\.","apply-to":"queues","definition":{"max-length":3},"priority":1}"#;
    assert_eq!(http_put(&url, body), 201);
    let q = c.get_queue_info("/", "capped.jobs").expect("info");
    assert_eq!(q.message_count, 3, "the policy trimmed the queue at once");
    assert_eq!(q.policy.as_deref(), Some("cap"));
    let (status, list) = get(&b, "/api/policies", "guest", "guest");
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list[0]["name"], "cap");
    assert_eq!(list[0]["definition"]["max-length"], 3);
    // A bad definition is refused with RabbitMQ's 400.
    let bad = r#"{"pattern":"^x","definition":{"max-length":"lots"}}"#;
    let url_bad = format!(
        "http://{}/api/policies/%2F/bad",
        b.management_addr().expect("mgmt")
    );
    assert_eq!(http_put(&url_bad, bad), 400);
}

#[test]
fn permissions_and_topic_permissions_read_back_by_user_and_by_vhost() {
    let b = broker();
    let base = format!("http://{}/api", b.management_addr().expect("mgmt"));
    let json = |path: &str| -> (u16, serde_json::Value) {
        let (status, body) = get(&b, path, "guest", "guest");
        (status, serde_json::from_str(&body).unwrap_or_default())
    };
    let (status, one) = json("/api/permissions/%2F/guest");
    assert_eq!(status, 200);
    assert_eq!(one["configure"], ".*");
    assert_eq!(json("/api/users/guest/permissions").1[0]["vhost"], "/");
    assert_eq!(json("/api/vhosts/%2F/permissions").1[0]["user"], "guest");
    assert_eq!(json("/api/permissions/%2F/nobody").0, 404);
    assert_eq!(json("/api/users/nobody/permissions").0, 404);

    let put = http_put(
        &format!("{base}/topic-permissions/%2F/guest"),
        r#"{"exchange":"amq.topic","write":"^orders\\.","read":".*"}"#,
    );
    assert_eq!(put, 201);
    let (status, topic) = json("/api/topic-permissions/%2F/guest");
    assert_eq!(status, 200);
    assert_eq!(topic[0]["exchange"], "amq.topic");
    assert_eq!(topic[0]["write"], "^orders\\.");
    assert_eq!(
        json("/api/users/guest/topic-permissions").1[0]["exchange"],
        "amq.topic"
    );
    assert_eq!(
        json("/api/vhosts/%2F/topic-permissions").1[0]["user"],
        "guest"
    );
    assert_eq!(
        json("/api/topic-permissions").1.as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn the_web_ui_is_served_from_the_binary_with_its_content_types() {
    let b = broker();
    let (head, body) = raw_get(&b, "/", "");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'self'"));
    assert!(body.contains("/ui/app.js"));
    let (head, body) = raw_get(&b, "/ui/app.js", "");
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert!(head.contains("cache-control: no-cache"), "{head}");
    assert!(body.contains("whoami"));
    let (head, _) = raw_get(&b, "/ui/pages/queues.js", "");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let (head, _) = raw_get(&b, "/ui/style.css", "");
    assert!(head.contains("content-type: text/css"), "{head}");

    // A browser that has the file revalidates it for nothing.
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .to_owned();
    let (head, body) = raw_get(&b, "/ui/style.css", &format!("If-None-Match: {etag}\r\n"));
    assert!(head.starts_with("http/1.1 304"), "{head}");
    assert!(body.is_empty());

    // Unknown files are the API's 404, and the API itself still needs a login.
    let (head, body) = raw_get(&b, "/ui/nope.js", "");
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(body.contains("Object Not Found"));
    let (head, _) = raw_get(&b, "/api/overview", "");
    assert!(head.starts_with("http/1.1 401"), "{head}");
}

#[test]
fn the_queue_list_filters_sorts_and_pages_like_rabbitmq() {
    let b = broker();
    let c = client(&b);
    for (name, depth) in [
        ("a.q", 3),
        ("b.q", 7),
        ("c.q", 1),
        ("d.other", 9),
        ("e.q", 5),
    ] {
        c.declare_queue(
            "/",
            &requests::QueueParams::new_durable_classic_queue(name, None),
        )
        .expect("declare");
        for i in 0..depth {
            c.publish_message(
                "/",
                "amq.default",
                name,
                &format!("m{i}"),
                Default::default(),
            )
            .expect("publish");
        }
    }
    let json = |path: &str| -> serde_json::Value {
        let (status, body) = get(&b, path, "guest", "guest");
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("json")
    };
    let page = json(
        "/api/queues?page=1&page_size=2&sort=messages&sort_reverse=true&columns=name,messages",
    );
    assert_eq!(
        page,
        serde_json::json!({"filtered_count": 5, "item_count": 2, "page": 1, "page_count": 3,
            "page_size": 2, "total_count": 5,
            "items": [{"name": "d.other", "messages": 9}, {"name": "b.q", "messages": 7}]})
    );
    let filtered = json("/api/queues/%2F?name=.q&sort=message_stats.publish&columns=name");
    assert_eq!(
        filtered,
        serde_json::json!([{"name": "c.q"}, {"name": "a.q"}, {"name": "e.q"}, {"name": "b.q"}])
    );
    let regex = json("/api/queues?name=%5E%5Bab%5D&use_regex=true&columns=name");
    assert_eq!(regex, serde_json::json!([{"name": "a.q"}, {"name": "b.q"}]));
    // A column the rows do not sort by natively goes through JSON, same answer shape.
    let by_policy = json("/api/queues?sort=durable&columns=name&page=1&page_size=1");
    assert_eq!(by_policy["items"].as_array().map(Vec::len), Some(1));
    let (status, _) = get(&b, "/api/queues?page=9&page_size=2", "guest", "guest");
    assert_eq!(status, 400);
}

#[test]
fn vhost_and_user_limits_are_set_read_and_cleared() {
    let b = broker();
    let base = format!("http://{}/api", b.management_addr().expect("mgmt"));
    let json = |path: &str| -> (u16, serde_json::Value) {
        let (status, body) = get(&b, path, "guest", "guest");
        (status, serde_json::from_str(&body).unwrap_or_default())
    };
    assert_eq!(json("/api/vhost-limits").1, serde_json::json!([]));
    assert_eq!(
        http_put(
            &format!("{base}/vhost-limits/%2F/max-queues"),
            r#"{"value": 2}"#
        ),
        204
    );
    assert_eq!(
        json("/api/vhost-limits/%2F").1,
        serde_json::json!([{"vhost": "/", "value": {"max-queues": 2}}])
    );
    assert_eq!(
        http_put(
            &format!("{base}/vhost-limits/%2F/max-frogs"),
            r#"{"value": 2}"#
        ),
        400
    );
    assert_eq!(
        http_put(
            &format!("{base}/vhost-limits/nope/max-queues"),
            r#"{"value": 2}"#
        ),
        404
    );
    assert_eq!(
        http_put(
            &format!("{base}/user-limits/guest/max-channels"),
            r#"{"value": 5}"#
        ),
        204
    );
    assert_eq!(
        json("/api/user-limits").1,
        serde_json::json!([{"user": "guest", "value": {"max-channels": 5}}])
    );
    // The vhost limit holds for AMQP clients: a third queue is refused.
    let c = client(&b);
    for q in ["l1", "l2"] {
        c.declare_queue(
            "/",
            &requests::QueueParams::new_durable_classic_queue(q, None),
        )
        .expect("under the limit");
    }
    assert!(
        c.declare_queue(
            "/",
            &requests::QueueParams::new_durable_classic_queue("l3", None)
        )
        .is_err()
    );
    assert_eq!(
        http_delete(&format!("{base}/vhost-limits/%2F/max-queues")),
        204
    );
    assert_eq!(json("/api/vhost-limits").1, serde_json::json!([]));
    c.declare_queue(
        "/",
        &requests::QueueParams::new_durable_classic_queue("l3", None),
    )
    .expect("the limit is gone");
}

/// A vhost's description, tags, default queue type and deletion protection, set through the
/// HTTP client as RabbitMQ 4.3 takes them (rabbit_mgmt_wm_vhost, rabbit_vhost): read back,
/// acted on by queue.declare (`augment_declare_args/5`), exported, imported and refused as
/// RabbitMQ refuses them. RabbitMQ 3.10.8 keeps the description and tags the same way (it
/// predates the default queue type and the protection; both follow 4.3's source).
#[test]
fn vhost_metadata_is_kept_and_its_default_queue_type_applies_to_declares() {
    let b = broker();
    let c = client(&b);
    let params = requests::VirtualHostParams {
        name: "meta",
        description: Some("orders, EU"),
        tags: Some(vec!["eu", "prod"]),
        default_queue_type: Some(rabbitmq_http_client::commons::QueueType::Quorum),
        tracing: false,
    };
    c.create_vhost(&params).expect("vhost");
    let v = c.get_vhost("meta").expect("get");
    assert_eq!(v.description.as_deref(), Some("orders, EU"));
    assert_eq!(v.default_queue_type.as_deref(), Some("quorum"));
    let tags: Vec<String> = v.tags.expect("tags").into_iter().collect();
    assert_eq!(tags, ["eu", "prod"]);
    let meta = v.metadata.expect("metadata");
    assert_eq!(meta.default_queue_type.as_deref(), Some("quorum"));
    assert_eq!(meta.description.as_deref(), Some("orders, EU"));

    // A durable queue declared without a type gets the vhost's; one whose properties a
    // quorum queue refuses (exclusive, non-durable) falls back to classic; a type the client
    // names wins.
    let rt = runtime();
    let url = format!("amqp://guest:guest@{}/meta", b.addr());
    rt.block_on(async {
        let conn = within(Connection::connect(&url, ConnectionProperties::default()))
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare("plain", durable, FieldTable::default())
            .await
            .expect("durable");
        ch.queue_declare(
            "transient",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("transient");
        let mut stream = FieldTable::default();
        stream.insert(
            "x-queue-type".into(),
            lapin::types::AMQPValue::LongString("stream".into()),
        );
        ch.queue_declare("named", durable, stream)
            .await
            .expect("stream");
        // Redeclared the same way, the quorum queue is equivalent (its arguments were
        // rewritten before the comparison, as RabbitMQ does).
        ch.queue_declare("plain", durable, FieldTable::default())
            .await
            .expect("redeclare");
    });
    let kind = |q: &str| c.get_queue_info("meta", q).expect("queue").queue_type;
    assert_eq!(kind("plain"), "quorum");
    assert_eq!(kind("transient"), "classic");
    assert_eq!(kind("named"), "stream");

    // Exported as 4.x exports it, and imported into a fresh broker with the same effect.
    let defs = c
        .export_cluster_wide_definitions_as_string()
        .expect("export");
    let doc: serde_json::Value = serde_json::from_str(&defs).expect("json");
    let exported = doc["vhosts"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == "meta"))
        .expect("vhost exported")
        .clone();
    assert_eq!(exported["metadata"]["default_queue_type"], "quorum");
    assert_eq!(
        exported["metadata"]["tags"],
        serde_json::json!(["eu", "prod"])
    );
    let b2 = broker();
    client(&b2).import_definitions(doc).expect("import");
    let v2 = client(&b2).get_vhost("meta").expect("imported");
    assert_eq!(v2.default_queue_type.as_deref(), Some("quorum"));
    assert_eq!(v2.description.as_deref(), Some("orders, EU"));

    // RabbitMQ's refusals: a type it does not know, an empty one.
    let url = |p: &str| format!("{}{p}", endpoint(&b));
    let (status, body) = http(
        "PUT",
        &url("/vhosts/bad"),
        ("guest", "guest"),
        r#"{"default_queue_type":"fifo"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("fifo is not a valid queue type"), "{body}");
    let (status, body) = http(
        "PUT",
        &url("/vhosts/bad"),
        ("guest", "guest"),
        r#"{"default_queue_type":""}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("must not be an empty string"), "{body}");
    assert!(c.get_vhost("bad").is_err(), "a refused PUT creates nothing");

    // A PUT without a default queue type keeps it (4.3 merges), and replaces the
    // description and tags.
    assert_eq!(
        http_put(&url("/vhosts/meta"), r#"{"description":"d2"}"#),
        204
    );
    let v = c.get_vhost("meta").expect("get");
    assert_eq!(v.description.as_deref(), Some("d2"));
    assert_eq!(v.default_queue_type.as_deref(), Some("quorum"));
    assert!(v.tags.is_none_or(|t| t.into_iter().next().is_none()));

    // Deletion protection: DELETE is refused with 412 until it is lifted.
    c.enable_vhost_deletion_protection("meta").expect("protect");
    let (status, body) = http("DELETE", &url("/vhosts/meta"), ("guest", "guest"), "");
    assert_eq!(status, 412, "{body}");
    assert!(
        body.contains(
            "Refusing to delete virtual host 'meta' because it is protected from deletion"
        ),
        "{body}"
    );
    assert_eq!(
        c.get_vhost("meta")
            .expect("still there")
            .protected_from_deletion,
        Some(true)
    );
    c.disable_vhost_deletion_protection("meta")
        .expect("unprotect");
    c.delete_vhost("meta", false).expect("delete");
}

/// RabbitMQ 3.10.8 answers /api/queues/ (and every other path with one trailing slash) as it
/// answers the path without it; amqp091-go's recovery tests list connections so.
#[test]
fn a_trailing_slash_names_the_same_resource() {
    let b = broker();
    for path in [
        "/api/connections",
        "/api/queues",
        "/api/overview",
        "/api/vhosts",
        "/api/queues/%2F",
    ] {
        let (status, plain) = get(&b, path, "guest", "guest");
        assert_eq!(status, 200, "{path}");
        let (status, slashed) = get(&b, &format!("{path}/"), "guest", "guest");
        assert_eq!(status, 200, "{path}/");
        let keys = |body: &str| {
            let v: serde_json::Value = serde_json::from_str(body).expect("json");
            v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(keys(&plain), keys(&slashed), "{path}");
    }
    // The UI's root is still the UI.
    let (head, body) = raw_get(&b, "/", "");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(body.contains("/ui/app.js"));
}
