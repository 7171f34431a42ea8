#!/usr/bin/env python3
"""Stock pika against a broker: publish and consume through every exchange type.

Usage: scenarios.py AMQP_URL
Prints `SCENARIO <id> pass|fail|na [detail]` for every id in interop/scenarios.txt.
"""
import datetime
import decimal
import os
import ssl
import sys
import time
import traceback
import urllib.parse
import uuid

import pika
import pika.compat


def connect(url):
    params = pika.URLParameters(url)
    params.heartbeat = 30
    return pika.BlockingConnection(params)


def pump(conn, until, seconds=5.0):
    """Runs pika's I/O (dispatching callbacks) until until() holds or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.02)
    return until()


def fresh_queue(ch, **kw):
    return ch.queue_declare("", exclusive=True, **kw).method.queue


def drain(ch, queue, want):
    """Gets up to `want` messages with basic.get (bounded), returning their bodies."""
    bodies = []
    for _ in range(want * 20 + 20):
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            if len(bodies) >= want:
                break
            ch.connection.sleep(0.01)
            continue
        bodies.append(body)
        if len(bodies) >= want:
            break
    return bodies


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def default_exchange(ch):
    q = fresh_queue(ch)
    ch.basic_publish("", q, b"default")
    check(drain(ch, q, 1) == [b"default"], "default exchange delivers by queue name")


def direct(ch):
    x = "interop.direct." + uuid.uuid4().hex
    ch.exchange_declare(x, "direct", auto_delete=True)
    a, b = fresh_queue(ch), fresh_queue(ch)
    ch.queue_bind(a, x, "red")
    ch.queue_bind(b, x, "blue")
    ch.basic_publish(x, "red", b"r")
    ch.basic_publish(x, "blue", b"b")
    ch.basic_publish(x, "green", b"g")
    check(drain(ch, a, 1) == [b"r"], "red goes to a")
    check(drain(ch, b, 1) == [b"b"], "blue goes to b")


def fanout(ch):
    x = "interop.fanout." + uuid.uuid4().hex
    ch.exchange_declare(x, "fanout", auto_delete=True)
    qs = [fresh_queue(ch) for _ in range(3)]
    for q in qs:
        ch.queue_bind(q, x)
    ch.basic_publish(x, "ignored", b"all")
    for q in qs:
        check(drain(ch, q, 1) == [b"all"], "fanout reaches every queue")


def topic(ch):
    x = "interop.topic." + uuid.uuid4().hex
    ch.exchange_declare(x, "topic", auto_delete=True)
    star, hash_ = fresh_queue(ch), fresh_queue(ch)
    ch.queue_bind(star, x, "*.orange.*")
    ch.queue_bind(hash_, x, "lazy.#")
    for key in ["quick.orange.rabbit", "lazy.orange.elephant", "lazy", "quick.brown.fox"]:
        ch.basic_publish(x, key, key.encode())
    check(sorted(drain(ch, star, 2)) == [b"lazy.orange.elephant", b"quick.orange.rabbit"], "* matches one word")
    check(sorted(drain(ch, hash_, 2)) == [b"lazy", b"lazy.orange.elephant"], "# matches zero or more")


def headers(ch):
    x = "interop.headers." + uuid.uuid4().hex
    ch.exchange_declare(x, "headers", auto_delete=True)
    all_q, any_q = fresh_queue(ch), fresh_queue(ch)
    ch.queue_bind(all_q, x, arguments={"x-match": "all", "format": "pdf", "type": "report"})
    ch.queue_bind(any_q, x, arguments={"x-match": "any", "format": "pdf", "type": "log"})
    props = lambda h: pika.BasicProperties(headers=h)
    ch.basic_publish(x, "", b"both", props({"format": "pdf", "type": "report"}))
    ch.basic_publish(x, "", b"log", props({"format": "zip", "type": "log"}))
    check(drain(ch, all_q, 1) == [b"both"], "all needs every header")
    check(sorted(drain(ch, any_q, 2)) == [b"both", b"log"], "any needs one header")


def consume_and_ack(ch):
    q = fresh_queue(ch)
    for i in range(10):
        ch.basic_publish("", q, str(i).encode(), pika.BasicProperties(delivery_mode=2, content_type="text/plain"))
    got = []
    for method, props, body in ch.consume(q, inactivity_timeout=2):
        if method is None:
            break
        check(props.content_type == "text/plain", "properties survive")
        got.append(body)
        ch.basic_ack(method.delivery_tag)
        if len(got) == 10:
            break
    ch.cancel()
    check(got == [str(i).encode() for i in range(10)], "consumer gets all ten in order")


def confirms_and_returns(ch):
    ch.confirm_delivery()
    q = fresh_queue(ch)
    ch.basic_publish("", q, b"confirmed")
    try:
        ch.basic_publish("amq.direct", "no-such-key", b"lost", mandatory=True)
        raise AssertionError("unroutable mandatory publish was not returned")
    except pika.exceptions.UnroutableError:
        pass
    check(drain(ch, q, 1) == [b"confirmed"], "confirmed message is there")


def passive_missing_queue(conn):
    ch = conn.channel()
    try:
        ch.queue_declare("interop.missing." + uuid.uuid4().hex, passive=True)
        raise AssertionError("passive declare of a missing queue succeeded")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 404, f"reply code 404, got {e.reply_code}")
        check(e.reply_text.startswith("NOT_FOUND - no queue"), e.reply_text)


def unique(prefix):
    return f"interop.{prefix}.{uuid.uuid4().hex}"


def declare_exchanges(ch):
    for kind in ["direct", "fanout", "topic", "headers"]:
        x = unique(kind)
        ch.exchange_declare(x, kind)
        ch.exchange_declare(x, kind)  # an equivalent redeclare is fine
        ch.exchange_delete(x)


def declare_queues(ch):
    named = ch.queue_declare("", exclusive=True).method.queue
    check(named.startswith("amq.gen-"), f"server-named queue {named}")
    auto = unique("auto")
    ch.queue_declare(auto, auto_delete=True)
    durable = unique("durable")
    ch.queue_declare(durable, durable=True)
    ch.basic_publish("", durable, b"1")
    ch.basic_publish("", durable, b"2")
    count = 0
    for _ in range(100):
        count = ch.queue_declare(durable, passive=True).method.message_count
        if count == 2:
            break
        ch.connection.sleep(0.01)
    check(count == 2, f"passive declare counts 2 messages, got {count}")
    ch.queue_delete(durable)
    ch.queue_delete(auto)


def bind_unbind(ch):
    x = unique("bind")
    ch.exchange_declare(x, "direct", auto_delete=True)
    q = fresh_queue(ch)
    ch.queue_bind(q, x, "k")
    ch.basic_publish(x, "k", b"bound")
    check(drain(ch, q, 1) == [b"bound"], "bound key arrives")
    # The sentinel binding first: the auto-delete exchange would go with its last binding.
    ch.queue_bind(q, x, "sentinel")
    ch.queue_unbind(q, x, "k")
    ch.basic_publish(x, "k", b"unbound")
    ch.basic_publish(x, "sentinel", b"sentinel")
    check(drain(ch, q, 1) == [b"sentinel"], "after unbind only the sentinel arrives")


def nack_requeue(ch):
    q = fresh_queue(ch)
    ch.basic_publish("", q, b"again")
    method, _, body = ch.basic_get(q)
    check(method is not None and not method.redelivered, "first delivery")
    ch.basic_nack(method.delivery_tag, requeue=True)
    for _ in range(100):
        method, _, body = ch.basic_get(q)
        if method is not None:
            break
        ch.connection.sleep(0.01)
    check(method is not None and method.redelivered and body == b"again", "redelivered after nack")
    ch.basic_ack(method.delivery_tag)


def reject(ch):
    q = fresh_queue(ch)
    ch.basic_publish("", q, b"gone")
    method, _, _ = ch.basic_get(q)
    ch.basic_reject(method.delivery_tag, requeue=False)
    ch.basic_publish("", q, b"sentinel")
    check(drain(ch, q, 1) == [b"sentinel"], "the rejected message is gone")


def basic_get(ch):
    q = fresh_queue(ch)
    ch.basic_publish("", q, b"a")
    ch.basic_publish("", q, b"b")
    method = None
    for _ in range(100):
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method is not None:
            break
        ch.connection.sleep(0.01)
    check(method is not None and body == b"a" and method.message_count == 1, "get-ok with one left")
    drain(ch, q, 1)
    method, _, _ = ch.basic_get(q, auto_ack=True)
    check(method is None, "get-empty on an empty queue")


def large_message(ch):
    q = fresh_queue(ch)
    body = os.urandom(1024 * 1024)
    ch.basic_publish("", q, body)
    check(drain(ch, q, 1) == [body], "1 MiB round trip")


def empty_message(ch):
    q = fresh_queue(ch)
    ch.basic_publish("", q, b"")
    check(drain(ch, q, 1) == [b""], "empty body round trip")


def properties_roundtrip(ch):
    q = fresh_queue(ch)
    props = pika.BasicProperties(
        content_type="application/json", content_encoding="utf-8", headers={"h": "v"},
        delivery_mode=2, priority=5, correlation_id="corr", reply_to="reply", expiration="60000",
        message_id="mid", timestamp=1700000000, type="kind", user_id="guest", app_id="interop")
    ch.basic_publish("", q, b"p", props)
    got = None
    for _ in range(100):
        method, got, _ = ch.basic_get(q, auto_ack=True)
        if method is not None:
            break
        ch.connection.sleep(0.01)
    for field in ["content_type", "content_encoding", "headers", "delivery_mode", "priority",
                  "correlation_id", "reply_to", "expiration", "message_id", "timestamp", "type",
                  "user_id", "app_id"]:
        check(getattr(got, field) == getattr(props, field), f"{field} survives")


def exchange_to_exchange(ch):
    a, b = unique("e2e-a"), unique("e2e-b")
    ch.exchange_declare(a, "fanout", auto_delete=True)
    ch.exchange_declare(b, "fanout", auto_delete=True)
    q = fresh_queue(ch)
    ch.queue_bind(q, b)
    ch.exchange_bind(b, a)
    ch.basic_publish(a, "", b"through")
    check(drain(ch, q, 1) == [b"through"], "A -> B -> queue")


def tx_commit(ch):
    q = fresh_queue(ch)
    ch.tx_select()
    ch.basic_publish("", q, b"tx")
    other = ch.connection.channel()
    method, _, _ = other.basic_get(q, auto_ack=True)
    check(method is None, "invisible before commit")
    other.close()
    ch.tx_commit()
    check(drain(ch, q, 1) == [b"tx"], "visible after commit")


def tx_rollback(ch):
    q = fresh_queue(ch)
    ch.tx_select()
    ch.basic_publish("", q, b"never")
    ch.tx_rollback()
    ch.basic_publish("", q, b"sentinel")
    ch.tx_commit()
    check(drain(ch, q, 1) == [b"sentinel"], "the rolled back publish never arrives")


def channels_100(ch):
    conn = ch.connection
    chans = [conn.channel() for _ in range(100)]
    q = fresh_queue(ch)
    for c in chans:
        c.basic_publish("", q, b"x")
    check(len(drain(ch, q, 100)) == 100, "each of 100 channels published")
    for c in chans:
        c.close()


def close_requeues(ch):
    conn = ch.connection
    q = fresh_queue(ch)
    ch.basic_publish("", q, b"back")
    reader = conn.channel()
    method = None
    for _ in range(100):
        method, _, _ = reader.basic_get(q)
        if method is not None:
            break
        conn.sleep(0.01)
    check(method is not None, "delivered")
    reader.close()
    for _ in range(100):
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method is not None:
            break
        conn.sleep(0.01)
    check(method is not None and method.redelivered and body == b"back", "requeued, redelivered")


class NotAvailable(Exception):
    """The client's API does not offer the feature."""


