//! lapin 2 (crates.io) against the broker at argv[1]: every scenario of interop/scenarios.txt.

#[path = "../common.rs"]
#[allow(dead_code)]
mod common;

use std::time::Duration;

use common::*;
use futures_lite::StreamExt;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::*;
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{
    AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable, LongString, ShortString,
};
use lapin::uri::{AMQPUri, SASLMechanism};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ConsumerState, ExchangeKind};

fn uri(u: &Url, mechanism: SASLMechanism) -> Result<AMQPUri, String> {
    let mut uri: AMQPUri = u.raw.parse().map_err(|e| format!("bad URL {}: {e}", u.raw))?;
    uri.query.heartbeat = Some(30);
    uri.query.auth_mechanism = Some(mechanism);
    Ok(uri)
}

async fn open_with(u: &Url, mechanism: SASLMechanism) -> Result<Connection, String> {
    let uri = uri(u, mechanism)?;
    within("connection open", Connection::connect_uri(uri, ConnectionProperties::default()))
        .await?
        .ctx("connection open")
}

async fn open(u: &Url) -> Result<Connection, String> {
    open_with(u, SASLMechanism::Plain).await
}

async fn chan(c: &Connection) -> Result<Channel, String> {
    within("channel open", c.create_channel()).await?.ctx("channel open")
}

async fn close(c: Connection) -> Result<(), String> {
    within("connection close", c.close(200, "bye")).await?.ctx("connection close")
}

async fn close_channel(ch: &Channel) -> Result<(), String> {
    within("channel close", ch.close(200, "bye")).await?.ctx("channel close")
}

/// A server-named exclusive queue.
async fn tmp_queue(ch: &Channel) -> Result<String, String> {
    let q = ch
        .queue_declare("", QueueDeclareOptions { exclusive: true, ..Default::default() }, FieldTable::default())
        .await
        .ctx("queue.declare")?;
    Ok(q.name().as_str().to_string())
}

async fn publish_p(ch: &Channel, ex: &str, key: &str, body: &[u8], props: BasicProperties) -> Result<(), String> {
    ch.basic_publish(ex, key, BasicPublishOptions::default(), body, props)
        .await
        .ctx("basic.publish")?;
    Ok(())
}

async fn publish(ch: &Channel, ex: &str, key: &str, body: &[u8]) -> Result<(), String> {
    publish_p(ch, ex, key, body, BasicProperties::default()).await
}

async fn get(ch: &Channel, q: &str, no_ack: bool) -> Result<Option<BasicGetMessage>, String> {
    within("basic.get", ch.basic_get(q, BasicGetOptions { no_ack })).await?.ctx("basic.get")
}

