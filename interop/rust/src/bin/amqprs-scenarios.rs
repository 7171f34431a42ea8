//! amqprs (crates.io) against the broker at argv[1]: every scenario of interop/scenarios.txt.

#[path = "../common.rs"]
#[allow(dead_code)]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use amqprs::callbacks::{ChannelCallback, ConnectionCallback, DefaultConnectionCallback};
use amqprs::channel::{
    BasicAckArguments, BasicCancelArguments, BasicConsumeArguments, BasicGetArguments,
    BasicNackArguments, BasicPublishArguments, BasicQosArguments, BasicRejectArguments, Channel,
    ConfirmSelectArguments, ConsumerMessage, ExchangeBindArguments, ExchangeDeclareArguments,
    ExchangeDeleteArguments, ExchangeType, QueueBindArguments, QueueDeclareArguments,
    QueueDeleteArguments, QueueUnbindArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::security::SecurityCredentials;
use amqprs::{
    Ack, BasicProperties, ByteArray, Cancel, Close, CloseChannel, DecimalValue, FieldArray, FieldName,
    FieldTable, FieldValue, LongStr, Nack, Return,
};
use async_trait::async_trait;
use common::*;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// What the broker told a channel asynchronously, forwarded by `Events`.
#[derive(Debug)]
enum Ev {
    Close(u16, String),
    Cancel(String),
    Ack(u64, bool),
    Nack(u64, bool),
    Return(u16, String, Vec<u8>),
}

struct Events(UnboundedSender<Ev>);

#[async_trait]
impl ChannelCallback for Events {
    async fn close(&mut self, _ch: &Channel, close: CloseChannel) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send(Ev::Close(close.reply_code(), close.reply_text().clone()));
        Ok(())
    }
    async fn cancel(&mut self, _ch: &Channel, cancel: Cancel) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send(Ev::Cancel(cancel.consumer_tag().clone()));
        Ok(())
    }
    async fn flow(&mut self, _ch: &Channel, _active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(true)
    }
    async fn publish_ack(&mut self, _ch: &Channel, ack: Ack) {
        let _ = self.0.send(Ev::Ack(ack.delivery_tag(), ack.mutiple()));
    }
    async fn publish_nack(&mut self, _ch: &Channel, nack: Nack) {
        let _ = self.0.send(Ev::Nack(nack.delivery_tag(), nack.multiple()));
    }
    async fn publish_return(&mut self, _ch: &Channel, ret: Return, _p: BasicProperties, body: Vec<u8>) {
        let _ = self.0.send(Ev::Return(ret.reply_code(), ret.reply_text().clone(), body));
    }
}

fn conn_args(u: &Url) -> OpenConnectionArguments {
    OpenConnectionArguments::new(&u.host, u.port, &u.user, &u.pass)
        .virtual_host(&u.vhost)
        .heartbeat(30)
        .finish()
}

async fn open_with(args: &OpenConnectionArguments) -> Result<Connection, String> {
    let c = within("connection.open", Connection::open(args)).await?.ctx("connection open")?;
    c.register_callback(DefaultConnectionCallback).await.ctx("register connection callback")?;
    Ok(c)
}

async fn open(u: &Url) -> Result<Connection, String> {
    open_with(&conn_args(u)).await
}

async fn chan(c: &Connection) -> Result<(Channel, UnboundedReceiver<Ev>), String> {
    let ch = within("channel.open", c.open_channel(None)).await?.ctx("channel open")?;
    let (tx, rx) = mpsc::unbounded_channel();
    ch.register_callback(Events(tx)).await.ctx("register channel callback")?;
    Ok((ch, rx))
}

async fn close(c: Connection) -> Result<(), String> {
    within("connection.close", c.close()).await?.ctx("connection close")
}

/// A server-named exclusive queue.
async fn tmp_queue(ch: &Channel) -> Result<String, String> {
    let (name, _, _) = ch
        .queue_declare(QueueDeclareArguments::exclusive_server_named())
        .await
        .ctx("queue.declare")?
        .ok_or("queue.declare-ok missing")?;
    Ok(name)
}

async fn publish_p(ch: &Channel, ex: &str, key: &str, body: &[u8], props: BasicProperties) -> Result<(), String> {
    ch.basic_publish(props, body.to_vec(), BasicPublishArguments::new(ex, key))
        .await
        .ctx("basic.publish")
}

async fn publish(ch: &Channel, ex: &str, key: &str, body: &[u8]) -> Result<(), String> {
    publish_p(ch, ex, key, body, BasicProperties::default()).await
}

async fn get(ch: &Channel, q: &str, no_ack: bool) -> Result<Option<amqprs::channel::GetMessage>, String> {
    within("basic.get", ch.basic_get(BasicGetArguments::new(q).no_ack(no_ack).finish()))
        .await?
        .ctx("basic.get")
}