def connect_amqplain(url):
    # pika 1.4.4's pika/credentials.py has PlainCredentials (PLAIN) and ExternalCredentials
    # (EXTERNAL) only, and ConnectionParameters.credentials accepts only VALID_TYPES.
    raise NotAvailable("pika offers PLAIN and EXTERNAL only (pika.credentials has no AMQPLAIN class)")


def refused_texts(queue, vhost, user):
    """The 403 texts for a queue.declare outside the configure permission, and whose they are:
    RabbitMQ 3.12 and later (and Warren) name the permission, 3.10 does not."""
    tail = f"access to queue '{queue}' in vhost '{vhost}' refused for user '{user}'"
    return {f"ACCESS_REFUSED - configure {tail}": "403 text as RabbitMQ 4.x's (naming 'configure')",
            f"ACCESS_REFUSED - {tail}": "403 text as RabbitMQ 3.10's (without 'configure')"}


def tls_setup():
    """The vhost_user_tls set-up interop/run exports, or NotAvailable when it gave none."""
    url, ca, refused = (os.environ.get(k) for k in ("INTEROP_TLS_URL", "INTEROP_TLS_CA", "INTEROP_PLAIN_URL_FOR_USER"))
    if not (url and ca and refused):
        raise NotAvailable("no TLS set-up given")
    parsed = urllib.parse.urlsplit(url)
    return url, ca, refused, urllib.parse.unquote(parsed.username), urllib.parse.unquote(parsed.path[1:])