/// Polls basic.get (for ~2 s) until a message comes.
async fn get_one(ch: &Channel, q: &str, no_ack: bool) -> Result<BasicGetMessage, String> {
    for _ in 0..200 {
        if let Some(m) = get(ch, q, no_ack).await? {
            return Ok(m);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("message never arrived".into())
}

/// Gets (auto-ack) until `want` bodies came or ~2 s passed. basic.get goes through the same
/// channel as the publishes, so the broker has routed them all by the time it answers.
async fn drain(ch: &Channel, q: &str, want: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut bodies = Vec::new();
    for _ in 0..200 {
        match get(ch, q, true).await? {
            Some(m) => bodies.push(m.delivery.data),
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        if bodies.len() >= want {
            break;
        }
    }
    Ok(bodies)
}

async fn expect_empty(ch: &Channel, q: &str, what: &str) -> Result<(), String> {
    match get(ch, q, true).await? {
        None => Ok(()),
        Some(m) => Err(format!("{what}: got {:?}", String::from_utf8_lossy(&m.delivery.data))),
    }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind) -> Result<(), String> {
    ch.exchange_declare(name, kind, ExchangeDeclareOptions::default(), FieldTable::default())
        .await
        .ctx(&format!("exchange.declare {name}"))
}

async fn delete_exchange(ch: &Channel, name: &str) -> Result<(), String> {
    ch.exchange_delete(name, ExchangeDeleteOptions::default()).await.ctx("exchange.delete")
}

async fn bind(ch: &Channel, q: &str, ex: &str, key: &str) -> Result<(), String> {
    ch.queue_bind(q, ex, key, QueueBindOptions::default(), FieldTable::default())
        .await
        .ctx("queue.bind")
}

async fn consume(ch: &Channel, q: &str, no_ack: bool) -> Result<Consumer, String> {
    ch.basic_consume(q, "", BasicConsumeOptions { no_ack, ..Default::default() }, FieldTable::default())
        .await
        .ctx("basic.consume")
}

async fn next(consumer: &mut Consumer, what: &str) -> Result<Delivery, String> {
    match within(what, consumer.next()).await? {
        Some(Ok(d)) => Ok(d),
        Some(Err(e)) => Err(format!("{what}: {e:?}")),
        None => Err(format!("consumer ended while waiting for {what}")),
    }
}

async fn ack(ch: &Channel, tag: u64) -> Result<(), String> {
    ch.basic_ack(tag, BasicAckOptions::default()).await.ctx("basic.ack")
}

/// The message count of a queue by passive declare.
async fn count(ch: &Channel, q: &str) -> Result<u32, String> {
    let q = ch
        .queue_declare(q, QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
        .await
        .ctx("passive queue.declare")?;
    Ok(q.message_count())
}

fn lstr(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn table(pairs: &[(&str, &str)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert(ShortString::from(*k), lstr(v));
    }
    t
}

/// Polls the passive-declare message count until it is `want` (or ~2 s passed): publishes reach
/// a queue asynchronously, so a count right after them may lag. Returns the last count.
async fn count_eq(ch: &Channel, q: &str, want: u32) -> Result<u32, String> {
    let mut n = count(ch, q).await?;
    for _ in 0..100 {
        if n == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        n = count(ch, q).await?;
    }
    Ok(n)
}

/// Publishes a sentinel to `q` and checks that it is the next message there: anything that
/// earlier publishes on this channel routed to `q` would arrive before it.
async fn expect_only_sentinel(ch: &Channel, q: &str, what: &str) -> Result<(), String> {
    publish(ch, "", q, b"sentinel").await?;
    let got = drain(ch, q, 1).await?;
    let shown: Vec<String> = got.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    ensure(got == vec![b("sentinel")], format!("{what}: got {shown:?} instead of the sentinel"))
}

// ---------------------------------------------------------------------------------------------

async fn connect(u: Url) -> R {
    let c = open(&u).await?;
    let hb = c.configuration().heartbeat();
    ensure(hb == 30, format!("negotiated heartbeat {hb}, want 30"))?;
    let ch = chan(&c).await?;
    close_channel(&ch).await?;
    close(c).await?;
    Ok(Outcome::Pass("heartbeat=30".into()))
}

async fn connect_amqplain(u: Url) -> R {
    let c = open_with(&u, SASLMechanism::AMQPlain).await?;
    let ch = chan(&c).await?;
    tmp_queue(&ch).await?;
    close(c).await?;
    pass()
}

async fn declare_exchanges(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let kinds = [
        ("direct", ExchangeKind::Direct),
        ("fanout", ExchangeKind::Fanout),
        ("topic", ExchangeKind::Topic),
        ("headers", ExchangeKind::Headers),
    ];
    let mut names = Vec::new();
    for (label, kind) in kinds {
        let name = uniq(label);
        let opts = ExchangeDeclareOptions::default();
        ch.exchange_declare(&name, kind.clone(), opts, FieldTable::default()).await.ctx(&format!("declare {label}"))?;
        ch.exchange_declare(&name, kind, opts, FieldTable::default())
            .await
            .ctx(&format!("equivalent redeclare of {label}"))?;
        names.push(name);
    }
    for name in &names {
        delete_exchange(&ch, name).await?;
    }
    ensure(ch.status().connected(), "channel still open")?;
    close(c).await?;
    pass()
}

async fn declare_queues(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let server_named = tmp_queue(&ch).await?;
    ensure(server_named.starts_with("amq.gen-"), format!("server-named queue is {server_named}"))?;
    let none = FieldTable::default;
    let excl = uniq("q.excl");
    ch.queue_declare(&excl, QueueDeclareOptions { exclusive: true, ..Default::default() }, none())
        .await
        .ctx("exclusive queue")?;
    let auto = uniq("q.auto");
    ch.queue_declare(&auto, QueueDeclareOptions { auto_delete: true, ..Default::default() }, none())
        .await
        .ctx("auto-delete queue")?;
    let durable = uniq("q.durable");
    ch.queue_declare(&durable, QueueDeclareOptions { durable: true, ..Default::default() }, none())
        .await
        .ctx("durable queue")?;
    let res: Result<(), String> = async {
        publish(&ch, "", &durable, b"one").await?;
        publish(&ch, "", &durable, b"two").await?;
        let n = count_eq(&ch, &durable, 2).await?;
        ensure(n == 2, format!("passive declare reports {n} messages, want 2"))
    }
    .await;
    let del = ch.queue_delete(&durable, QueueDeleteOptions::default()).await.ctx("delete durable queue");
    ch.queue_delete(&auto, QueueDeleteOptions::default()).await.ctx("delete auto-delete queue")?;
    res?;
    del?;
    close(c).await?;
    pass()
}

async fn bind_unbind(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let x = uniq("bind");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await?;
    let q = tmp_queue(&ch).await?;
    bind(&ch, &q, &x, "k").await?;
    publish(&ch, &x, "k", b"bound").await?;
    let got = drain(&ch, &q, 1).await?;
    ensure(got == vec![b("bound")], format!("bound queue got {got:?}"))?;
    ch.queue_unbind(&q, &x, "k", FieldTable::default()).await.ctx("queue.unbind")?;
    publish(&ch, &x, "k", b"unbound").await?;
    expect_only_sentinel(&ch, &q, "message arrived after unbind").await?;
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn route_default(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    publish(&ch, "", &q, b"default").await?;
    let got = drain(&ch, &q, 1).await?;
    ensure(got == vec![b("default")], format!("got {got:?}"))?;
    close(c).await?;
    pass()
}

async fn route_direct(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let x = uniq("direct");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await?;
    let (a, bq) = (tmp_queue(&ch).await?, tmp_queue(&ch).await?);
    bind(&ch, &a, &x, "red").await?;
    bind(&ch, &bq, &x, "blue").await?;
    for key in ["red", "blue", "green"] {
        publish(&ch, &x, key, key.as_bytes()).await?;
    }
    let ga = drain(&ch, &a, 1).await?;
    let gb = drain(&ch, &bq, 1).await?;
    ensure(ga == vec![b("red")], format!("red queue got {ga:?}"))?;
    ensure(gb == vec![b("blue")], format!("blue queue got {gb:?}"))?;
    expect_only_sentinel(&ch, &a, "unbound key reached the red queue").await?;
    expect_only_sentinel(&ch, &bq, "unbound key reached the blue queue").await?;
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn route_fanout(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let x = uniq("fanout");
    declare_exchange(&ch, &x, ExchangeKind::Fanout).await?;
    let mut qs = Vec::new();
    for i in 0..3 {
        let q = tmp_queue(&ch).await?;
        bind(&ch, &q, &x, &format!("key{i}")).await?;
        qs.push(q);
    }
    publish(&ch, &x, "whatever", b"all").await?;
    for q in &qs {
        let got = drain(&ch, q, 1).await?;
        ensure(got == vec![b("all")], format!("queue {q} got {got:?}"))?;
    }
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn route_topic(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let x = uniq("topic");
    declare_exchange(&ch, &x, ExchangeKind::Topic).await?;
    let (star, hash) = (tmp_queue(&ch).await?, tmp_queue(&ch).await?);
    bind(&ch, &star, &x, "*.orange.*").await?;
    bind(&ch, &hash, &x, "lazy.#").await?;
    for key in ["quick.orange.rabbit", "lazy.orange.elephant", "lazy", "quick.brown.fox"] {
        publish(&ch, &x, key, key.as_bytes()).await?;
    }
    let gs = sorted(drain(&ch, &star, 2).await?);
    let gh = sorted(drain(&ch, &hash, 2).await?);
    ensure(gs == vec![b("lazy.orange.elephant"), b("quick.orange.rabbit")], format!("*.orange.* got {gs:?}"))?;
    ensure(gh == vec![b("lazy"), b("lazy.orange.elephant")], format!("lazy.# got {gh:?}"))?;
    expect_only_sentinel(&ch, &star, "extra message in *.orange.*").await?;
    expect_only_sentinel(&ch, &hash, "extra message in lazy.#").await?;
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn route_headers(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let x = uniq("headers");
    declare_exchange(&ch, &x, ExchangeKind::Headers).await?;
    let (all, any) = (tmp_queue(&ch).await?, tmp_queue(&ch).await?);
    ch.queue_bind(&all, &x, "", QueueBindOptions::default(), table(&[("x-match", "all"), ("format", "pdf"), ("type", "report")]))
        .await
        .ctx("bind x-match all")?;
    ch.queue_bind(&any, &x, "", QueueBindOptions::default(), table(&[("x-match", "any"), ("format", "pdf"), ("type", "log")]))
        .await
        .ctx("bind x-match any")?;
    let with = |pairs: &[(&str, &str)]| BasicProperties::default().with_headers(table(pairs));
    publish_p(&ch, &x, "", b"both", with(&[("format", "pdf"), ("type", "report")])).await?;
    publish_p(&ch, &x, "", b"log", with(&[("format", "zip"), ("type", "log")])).await?;
    publish_p(&ch, &x, "", b"none", with(&[("format", "zip"), ("type", "other")])).await?;
    let ga = drain(&ch, &all, 1).await?;
    let gy = sorted(drain(&ch, &any, 2).await?);
    ensure(ga == vec![b("both")], format!("x-match all got {ga:?}"))?;
    ensure(gy == vec![b("both"), b("log")], format!("x-match any got {gy:?}"))?;
    expect_only_sentinel(&ch, &all, "extra message for x-match all").await?;
    expect_only_sentinel(&ch, &any, "extra message for x-match any").await?;
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn mandatory_return(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let x = uniq("unroutable");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await?;
    // lapin hands a basic.return back through the publisher confirm of that publish.
    ch.confirm_select(ConfirmSelectOptions::default()).await.ctx("confirm.select")?;
    let confirm = ch
        .basic_publish(&x, "nowhere", BasicPublishOptions { mandatory: true, ..Default::default() }, b"lost", BasicProperties::default())
        .await
        .ctx("mandatory basic.publish")?;
    let confirmation = within("publisher confirm", confirm).await?.ctx("publisher confirm")?;
    ensure(confirmation.is_ack(), format!("confirmation {confirmation:?}"))?;
    let ret = confirmation.take_message().ok_or("no basic.return came with the confirm")?;
    ensure(ret.reply_code == 312, format!("reply code {}, want 312", ret.reply_code))?;
    ensure(ret.reply_text.as_str() == "NO_ROUTE", format!("reply text {:?}", ret.reply_text))?;
    ensure(ret.delivery.data == b("lost"), "returned body differs")?;
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn confirms_sync(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.ctx("confirm.select")?;
    let q = tmp_queue(&ch).await?;
    let mut confirms = Vec::new();
    for i in 0..100 {
        let pc = ch
            .basic_publish("", &q, BasicPublishOptions::default(), format!("m{i}").as_bytes(), BasicProperties::default())
            .await
            .ctx("basic.publish")?;
        confirms.push(pc);
    }
    for (i, pc) in confirms.into_iter().enumerate() {
        let confirmation = within("publisher confirm", pc).await?.ctx("publisher confirm")?;
        ensure(matches!(confirmation, Confirmation::Ack(None)), format!("publish {i}: {confirmation:?}"))?;
    }
    let returned = within("wait_for_confirms", ch.wait_for_confirms()).await?.ctx("wait_for_confirms")?;
    ensure(returned.is_empty(), format!("{} returned", returned.len()))?;
    let n = count_eq(&ch, &q, 100).await?;
    ensure(n == 100, format!("queue holds {n}, want 100"))?;
    close(c).await?;
    Ok(Outcome::Pass("100 PublisherConfirm futures awaited: all Ack".into()))
}

async fn confirms_async(_u: Url) -> R {
    Ok(Outcome::Na(
        "lapin offers confirms only as awaitable futures (PublisherConfirm, Channel::wait_for_confirms); it has no callback or listener for acks".into(),
    ))
}

async fn manual_ack(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    for i in 0..10 {
        publish(&ch, "", &q, format!("{i}").as_bytes()).await?;
    }
    let mut consumer = consume(&ch, &q, false).await?;
    let mut got = Vec::new();
    for _ in 0..10 {
        let d = next(&mut consumer, "delivery").await?;
        got.push(String::from_utf8_lossy(&d.data).into_owned());
        d.acker.ack(BasicAckOptions::default()).await.ctx("ack")?;
    }
    let want: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    ensure(got == want, format!("got {got:?}"))?;
    ch.basic_cancel(consumer.tag().as_str(), BasicCancelOptions::default()).await.ctx("basic.cancel")?;
    // Closing the channel would requeue anything left unacked; the queue must stay empty.
    close_channel(&ch).await?;
    let ch2 = chan(&c).await?;
    let n = count(&ch2, &q).await?;
    ensure(n == 0, format!("{n} messages left after acking all"))?;
    expect_empty(&ch2, &q, "message left after acking all").await?;
    close(c).await?;
    pass()
}

async fn nack_requeue(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    publish(&ch, "", &q, b"again").await?;
    let mut consumer = consume(&ch, &q, false).await?;
    let first = next(&mut consumer, "first delivery").await?;
    ensure(!first.redelivered, "first delivery already marked redelivered")?;
    first.acker.nack(BasicNackOptions { requeue: true, multiple: false }).await.ctx("basic.nack")?;
    let second = next(&mut consumer, "redelivery").await?;
    ensure(second.data == b("again"), "redelivered body differs")?;
    ensure(second.redelivered, "redelivered flag not set after nack with requeue")?;
    second.acker.ack(BasicAckOptions::default()).await.ctx("ack")?;
    close(c).await?;
    pass()
}

async fn reject(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    publish(&ch, "", &q, b"bad").await?;
    let m = get_one(&ch, &q, false).await?;
    ensure(m.delivery.data == b("bad"), "body differs")?;
    ch.basic_reject(m.delivery.delivery_tag, BasicRejectOptions { requeue: false }).await.ctx("basic.reject")?;
    expect_only_sentinel(&ch, &q, "rejected message came back").await?;
    let n = count(&ch, &q).await?;
    ensure(n == 0, format!("{n} messages after reject"))?;
    close(c).await?;
    pass()
}

async fn prefetch_fair(u: Url) -> R {
    let c = open(&u).await?;
    let pubch = chan(&c).await?;
    let cha = chan(&c).await?;
    let chb = chan(&c).await?;
    let q = tmp_queue(&pubch).await?;
    for ch in [&cha, &chb] {
        ch.basic_qos(1, BasicQosOptions::default()).await.ctx("basic.qos")?;
    }
    let mut ca = consume(&cha, &q, false).await?;
    publish(&pubch, "", &q, b"0").await?;
    let held = next(&mut ca, "consumer A's first message").await?;
    let mut cb = consume(&chb, &q, false).await?;
    for i in 1..=4 {
        publish(&pubch, "", &q, format!("{i}").as_bytes()).await?;
    }
    let mut got_b = Vec::new();
    for _ in 0..4 {
        let d = next(&mut cb, "consumer B's messages").await?;
        got_b.push(String::from_utf8_lossy(&d.data).into_owned());
        d.acker.ack(BasicAckOptions::default()).await.ctx("ack")?;
    }
    let extra = tokio::time::timeout(Duration::from_millis(200), ca.next()).await;
    ensure(extra.is_err(), "consumer A got a second message while holding one unacked")?;
    ensure(got_b == ["1", "2", "3", "4"], format!("consumer B got {got_b:?}"))?;
    held.acker.ack(BasicAckOptions::default()).await.ctx("ack")?;
    close(c).await?;
    pass()
}

async fn basic_get(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    for i in 0..3 {
        publish(&ch, "", &q, format!("{i}").as_bytes()).await?;
    }
    let n = count_eq(&ch, &q, 3).await?;
    ensure(n == 3, format!("queue holds {n}, want 3"))?;
    let m = get(&ch, &q, false).await?.ok_or("get-empty on a queue holding 3")?;
    ensure(m.delivery.data == b("0"), format!("first get body {:?}", String::from_utf8_lossy(&m.delivery.data)))?;
    ensure(m.message_count == 2, format!("get-ok message-count {}, want 2", m.message_count))?;
    ack(&ch, m.delivery.delivery_tag).await?;
    let rest = drain(&ch, &q, 2).await?;
    ensure(rest.len() == 2, format!("drained {} more, want 2", rest.len()))?;
    ensure(get(&ch, &q, true).await?.is_none(), "empty queue did not give get-empty")?;
    close(c).await?;
    pass()
}

async fn roundtrip_body(u: Url, body: Vec<u8>) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    publish(&ch, "", &q, &body).await?;
    let got = drain(&ch, &q, 1).await?;
    ensure(got.len() == 1, "message did not arrive")?;
    ensure(got[0].len() == body.len(), format!("body length {} != {}", got[0].len(), body.len()))?;
    ensure(got[0] == body, "body bytes differ")?;
    // And through a consumer too.
    publish(&ch, "", &q, &body).await?;
    let mut consumer = consume(&ch, &q, true).await?;
    let d = next(&mut consumer, "delivery").await?;
    ensure(d.data == body, "consumed body differs")?;
    close(c).await?;
    pass()
}

async fn large_message(u: Url) -> R {
    roundtrip_body(u, pattern(1 << 20)).await
}

async fn empty_message(u: Url) -> R {
    roundtrip_body(u, Vec::new()).await
}

async fn properties_roundtrip(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("gzip".into())
        .with_headers(table(&[("h1", "v1")]))
        .with_delivery_mode(2)
        .with_priority(5)
        .with_correlation_id("corr-1".into())
        .with_reply_to("reply.queue".into())
        .with_expiration("60000".into())
        .with_message_id("msg-1".into())
        .with_timestamp(1_700_000_000)
        .with_type("example.type".into())
        .with_user_id(u.user.as_str().into())
        .with_app_id("interop-lapin".into());
    publish_p(&ch, "", &q, b"props", props.clone()).await?;
    let got = get_one(&ch, &q, true).await?.delivery.properties;
    let mut bad = Vec::new();
    macro_rules! chk {
        ($($f:ident),*) => {$(
            if got.$f() != props.$f() {
                bad.push(format!("{}: sent {:?}, got {:?}", stringify!($f), props.$f(), got.$f()));
            }
        )*};
    }
    chk!(content_type, content_encoding, headers, delivery_mode, priority, correlation_id, reply_to, expiration, message_id, timestamp, kind, user_id, app_id);
    ensure(bad.is_empty(), format!("differs: {}", bad.join(", ")))?;
    close(c).await?;
    pass()
}

async fn headers_types(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    let mut nested = FieldTable::default();
    nested.insert("inner".into(), lstr("value"));
    nested.insert("n".into(), AMQPValue::LongInt(7));
    let array = FieldArray::from(vec![lstr("a"), AMQPValue::LongInt(1), AMQPValue::Boolean(true)]);
    let values: Vec<(&str, AMQPValue)> = vec![
        ("string", lstr("héllo")),
        ("i8", AMQPValue::ShortShortInt(-8)),
        ("u8", AMQPValue::ShortShortUInt(200)),
        ("i16", AMQPValue::ShortInt(-1600)),
        ("u16", AMQPValue::ShortUInt(60000)),
        ("i32", AMQPValue::LongInt(-320000)),
        ("u32", AMQPValue::LongUInt(4_000_000_000)),
        ("i64", AMQPValue::LongLongInt(-64_000_000_000)),
        ("bool", AMQPValue::Boolean(true)),
        ("float", AMQPValue::Float(1.5)),
        ("double", AMQPValue::Double(2.25)),
        ("decimal", AMQPValue::DecimalValue(DecimalValue { scale: 2, value: 12345 })),
        ("timestamp", AMQPValue::Timestamp(1_700_000_000)),
        ("table", AMQPValue::FieldTable(nested)),
        ("array", AMQPValue::FieldArray(array)),
        ("bytes", AMQPValue::ByteArray(ByteArray::from(vec![0u8, 1, 2, 255]))),
        ("void", AMQPValue::Void),
    ];
    let mut headers = FieldTable::default();
    for (k, v) in &values {
        headers.insert((*k).into(), v.clone());
    }
    publish_p(&ch, "", &q, b"types", BasicProperties::default().with_headers(headers)).await?;
    let props = get_one(&ch, &q, true).await?.delivery.properties;
    let got = props.headers().clone().ok_or("no headers came back")?;
    let mut bad = Vec::new();
    for (k, v) in &values {
        match got.inner().get(*k) {
            Some(g) if g == v => {}
            other => bad.push(format!("{k}: sent {v:?}, got {other:?}")),
        }
    }
    ensure(got.inner().len() == values.len(), format!("{} headers back, sent {}", got.inner().len(), values.len()))?;
    ensure(bad.is_empty(), bad.join("; "))?;
    close(c).await?;
    Ok(Outcome::Pass("S b B s u I i l t f d D T F A x V".into()))
}

async fn passive_missing_404(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let missing = uniq("missing");
    let res = ch
        .queue_declare(&missing, QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
        .await;
    match res {
        Ok(q) => return Err(format!("passive declare of a missing queue succeeded: {q:?}")),
        Err(lapin::Error::ProtocolError(e)) => {
            ensure(e.get_id() == 404, format!("reply code {}, want 404 ({e})", e.get_id()))?;
            ensure(
                matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)),
                format!("error kind {:?}", e.kind()),
            )?;
            ensure(e.get_message().as_str().starts_with("NOT_FOUND"), format!("reply text {:?}", e.get_message()))?;
        }
        Err(other) => return Err(format!("expected lapin::Error::ProtocolError(404), got {other:?}")),
    }
    ensure(!ch.status().connected(), "channel still open after channel.close")?;
    // The connection survives: a fresh channel works.
    let ch2 = chan(&c).await?;
    tmp_queue(&ch2).await?;
    close(c).await?;
    Ok(Outcome::Pass("lapin::Error::ProtocolError, AMQPError id 404 NOTFOUND".into()))
}

async fn exchange_to_exchange(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let (xa, xb) = (uniq("e2e.src"), uniq("e2e.dst"));
    declare_exchange(&ch, &xa, ExchangeKind::Direct).await?;
    declare_exchange(&ch, &xb, ExchangeKind::Fanout).await?;
    ch.exchange_bind(&xb, &xa, "k", ExchangeBindOptions::default(), FieldTable::default())
        .await
        .ctx("exchange.bind")?;
    let q = tmp_queue(&ch).await?;
    bind(&ch, &q, &xb, "").await?;
    publish(&ch, &xa, "k", b"via").await?;
    let got = drain(&ch, &q, 1).await?;
    ensure(got == vec![b("via")], format!("got {got:?}"))?;
    delete_exchange(&ch, &xa).await?;
    delete_exchange(&ch, &xb).await?;
    close(c).await?;
    pass()
}

async fn tx_commit(u: Url) -> R {
    let c = open(&u).await?;
    let tx = chan(&c).await?;
    let other = chan(&c).await?;
    let q = tmp_queue(&other).await?;
    tx.tx_select().await.ctx("tx.select")?;
    publish(&tx, "", &q, b"tx").await?;
    // A round trip on the tx channel makes sure the publish reached the broker.
    count(&tx, &q).await?;
    expect_empty(&other, &q, "uncommitted publish visible").await?;
    tx.tx_commit().await.ctx("tx.commit")?;
    let got = drain(&other, &q, 1).await?;
    ensure(got == vec![b("tx")], format!("after commit got {got:?}"))?;
    close(c).await?;
    pass()
}

async fn tx_rollback(u: Url) -> R {
    let c = open(&u).await?;
    let tx = chan(&c).await?;
    let q = tmp_queue(&tx).await?;
    tx.tx_select().await.ctx("tx.select")?;
    publish(&tx, "", &q, b"never").await?;
    tx.tx_rollback().await.ctx("tx.rollback")?;
    // A sentinel committed after the rollback must be the only message in the queue.
    publish(&tx, "", &q, b"sentinel").await?;
    tx.tx_commit().await.ctx("tx.commit")?;
    let got = drain(&tx, &q, 1).await?;
    let shown: Vec<String> = got.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    ensure(got == vec![b("sentinel")], format!("rolled-back publish arrived: got {shown:?}"))?;
    expect_empty(&tx, &q, "rolled-back publish arrived after the sentinel").await?;
    close(c).await?;
    pass()
}

async fn channels_100(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    let mut chans = Vec::new();
    for _ in 0..100 {
        chans.push(chan(&c).await?);
    }
    let mut ids: Vec<u16> = chans.iter().map(|ch| ch.id()).collect();
    ids.sort();
    ids.dedup();
    ensure(ids.len() == 100, "channel ids not distinct")?;
    for (i, ch) in chans.iter().enumerate() {
        publish(ch, "", &q, format!("{i}").as_bytes()).await?;
    }
    for ch in chans.iter() {
        count(ch, &q).await?; // flush each channel's publish
    }
    for ch in chans.iter() {
        close_channel(ch).await?;
    }
    let n = count_eq(&ch, &q, 100).await?;
    ensure(n == 100, format!("{n} messages from 100 channels"))?;
    close(c).await?;
    pass()
}

async fn close_requeues(u: Url) -> R {
    let c = open(&u).await?;
    let a = chan(&c).await?;
    let other = chan(&c).await?;
    let q = tmp_queue(&other).await?;
    publish(&other, "", &q, b"unacked").await?;
    let mut consumer = consume(&a, &q, false).await?;
    let d = next(&mut consumer, "delivery").await?;
    ensure(!d.redelivered, "first delivery already redelivered")?;
    close_channel(&a).await?;
    let m = get_one(&other, &q, true).await.map_err(|_| "message did not come back after the channel closed".to_string())?;
    ensure(m.delivery.data == b("unacked"), "requeued body differs")?;
    ensure(m.delivery.redelivered, "requeued message not marked redelivered")?;
    close(c).await?;
    pass()
}

async fn server_cancel(u: Url) -> R {
    let c = open(&u).await?;
    let a = chan(&c).await?;
    let other = chan(&c).await?;
    let q = uniq("cancel");
    other.queue_declare(&q, QueueDeclareOptions::default(), FieldTable::default()).await.ctx("queue.declare")?;
    let mut consumer = consume(&a, &q, false).await?;
    other.queue_delete(&q, QueueDeleteOptions::default()).await.ctx("queue.delete")?;
    // lapin ends the consumer's stream when the broker cancels it.
    match within("basic.cancel", consumer.next()).await? {
        None => {}
        Some(Ok(d)) => return Err(format!("unexpected delivery {:?}", d.data)),
        Some(Err(e)) => return Err(format!("consumer error instead of cancel: {e:?}")),
    }
    ensure(consumer.state() == ConsumerState::Canceled, format!("consumer state {:?}", consumer.state()))?;
    ensure(a.status().connected(), "channel closed by the cancel")?;
    close(c).await?;
    Ok(Outcome::Pass("consumer stream ended, state Canceled".into()))
}

async fn clean_close(u: Url) -> R {
    let c = open(&u).await?;
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = errors.clone();
    c.on_error(move |e| seen.lock().unwrap_or_else(|p| p.into_inner()).push(e));
    let ch = chan(&c).await?;
    tmp_queue(&ch).await?;
    close_channel(&ch).await?;
    // close() resolves on connection.close-ok; lapin's I/O loop then marks the connection closed.
    within("connection close", c.close(200, "bye")).await?.ctx("connection close")?;
    for _ in 0..100 {
        if !c.status().closing() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if c.status().closed() {
        return pass();
    }
    // lapin 2.5 removes a closed channel from its table in a task of its own; when
    // connection.close-ok is handled before that task ran, the channel is removed a second
    // time and the connection flips from Closed to Error with InvalidChannel(id). Seen about
    // once in a few hundred runs on a loaded machine, against RabbitMQ 3.10.8 as against
    // Warren. That error, and only that one, is the client's own race, not the broker's.
    let errors = errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let lapin_race = !errors.is_empty()
        && errors.iter().all(|e| matches!(e, lapin::Error::InvalidChannel(id) if *id == ch.id()));
    ensure(
        lapin_race,
        format!("connection state {:?} after close, errors {errors:?}", c.status().state()),
    )?;
    Ok(Outcome::Pass("closed; lapin then raced its own channel removal (InvalidChannel)".into()))
}

// ---------------------------------------------------------------- queue extensions

fn args(pairs: Vec<(&str, AMQPValue)>) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert(ShortString::from(k), v);
    }
    t
}

/// A named exclusive queue with arguments (gone when the connection closes).
async fn arg_queue(ch: &Channel, name: &str, args: FieldTable) -> Result<String, String> {
    let q = ch
        .queue_declare(name, QueueDeclareOptions { exclusive: true, ..Default::default() }, args)
        .await
        .ctx(&format!("queue.declare {name}"))?;
    Ok(q.name().as_str().to_string())
}

/// Publishes each body through the default exchange on a channel in confirm mode, awaiting each
/// confirm in turn: true for an ack, false for a nack.
async fn publish_confirmed(ch: &Channel, q: &str, bodies: &[(&str, BasicProperties)]) -> Result<Vec<bool>, String> {
    let mut acks = Vec::new();
    for (body, props) in bodies {
        let pc = ch
            .basic_publish("", q, BasicPublishOptions::default(), body.as_bytes(), props.clone())
            .await
            .ctx("basic.publish")?;
        match within("publisher confirm", pc).await?.ctx("publisher confirm")? {
            Confirmation::Ack(_) => acks.push(true),
            Confirmation::Nack(_) => acks.push(false),
            Confirmation::NotRequested => return Err("confirm not requested".into()),
        }
    }
    Ok(acks)
}

fn as_str(v: Option<&AMQPValue>) -> Option<String> {
    match v? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

fn as_int(v: Option<&AMQPValue>) -> Option<i64> {
    match v? {
        AMQPValue::ShortShortInt(n) => Some(*n as i64),
        AMQPValue::ShortShortUInt(n) => Some(*n as i64),
        AMQPValue::ShortInt(n) => Some(*n as i64),
        AMQPValue::ShortUInt(n) => Some(*n as i64),
        AMQPValue::LongInt(n) => Some(*n as i64),
        AMQPValue::LongUInt(n) => Some(*n as i64),
        AMQPValue::LongLongInt(n) => Some(*n),
        _ => None,
    }
}

/// The x-death entries of a message's headers.
fn deaths(headers: &FieldTable) -> Result<Vec<FieldTable>, String> {
    match headers.inner().get("x-death") {
        Some(AMQPValue::FieldArray(a)) => a
            .as_slice()
            .iter()
            .map(|v| match v {
                AMQPValue::FieldTable(t) => Ok(t.clone()),
                other => Err(format!("x-death entry is {other:?}")),
            })
            .collect(),
        other => Err(format!("x-death is {other:?}")),
    }
}

/// Checks one x-death entry against queue, reason and count.
fn check_death(d: &FieldTable, i: usize, queue: &str, reason: &str, n: i64) -> Result<(), String> {
    let t = d.inner();
    let (gq, gr, gc) = (as_str(t.get("queue")), as_str(t.get("reason")), as_int(t.get("count")));
    ensure(
        gq.as_deref() == Some(queue) && gr.as_deref() == Some(reason) && gc == Some(n),
        format!("x-death[{i}] = {{queue {gq:?}, reason {gr:?}, count {:?}}}, want {{{queue}, {reason}, {n}}}", t.get("count")),
    )
}

async fn queue_arg_invalid(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let q = uniq("maxprio");
    let res = ch
        .queue_declare(
            &q,
            QueueDeclareOptions { exclusive: true, ..Default::default() },
            args(vec![("x-max-priority", AMQPValue::LongInt(256))]),
        )
        .await;
    match res {
        Ok(_) => return Err("declare with x-max-priority 256 succeeded".into()),
        Err(lapin::Error::ProtocolError(e)) => {
            ensure(e.get_id() == 406, format!("reply code {}, want 406 ({e})", e.get_id()))?;
            let want = format!(
                "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{q}' in vhost '/': {{max_value_exceeded,256}}"
            );
            ensure(e.get_message().as_str() == want, format!("reply text {:?}, want {want:?}", e.get_message()))?;
        }
        Err(other) => return Err(format!("expected lapin::Error::ProtocolError(406), got {other:?}")),
    }
    let ch2 = chan(&c).await?;
    tmp_queue(&ch2).await?;
    close(c).await?;
    Ok(Outcome::Pass("lapin::Error::ProtocolError, AMQPError id 406".into()))
}

async fn message_ttl(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let ttl = arg_queue(&ch, &uniq("ttl"), args(vec![("x-message-ttl", AMQPValue::LongInt(100))])).await?;
    let plain = tmp_queue(&ch).await?;
    publish(&ch, "", &ttl, b"queue-ttl").await?;
    publish_p(&ch, "", &plain, b"message-ttl", BasicProperties::default().with_expiration("50".into())).await?;
    let n = count_eq(&ch, &ttl, 0).await?;
    ensure(n == 0, format!("queue with x-message-ttl 100 still holds {n}"))?;
    let n = count_eq(&ch, &plain, 0).await?;
    ensure(n == 0, format!("message with expiration 50 still there ({n})"))?;
    publish(&ch, "", &plain, b"stays").await?;
    let n = count_eq(&ch, &plain, 1).await?;
    ensure(n == 1, format!("message without expiration: count {n}"))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = drain(&ch, &plain, 1).await?;
    ensure(got == vec![b("stays")], "message without expiration gone after 300 ms")?;
    close(c).await?;
    pass()
}

async fn dead_letter(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let dlx = uniq("dlx");
    declare_exchange(&ch, &dlx, ExchangeKind::Fanout).await?;
    let dlq = tmp_queue(&ch).await?;
    bind(&ch, &dlq, &dlx, "").await?;
    let work = arg_queue(&ch, &uniq("work"), args(vec![("x-dead-letter-exchange", lstr(&dlx))])).await?;
    publish(&ch, "", &work, b"doomed").await?;
    let m = get_one(&ch, &work, false).await?;
    ch.basic_reject(m.delivery.delivery_tag, BasicRejectOptions { requeue: false }).await.ctx("basic.reject")?;
    let dead = get_one(&ch, &dlq, true).await.map_err(|_| "rejected message did not reach the dead-letter queue".to_string())?;
    ensure(dead.delivery.data == b("doomed"), "dead-lettered body differs")?;
    let h = dead.delivery.properties.headers().clone().ok_or("dead-lettered message has no headers")?;
    let ds = deaths(&h)?;
    ensure(!ds.is_empty(), "x-death is empty")?;
    check_death(&ds[0], 0, &work, "rejected", 1)?;
    let first = as_str(h.inner().get("x-first-death-reason"));
    ensure(first.as_deref() == Some("rejected"), format!("x-first-death-reason {first:?}"))?;
    let first_q = as_str(h.inner().get("x-first-death-queue"));
    ensure(first_q.as_deref() == Some(work.as_str()), format!("x-first-death-queue {first_q:?}"))?;
    delete_exchange(&ch, &dlx).await?;
    close(c).await?;
    pass()
}

/// amqps with lapin's rustls connector: OwnedTLSConfig.cert_chain = the test CA (added to the
/// root store; rustls checks the chain and the URL's host against the certificate's IP SAN).
async fn vhost_user_tls(_u: Url) -> R {
    let t = match tls_setup()? {
        Ok(t) => t,
        Err(na) => return Ok(na),
    };
    let ca = std::fs::read_to_string(&t.ca).ctx("read the CA")?;
    let config = lapin::tcp::OwnedTLSConfig { identity: None, cert_chain: Some(ca) };
    let c = within("connection open", Connection::connect_with_config(&t.tls.raw, ConnectionProperties::default(), config))
        .await?
        .ctx("amqps connection open")?;
    let (x, q, denied, body) = tls_names();
    // Every channel lives until the connection is closed (see quorum_queue).
    let ch = chan(&c).await?;
    let bad = chan(&c).await?;
    let cleanup = chan(&c).await?;
    let outcome = async {
        declare_exchange(&ch, &x, ExchangeKind::Direct).await?;
        ch.queue_declare(&q, QueueDeclareOptions::default(), FieldTable::default()).await.ctx("queue.declare")?;
        bind(&ch, &q, &x, "k").await?;
        publish(&ch, &x, "k", &body).await?; // a named exchange: "" is amq.default, outside ^tls-.*
        let m = get_one(&ch, &q, true).await?;
        ensure(m.delivery.data == body, format!("basic.get gave {} other bytes", m.delivery.data.len()))?;
        match bad.queue_declare(&denied, QueueDeclareOptions::default(), FieldTable::default()).await {
            Ok(_) => return Err(format!("queue {denied} was declared outside the user's configure permission")),
            Err(lapin::Error::ProtocolError(e)) => {
                let kind = refused_text_kind(e.get_message().as_str(), &denied, &t.tls.vhost, &t.tls.user);
                match kind {
                    Some(kind) if e.get_id() == 403 => Ok(kind),
                    _ => Err(format!("channel closed with {e}")),
                }
            }
            Err(other) => Err(format!("expected lapin::Error::ProtocolError(403), got {other:?}")),
        }
    }
    .await;
    let _ = cleanup.queue_delete(&q, QueueDeleteOptions::default()).await;
    let _ = cleanup.exchange_delete(&x, ExchangeDeleteOptions::default()).await;
    let text403 = outcome?;
    close(c).await?;
    let want = format!("NOT_ALLOWED - access to vhost '/' refused for user '{}'", t.refused.user);
    let refused = within("connection open", Connection::connect(&t.refused.raw, ConnectionProperties::default())).await?;
    let detail = match refused {
        Ok(c) => {
            let _ = c.close(200, "bye").await;
            return Err(format!("{} logged in to vhost '/'", t.refused.user));
        }
        Err(lapin::Error::ProtocolError(e)) => {
            ensure(e.get_id() == 530 && e.get_message().as_str() == want, format!("connection closed with {e}"))?;
            "lapin::Error::ProtocolError 530 with the text"
        }
        Err(other) => return Err(format!("expected lapin::Error::ProtocolError(530), got {other:?}")),
    };
    Ok(Outcome::Pass(format!(
        "Connection::connect_with_config(amqps URL, OwnedTLSConfig {{ cert_chain: CA }}); {text403}; vhost '/' refused: {detail}"
    )))
}

async fn quorum_queue(u: Url) -> R {
    let c = open(&u).await?;
    let (q, dlx, dlq) = (uniq("quorum"), uniq("qdlx"), uniq("qdlq"));
    // Every channel lives until the connection is closed: lapin closes a dropped channel in a
    // task of its own, which would race connection.close.
    let bad = chan(&c).await?;
    let ch = chan(&c).await?;
    let cleanup = chan(&c).await?;
    let outcome = quorum_queue_steps(&bad, &ch, &q, &dlx, &dlq).await;
    // Cleanup whatever happened (the queues are durable, not exclusive).
    let _ = cleanup.queue_delete(&q, QueueDeleteOptions::default()).await;
    let _ = cleanup.queue_delete(&dlq, QueueDeleteOptions::default()).await;
    let _ = cleanup.exchange_delete(&dlx, ExchangeDeleteOptions::default()).await;
    let outcome = outcome?;
    close(c).await?;
    Ok(outcome)
}

async fn quorum_queue_steps(bad: &Channel, ch: &Channel, q: &str, dlx: &str, dlq: &str) -> R {
    let res = bad
        .queue_declare(q, QueueDeclareOptions { durable: false, ..Default::default() }, args(vec![("x-queue-type", lstr("quorum"))]))
        .await;
    match res {
        Ok(_) => return Err("a non-durable quorum queue was declared".into()),
        Err(lapin::Error::ProtocolError(e)) => {
            ensure(e.get_id() == 406, format!("reply code {}, want 406 ({e})", e.get_id()))?;
            let text = e.get_message().as_str();
            ensure(text.contains("invalid property 'non-durable'"), format!("reply text {text:?}"))?;
        }
        Err(other) => return Err(format!("expected lapin::Error::ProtocolError(406), got {other:?}")),
    }
    declare_exchange(ch, dlx, ExchangeKind::Fanout).await?;
    ch.queue_declare(dlq, QueueDeclareOptions::default(), FieldTable::default()).await.ctx("queue.declare dlq")?;
    bind(ch, dlq, dlx, "").await?;
    ch.queue_declare(
        q,
        QueueDeclareOptions { durable: true, ..Default::default() },
        args(vec![
            ("x-queue-type", lstr("quorum")),
            ("x-delivery-limit", AMQPValue::LongInt(1)),
            ("x-dead-letter-exchange", lstr(dlx)),
        ]),
    )
    .await
    .ctx("queue.declare quorum")?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.ctx("confirm.select")?;
    let acks = publish_confirmed(ch, q, &[("quorum", BasicProperties::default().with_delivery_mode(1))]).await?;
    ensure(acks == [true], "publish nacked")?;
    let m = get_one(ch, q, false).await?;
    ensure(m.delivery.data == b("quorum"), "body differs")?;
    ensure(!m.delivery.redelivered, "first delivery flagged redelivered")?;
    let first = m.delivery.properties.headers().as_ref().and_then(|h| h.inner().get("x-delivery-count").cloned());
    // RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
    ensure(first.is_none() || as_int(first.as_ref()) == Some(0), format!("first delivery has x-delivery-count {first:?}"))?;
    ch.basic_reject(m.delivery.delivery_tag, BasicRejectOptions { requeue: true }).await.ctx("basic.reject")?;
    let m = get_one(ch, q, false).await.map_err(|_| "the requeued message did not come back".to_string())?;
    ensure(m.delivery.redelivered, "second delivery not flagged redelivered")?;
    let count = m.delivery.properties.headers().as_ref().and_then(|h| h.inner().get("x-delivery-count").cloned());
    ensure(as_int(count.as_ref()) == Some(1), format!("second delivery has x-delivery-count {count:?}"))?;
    ch.basic_reject(m.delivery.delivery_tag, BasicRejectOptions { requeue: true }).await.ctx("basic.reject")?;
    let dead = get_one(ch, dlq, true).await.map_err(|_| "the message did not reach the dead-letter queue".to_string())?;
    ensure(dead.delivery.data == b("quorum"), "dead-lettered body differs")?;
    let h = dead.delivery.properties.headers().clone().ok_or("dead-lettered message has no headers")?;
    let ds = deaths(&h)?;
    ensure(!ds.is_empty(), "x-death is empty")?;
    let (reason, queue) = (as_str(ds[0].inner().get("reason")), as_str(ds[0].inner().get("queue")));
    ensure(
        reason.as_deref() == Some("delivery_limit") && queue.as_deref() == Some(q),
        format!("x-death[0] = {{reason {reason:?}, queue {queue:?}}}"),
    )?;
    expect_empty(ch, q, "the quorum queue still holds the message").await?;
    let first = match first {
        None => "absent".to_string(),
        Some(v) => format!("{v:?}"),
    };
    Ok(Outcome::Pass(format!("first delivery x-delivery-count {first}")))
}

async fn stream_queue(u: Url) -> R {
    let c = open(&u).await?;
    let sq = uniq("stream");
    // Every channel lives until the connection is closed (see quorum_queue).
    let bad = chan(&c).await?;
    let ch = chan(&c).await?;
    let first = chan(&c).await?;
    let third = chan(&c).await?;
    let cleanup = chan(&c).await?;
    let outcome = stream_queue_steps(&u, &bad, &ch, &first, &third, &sq).await;
    // Cleanup whatever happened (a stream is durable).
    let _ = cleanup.queue_delete(&sq, QueueDeleteOptions::default()).await;
    let outcome = outcome?;
    close(c).await?;
    Ok(outcome)
}

/// Consumes stream `sq` on `ch` from x-stream-offset `offset` (prefetch 10, manual acks):
/// m<from>..m4, each with header x-stream-offset a long (LongLongInt, 'l') equal to its index, and no more.
async fn stream_consume(ch: &Channel, sq: &str, offset: AMQPValue, from: i64) -> Result<(), String> {
    ch.basic_qos(10, BasicQosOptions::default()).await.ctx("basic.qos")?;
    let mut consumer = ch
        .basic_consume(sq, "", BasicConsumeOptions::default(), args(vec![("x-stream-offset", offset.clone())]))
        .await
        .ctx("basic.consume with x-stream-offset")?;
    for i in from..5 {
        let d = next(&mut consumer, &format!("m{i} from x-stream-offset {offset:?}")).await?;
        let o = d.properties.headers().as_ref().and_then(|h| h.inner().get("x-stream-offset").cloned());
        ensure(
            d.data == b(&format!("m{i}")) && o == Some(AMQPValue::LongLongInt(i)),
            format!(
                "x-stream-offset {offset:?}: got {:?} with x-stream-offset {o:?}, want m{i} with LongLongInt({i})",
                String::from_utf8_lossy(&d.data)
            ),
        )?;
        ack(ch, d.delivery_tag).await?;
    }
    let extra = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await;
    ensure(extra.is_err(), format!("x-stream-offset {offset:?}: an extra delivery {extra:?}"))?;
    // Cancelled before S is deleted, as amqprs needs it (see amqprs-scenarios.rs).
    ch.basic_cancel(consumer.tag().as_str(), BasicCancelOptions::default()).await.ctx("basic.cancel")
}

async fn stream_queue_steps(u: &Url, bad: &Channel, ch: &Channel, first: &Channel, third: &Channel, sq: &str) -> R {
    let stream = || args(vec![("x-queue-type", lstr("stream"))]);
    match bad.queue_declare(sq, QueueDeclareOptions { durable: false, ..Default::default() }, stream()).await {
        Ok(_) => return Err("a non-durable stream was declared".into()),
        Err(lapin::Error::ProtocolError(e)) => {
            let want = format!("PRECONDITION_FAILED - invalid property 'non-durable' for queue '{sq}' in vhost '/'");
            ensure(e.get_id() == 406 && e.get_message().as_str() == want, format!("non-durable declare: {e}"))?;
        }
        Err(other) => return Err(format!("expected lapin::Error::ProtocolError(406), got {other:?}")),
    }
    ch.queue_declare(sq, QueueDeclareOptions { durable: true, ..Default::default() }, stream())
        .await
        .ctx("queue.declare stream")?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.ctx("confirm.select")?;
    let names: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    let bodies: Vec<(&str, BasicProperties)> =
        names.iter().map(|n| (n.as_str(), BasicProperties::default().with_delivery_mode(2))).collect();
    let acks = publish_confirmed(ch, sq, &bodies).await?;
    ensure(acks == [true; 5], format!("publishes confirmed {acks:?}"))?;
    stream_consume(first, sq, lstr("first"), 0).await?;
    stream_consume(third, sq, AMQPValue::LongInt(3), 3).await?;
    let other = open(u).await?;
    let och = chan(&other).await?;
    let want = format!("NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{sq}' in vhost '/'");
    match within("basic.get", och.basic_get(sq, BasicGetOptions { no_ack: false })).await? {
        Ok(m) => return Err(format!("basic.get on a stream succeeded: {m:?}")),
        Err(lapin::Error::ProtocolError(e)) => {
            ensure(e.get_id() == 540 && e.get_message().as_str() == want, format!("basic.get: {e}"))?;
        }
        Err(other) => return Err(format!("expected lapin::Error::ProtocolError(540), got {other:?}")),
    }
    // lapin updates the connection's status after it fails the call: wait for it (bounded).
    for _ in 0..250 {
        if !other.status().connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure(!other.status().connected(), "basic.get left the connection open")?;
    ch.queue_delete(sq, QueueDeleteOptions::default()).await.ctx("queue.delete")?;
    Ok(Outcome::Pass(
        "basic_consume(.., FieldTable {x-stream-offset: \"first\" | LongInt(3)}) after basic_qos(10); x-stream-offset headers \
         are LongLongInt ('l'); basic.get closes the connection with 540 (lapin::Error::ProtocolError)"
            .into(),
    ))
}

async fn retry_with_delay(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let (work, delay) = (uniq("work"), uniq("delay"));
    arg_queue(&ch, &work, args(vec![("x-dead-letter-exchange", lstr("")), ("x-dead-letter-routing-key", lstr(&delay))])).await?;
    arg_queue(
        &ch,
        &delay,
        args(vec![
            ("x-message-ttl", AMQPValue::LongInt(50)),
            ("x-dead-letter-exchange", lstr("")),
            ("x-dead-letter-routing-key", lstr(&work)),
        ]),
    )
    .await?;
    publish(&ch, "", &work, b"job").await?;
    for round in 1..=3 {
        let m = get_one(&ch, &work, false).await.map_err(|_| format!("delivery {round} did not arrive in the work queue"))?;
        ch.basic_reject(m.delivery.delivery_tag, BasicRejectOptions { requeue: false }).await.ctx("basic.reject")?;
    }
    let m = get_one(&ch, &work, true).await.map_err(|_| "fourth delivery did not arrive in the work queue".to_string())?;
    ensure(m.delivery.data == b("job"), "body differs")?;
    let h = m.delivery.properties.headers().clone().ok_or("fourth delivery has no headers")?;
    let ds = deaths(&h)?;
    ensure(ds.len() == 2, format!("x-death has {} entries, want 2", ds.len()))?;
    check_death(&ds[0], 0, &delay, "expired", 3)?;
    check_death(&ds[1], 1, &work, "rejected", 3)?;
    close(c).await?;
    pass()
}

async fn max_length(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.ctx("confirm.select")?;
    let plain = BasicProperties::default;
    let head = arg_queue(&ch, &uniq("drophead"), args(vec![("x-max-length", AMQPValue::LongInt(2))])).await?;
    let acks = publish_confirmed(&ch, &head, &[("1", plain()), ("2", plain()), ("3", plain()), ("4", plain())]).await?;
    ensure(acks == [true, true, true, true], format!("drop-head confirms {acks:?}"))?;
    let got = drain(&ch, &head, 3).await?;
    ensure(got == vec![b("3"), b("4")], format!("drop-head queue holds {:?}, want [3, 4]", got.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>()))?;
    let rej = arg_queue(
        &ch,
        &uniq("rejectpub"),
        args(vec![("x-max-length", AMQPValue::LongInt(2)), ("x-overflow", lstr("reject-publish"))]),
    )
    .await?;
    let acks = publish_confirmed(&ch, &rej, &[("1", plain()), ("2", plain()), ("3", plain())]).await?;
    ensure(acks == [true, true, false], format!("reject-publish confirms {acks:?}, want [true, true, false]"))?;
    let n = count_eq(&ch, &rej, 2).await?;
    ensure(n == 2, format!("reject-publish queue holds {n}, want 2"))?;
    close(c).await?;
    pass()
}

async fn priority_queue(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.ctx("confirm.select")?;
    let q = arg_queue(&ch, &uniq("prio"), args(vec![("x-max-priority", AMQPValue::LongInt(10))])).await?;
    let msgs: Vec<(&str, BasicProperties)> =
        [("1", 1u8), ("9", 9), ("5", 5)].iter().map(|(b, p)| (*b, BasicProperties::default().with_priority(*p))).collect();
    let acks = publish_confirmed(&ch, &q, &msgs).await?;
    ensure(acks == [true, true, true], format!("confirms {acks:?}"))?;
    let mut consumer = consume(&ch, &q, true).await?;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(String::from_utf8_lossy(&next(&mut consumer, "delivery").await?.data).into_owned());
    }
    ensure(got == ["9", "5", "1"], format!("delivered in order {got:?}, want [9, 5, 1]"))?;
    close(c).await?;
    pass()
}

async fn single_active_consumer(u: Url) -> R {
    let c = open(&u).await?;
    let cha = chan(&c).await?;
    let chb = chan(&c).await?;
    let q = arg_queue(&cha, &uniq("sac"), args(vec![("x-single-active-consumer", AMQPValue::Boolean(true))])).await?;
    let mut ca = consume(&cha, &q, true).await?;
    let mut cb = consume(&chb, &q, true).await?;
    for i in 0..3 {
        publish(&cha, "", &q, format!("{i}").as_bytes()).await?;
    }
    for i in 0..3 {
        let d = next(&mut ca, "active consumer A's delivery").await?;
        ensure(d.data == format!("{i}").into_bytes(), format!("A got {:?}, want {i}", String::from_utf8_lossy(&d.data)))?;
    }
    if let Ok(d) = tokio::time::timeout(Duration::from_millis(100), cb.next()).await {
        return Err(format!("inactive consumer B got {d:?}"));
    }
    cha.basic_cancel(ca.tag().as_str(), BasicCancelOptions::default()).await.ctx("basic.cancel A")?;
    for i in 3..5 {
        publish(&cha, "", &q, format!("{i}").as_bytes()).await?;
    }
    for i in 3..5 {
        let d = next(&mut cb, "consumer B's delivery after A's cancel").await?;
        ensure(d.data == format!("{i}").into_bytes(), format!("B got {:?}, want {i}", String::from_utf8_lossy(&d.data)))?;
    }
    close(c).await?;
    pass()
}

async fn queue_expiry(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let (idle, used) = (uniq("expires"), uniq("expires"));
    let res = async {
        let expires = || args(vec![("x-expires", AMQPValue::LongInt(200))]);
        // The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
        ch.queue_declare(&used, QueueDeclareOptions::default(), expires()).await.ctx("queue.declare")?;
        let consumer = consume(&ch, &used, true).await?;
        ch.queue_declare(&idle, QueueDeclareOptions::default(), expires()).await.ctx("queue.declare")?;
        let start = std::time::Instant::now();
        loop {
            // Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than the
            // 200 ms: RabbitMQ renews the lease on a passive declare too.
            let probe = chan(&c).await?;
            let passive = QueueDeclareOptions { passive: true, ..Default::default() };
            match probe.queue_declare(&idle, passive, FieldTable::default()).await {
                Ok(_) => close_channel(&probe).await?,
                Err(lapin::Error::ProtocolError(e)) => {
                    ensure(e.get_id() == 404, format!("reply code {}, want 404 ({e})", e.get_id()))?;
                    break;
                }
                Err(other) => return Err(format!("expected lapin::Error::ProtocolError(404), got {other:?}")),
            }
            ensure(start.elapsed() < WAIT, "queue with x-expires 200 and no consumer still there after 5 s")?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let gone = start.elapsed().as_millis();
        let probe = chan(&c).await?;
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        probe.queue_declare(&used, passive, FieldTable::default()).await.ctx("passive declare of the consumed queue")?;
        close_channel(&probe).await?;
        ch.basic_cancel(consumer.tag().as_str(), BasicCancelOptions::default()).await.ctx("basic.cancel")?;
        Ok(gone)
    }
    .await;
    // Kept until the connection is closed: a dropped lapin Channel closes itself in a task of
    // its own, which would race connection.close.
    let cleanup = chan(&c).await;
    if let Ok(cleanup) = &cleanup {
        for q in [&idle, &used] {
            let _ = cleanup.queue_delete(q, QueueDeleteOptions::default()).await;
        }
    }
    let gone = res?;
    close(c).await?;
    drop(cleanup);
    Ok(Outcome::Pass(format!("idle queue gone after {gone} ms (ProtocolError 404); consumed one still there")))
}

async fn consumer_priority(u: Url) -> R {
    let c = open(&u).await?;
    let cha = chan(&c).await?;
    let chb = chan(&c).await?;
    let q = tmp_queue(&cha).await?;
    cha.basic_qos(2, BasicQosOptions::default()).await.ctx("basic.qos")?;
    // B first: the priority, not the order of registration, gives A the first messages.
    let mut cb = consume(&chb, &q, true).await?;
    let mut ca = cha
        .basic_consume(&q, "", BasicConsumeOptions::default(), args(vec![("x-priority", AMQPValue::LongInt(10))]))
        .await
        .ctx("basic.consume with x-priority")?;
    for i in 0..5 {
        publish(&cha, "", &q, format!("{i}").as_bytes()).await?;
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        got_a.push(String::from_utf8_lossy(&next(&mut ca, "consumer A's messages").await?.data).into_owned());
    }
    for _ in 0..3 {
        got_b.push(String::from_utf8_lossy(&next(&mut cb, "consumer B's messages").await?.data).into_owned());
    }
    let extra = tokio::time::timeout(Duration::from_millis(200), ca.next()).await;
    ensure(
        got_a == ["0", "1"] && got_b == ["2", "3", "4"] && extra.is_err(),
        format!("A (x-priority 10, prefetch 2, no acks) got {got_a:?} (then {extra:?}), B got {got_b:?}"),
    )?;
    close(c).await?;
    Ok(Outcome::Pass("basic_consume(.., FieldTable {x-priority: 10})".into()))
}

async fn sender_selected(u: Url) -> R {
    let c = open(&u).await?;
    let ch = chan(&c).await?;
    let x = uniq("direct");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await?;
    let keys = ["k1", "k2", "k3"];
    let mut qs = Vec::new();
    for k in keys {
        let q = tmp_queue(&ch).await?;
        bind(&ch, &q, &x, k).await?;
        qs.push(q);
    }
    let headers = args(vec![
        ("CC", AMQPValue::FieldArray(FieldArray::from(vec![lstr("k2")]))),
        ("BCC", AMQPValue::FieldArray(FieldArray::from(vec![lstr("k3")]))),
    ]);
    publish_p(&ch, &x, "k1", b"selected", BasicProperties::default().with_headers(headers)).await?;
    for (k, q) in keys.iter().zip(&qs) {
        let m = get_one(&ch, q, true).await.map_err(|_| format!("queue bound with {k} got nothing"))?;
        ensure(m.delivery.data == b("selected"), format!("queue bound with {k}: body differs"))?;
        if let Some(h) = m.delivery.properties.headers() {
            ensure(!h.inner().contains_key("BCC"), format!("copy in the queue bound with {k} carries BCC: {h:?}"))?;
        }
        expect_only_sentinel(&ch, q, &format!("queue bound with {k} got an extra copy")).await?;
    }
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn rpc_reply_to(u: Url) -> R {
    let c = open(&u).await?;
    let requester = chan(&c).await?;
    let responder = chan(&c).await?;
    let q = tmp_queue(&responder).await?;
    let mut replies = consume(&requester, "amq.rabbitmq.reply-to", true).await?;
    let corr = uniq("corr");
    let props = BasicProperties::default()
        .with_reply_to("amq.rabbitmq.reply-to".into())
        .with_correlation_id(corr.as_str().into());
    publish_p(&requester, "", &q, b"ping", props).await?;
    let req = get_one(&responder, &q, true).await?.delivery;
    let reply_to = req.properties.reply_to().clone().map(|s| s.as_str().to_string()).unwrap_or_default();
    ensure(reply_to.starts_with("amq.rabbitmq.reply-to."), format!("request reply_to {reply_to:?}"))?;
    let back = BasicProperties::default().with_correlation_id(req.properties.correlation_id().clone().unwrap_or_default());
    publish_p(&responder, "", &reply_to, b"pong", back).await?;
    let d = next(&mut replies, "the reply").await?;
    ensure(d.data == b("pong"), "reply body differs")?;
    let got = d.properties.correlation_id().clone().map(|s| s.as_str().to_string());
    ensure(got.as_deref() == Some(corr.as_str()), format!("reply correlation id {got:?}"))?;
    close(c).await?;
    pass()
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), (|u| Box::pin($name(u))) as Scenario)),*]
    };
}

#[tokio::main]
async fn main() {
    let raw = std::env::args().nth(1).unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let url = match parse_url(&raw) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    run_all(
        url,
        scenarios![
            connect,
            connect_amqplain,
            declare_exchanges,
            declare_queues,
            bind_unbind,
            route_default,
            route_direct,
            route_fanout,
            route_topic,
            route_headers,
            mandatory_return,
            confirms_sync,
            confirms_async,
            manual_ack,
            nack_requeue,
            reject,
            prefetch_fair,
            basic_get,
            large_message,
            empty_message,
            properties_roundtrip,
            headers_types,
            passive_missing_404,
            exchange_to_exchange,
            tx_commit,
            tx_rollback,
            channels_100,
            close_requeues,
            server_cancel,
            clean_close,
            queue_arg_invalid,
            message_ttl,
            dead_letter,
            retry_with_delay,
            max_length,
            priority_queue,
            single_active_consumer,
            sender_selected,
            rpc_reply_to,
            queue_expiry,
            consumer_priority,
            quorum_queue,
            stream_queue,
            vhost_user_tls,
        ],
    )
    .await;
}