/// Gets (auto-ack) until `want` bodies came or ~2 s passed. basic.get goes through the same
/// channel as the publishes, so the broker has routed them all by the time it answers.
async fn drain(ch: &Channel, q: &str, want: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut bodies = Vec::new();
    for _ in 0..200 {
        match get(ch, q, true).await? {
            Some((_, _, body)) => bodies.push(body),
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
        Some((_, _, body)) => Err(format!("{what}: got {:?}", String::from_utf8_lossy(&body))),
    }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeType) -> Result<(), String> {
    ch.exchange_declare(ExchangeDeclareArguments::of_type(name, kind))
        .await
        .ctx(&format!("exchange.declare {name}"))
}

async fn delete_exchange(ch: &Channel, name: &str) -> Result<(), String> {
    ch.exchange_delete(ExchangeDeleteArguments::new(name)).await.ctx("exchange.delete")
}

async fn bind(ch: &Channel, q: &str, ex: &str, key: &str) -> Result<(), String> {
    ch.queue_bind(QueueBindArguments::new(q, ex, key)).await.ctx("queue.bind")
}

async fn recv_msg(rx: &mut UnboundedReceiver<ConsumerMessage>, what: &str) -> Result<ConsumerMessage, String> {
    within(what, rx.recv()).await?.ok_or_else(|| format!("consumer ended while waiting for {what}"))
}

async fn recv_ev(rx: &mut UnboundedReceiver<Ev>, what: &str) -> Result<Ev, String> {
    within(what, rx.recv()).await?.ok_or_else(|| format!("channel callback gone while waiting for {what}"))
}

fn tag_of(m: &ConsumerMessage) -> u64 {
    m.deliver.as_ref().map(|d| d.delivery_tag()).unwrap_or(0)
}

fn redelivered(m: &ConsumerMessage) -> bool {
    m.deliver.as_ref().map(|d| d.redelivered()).unwrap_or(false)
}

fn body_of(m: &ConsumerMessage) -> Vec<u8> {
    m.content.clone().unwrap_or_default()
}

async fn consume(ch: &Channel, q: &str, manual: bool) -> Result<(String, UnboundedReceiver<ConsumerMessage>), String> {
    ch.basic_consume_rx(BasicConsumeArguments::new(q, "").manual_ack(manual).finish())
        .await
        .ctx("basic.consume")
}

async fn ack(ch: &Channel, tag: u64) -> Result<(), String> {
    ch.basic_ack(BasicAckArguments::new(tag, false)).await.ctx("basic.ack")
}

/// The message count of a queue by passive declare.
async fn count(ch: &Channel, q: &str) -> Result<u32, String> {
    let (_, n, _) = ch
        .queue_declare(QueueDeclareArguments::new(q).passive(true).finish())
        .await
        .ctx("passive queue.declare")?
        .ok_or("queue.declare-ok missing")?;
    Ok(n)
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
    let hb = c.heartbeat();
    ensure(hb == 30, format!("negotiated heartbeat {hb}, want 30"))?;
    let (ch, _ev) = chan(&c).await?;
    ch.close().await.ctx("channel close")?;
    close(c).await?;
    Ok(Outcome::Pass("heartbeat=30".into()))
}

async fn connect_amqplain(u: Url) -> R {
    let args = conn_args(&u).credentials(SecurityCredentials::new_amqplain(&u.user, &u.pass)).finish();
    let c = open_with(&args).await?;
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    ensure(!q.is_empty(), "queue.declare on an AMQPLAIN connection")?;
    close(c).await?;
    pass()
}

async fn declare_exchanges(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let kinds = [
        ("direct", ExchangeType::Direct),
        ("fanout", ExchangeType::Fanout),
        ("topic", ExchangeType::Topic),
        ("headers", ExchangeType::Headers),
    ];
    let mut names = Vec::new();
    for (label, kind) in kinds {
        let name = uniq(label);
        let args = ExchangeDeclareArguments::of_type(&name, kind).durable(false).finish();
        ch.exchange_declare(args.clone()).await.ctx(&format!("declare {label}"))?;
        ch.exchange_declare(args).await.ctx(&format!("equivalent redeclare of {label}"))?;
        names.push(name);
    }
    for name in &names {
        delete_exchange(&ch, name).await?;
    }
    ensure(ch.is_open(), "channel still open")?;
    close(c).await?;
    pass()
}

async fn declare_queues(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let server_named = tmp_queue(&ch).await?;
    ensure(server_named.starts_with("amq.gen-"), format!("server-named queue is {server_named}"))?;
    let excl = uniq("q.excl");
    ch.queue_declare(QueueDeclareArguments::new(&excl).exclusive(true).finish()).await.ctx("exclusive queue")?;
    let auto = uniq("q.auto");
    ch.queue_declare(QueueDeclareArguments::transient_autodelete(&auto)).await.ctx("auto-delete queue")?;
    let durable = uniq("q.durable");
    ch.queue_declare(QueueDeclareArguments::durable_client_named(&durable)).await.ctx("durable queue")?;
    let res: Result<(), String> = async {
        publish(&ch, "", &durable, b"one").await?;
        publish(&ch, "", &durable, b"two").await?;
        let n = count_eq(&ch, &durable, 2).await?;
        ensure(n == 2, format!("passive declare reports {n} messages, want 2"))
    }
    .await;
    let del = ch.queue_delete(QueueDeleteArguments::new(&durable)).await.ctx("delete durable queue");
    ch.queue_delete(QueueDeleteArguments::new(&auto)).await.ctx("delete auto-delete queue")?;
    res?;
    del?;
    close(c).await?;
    pass()
}

async fn bind_unbind(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let x = uniq("bind");
    declare_exchange(&ch, &x, ExchangeType::Direct).await?;
    let q = tmp_queue(&ch).await?;
    bind(&ch, &q, &x, "k").await?;
    publish(&ch, &x, "k", b"bound").await?;
    let got = drain(&ch, &q, 1).await?;
    ensure(got == vec![b("bound")], format!("bound queue got {got:?}"))?;
    ch.queue_unbind(QueueUnbindArguments::new(&q, &x, "k")).await.ctx("queue.unbind")?;
    publish(&ch, &x, "k", b"unbound").await?;
    expect_only_sentinel(&ch, &q, "message arrived after unbind").await?;
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn route_default(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    publish(&ch, "", &q, b"default").await?;
    let got = drain(&ch, &q, 1).await?;
    ensure(got == vec![b("default")], format!("got {got:?}"))?;
    close(c).await?;
    pass()
}

async fn route_direct(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let x = uniq("direct");
    declare_exchange(&ch, &x, ExchangeType::Direct).await?;
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
    let (ch, _ev) = chan(&c).await?;
    let x = uniq("fanout");
    declare_exchange(&ch, &x, ExchangeType::Fanout).await?;
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
    let (ch, _ev) = chan(&c).await?;
    let x = uniq("topic");
    declare_exchange(&ch, &x, ExchangeType::Topic).await?;
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

fn fname(s: &str) -> FieldName {
    s.try_into().unwrap()
}

fn fstr(s: &str) -> FieldValue {
    FieldValue::S(LongStr::try_from(s).unwrap())
}

fn table(pairs: &[(&str, &str)]) -> FieldTable {
    let mut t = FieldTable::new();
    for (k, v) in pairs {
        t.insert(fname(k), fstr(v));
    }
    t
}

async fn route_headers(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let x = uniq("headers");
    declare_exchange(&ch, &x, ExchangeType::Headers).await?;
    let (all, any) = (tmp_queue(&ch).await?, tmp_queue(&ch).await?);
    ch.queue_bind(
        QueueBindArguments::new(&all, &x, "")
            .arguments(table(&[("x-match", "all"), ("format", "pdf"), ("type", "report")]))
            .finish(),
    )
    .await
    .ctx("bind x-match all")?;
    ch.queue_bind(
        QueueBindArguments::new(&any, &x, "")
            .arguments(table(&[("x-match", "any"), ("format", "pdf"), ("type", "log")]))
            .finish(),
    )
    .await
    .ctx("bind x-match any")?;
    let with = |pairs: &[(&str, &str)]| BasicProperties::default().with_headers(table(pairs)).finish();
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
    let (ch, mut ev) = chan(&c).await?;
    let x = uniq("unroutable");
    declare_exchange(&ch, &x, ExchangeType::Direct).await?;
    ch.basic_publish(
        BasicProperties::default(),
        b("lost"),
        BasicPublishArguments::new(&x, "nowhere").mandatory(true).finish(),
    )
    .await
    .ctx("mandatory basic.publish")?;
    match recv_ev(&mut ev, "basic.return").await? {
        Ev::Return(code, text, body) => {
            ensure(code == 312, format!("reply code {code}, want 312"))?;
            ensure(text == "NO_ROUTE", format!("reply text {text:?}, want NO_ROUTE"))?;
            ensure(body == b("lost"), "returned body differs")?;
        }
        other => return Err(format!("expected basic.return, got {other:?}")),
    }
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn confirms_sync(_u: Url) -> R {
    Ok(Outcome::Na(
        "amqprs reports publisher confirms only through ChannelCallback::publish_ack/publish_nack; it has no blocking or awaitable wait-for-confirms".into(),
    ))
}

async fn confirms_async(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, mut ev) = chan(&c).await?;
    ch.confirm_select(ConfirmSelectArguments::default()).await.ctx("confirm.select")?;
    let q = tmp_queue(&ch).await?;
    for i in 0..100 {
        publish(&ch, "", &q, format!("m{i}").as_bytes()).await?;
    }
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    while acked.len() < 100 {
        match recv_ev(&mut ev, "publish acks").await? {
            Ev::Ack(tag, multiple) => {
                if multiple {
                    acked.extend(1..=tag);
                } else {
                    acked.insert(tag);
                }
            }
            Ev::Nack(tag, multiple) => return Err(format!("publish {tag} nacked (multiple={multiple})")),
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    ensure(acked == (1..=100).collect(), format!("acked tags {:?}..{:?}", acked.first(), acked.last()))?;
    let n = count_eq(&ch, &q, 100).await?;
    ensure(n == 100, format!("queue holds {n}, want 100"))?;
    close(c).await?;
    Ok(Outcome::Pass("100 acks via ChannelCallback::publish_ack".into()))
}

async fn manual_ack(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    for i in 0..10 {
        publish(&ch, "", &q, format!("{i}").as_bytes()).await?;
    }
    let (tag, mut rx) = consume(&ch, &q, true).await?;
    let mut got = Vec::new();
    for _ in 0..10 {
        let m = recv_msg(&mut rx, "delivery").await?;
        got.push(String::from_utf8_lossy(&body_of(&m)).into_owned());
        ack(&ch, tag_of(&m)).await?;
    }
    let want: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    ensure(got == want, format!("got {got:?}"))?;
    ch.basic_cancel(BasicCancelArguments::new(&tag)).await.ctx("basic.cancel")?;
    // Closing the channel would requeue anything left unacked; the queue must stay empty.
    within("channel close", ch.close()).await?.ctx("channel close")?;
    let (ch2, _ev2) = chan(&c).await?;
    let n = count(&ch2, &q).await?;
    ensure(n == 0, format!("{n} messages left after acking all"))?;
    expect_empty(&ch2, &q, "message left after acking all").await?;
    close(c).await?;
    pass()
}

async fn nack_requeue(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    publish(&ch, "", &q, b"again").await?;
    let (_tag, mut rx) = consume(&ch, &q, true).await?;
    let first = recv_msg(&mut rx, "first delivery").await?;
    ensure(!redelivered(&first), "first delivery already marked redelivered")?;
    ch.basic_nack(BasicNackArguments::new(tag_of(&first), false, true)).await.ctx("basic.nack")?;
    let second = recv_msg(&mut rx, "redelivery").await?;
    ensure(body_of(&second) == b("again"), "redelivered body differs")?;
    ensure(redelivered(&second), "redelivered flag not set after nack with requeue")?;
    ack(&ch, tag_of(&second)).await?;
    close(c).await?;
    pass()
}

async fn reject(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    publish(&ch, "", &q, b"bad").await?;
    let (ok, _, body) = {
        let mut m = None;
        for _ in 0..200 {
            m = get(&ch, &q, false).await?;
            if m.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        m.ok_or("message never arrived")?
    };
    ensure(body == b("bad"), "body differs")?;
    ch.basic_reject(BasicRejectArguments::new(ok.delivery_tag(), false)).await.ctx("basic.reject")?;
    expect_only_sentinel(&ch, &q, "rejected message came back").await?;
    let n = count(&ch, &q).await?;
    ensure(n == 0, format!("{n} messages after reject"))?;
    close(c).await?;
    pass()
}

async fn prefetch_fair(u: Url) -> R {
    let c = open(&u).await?;
    let (pubch, _e0) = chan(&c).await?;
    let (cha, _ea) = chan(&c).await?;
    let (chb, _eb) = chan(&c).await?;
    let q = tmp_queue(&pubch).await?;
    for ch in [&cha, &chb] {
        ch.basic_qos(BasicQosArguments::new(0, 1, false)).await.ctx("basic.qos")?;
    }
    let (_ta, mut ra) = consume(&cha, &q, true).await?;
    publish(&pubch, "", &q, b"0").await?;
    let held = recv_msg(&mut ra, "consumer A's first message").await?;
    let (_tb, mut rb) = consume(&chb, &q, true).await?;
    for i in 1..=4 {
        publish(&pubch, "", &q, format!("{i}").as_bytes()).await?;
    }
    let mut got_b = Vec::new();
    for _ in 0..4 {
        let m = recv_msg(&mut rb, "consumer B's messages").await?;
        got_b.push(String::from_utf8_lossy(&body_of(&m)).into_owned());
        ack(&chb, tag_of(&m)).await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure(ra.try_recv().is_err(), "consumer A got a second message while holding one unacked")?;
    ensure(got_b == ["1", "2", "3", "4"], format!("consumer B got {got_b:?}"))?;
    ack(&cha, tag_of(&held)).await?;
    close(c).await?;
    pass()
}

async fn basic_get(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    for i in 0..3 {
        publish(&ch, "", &q, format!("{i}").as_bytes()).await?;
    }
    let n = count_eq(&ch, &q, 3).await?;
    ensure(n == 3, format!("queue holds {n}, want 3"))?;
    let (ok, _, body) = get(&ch, &q, false).await?.ok_or("get-empty on a queue holding 3")?;
    ensure(body == b("0"), format!("first get body {:?}", String::from_utf8_lossy(&body)))?;
    ensure(ok.message_count() == 2, format!("get-ok message-count {}, want 2", ok.message_count()))?;
    ack(&ch, ok.delivery_tag()).await?;
    let rest = drain(&ch, &q, 2).await?;
    ensure(rest.len() == 2, format!("drained {} more, want 2", rest.len()))?;
    ensure(get(&ch, &q, true).await?.is_none(), "empty queue did not give get-empty")?;
    close(c).await?;
    pass()
}

async fn roundtrip_body(u: Url, body: Vec<u8>) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    publish(&ch, "", &q, &body).await?;
    let got = drain(&ch, &q, 1).await?;
    ensure(got.len() == 1, "message did not arrive")?;
    ensure(got[0].len() == body.len(), format!("body length {} != {}", got[0].len(), body.len()))?;
    ensure(got[0] == body, "body bytes differ")?;
    // And through a consumer too.
    publish(&ch, "", &q, &body).await?;
    let (_t, mut rx) = consume(&ch, &q, false).await?;
    let m = recv_msg(&mut rx, "delivery").await?;
    ensure(body_of(&m) == body, "consumed body differs")?;
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
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    let headers = table(&[("h1", "v1")]);
    let props = BasicProperties::default()
        .with_content_type("application/json")
        .with_content_encoding("gzip")
        .with_headers(headers.clone())
        .with_delivery_mode(2)
        .with_priority(5)
        .with_correlation_id("corr-1")
        .with_reply_to("reply.queue")
        .with_expiration("60000")
        .with_message_id("msg-1")
        .with_timestamp(1_700_000_000)
        .with_message_type("example.type")
        .with_user_id(&u.user)
        .with_app_id("interop-amqprs")
        .finish();
    publish_p(&ch, "", &q, b"props", props).await?;
    let (_, p, _) = {
        let mut m = None;
        for _ in 0..200 {
            m = get(&ch, &q, true).await?;
            if m.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        m.ok_or("message never arrived")?
    };
    let s = |v: Option<&String>| v.cloned();
    let mut bad = Vec::new();
    let mut chk = |name: &str, ok: bool, got: String| {
        if !ok {
            bad.push(format!("{name}={got}"));
        }
    };
    chk("content-type", s(p.content_type()).as_deref() == Some("application/json"), format!("{:?}", p.content_type()));
    chk("content-encoding", s(p.content_encoding()).as_deref() == Some("gzip"), format!("{:?}", p.content_encoding()));
    chk("headers", p.headers() == Some(&headers), format!("{:?}", p.headers()));
    chk("delivery-mode", p.delivery_mode() == Some(2), format!("{:?}", p.delivery_mode()));
    chk("priority", p.priority() == Some(5), format!("{:?}", p.priority()));
    chk("correlation-id", s(p.correlation_id()).as_deref() == Some("corr-1"), format!("{:?}", p.correlation_id()));
    chk("reply-to", s(p.reply_to()).as_deref() == Some("reply.queue"), format!("{:?}", p.reply_to()));
    chk("expiration", s(p.expiration()).as_deref() == Some("60000"), format!("{:?}", p.expiration()));
    chk("message-id", s(p.message_id()).as_deref() == Some("msg-1"), format!("{:?}", p.message_id()));
    chk("timestamp", p.timestamp() == Some(1_700_000_000), format!("{:?}", p.timestamp()));
    chk("type", s(p.message_type()).as_deref() == Some("example.type"), format!("{:?}", p.message_type()));
    chk("user-id", s(p.user_id()).as_deref() == Some(u.user.as_str()), format!("{:?}", p.user_id()));
    chk("app-id", s(p.app_id()).as_deref() == Some("interop-amqprs"), format!("{:?}", p.app_id()));
    ensure(bad.is_empty(), format!("differs: {}", bad.join(", ")))?;
    close(c).await?;
    pass()
}

async fn headers_types(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    let mut nested = FieldTable::new();
    nested.insert(fname("inner"), fstr("value"));
    nested.insert(fname("n"), FieldValue::I(7));
    let array: FieldArray = vec![fstr("a"), FieldValue::I(1), FieldValue::t(true)].try_into().unwrap();
    let values: Vec<(&str, FieldValue)> = vec![
        ("string", fstr("héllo")),
        ("i8", FieldValue::b(-8)),
        ("u8", FieldValue::B(200)),
        ("i16", FieldValue::s(-1600)),
        ("u16", FieldValue::u(60000)),
        ("i32", FieldValue::I(-320000)),
        ("u32", FieldValue::i(4_000_000_000)),
        ("i64", FieldValue::l(-64_000_000_000)),
        ("bool", FieldValue::t(true)),
        ("float", FieldValue::f(1.5)),
        ("double", FieldValue::d(2.25)),
        ("decimal", FieldValue::D(DecimalValue::new(2, 12345))),
        ("timestamp", FieldValue::T(1_700_000_000)),
        ("table", FieldValue::F(nested)),
        ("array", FieldValue::A(array)),
        ("bytes", FieldValue::x(ByteArray::try_from(vec![0u8, 1, 2, 255]).unwrap())),
        ("void", FieldValue::V),
    ];
    let mut headers = FieldTable::new();
    for (k, v) in &values {
        headers.insert(fname(k), v.clone());
    }
    let props = BasicProperties::default().with_headers(headers).finish();
    publish_p(&ch, "", &q, b"types", props).await?;
    let (_, p, _) = {
        let mut m = None;
        for _ in 0..200 {
            m = get(&ch, &q, true).await?;
            if m.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        m.ok_or("message never arrived")?
    };
    let got = p.headers().ok_or("no headers came back")?;
    let mut bad = Vec::new();
    for (k, v) in &values {
        match got.get(&fname(k)) {
            Some(g) if g == v => {}
            other => bad.push(format!("{k}: sent {v:?}, got {other:?}")),
        }
    }
    ensure(got.as_ref().len() == values.len(), format!("{} headers back, sent {}", got.as_ref().len(), values.len()))?;
    ensure(bad.is_empty(), bad.join("; "))?;
    close(c).await?;
    Ok(Outcome::Pass("S b B s u I i l t f d D T F A x V".into()))
}

async fn passive_missing_404(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, mut ev) = chan(&c).await?;
    let missing = uniq("missing");
    let res = ch.queue_declare(QueueDeclareArguments::new(&missing).passive(true).finish()).await;
    let err: amqprs::error::Error = match res {
        Ok(v) => return Err(format!("passive declare of a missing queue succeeded: {v:?}")),
        Err(e) => e,
    };
    // amqprs fails the call with its own error and hands the broker's channel.close (with the
    // reply code) to ChannelCallback::close.
    match recv_ev(&mut ev, "channel.close").await? {
        Ev::Close(code, text) => {
            ensure(code == 404, format!("reply code {code}, want 404 ({text})"))?;
            ensure(text.starts_with("NOT_FOUND"), format!("reply text {text:?}"))?;
        }
        other => return Err(format!("expected channel.close, got {other:?}")),
    }
    ensure(!ch.is_open(), "channel still open after channel.close")?;
    // The connection survives: a fresh channel works.
    let (ch2, _e2) = chan(&c).await?;
    tmp_queue(&ch2).await?;
    close(c).await?;
    Ok(Outcome::Pass(format!("amqprs::error::Error ({err}) + CloseChannel reply_code 404")))
}

async fn exchange_to_exchange(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let (xa, xb) = (uniq("e2e.src"), uniq("e2e.dst"));
    declare_exchange(&ch, &xa, ExchangeType::Direct).await?;
    declare_exchange(&ch, &xb, ExchangeType::Fanout).await?;
    ch.exchange_bind(ExchangeBindArguments::new(&xb, &xa, "k")).await.ctx("exchange.bind")?;
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
    let (tx, _e1) = chan(&c).await?;
    let (other, _e2) = chan(&c).await?;
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
    let (tx, _e1) = chan(&c).await?;
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
    let (ch, _ev) = chan(&c).await?;
    let q = tmp_queue(&ch).await?;
    let mut chans = Vec::new();
    for _ in 0..100 {
        chans.push(chan(&c).await?);
    }
    let mut ids: Vec<u16> = chans.iter().map(|(ch, _)| ch.channel_id()).collect();
    ids.sort();
    ids.dedup();
    ensure(ids.len() == 100, "channel ids not distinct")?;
    for (i, (ch, _)) in chans.iter().enumerate() {
        publish(ch, "", &q, format!("{i}").as_bytes()).await?;
    }
    for (ch, _) in chans.iter() {
        count(ch, &q).await?; // flush each channel's publish
    }
    for (ch, _) in chans {
        within("channel close", ch.close()).await?.ctx("channel close")?;
    }
    let n = count_eq(&ch, &q, 100).await?;
    ensure(n == 100, format!("{n} messages from 100 channels"))?;
    close(c).await?;
    pass()
}

async fn close_requeues(u: Url) -> R {
    let c = open(&u).await?;
    let (a, _ea) = chan(&c).await?;
    let (other, _eb) = chan(&c).await?;
    let q = tmp_queue(&other).await?;
    publish(&other, "", &q, b"unacked").await?;
    let (_t, mut rx) = consume(&a, &q, true).await?;
    let m = recv_msg(&mut rx, "delivery").await?;
    ensure(!redelivered(&m), "first delivery already redelivered")?;
    within("channel close", a.close()).await?.ctx("channel close")?;
    let mut back = None;
    for _ in 0..250 {
        back = get(&other, &q, true).await?;
        if back.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ok, _, body) = back.ok_or("message did not come back after the channel closed")?;
    ensure(body == b("unacked"), "requeued body differs")?;
    ensure(ok.redelivered(), "requeued message not marked redelivered")?;
    close(c).await?;
    pass()
}

async fn server_cancel(u: Url) -> R {
    let c = open(&u).await?;
    let (a, mut ev) = chan(&c).await?;
    let (other, _eb) = chan(&c).await?;
    let q = uniq("cancel");
    other.queue_declare(QueueDeclareArguments::new(&q).finish()).await.ctx("queue.declare")?;
    let (tag, mut rx) = consume(&a, &q, true).await?;
    other.queue_delete(QueueDeleteArguments::new(&q)).await.ctx("queue.delete")?;
    match recv_ev(&mut ev, "basic.cancel").await? {
        Ev::Cancel(t) => ensure(t == tag, format!("cancel for {t}, consumer is {tag}"))?,
        other => return Err(format!("expected basic.cancel, got {other:?}")),
    }
    // The consumer's stream ends too.
    let end = within("consumer end", rx.recv()).await?;
    ensure(end.is_none(), "consumer still delivering after cancel")?;
    ensure(a.is_open(), "channel closed by the cancel")?;
    close(c).await?;
    pass()
}

async fn clean_close(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    tmp_queue(&ch).await?;
    within("channel close", ch.close()).await?.ctx("channel close")?;
    let probe = c.clone();
    close(c).await?;
    ensure(!probe.is_open(), "connection still open after close")?;
    pass()
}

// ---------------------------------------------------------------- queue extensions

fn args(pairs: Vec<(&str, FieldValue)>) -> FieldTable {
    let mut t = FieldTable::new();
    for (k, v) in pairs {
        t.insert(fname(k), v);
    }
    t
}

/// A named exclusive queue with arguments (gone when the connection closes).
async fn arg_queue(ch: &Channel, name: &str, arguments: FieldTable) -> Result<String, String> {
    ch.queue_declare(QueueDeclareArguments::new(name).exclusive(true).arguments(arguments).finish())
        .await
        .ctx(&format!("queue.declare {name}"))?;
    Ok(name.to_string())
}

/// Gets one message, polling for ~2 s.
async fn get_one(ch: &Channel, q: &str, no_ack: bool) -> Result<amqprs::channel::GetMessage, String> {
    for _ in 0..200 {
        if let Some(m) = get(ch, q, no_ack).await? {
            return Ok(m);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("no message on {q}"))
}

/// Publishes each body through the default exchange on a channel in confirm mode and waits for
/// its publish_ack or publish_nack callback in turn: true for an ack, false for a nack.
async fn publish_confirmed(
    ch: &Channel,
    ev: &mut UnboundedReceiver<Ev>,
    q: &str,
    msgs: &[(&str, BasicProperties)],
) -> Result<Vec<bool>, String> {
    let mut acks = Vec::new();
    for (i, (body, props)) in msgs.iter().enumerate() {
        publish_p(ch, "", q, body.as_bytes(), props.clone()).await?;
        let want = i as u64 + 1;
        match recv_ev(ev, "publish ack or nack").await? {
            // every earlier publish is settled already: a "multiple" flag covers this one only
            Ev::Ack(tag, _) if tag == want => acks.push(true),
            Ev::Nack(tag, _) if tag == want => acks.push(false),
            other => return Err(format!("publish {want}: expected its ack or nack, got {other:?}")),
        }
    }
    Ok(acks)
}

fn as_str(v: Option<&FieldValue>) -> Option<String> {
    match v? {
        FieldValue::S(s) => Some(s.as_ref().clone()),
        _ => None,
    }
}

fn as_int(v: Option<&FieldValue>) -> Option<i64> {
    match v? {
        FieldValue::b(n) => Some(*n as i64),
        FieldValue::B(n) => Some(*n as i64),
        FieldValue::s(n) => Some(*n as i64),
        FieldValue::u(n) => Some(*n as i64),
        FieldValue::I(n) => Some(*n as i64),
        FieldValue::i(n) => Some(*n as i64),
        FieldValue::l(n) => Some(*n),
        _ => None,
    }
}

/// The x-death entries of a message's headers.
fn deaths(headers: &FieldTable) -> Result<Vec<FieldTable>, String> {
    match headers.get(&fname("x-death")) {
        Some(FieldValue::A(a)) => Vec::<FieldValue>::from(a.clone())
            .into_iter()
            .map(|v| match v {
                FieldValue::F(t) => Ok(t),
                other => Err(format!("x-death entry is {other:?}")),
            })
            .collect(),
        other => Err(format!("x-death is {other:?}")),
    }
}

/// Checks one x-death entry against queue, reason and count.
fn check_death(d: &FieldTable, i: usize, queue: &str, reason: &str, n: i64) -> Result<(), String> {
    let (gq, gr, gc) = (as_str(d.get(&fname("queue"))), as_str(d.get(&fname("reason"))), as_int(d.get(&fname("count"))));
    ensure(
        gq.as_deref() == Some(queue) && gr.as_deref() == Some(reason) && gc == Some(n),
        format!("x-death[{i}] = {{queue {gq:?}, reason {gr:?}, count {:?}}}, want {{{queue}, {reason}, {n}}}", d.get(&fname("count"))),
    )
}

async fn queue_arg_invalid(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, mut ev) = chan(&c).await?;
    let q = uniq("maxprio");
    let res = ch
        .queue_declare(
            QueueDeclareArguments::new(&q).exclusive(true).arguments(args(vec![("x-max-priority", FieldValue::I(256))])).finish(),
        )
        .await;
    let err: amqprs::error::Error = match res {
        Ok(v) => return Err(format!("declare with x-max-priority 256 succeeded: {v:?}")),
        Err(e) => e,
    };
    // As for a 404: amqprs fails the call and hands the broker's channel.close to the callback.
    match recv_ev(&mut ev, "channel.close").await? {
        Ev::Close(code, text) => {
            ensure(code == 406, format!("reply code {code}, want 406 ({text})"))?;
            let want = format!(
                "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{q}' in vhost '/': {{max_value_exceeded,256}}"
            );
            ensure(text == want, format!("reply text {text:?}, want {want:?}"))?;
        }
        other => return Err(format!("expected channel.close, got {other:?}")),
    }
    let (ch2, _e2) = chan(&c).await?;
    tmp_queue(&ch2).await?;
    close(c).await?;
    Ok(Outcome::Pass(format!("amqprs::error::Error ({err}) + CloseChannel reply_code 406")))
}

async fn message_ttl(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let ttl = arg_queue(&ch, &uniq("ttl"), args(vec![("x-message-ttl", FieldValue::I(100))])).await?;
    let plain = tmp_queue(&ch).await?;
    publish(&ch, "", &ttl, b"queue-ttl").await?;
    publish_p(&ch, "", &plain, b"message-ttl", BasicProperties::default().with_expiration("50").finish()).await?;
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
    let (ch, _ev) = chan(&c).await?;
    let dlx = uniq("dlx");
    declare_exchange(&ch, &dlx, ExchangeType::Fanout).await?;
    let dlq = tmp_queue(&ch).await?;
    bind(&ch, &dlq, &dlx, "").await?;
    let work = arg_queue(&ch, &uniq("work"), args(vec![("x-dead-letter-exchange", fstr(&dlx))])).await?;
    publish(&ch, "", &work, b"doomed").await?;
    let (ok, _, _) = get_one(&ch, &work, false).await?;
    ch.basic_reject(BasicRejectArguments::new(ok.delivery_tag(), false)).await.ctx("basic.reject")?;
    let (_, p, body) =
        get_one(&ch, &dlq, true).await.map_err(|_| "rejected message did not reach the dead-letter queue".to_string())?;
    ensure(body == b("doomed"), "dead-lettered body differs")?;
    let h = p.headers().ok_or("dead-lettered message has no headers")?;
    let ds = deaths(h)?;
    ensure(!ds.is_empty(), "x-death is empty")?;
    check_death(&ds[0], 0, &work, "rejected", 1)?;
    let first = as_str(h.get(&fname("x-first-death-reason")));
    ensure(first.as_deref() == Some("rejected"), format!("x-first-death-reason {first:?}"))?;
    let first_q = as_str(h.get(&fname("x-first-death-queue")));
    ensure(first_q.as_deref() == Some(work.as_str()), format!("x-first-death-queue {first_q:?}"))?;
    delete_exchange(&ch, &dlx).await?;
    close(c).await?;
    pass()
}

/// amqps with amqprs's TlsAdaptor::without_client_auth(Some(CA), host): tokio-rustls with the
/// test CA as the root store, the URL's host checked against the certificate's IP SAN.
async fn vhost_user_tls(_u: Url) -> R {
    let t = match tls_setup()? {
        Ok(t) => t,
        Err(na) => return Ok(na),
    };
    let adaptor = amqprs::tls::TlsAdaptor::without_client_auth(Some(std::path::Path::new(&t.ca)), t.tls.host.clone())
        .ctx("TlsAdaptor")?;
    let args = OpenConnectionArguments::new(&t.tls.host, t.tls.port, &t.tls.user, &t.tls.pass)
        .virtual_host(&t.tls.vhost)
        .tls_adaptor(adaptor)
        .finish();
    let c = open_with(&args).await?;
    let (x, q, denied, body) = tls_names();
    // Every channel lives until the connection is closed (see quorum_queue).
    let (ch, _ev) = chan(&c).await?;
    let (bad, mut bad_ev) = chan(&c).await?;
    let (cleanup, _cleanup_ev) = chan(&c).await?;
    let outcome = async {
        declare_exchange(&ch, &x, ExchangeType::Direct).await?;
        ch.queue_declare(QueueDeclareArguments::new(&q)).await.ctx("queue.declare")?;
        bind(&ch, &q, &x, "k").await?;
        publish(&ch, &x, "k", &body).await?; // a named exchange: "" is amq.default, outside ^tls-.*
        let (_, _, got) = get_one(&ch, &q, true).await?;
        ensure(got == body, format!("basic.get gave {} other bytes", got.len()))?;
        if let Ok(v) = bad.queue_declare(QueueDeclareArguments::new(&denied)).await {
            return Err(format!("queue {denied} was declared outside the user's configure permission: {v:?}"));
        }
        // As for a 404: amqprs fails the call and hands the broker's channel.close to the callback.
        match recv_ev(&mut bad_ev, "channel.close").await? {
            Ev::Close(code, text) => match refused_text_kind(&text, &denied, &t.tls.vhost, &t.tls.user) {
                Some(kind) if code == 403 => Ok(kind),
                _ => Err(format!("channel closed with {code} {text:?}")),
            },
            other => Err(format!("expected channel.close, got {other:?}")),
        }
    }
    .await;
    let _ = cleanup.queue_delete(QueueDeleteArguments::new(&q)).await;
    let _ = cleanup.exchange_delete(ExchangeDeleteArguments::new(&x)).await;
    let text403 = outcome?;
    close(c).await?;
    let r = &t.refused;
    let args = OpenConnectionArguments::new(&r.host, r.port, &r.user, &r.pass).virtual_host(&r.vhost).finish();
    let want = format!("NOT_ALLOWED - access to vhost '/' refused for user '{}'", r.user);
    let refused = match within("connection.open", Connection::open(&args)).await? {
        Ok(c) => {
            let _ = c.close().await;
            return Err(format!("{} logged in to vhost '/'", r.user));
        }
        Err(e) => e,
    };
    // amqprs 2.1: Error::ConnectionOpenError("failed to open connection, reason: Close(..., Close { reply_code, reply_text, .. })")
    let shown = refused.to_string();
    ensure(
        matches!(refused, amqprs::error::Error::ConnectionOpenError(_))
            && shown.contains("reply_code: 530")
            && shown.contains(&format!("{want:?}")),
        format!("connection refused with {shown:?}"),
    )?;
    Ok(Outcome::Pass(format!(
        "TlsAdaptor::without_client_auth(Some(CA), host); {text403}; vhost '/' refused: \
         Error::ConnectionOpenError carrying the Close with reply_code 530 and the text"
    )))
}

async fn quorum_queue(u: Url) -> R {
    let c = open(&u).await?;
    let (q, dlx, dlq) = (uniq("quorum"), uniq("qdlx"), uniq("qdlq"));
    // Every channel lives until the connection is closed: amqprs closes a dropped open channel
    // in a task of its own, which would race connection.close.
    let (bad, mut bad_ev) = chan(&c).await?;
    let (ch, mut ev) = chan(&c).await?;
    let (cleanup, _cleanup_ev) = chan(&c).await?;
    let outcome = quorum_queue_steps(&bad, &mut bad_ev, &ch, &mut ev, &q, &dlx, &dlq).await;
    // Cleanup whatever happened (the queues are durable, not exclusive).
    let _ = cleanup.queue_delete(QueueDeleteArguments::new(&q)).await;
    let _ = cleanup.queue_delete(QueueDeleteArguments::new(&dlq)).await;
    let _ = cleanup.exchange_delete(ExchangeDeleteArguments::new(&dlx)).await;
    let outcome = outcome?;
    close(c).await?;
    Ok(outcome)
}

async fn quorum_queue_steps(
    bad: &Channel,
    bad_ev: &mut UnboundedReceiver<Ev>,
    ch: &Channel,
    ev: &mut UnboundedReceiver<Ev>,
    q: &str,
    dlx: &str,
    dlq: &str,
) -> R {
    let res = bad
        .queue_declare(QueueDeclareArguments::new(q).durable(false).arguments(args(vec![("x-queue-type", fstr("quorum"))])).finish())
        .await;
    if let Ok(v) = res {
        return Err(format!("a non-durable quorum queue was declared: {v:?}"));
    }
    // As for a 404: amqprs fails the call and hands the broker's channel.close to the callback.
    match recv_ev(bad_ev, "channel.close").await? {
        Ev::Close(code, text) => {
            ensure(code == 406, format!("reply code {code}, want 406 ({text})"))?;
            ensure(text.contains("invalid property 'non-durable'"), format!("reply text {text:?}"))?;
        }
        other => return Err(format!("expected channel.close, got {other:?}")),
    }
    declare_exchange(ch, dlx, ExchangeType::Fanout).await?;
    ch.queue_declare(QueueDeclareArguments::new(dlq)).await.ctx("queue.declare dlq")?;
    bind(ch, dlq, dlx, "").await?;
    let arguments = args(vec![
        ("x-queue-type", fstr("quorum")),
        ("x-delivery-limit", FieldValue::I(1)),
        ("x-dead-letter-exchange", fstr(dlx)),
    ]);
    ch.queue_declare(QueueDeclareArguments::new(q).durable(true).arguments(arguments).finish())
        .await
        .ctx("queue.declare quorum")?;
    ch.confirm_select(ConfirmSelectArguments::default()).await.ctx("confirm.select")?;
    let acks = publish_confirmed(ch, ev, q, &[("quorum", BasicProperties::default().with_delivery_mode(1).finish())]).await?;
    ensure(acks == [true], "publish nacked")?;
    let (ok, p, body) = get_one(ch, q, false).await?;
    ensure(body == b("quorum"), "body differs")?;
    ensure(!ok.redelivered(), "first delivery flagged redelivered")?;
    let first = p.headers().and_then(|h| h.get(&fname("x-delivery-count")).cloned());
    // RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
    ensure(first.is_none() || as_int(first.as_ref()) == Some(0), format!("first delivery has x-delivery-count {first:?}"))?;
    ch.basic_reject(BasicRejectArguments::new(ok.delivery_tag(), true)).await.ctx("basic.reject")?;
    let (ok, p, _) = get_one(ch, q, false).await.map_err(|_| "the requeued message did not come back".to_string())?;
    ensure(ok.redelivered(), "second delivery not flagged redelivered")?;
    let count = p.headers().and_then(|h| h.get(&fname("x-delivery-count")).cloned());
    ensure(as_int(count.as_ref()) == Some(1), format!("second delivery has x-delivery-count {count:?}"))?;
    ch.basic_reject(BasicRejectArguments::new(ok.delivery_tag(), true)).await.ctx("basic.reject")?;
    let (_, p, body) = get_one(ch, dlq, true).await.map_err(|_| "the message did not reach the dead-letter queue".to_string())?;
    ensure(body == b("quorum"), "dead-lettered body differs")?;
    let h = p.headers().ok_or("dead-lettered message has no headers")?;
    let ds = deaths(h)?;
    ensure(!ds.is_empty(), "x-death is empty")?;
    let (reason, queue) = (as_str(ds[0].get(&fname("reason"))), as_str(ds[0].get(&fname("queue"))));
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

/// The broker's connection.close (code and text), forwarded from the connection callback.
struct ConnCloses(UnboundedSender<(u16, String)>);

#[async_trait]
impl ConnectionCallback for ConnCloses {
    async fn close(&mut self, _c: &Connection, close: Close) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send((close.reply_code(), close.reply_text().clone()));
        Ok(())
    }
    async fn blocked(&mut self, _c: &Connection, _reason: String) {}
    async fn unblocked(&mut self, _c: &Connection) {}
    async fn secret_updated(&mut self, _c: &Connection) {}
}

async fn stream_queue(u: Url) -> R {
    let c = open(&u).await?;
    let sq = uniq("stream");
    // Every channel lives until the connection is closed (see quorum_queue).
    let (bad, mut bad_ev) = chan(&c).await?;
    let (ch, mut ev) = chan(&c).await?;
    let (first, _first_ev) = chan(&c).await?;
    let (third, _third_ev) = chan(&c).await?;
    let (cleanup, _cleanup_ev) = chan(&c).await?;
    let outcome = stream_queue_steps(&u, &bad, &mut bad_ev, &ch, &mut ev, &first, &third, &sq).await;
    // Cleanup whatever happened (a stream is durable).
    let _ = cleanup.queue_delete(QueueDeleteArguments::new(&sq)).await;
    let outcome = outcome?;
    close(c).await?;
    Ok(outcome)
}

/// Consumes stream `sq` on `ch` from x-stream-offset `offset` (prefetch 10, manual acks):
/// m<from>..m4, each with header x-stream-offset a long (FieldValue::l, 'l') equal to its index, and no more.
async fn stream_consume(ch: &Channel, sq: &str, offset: FieldValue, from: i64) -> Result<(), String> {
    ch.basic_qos(BasicQosArguments::new(0, 10, false)).await.ctx("basic.qos")?;
    let (tag, mut rx) = ch
        .basic_consume_rx(
            BasicConsumeArguments::new(sq, "")
                .manual_ack(true)
                .arguments(args(vec![("x-stream-offset", offset.clone())]))
                .finish(),
        )
        .await
        .ctx("basic.consume with x-stream-offset")?;
    for i in from..5 {
        let m = recv_msg(&mut rx, &format!("m{i} from x-stream-offset {offset:?}")).await?;
        let o = m.basic_properties.as_ref().and_then(|p| p.headers()).and_then(|h| h.get(&fname("x-stream-offset")).cloned());
        ensure(
            body_of(&m) == b(&format!("m{i}")) && matches!(o, Some(FieldValue::l(n)) if n == i),
            format!(
                "x-stream-offset {offset:?}: got {:?} with x-stream-offset {o:?}, want m{i} with l({i})",
                String::from_utf8_lossy(&body_of(&m))
            ),
        )?;
        ack(ch, tag_of(&m)).await?;
    }
    let extra = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
    ensure(
        extra.is_err(),
        format!("x-stream-offset {offset:?}: an extra delivery {:?}", extra.ok().flatten().map(|m| body_of(&m))),
    )?;
    // Cancelled before S is deleted: left on S until the delete (which cancels them from the
    // broker's side), amqprs lost the connection about 1 run in 5 (its close then failed with
    // InternalChannelError("channel closed"), against RabbitMQ 3.10.8 and Warren); cancelled
    // first, 60 runs of 60 passed.
    ch.basic_cancel(BasicCancelArguments::new(&tag)).await.ctx("basic.cancel")?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn stream_queue_steps(
    u: &Url,
    bad: &Channel,
    bad_ev: &mut UnboundedReceiver<Ev>,
    ch: &Channel,
    ev: &mut UnboundedReceiver<Ev>,
    first: &Channel,
    third: &Channel,
    sq: &str,
) -> R {
    let stream = || args(vec![("x-queue-type", fstr("stream"))]);
    let res = bad.queue_declare(QueueDeclareArguments::new(sq).durable(false).arguments(stream()).finish()).await;
    if let Ok(v) = res {
        return Err(format!("a non-durable stream was declared: {v:?}"));
    }
    // As for a 404: amqprs fails the call and hands the broker's channel.close to the callback.
    match recv_ev(bad_ev, "channel.close").await? {
        Ev::Close(code, text) => {
            let want = format!("PRECONDITION_FAILED - invalid property 'non-durable' for queue '{sq}' in vhost '/'");
            ensure(code == 406 && text == want, format!("non-durable declare: {code} {text:?}"))?;
        }
        other => return Err(format!("expected channel.close, got {other:?}")),
    }
    ch.queue_declare(QueueDeclareArguments::new(sq).durable(true).arguments(stream()).finish())
        .await
        .ctx("queue.declare stream")?;
    ch.confirm_select(ConfirmSelectArguments::default()).await.ctx("confirm.select")?;
    let names: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    let msgs: Vec<(&str, BasicProperties)> =
        names.iter().map(|n| (n.as_str(), BasicProperties::default().with_delivery_mode(2).finish())).collect();
    let acks = publish_confirmed(ch, ev, sq, &msgs).await?;
    ensure(acks == [true; 5], format!("publishes confirmed {acks:?}"))?;
    stream_consume(first, sq, fstr("first"), 0).await?;
    stream_consume(third, sq, FieldValue::s(3), 3).await?;
    let other = within("connection.open", Connection::open(&conn_args(u))).await?.ctx("connection open")?;
    let (closes_tx, mut closes) = mpsc::unbounded_channel();
    other.register_callback(ConnCloses(closes_tx)).await.ctx("register connection callback")?;
    let (och, _och_ev) = chan(&other).await?;
    let got = tokio::time::timeout(WAIT, och.basic_get(BasicGetArguments::new(sq).no_ack(false).finish())).await;
    if let Ok(Ok(Some(m))) = got {
        return Err(format!("basic.get on a stream succeeded: {m:?}"));
    }
    // amqprs hands the broker's connection.close to the connection callback.
    let (code, text) = within("connection.close", closes.recv()).await?.ok_or("connection callback gone")?;
    let want = format!("NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{sq}' in vhost '/'");
    ensure(code == 540 && text == want, format!("basic.get: connection closed with {code} {text:?} (the call gave {got:?})"))?;
    ch.queue_delete(QueueDeleteArguments::new(sq)).await.ctx("queue.delete")?;
    Ok(Outcome::Pass(format!(
        "BasicConsumeArguments::arguments({{x-stream-offset: \"first\" | s(3)}}) after basic_qos(10); x-stream-offset headers \
         are FieldValue::l; basic.get closes the connection with 540 (the connection callback's Close; the call gave {})",
        match got {
            Ok(Ok(_)) => "Ok(None)".to_string(),
            // the variant only: amqprs's own message here reads "failed to receive response to Get"
            Ok(Err(e)) => format!("Err({})", format!("{e:?}").split('(').next().unwrap_or_default()),
            Err(_) => "no answer within 5 s".to_string(),
        }
    )))
}

async fn retry_with_delay(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let (work, delay) = (uniq("work"), uniq("delay"));
    arg_queue(&ch, &work, args(vec![("x-dead-letter-exchange", fstr("")), ("x-dead-letter-routing-key", fstr(&delay))])).await?;
    arg_queue(
        &ch,
        &delay,
        args(vec![
            ("x-message-ttl", FieldValue::I(50)),
            ("x-dead-letter-exchange", fstr("")),
            ("x-dead-letter-routing-key", fstr(&work)),
        ]),
    )
    .await?;
    publish(&ch, "", &work, b"job").await?;
    for round in 1..=3 {
        let (ok, _, _) =
            get_one(&ch, &work, false).await.map_err(|_| format!("delivery {round} did not arrive in the work queue"))?;
        ch.basic_reject(BasicRejectArguments::new(ok.delivery_tag(), false)).await.ctx("basic.reject")?;
    }
    let (_, p, body) =
        get_one(&ch, &work, true).await.map_err(|_| "fourth delivery did not arrive in the work queue".to_string())?;
    ensure(body == b("job"), "body differs")?;
    let h = p.headers().ok_or("fourth delivery has no headers")?;
    let ds = deaths(h)?;
    ensure(ds.len() == 2, format!("x-death has {} entries, want 2", ds.len()))?;
    check_death(&ds[0], 0, &delay, "expired", 3)?;
    check_death(&ds[1], 1, &work, "rejected", 3)?;
    close(c).await?;
    pass()
}

async fn max_length(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, mut ev) = chan(&c).await?;
    ch.confirm_select(ConfirmSelectArguments::default()).await.ctx("confirm.select")?;
    let plain = BasicProperties::default;
    let head = arg_queue(&ch, &uniq("drophead"), args(vec![("x-max-length", FieldValue::I(2))])).await?;
    let acks = publish_confirmed(&ch, &mut ev, &head, &[("1", plain()), ("2", plain()), ("3", plain()), ("4", plain())]).await?;
    ensure(acks == [true, true, true, true], format!("drop-head confirms {acks:?}"))?;
    let got = drain(&ch, &head, 3).await?;
    let shown: Vec<String> = got.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    ensure(got == vec![b("3"), b("4")], format!("drop-head queue holds {shown:?}, want [3, 4]"))?;
    let rej = arg_queue(
        &ch,
        &uniq("rejectpub"),
        args(vec![("x-max-length", FieldValue::I(2)), ("x-overflow", fstr("reject-publish"))]),
    )
    .await?;
    // Delivery tags continue on the channel: 5, 6, 7.
    let mut acks = Vec::new();
    for (i, body) in ["1", "2", "3"].iter().enumerate() {
        publish(&ch, "", &rej, body.as_bytes()).await?;
        let want = 5 + i as u64;
        match recv_ev(&mut ev, "publish ack or nack").await? {
            // every earlier publish is settled already: a "multiple" flag covers this one only
            Ev::Ack(tag, _) if tag == want => acks.push(true),
            Ev::Nack(tag, _) if tag == want => acks.push(false),
            other => return Err(format!("publish {want}: expected its ack or nack, got {other:?}")),
        }
    }
    ensure(acks == [true, true, false], format!("reject-publish confirms {acks:?}, want [true, true, false]"))?;
    let n = count_eq(&ch, &rej, 2).await?;
    ensure(n == 2, format!("reject-publish queue holds {n}, want 2"))?;
    close(c).await?;
    Ok(Outcome::Pass("nack via ChannelCallback::publish_nack".into()))
}

async fn priority_queue(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, mut ev) = chan(&c).await?;
    ch.confirm_select(ConfirmSelectArguments::default()).await.ctx("confirm.select")?;
    let q = arg_queue(&ch, &uniq("prio"), args(vec![("x-max-priority", FieldValue::I(10))])).await?;
    let msgs: Vec<(&str, BasicProperties)> =
        [("1", 1u8), ("9", 9), ("5", 5)].iter().map(|(b, p)| (*b, BasicProperties::default().with_priority(*p).finish())).collect();
    let acks = publish_confirmed(&ch, &mut ev, &q, &msgs).await?;
    ensure(acks == [true, true, true], format!("confirms {acks:?}"))?;
    let (_t, mut rx) = consume(&ch, &q, false).await?;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(String::from_utf8_lossy(&body_of(&recv_msg(&mut rx, "delivery").await?)).into_owned());
    }
    ensure(got == ["9", "5", "1"], format!("delivered in order {got:?}, want [9, 5, 1]"))?;
    close(c).await?;
    pass()
}

async fn single_active_consumer(u: Url) -> R {
    let c = open(&u).await?;
    let (cha, _ea) = chan(&c).await?;
    let (chb, _eb) = chan(&c).await?;
    let q = arg_queue(&cha, &uniq("sac"), args(vec![("x-single-active-consumer", FieldValue::t(true))])).await?;
    let (tag_a, mut ra) = consume(&cha, &q, false).await?;
    let (_tb, mut rb) = consume(&chb, &q, false).await?;
    for i in 0..3 {
        publish(&cha, "", &q, format!("{i}").as_bytes()).await?;
    }
    for i in 0..3 {
        let m = recv_msg(&mut ra, "active consumer A's delivery").await?;
        ensure(body_of(&m) == format!("{i}").into_bytes(), format!("A got {:?}, want {i}", String::from_utf8_lossy(&body_of(&m))))?;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Ok(m) = rb.try_recv() {
        return Err(format!("inactive consumer B got {:?}", String::from_utf8_lossy(&body_of(&m))));
    }
    cha.basic_cancel(BasicCancelArguments::new(&tag_a)).await.ctx("basic.cancel A")?;
    for i in 3..5 {
        publish(&cha, "", &q, format!("{i}").as_bytes()).await?;
    }
    for i in 3..5 {
        let m = recv_msg(&mut rb, "consumer B's delivery after A's cancel").await?;
        ensure(body_of(&m) == format!("{i}").into_bytes(), format!("B got {:?}, want {i}", String::from_utf8_lossy(&body_of(&m))))?;
    }
    close(c).await?;
    pass()
}

async fn queue_expiry(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let (idle, used) = (uniq("expires"), uniq("expires"));
    let res = async {
        let expires = || args(vec![("x-expires", FieldValue::I(200))]);
        // The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
        ch.queue_declare(QueueDeclareArguments::new(&used).arguments(expires()).finish()).await.ctx("queue.declare")?;
        let (tag, _rx) = consume(&ch, &used, false).await?;
        ch.queue_declare(QueueDeclareArguments::new(&idle).arguments(expires()).finish()).await.ctx("queue.declare")?;
        let start = std::time::Instant::now();
        loop {
            // Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than the
            // 200 ms: RabbitMQ renews the lease on a passive declare too.
            let (probe, mut ev) = chan(&c).await?;
            match probe.queue_declare(QueueDeclareArguments::new(&idle).passive(true).finish()).await {
                Ok(_) => within("channel close", probe.close()).await?.ctx("channel close")?,
                Err(_) => {
                    // amqprs fails the call with its own error and hands the broker's
                    // channel.close (with the reply code) to ChannelCallback::close.
                    match recv_ev(&mut ev, "channel.close").await? {
                        Ev::Close(code, text) => ensure(code == 404, format!("reply code {code}, want 404 ({text})"))?,
                        other => return Err(format!("expected channel.close, got {other:?}")),
                    }
                    break;
                }
            }
            ensure(start.elapsed() < WAIT, "queue with x-expires 200 and no consumer still there after 5 s")?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let gone = start.elapsed().as_millis();
        let (probe, _e) = chan(&c).await?;
        probe
            .queue_declare(QueueDeclareArguments::new(&used).passive(true).finish())
            .await
            .ctx("passive declare of the consumed queue")?;
        within("channel close", probe.close()).await?.ctx("channel close")?;
        ch.basic_cancel(BasicCancelArguments::new(&tag)).await.ctx("basic.cancel")?;
        Ok(gone)
    }
    .await;
    // Kept until the connection is closed: a dropped amqprs Channel closes itself in a task of
    // its own, which would race connection.close.
    let cleanup = chan(&c).await;
    if let Ok((cleanup, _e)) = &cleanup {
        for q in [&idle, &used] {
            let _ = cleanup.queue_delete(QueueDeleteArguments::new(q)).await;
        }
    }
    let gone = res?;
    close(c).await?;
    drop(cleanup);
    Ok(Outcome::Pass(format!("idle queue gone after {gone} ms (CloseChannel 404); consumed one still there")))
}

async fn consumer_priority(u: Url) -> R {
    let c = open(&u).await?;
    let (cha, _ea) = chan(&c).await?;
    let (chb, _eb) = chan(&c).await?;
    let q = tmp_queue(&cha).await?;
    cha.basic_qos(BasicQosArguments::new(0, 2, false)).await.ctx("basic.qos")?;
    // B first: the priority, not the order of registration, gives A the first messages.
    let (_tb, mut rb) = consume(&chb, &q, false).await?;
    let (_ta, mut ra) = cha
        .basic_consume_rx(
            BasicConsumeArguments::new(&q, "")
                .manual_ack(true)
                .arguments(args(vec![("x-priority", FieldValue::I(10))]))
                .finish(),
        )
        .await
        .ctx("basic.consume with x-priority")?;
    for i in 0..5 {
        publish(&cha, "", &q, format!("{i}").as_bytes()).await?;
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        got_a.push(String::from_utf8_lossy(&body_of(&recv_msg(&mut ra, "consumer A's messages").await?)).into_owned());
    }
    for _ in 0..3 {
        got_b.push(String::from_utf8_lossy(&body_of(&recv_msg(&mut rb, "consumer B's messages").await?)).into_owned());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extra = ra.try_recv().ok().map(|m| String::from_utf8_lossy(&body_of(&m)).into_owned());
    ensure(
        got_a == ["0", "1"] && got_b == ["2", "3", "4"] && extra.is_none(),
        format!("A (x-priority 10, prefetch 2, no acks) got {got_a:?} (then {extra:?}), B got {got_b:?}"),
    )?;
    close(c).await?;
    Ok(Outcome::Pass("BasicConsumeArguments::arguments({x-priority: 10})".into()))
}

async fn sender_selected(u: Url) -> R {
    let c = open(&u).await?;
    let (ch, _ev) = chan(&c).await?;
    let x = uniq("direct");
    declare_exchange(&ch, &x, ExchangeType::Direct).await?;
    let keys = ["k1", "k2", "k3"];
    let mut qs = Vec::new();
    for k in keys {
        let q = tmp_queue(&ch).await?;
        bind(&ch, &q, &x, k).await?;
        qs.push(q);
    }
    let arr = |k: &str| FieldValue::A(vec![fstr(k)].try_into().unwrap());
    let headers = args(vec![("CC", arr("k2")), ("BCC", arr("k3"))]);
    publish_p(&ch, &x, "k1", b"selected", BasicProperties::default().with_headers(headers).finish()).await?;
    for (k, q) in keys.iter().zip(&qs) {
        let (_, p, body) = get_one(&ch, q, true).await.map_err(|_| format!("queue bound with {k} got nothing"))?;
        ensure(body == b("selected"), format!("queue bound with {k}: body differs"))?;
        if let Some(h) = p.headers() {
            ensure(h.get(&fname("BCC")).is_none(), format!("copy in the queue bound with {k} carries BCC: {h}"))?;
        }
        expect_only_sentinel(&ch, q, &format!("queue bound with {k} got an extra copy")).await?;
    }
    delete_exchange(&ch, &x).await?;
    close(c).await?;
    pass()
}

async fn rpc_reply_to(u: Url) -> R {
    let c = open(&u).await?;
    let (requester, _e1) = chan(&c).await?;
    let (responder, _e2) = chan(&c).await?;
    let q = tmp_queue(&responder).await?;
    let (_t, mut replies) = consume(&requester, "amq.rabbitmq.reply-to", false).await?;
    let corr = uniq("corr");
    let props = BasicProperties::default().with_reply_to("amq.rabbitmq.reply-to").with_correlation_id(&corr).finish();
    publish_p(&requester, "", &q, b"ping", props).await?;
    let (_, req, _) = get_one(&responder, &q, true).await?;
    let reply_to = req.reply_to().cloned().unwrap_or_default();
    ensure(reply_to.starts_with("amq.rabbitmq.reply-to."), format!("request reply_to {reply_to:?}"))?;
    let back = BasicProperties::default().with_correlation_id(&req.correlation_id().cloned().unwrap_or_default()).finish();
    publish_p(&responder, "", &reply_to, b"pong", back).await?;
    let m = recv_msg(&mut replies, "the reply").await?;
    ensure(body_of(&m) == b("pong"), "reply body differs")?;
    let got = m.basic_properties.as_ref().and_then(|p| p.correlation_id().cloned());
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