def vhost_user_tls(_url):
    tls_url, ca, refused_url, user, vhost = tls_setup()
    params = pika.URLParameters(tls_url)
    context = ssl.create_default_context(cafile=ca)  # verifies the chain and the host name (an IP SAN here)
    params.ssl_options = pika.SSLOptions(context, server_hostname=params.host)
    conn = pika.BlockingConnection(params)
    x, q, denied = (f"{p}.{uuid.uuid4().hex}" for p in ("tls-x", "tls-q", "denied"))  # the user may configure ^tls-.* only
    body = bytes(range(256)) * 4 + uuid.uuid4().bytes
    try:
        version = conn._impl._transport._sock.version()  # the SSLSocket under pika's transport
        ch = conn.channel()
        ch.exchange_declare(x, "direct")
        ch.queue_declare(q)
        ch.queue_bind(q, x, "k")
        ch.basic_publish(x, "k", body)  # a named exchange: "" is amq.default, outside ^tls-.* for write
        got = drain(ch, q, 1)
        check(got == [body], f"basic.get gave {got!r:.80}")
        try:
            ch.queue_declare(denied)
            raise AssertionError(f"queue {denied} was declared outside the user's configure permission")
        except pika.exceptions.ChannelClosedByBroker as e:
            texts = refused_texts(denied, vhost, user)
            check(e.reply_code == 403 and e.reply_text in texts, f"channel closed with {e.reply_code} {e.reply_text!r}")
            text403 = texts[e.reply_text]
    finally:
        delete_later(conn, queues=[q], exchanges=[x])
        conn.close()
    try:
        pika.BlockingConnection(pika.URLParameters(refused_url)).close()
        raise AssertionError(f"{user} logged in to vhost '/'")
    except pika.exceptions.AMQPConnectionError as e:  # pika 1.4: ProbableAccessDeniedError wrapping "(530) text"
        want = f"access to vhost '/' refused for user '{user}'"
        code, text = getattr(e, "reply_code", None), getattr(e, "reply_text", str(e))
        check(code == 530 or want in str(e), f"connection refused with {e!r}")
        check(want in text, f"connection refused with {e!r}")
        refusal = type(e).__name__ + (" carrying 530 NOT_ALLOWED" if code == 530 or "(530)" in str(e) else "") + " and the text"
    return f"{version}, ssl.create_default_context(cafile=CA) with the host name checked; {text403}; vhost '/' refused: {refusal}"


def confirms_async(url):
    """100 publishes confirmed through SelectConnection's on_delivery_confirmation callback."""
    st = {"confirmed": [], "nacked": [], "duplicate": [], "error": None, "timeout": False}

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_open_error(_conn, err):
        st["error"] = f"connect failed: {err!r}"
        _conn.ioloop.stop()

    def on_channel(ch):
        st["ch"] = ch
        def on_channel_close(_ch, reason):
            if not isinstance(reason, pika.exceptions.ChannelClosedByClient):
                st["error"] = st["error"] or f"channel closed: {reason!r}"
        ch.add_on_close_callback(on_channel_close)
        ch.confirm_delivery(on_delivery_confirmation,
                            callback=lambda _frame: ch.queue_declare("", exclusive=True, callback=on_declared))

    def on_declared(frame):
        q = frame.method.queue
        for i in range(100):
            st["ch"].basic_publish("", q, str(i).encode())

    def on_delivery_confirmation(frame):
        m = frame.method
        done = set(st["confirmed"])
        tags = [t for t in range(1, m.delivery_tag + 1) if t not in done] if m.multiple else [m.delivery_tag]
        for t in tags:
            (st["duplicate"] if t in done else st["confirmed"]).append(t)
        if isinstance(m, pika.spec.Basic.Nack):
            st["nacked"].extend(tags)
        if len(st["confirmed"]) >= 100 and conn.is_open:
            conn.close()

    def on_timeout():
        st["timeout"] = True
        if conn.is_open:
            conn.close()
        else:
            conn.ioloop.stop()

    def on_close(_conn, reason):
        if not isinstance(reason, pika.exceptions.ConnectionClosedByClient):
            st["error"] = st["error"] or f"connection closed: {reason!r}"
        _conn.ioloop.stop()

    conn = pika.SelectConnection(pika.URLParameters(url), on_open_callback=on_open,
                                 on_open_error_callback=on_open_error, on_close_callback=on_close)
    timer = conn.ioloop.call_later(5, on_timeout)
    conn.ioloop.start()
    conn.ioloop.remove_timeout(timer)
    check(st["error"] is None, st["error"])
    check(not st["timeout"], f"only {len(st['confirmed'])} of 100 confirmations within 5 s")
    check(sorted(st["confirmed"]) == list(range(1, 101)), f"confirmed tags {sorted(st['confirmed'])}")
    check(not st["duplicate"], f"tags confirmed twice: {st['duplicate']}")
    check(not st["nacked"], f"nacked tags: {st['nacked']}")
    return "SelectConnection, Channel.confirm_delivery(on_delivery_confirmation)"


def prefetch_fair(ch):
    conn = ch.connection
    ch_b = conn.channel()
    q = fresh_queue(ch)
    ch.basic_qos(prefetch_count=1)
    ch_b.basic_qos(prefetch_count=1)
    got_a, got_b = [], []
    ch.basic_consume(q, lambda _c, m, _p, body: got_a.append((m, body)), consumer_tag="A")

    def on_b(c, m, _p, body):
        got_b.append(body)
        check(len(got_a) == 1, f"consumer A got {[b for _, b in got_a]} while holding an unacked message")
        c.basic_ack(m.delivery_tag)

    ch.basic_publish("", q, b"first")
    check(pump(conn, lambda: got_a), "consumer A did not get the first message within 5 s")
    ch_b.basic_consume(q, on_b, consumer_tag="B")
    for i in range(6):
        ch.basic_publish("", q, str(i).encode())
    pump(conn, lambda: len(got_b) >= 6)
    pump(conn, lambda: False, 0.1)
    check(got_b == [str(i).encode() for i in range(6)], f"consumer B got {got_b}")
    check([b for _, b in got_a] == [b"first"], f"consumer A got {[b for _, b in got_a]}")
    ch.basic_ack(got_a[0][0].delivery_tag)
    ch_b.close()


def headers_types(ch):
    q = fresh_queue(ch)
    ts = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)  # 1700000000
    h = {
        "string": "text \u00fc",
        "int32": -320000,
        "int64": -64000000000,
        "true": True,
        "false": False,
        "decimal": decimal.Decimal("123.45"),
        "time": ts,
        "table": {"inner": "v", "n": 1, "deeper": {"x": 2}},
        "array": ["a", 1, True, {"k": "v"}, [2]],
        "bytes": b"\x00\x01\x02\xff",
        "void": None,
    }
    ch.basic_publish("", q, b"h", pika.BasicProperties(headers=h))
    got = None
    for _ in range(250):
        method, got, _ = ch.basic_get(q, auto_ack=True)
        if method is not None:
            break
        ch.connection.sleep(0.02)
    check(method is not None, "message did not arrive")
    def same(a, b):  # equal, and of the same kind (pika decodes 'l' as its int subclass `long`)
        if isinstance(b, dict):
            return isinstance(a, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
        if isinstance(b, list):
            return isinstance(a, list) and len(a) == len(b) and all(map(same, a, b))
        return isinstance(a, type(b)) and isinstance(a, bool) == isinstance(b, bool) and a == b

    bad = [f"{k}: got {got.headers.get(k)!r} want {v!r}" for k, v in h.items()
           if k not in got.headers or not same(got.headers[k], v)]
    check(len(got.headers) == len(h), f"got {len(got.headers)} headers, sent {len(h)}")
    check(not bad, "; ".join(bad))
    return ("sent S x t I l D T F A V (pika has no encoder for int8/int16/float/double: "
            "a Python float raises UnsupportedAMQPFieldException)")


def server_cancel(ch):
    conn = ch.connection
    q = unique("cancel")
    ch.queue_declare(q, auto_delete=True)
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    tag = "ctag-" + q
    ch.basic_consume(q, lambda *_: None, consumer_tag=tag)
    other = conn.channel()
    other.queue_delete(q)
    other.close()
    check(pump(conn, lambda: cancelled), "no basic.cancel within 5 s")
    check(cancelled == [tag], f"cancel for tags {cancelled}")
    check(ch.is_open, "channel closed by the cancel")
    check(tag not in ch.consumer_tags, "consumer still registered after the cancel")
    fresh_queue(ch)  # the channel still works
    return "BlockingChannel.add_on_cancel_callback"


def count_eventually(ch, queue, want, seconds=5.0):
    """Passive declares until the queue holds `want` messages or `seconds` pass; the last count."""
    deadline = time.monotonic() + seconds
    while True:
        count = ch.queue_declare(queue, passive=True).method.message_count
        if count == want or time.monotonic() > deadline:
            return count
        ch.connection.sleep(0.01)


def get_one(ch, queue, auto_ack=True):
    """basic.get until a message arrives or 5 s pass: (method, properties, body), method None then."""
    for _ in range(250):
        method, props, body = ch.basic_get(queue, auto_ack=auto_ack)
        if method is not None:
            break
        ch.connection.sleep(0.02)
    return method, props, body


def delete_later(conn, queues=(), exchanges=()):
    """Deletes the named queues and exchanges on a fresh channel (the scenario's may be closed)."""
    try:
        c = conn.channel()
        for q in queues:
            c.queue_delete(q)
        for x in exchanges:
            c.exchange_delete(x)
        c.close()
    except Exception:
        pass


def queue_arg_invalid(ch):
    conn = ch.connection
    q = unique("badarg")
    try:
        ch.queue_declare(q, arguments={"x-max-priority": 256})
        raise AssertionError("declare with x-max-priority 256 succeeded")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 406, f"reply code 406, got {e.reply_code} {e.reply_text}")
        want = (f"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{q}' in vhost '/': "
                "{max_value_exceeded,256}")
        check(e.reply_text == want, f"reply text {e.reply_text!r}")
    finally:
        delete_later(conn, queues=[q])
    other = conn.channel()
    fresh_queue(other)  # the connection still works
    other.close()
    return "ChannelClosedByBroker(406, ...)"


def message_ttl(ch):
    ttl_q = fresh_queue(ch, arguments={"x-message-ttl": 100})
    ch.basic_publish("", ttl_q, b"short-lived")
    n = count_eventually(ch, ttl_q, 0)
    check(n == 0, f"queue with x-message-ttl 100 still holds {n}")
    plain = fresh_queue(ch)
    ch.basic_publish("", plain, b"expires", pika.BasicProperties(expiration="50"))
    n = count_eventually(ch, plain, 0)
    check(n == 0, f"message with expiration 50 still there ({n})")
    ch.basic_publish("", plain, b"stays")
    ch.connection.sleep(0.3)
    n = count_eventually(ch, plain, 1)
    check(n == 1, f"plain queue holds {n} after 300 ms, want the message without expiration")
    method, _, body = get_one(ch, plain)
    check(method is not None and body == b"stays", f"got {body!r}")


def dead_letter(ch):
    conn = ch.connection
    dlx = unique("dlx")
    try:
        ch.exchange_declare(dlx, "fanout")
        dlq = fresh_queue(ch)
        ch.queue_bind(dlq, dlx)
        src = fresh_queue(ch, arguments={"x-dead-letter-exchange": dlx})
        ch.basic_publish("", src, b"dead")
        method, _, _ = get_one(ch, src, auto_ack=False)
        check(method is not None, "message did not arrive")
        ch.basic_reject(method.delivery_tag, requeue=False)
        method, props, body = get_one(ch, dlq)
        check(method is not None and body == b"dead", "the rejected message did not reach the dead-letter queue")
        h = props.headers or {}
        deaths = h.get("x-death")
        check(isinstance(deaths, list) and deaths, f"x-death {deaths!r}")
        d = deaths[0]
        check((d.get("queue"), d.get("reason"), d.get("count")) == (src, "rejected", 1), f"x-death[0] {d!r}")
        check(h.get("x-first-death-reason") == "rejected", f"x-first-death-reason {h.get('x-first-death-reason')!r}")
        check(count_eventually(ch, src, 0) == 0, "the rejected message is still in its queue")
    finally:
        delete_later(conn, exchanges=[dlx])


def quorum_queue(ch):
    conn = ch.connection
    q, dlx, dlq = unique("quorum"), unique("qdlx"), unique("qdlq")
    try:
        try:
            ch.queue_declare(q, durable=False, arguments={"x-queue-type": "quorum"})
            raise AssertionError("a non-durable quorum queue was declared")
        except pika.exceptions.ChannelClosedByBroker as e:
            check(e.reply_code == 406, f"reply code 406, got {e.reply_code} {e.reply_text}")
            check("invalid property 'non-durable'" in e.reply_text, f"reply text {e.reply_text!r}")
        ch = conn.channel()
        ch.exchange_declare(dlx, "fanout")
        ch.queue_declare(dlq)
        ch.queue_bind(dlq, dlx)
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 1,
                                                     "x-dead-letter-exchange": dlx})
        ch.confirm_delivery()
        ch.basic_publish("", q, b"quorum", pika.BasicProperties(delivery_mode=1))  # raises unless acked
        method, props, body = get_one(ch, q, auto_ack=False)
        check(method is not None and body == b"quorum", "the message did not arrive")
        check(not method.redelivered, "first delivery flagged redelivered")
        first = (props.headers or {}).get("x-delivery-count")
        # RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
        check(first in (None, 0), f"first delivery has x-delivery-count {first!r}")
        ch.basic_reject(method.delivery_tag, requeue=True)
        method, props, body = get_one(ch, q, auto_ack=False)
        check(method is not None and body == b"quorum", "the requeued message did not come back")
        check(method.redelivered, "second delivery not flagged redelivered")
        count = (props.headers or {}).get("x-delivery-count")
        check(isinstance(count, int) and count == 1, f"second delivery has x-delivery-count {count!r}")
        ch.basic_reject(method.delivery_tag, requeue=True)
        method, props, body = get_one(ch, dlq)
        check(method is not None and body == b"quorum", "the message did not reach the dead-letter queue")
        deaths = (props.headers or {}).get("x-death")
        check(isinstance(deaths, list) and deaths, f"x-death {deaths!r}")
        d = deaths[0]
        check((d.get("reason"), d.get("queue")) == ("delivery_limit", q), f"x-death[0] {d!r}")
        method, _, _ = ch.basic_get(q, auto_ack=True)
        check(method is None, "the quorum queue still holds the message")
        return f"first delivery x-delivery-count {'absent' if first is None else first}"
    finally:
        delete_later(conn, queues=[q, dlq], exchanges=[dlx])


def stream_queue(url):
    s = unique("stream")
    conn = connect(url)
    try:
        ch = conn.channel()
        try:
            ch.queue_declare(s, durable=False, arguments={"x-queue-type": "stream"})
            raise AssertionError("a non-durable stream was declared")
        except pika.exceptions.ChannelClosedByBroker as e:
            want = f"PRECONDITION_FAILED - invalid property 'non-durable' for queue '{s}' in vhost '/'"
            check((e.reply_code, e.reply_text) == (406, want), f"non-durable declare: {e.reply_code} {e.reply_text!r}")
        ch = conn.channel()
        ch.queue_declare(s, durable=True, arguments={"x-queue-type": "stream"})
        ch.confirm_delivery()
        for i in range(5):  # each basic_publish raises unless acked
            ch.basic_publish("", s, f"m{i}".encode(), pika.BasicProperties(delivery_mode=2))

        def consume(offset, want):
            c = conn.channel()
            c.basic_qos(prefetch_count=10)
            got = []

            def on_message(_c, method, props, body):
                got.append((body, (props.headers or {}).get("x-stream-offset")))
                c.basic_ack(method.delivery_tag)
            c.basic_consume(s, on_message, arguments={"x-stream-offset": offset})
            pump(conn, lambda: len(got) >= len(want))
            pump(conn, lambda: False, 0.2)  # nothing more comes
            expected = [(f"m{i}".encode(), i) for i in want]
            check(got == expected, f"x-stream-offset {offset!r}: got {got!r}, want {expected!r}")
            # pika decodes a long ('l') as pika.compat.long, a signed 32-bit ('I') as int
            check(all(type(o) is pika.compat.long for _, o in got),
                  f"x-stream-offset headers are not longs: {[type(o).__name__ for _, o in got]}")
            c.close()
        consume("first", range(5))
        consume(3, [3, 4])
        other = connect(url)
        try:
            other.channel().basic_get(s, auto_ack=False)
            raise AssertionError("basic.get on a stream succeeded")
        except pika.exceptions.ConnectionClosedByBroker as e:
            want = f"NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{s}' in vhost '/'"
            check((e.reply_code, e.reply_text) == (540, want), f"basic.get: {e.reply_code} {e.reply_text!r}")
        finally:
            if other.is_open:
                other.close()
        ch.queue_delete(s)
        return "x-stream-offset headers are longs; basic.get closes the connection with 540"
    finally:
        if conn.is_open:
            delete_later(conn, queues=[s])
            conn.close()
        else:
            c = connect(url)
            delete_later(c, queues=[s])
            c.close()


def retry_with_delay(ch):
    conn = ch.connection
    work, delay = unique("work"), unique("delay")
    try:
        ch.queue_declare(work, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": delay})
        ch.queue_declare(delay, arguments={"x-message-ttl": 50, "x-dead-letter-exchange": "",
                                           "x-dead-letter-routing-key": work})
        ch.basic_publish("", work, b"job")
        for round_ in range(4):
            method, props, body = get_one(ch, work, auto_ack=False)
            check(method is not None and body == b"job", f"delivery {round_ + 1} did not come back within 5 s")
            if round_ < 3:
                ch.basic_reject(method.delivery_tag, requeue=False)
        ch.basic_ack(method.delivery_tag)
        deaths = (props.headers or {}).get("x-death") or []
        got = [(d.get("queue"), d.get("reason"), d.get("count")) for d in deaths]
        check(got == [(delay, "expired", 3), (work, "rejected", 3)], f"x-death {got}")
    finally:
        delete_later(conn, queues=[work, delay])


def max_length(ch):
    conn = ch.connection
    q = fresh_queue(ch, arguments={"x-max-length": 2})
    for i in range(1, 5):
        ch.basic_publish("", q, str(i).encode())
    n = count_eventually(ch, q, 2)
    check(n == 2, f"x-max-length 2 queue holds {n}")
    check(drain(ch, q, 2) == [b"3", b"4"], "drop-head keeps the 2 newest")
    conf = conn.channel()
    conf.confirm_delivery()
    r = fresh_queue(conf, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    conf.basic_publish("", r, b"1")
    conf.basic_publish("", r, b"2")
    try:
        conf.basic_publish("", r, b"3")
        raise AssertionError("publish past x-max-length with reject-publish was acked")
    except pika.exceptions.NackError:
        pass
    check(drain(conf, r, 2) == [b"1", b"2"], "reject-publish keeps the 2 oldest")
    conf.close()
    return "reject-publish: BlockingChannel.basic_publish raised NackError"


def priority_queue(ch):
    q = fresh_queue(ch, arguments={"x-max-priority": 10})
    for p in [1, 9, 5]:
        ch.basic_publish("", q, str(p).encode(), pika.BasicProperties(priority=p))
    check(count_eventually(ch, q, 3) == 3, "3 messages did not arrive")
    got = []
    for method, _props, body in ch.consume(q, auto_ack=True, inactivity_timeout=5):
        if method is None:
            break
        got.append(body)
        if len(got) == 3:
            break
    ch.cancel()
    check(got == [b"9", b"5", b"1"], f"delivered {got}")


def single_active_consumer(ch):
    conn = ch.connection
    ch_b = conn.channel()
    q = fresh_queue(ch, arguments={"x-single-active-consumer": True})
    got_a, got_b = [], []

    def on(into):
        def cb(c, m, _p, body):
            into.append(body)
            c.basic_ack(m.delivery_tag)
        return cb

    ch.basic_consume(q, on(got_a), consumer_tag="A")
    ch_b.basic_consume(q, on(got_b), consumer_tag="B")
    for b in [b"1", b"2"]:
        ch.basic_publish("", q, b)
    pump(conn, lambda: len(got_a) + len(got_b) >= 2)
    pump(conn, lambda: False, 0.2)
    check(got_a == [b"1", b"2"] and got_b == [], f"active A got {got_a}, B got {got_b}")
    ch.basic_cancel("A")
    for b in [b"3", b"4"]:
        ch.basic_publish("", q, b)
    pump(conn, lambda: len(got_b) >= 2)
    pump(conn, lambda: False, 0.2)
    check(got_b == [b"3", b"4"] and got_a == [b"1", b"2"], f"after cancelling A: A got {got_a}, B got {got_b}")
    ch_b.close()


def queue_expiry(ch):
    conn = ch.connection
    idle, used = unique("expires"), unique("expires")
    try:
        # The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
        ch.queue_declare(used, arguments={"x-expires": 200})
        tag = ch.basic_consume(used, lambda *_: None, auto_ack=True)
        ch.queue_declare(idle, arguments={"x-expires": 200})
        start = time.monotonic()
        while True:
            # Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than
            # the 200 ms: RabbitMQ renews the lease on a passive declare too.
            probe = conn.channel()
            try:
                probe.queue_declare(idle, passive=True)
            except pika.exceptions.ChannelClosedByBroker as e:
                check(e.reply_code == 404, f"reply code 404, got {e.reply_code} {e.reply_text}")
                break
            probe.close()
            check(time.monotonic() - start < 5, "queue with x-expires 200 and no consumer still there after 5 s")
            conn.sleep(0.3)
        gone = time.monotonic() - start
        probe = conn.channel()
        probe.queue_declare(used, passive=True)  # raises if the consumed queue expired too
        probe.close()
        ch.basic_cancel(tag)
        return f"idle queue gone after {gone * 1000:.0f} ms (ChannelClosedByBroker 404); consumed one still there"
    finally:
        delete_later(conn, queues=[idle, used])


def consumer_priority(ch):
    conn = ch.connection
    ch_b = conn.channel()
    q = fresh_queue(ch)
    ch.basic_qos(prefetch_count=2)
    got_a, got_b = [], []
    # B first: the priority, not the order of registration, gives A the first messages.
    ch_b.basic_consume(q, lambda _c, _m, _p, body: got_b.append(body), consumer_tag="B", auto_ack=True)
    ch.basic_consume(q, lambda _c, _m, _p, body: got_a.append(body), consumer_tag="A",
                     arguments={"x-priority": 10})
    for i in range(5):
        ch.basic_publish("", q, str(i).encode())
    pump(conn, lambda: len(got_a) + len(got_b) >= 5)
    pump(conn, lambda: False, 0.2)
    check(got_a == [b"0", b"1"] and got_b == [b"2", b"3", b"4"],
          f"A (x-priority 10, prefetch 2, no acks) got {got_a}, B got {got_b}")
    ch_b.close()
    return "basic_consume(arguments={'x-priority': 10})"


def sender_selected(ch):
    conn = ch.connection
    x = unique("cc")
    try:
        ch.exchange_declare(x, "direct")
        qs = [fresh_queue(ch) for _ in range(3)]
        for q, k in zip(qs, ["k1", "k2", "k3"]):
            ch.queue_bind(q, x, k)
        ch.basic_publish(x, "k1", b"selected", pika.BasicProperties(headers={"CC": ["k2"], "BCC": ["k3"]}))
        for q, k in zip(qs, ["k1", "k2", "k3"]):
            method, props, body = get_one(ch, q)
            check(method is not None and body == b"selected", f"queue bound with {k} got nothing")
            check("BCC" not in (props.headers or {}), f"copy for {k} carries BCC: {props.headers!r}")
    finally:
        delete_later(conn, exchanges=[x])


def rpc_reply_to(url):
    pseudo = "amq.rabbitmq.reply-to"
    requester_conn, responder_conn = connect(url), connect(url)
    try:
        requester, responder = requester_conn.channel(), responder_conn.channel()
        ok = requester.queue_declare(pseudo, passive=True).method
        check((ok.message_count, ok.consumer_count) == (0, 1),
              f"passive declare of {pseudo}: {ok.message_count} messages, {ok.consumer_count} consumers")
        q = fresh_queue(responder)
        requests, replies = [], []
        responder.basic_consume(q, lambda _c, _m, p, b: requests.append((p, b)), auto_ack=True)
        tag = requester.basic_consume(pseudo, lambda _c, m, p, b: replies.append((m, p, b)), auto_ack=True)
        corr = str(uuid.uuid4())
        requester.basic_publish("", q, b"6*7", pika.BasicProperties(reply_to=pseudo, correlation_id=corr))
        check(pump(responder_conn, lambda: requests), "no request within 5 s")
        props, _ = requests[0]
        check((props.reply_to or "").startswith(pseudo + "."), f"request reply-to {props.reply_to!r}")
        responder.basic_publish("", props.reply_to, b"42",
                                pika.BasicProperties(correlation_id=props.correlation_id))
        check(pump(requester_conn, lambda: replies), "no reply within 5 s")
        method, props, body = replies[0]
        check(method.consumer_tag == tag, f"reply for consumer {method.consumer_tag!r}")
        check((body, props.correlation_id) == (b"42", corr), f"reply {body!r} correlation {props.correlation_id!r}")
        return "basic_consume(amq.rabbitmq.reply-to, auto_ack=True)"
    finally:
        for c in (requester_conn, responder_conn):
            try:
                c.close()
            except Exception:
                pass


# Scenario ids (interop/scenarios.txt) each function here answers.
IDS = {
    "default_exchange": ["route_default"],
    "direct": ["route_direct"],
    "fanout": ["route_fanout"],
    "topic": ["route_topic"],
    "headers": ["route_headers"],
    "consume_and_ack": ["manual_ack"],
    "confirms_and_returns": ["mandatory_return", "confirms_sync"],
    "declare_exchanges": ["declare_exchanges"],
    "declare_queues": ["declare_queues"],
    "bind_unbind": ["bind_unbind"],
    "nack_requeue": ["nack_requeue"],
    "reject": ["reject"],
    "basic_get": ["basic_get"],
    "large_message": ["large_message"],
    "empty_message": ["empty_message"],
    "properties_roundtrip": ["properties_roundtrip"],
    "exchange_to_exchange": ["exchange_to_exchange"],
    "tx_commit": ["tx_commit"],
    "tx_rollback": ["tx_rollback"],
    "channels_100": ["channels_100"],
    "close_requeues": ["close_requeues"],
    "prefetch_fair": ["prefetch_fair"],
    "headers_types": ["headers_types"],
    "server_cancel": ["server_cancel"],
    "queue_arg_invalid": ["queue_arg_invalid"],
    "message_ttl": ["message_ttl"],
    "dead_letter": ["dead_letter"],
    "retry_with_delay": ["retry_with_delay"],
    "quorum_queue": ["quorum_queue"],
    "max_length": ["max_length"],
    "priority_queue": ["priority_queue"],
    "single_active_consumer": ["single_active_consumer"],
    "queue_expiry": ["queue_expiry"],
    "consumer_priority": ["consumer_priority"],
    "sender_selected": ["sender_selected"],
}


def report(ids, status, detail=""):
    detail = " ".join(str(detail).split())
    for i in ids:
        print(f"SCENARIO {i} {status} {detail}".rstrip(), flush=True)


def main(url):
    try:
        conn = connect(url)
        hb = conn._impl.params.heartbeat  # pika keeps the negotiated value here after tune
        report(["connect"], "pass" if hb == 30 else "fail", f"negotiated heartbeat {hb}")
    except Exception as e:
        report(["connect"], "fail", repr(e))
        conn = None
    for ids, scenario in [(["connect_amqplain"], connect_amqplain), (["confirms_async"], confirms_async),
                          (["rpc_reply_to"], rpc_reply_to), (["vhost_user_tls"], vhost_user_tls),
                          (["stream_queue"], stream_queue)]:
        try:
            report(ids, "pass", scenario(url) or "")
        except NotAvailable as e:
            report(ids, "na", str(e))
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            report(ids, "fail", repr(e))
    scenarios = [default_exchange, direct, fanout, topic, headers, consume_and_ack, confirms_and_returns,
                 declare_exchanges, declare_queues, bind_unbind, nack_requeue, reject, prefetch_fair,
                 basic_get, large_message, empty_message, properties_roundtrip, headers_types,
                 exchange_to_exchange, tx_commit, tx_rollback, channels_100, close_requeues,
                 server_cancel, queue_arg_invalid, message_ttl, dead_letter, retry_with_delay, max_length,
                 priority_queue, single_active_consumer, sender_selected, queue_expiry, consumer_priority,
                 quorum_queue]
    for scenario in scenarios:
        ch = None
        try:
            if conn is None or not conn.is_open:  # the broker closed it: go on with a fresh one
                conn = connect(url)
            ch = conn.channel()
            report(IDS[scenario.__name__], "pass", scenario(ch) or "")
        except Exception as e:  # report and go on with the next scenario
            traceback.print_exc(file=sys.stderr)
            report(IDS[scenario.__name__], "fail", repr(e))
        finally:
            try:
                if ch is not None and ch.is_open:
                    ch.close()
            except Exception:
                pass
    try:
        if conn is None or not conn.is_open:
            conn = connect(url)
        passive_missing_queue(conn)
        report(["passive_missing_404"], "pass")
    except Exception as e:
        report(["passive_missing_404"], "fail", repr(e))
    try:
        conn.close()
        check(conn.is_closed, "connection not closed")
        report(["clean_close"], "pass")
    except Exception as e:
        report(["clean_close"], "fail", repr(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
