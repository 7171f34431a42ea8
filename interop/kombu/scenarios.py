#!/usr/bin/env python3
"""Stock kombu with its py-amqp transport (PyPI) against the broker at argv[1], running every id
listed in argv[2] (interop/scenarios.txt). Prints one line per id:
SCENARIO <id> pass|fail|na [detail].

kombu's own API (Connection, Exchange, Queue, Producer, Consumer, Message) is used wherever it
offers the feature; where kombu only hands out py-amqp's channel (tx, publisher-confirm
callbacks) the py-amqp layer is called, and the detail says so. Each scenario opens its own
connection and runs in a worker thread bounded by 20 s; waits are bounded by 5 s.
"""
import datetime
import decimal
import os
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

import amqp
import amqp.serialization
from kombu import Connection, Consumer, Exchange, Producer, Queue

URL = ""
WAIT = 5.0


class NotAvailable(Exception):
    """The client's API does not offer the feature."""


def uniq(prefix):
    return f"interop.kombu.{prefix}.{uuid.uuid4().hex[:16]}"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def dial(**kw):
    conn = Connection(URL, transport="pyamqp", heartbeat=30, connect_timeout=WAIT, **kw)
    conn.connect()
    return conn


def tmp_queue(ch):
    q = Queue("", exclusive=True, channel=ch)
    q.declare()
    return q


def work_queue(conn, ch):
    """A named non-exclusive queue that outlives its consumers (kombu makes every exclusive
    queue auto-delete, and an auto-delete queue goes with its last consumer); deleted by
    the caller's cleanup."""
    q = Queue(uniq("work"), durable=False, auto_delete=False, channel=ch)
    q.declare()
    return q


def delete_queue(conn, name):
    try:
        ch = conn.channel()
        ch.queue_delete(name)
        ch.close()
    except Exception:
        pass


def publish(ch, routing_key, body, exchange="", **kw):
    Producer(ch).publish(body, exchange=exchange, routing_key=routing_key, **kw)


def pump(conn, until, seconds=WAIT):
    """kombu Connection.drain_events (dispatching callbacks) until until() holds or time is up."""
    deadline = time.monotonic() + seconds
    while not until():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            conn.drain_events(timeout=min(left, 0.05))
        except socket.timeout:
            pass
    return until()


def get_one(q, no_ack=True):
    """kombu Queue.get (basic.get) until a message arrives or 5 s pass; None then."""
    deadline = time.monotonic() + WAIT
    while True:
        m = q.get(no_ack=no_ack)
        if m is not None or time.monotonic() > deadline:
            return m
        time.sleep(0.01)


def drain_until_sentinel(ch, q):
    publish(ch, q.name, b"sentinel")
    got = []
    while True:
        m = get_one(q)
        check(m is not None, f"queue {q.name}: sentinel did not arrive within 5 s (got {got})")
        if m.body == b"sentinel":
            return sorted(got)
        got.append(m.body)


def passive_count(ch, name):
    return Queue(name, channel=ch).queue_declare(passive=True).message_count


def delete_exchange(conn, name):
    try:
        ch = conn.channel()
        Exchange(name, channel=ch).delete()
        ch.close()
    except Exception:
        pass


def login_user():
    return Connection(URL).userid


# ---------------------------------------------------------------- scenarios

def connect():
    with dial() as conn:
        hb = conn.connection.heartbeat  # py-amqp's negotiated value (kombu's own is what it asked)
        check(hb == 30, f"negotiated heartbeat {hb}, want 30")
        tmp_queue(conn.channel())
        return f"heartbeat {hb} (py-amqp Connection.heartbeat)"


def connect_amqplain():
    with dial(login_method="AMQPLAIN") as conn:
        mechs = [a.mechanism for a in conn.connection.authentication]
        check(mechs == [b"AMQPLAIN"], f"py-amqp was offered mechanisms {mechs}")
        tmp_queue(conn.channel())
        return "kombu Connection(login_method='AMQPLAIN') -> py-amqp sasl.AMQPLAIN"


def declare_exchanges():
    with dial() as conn:
        ch = conn.channel()
        for kind in ["direct", "fanout", "topic", "headers"]:
            x = Exchange(uniq(kind), type=kind, durable=False, channel=ch)
            x.declare()
            x.declare()  # an equivalent redeclare
            x.declare(passive=True)
            x.delete()


def declare_queues():
    with dial() as conn:
        ch = conn.channel()
        dur, ad = uniq("durable"), uniq("autodel")
        try:
            q = tmp_queue(ch)
            check(q.name.startswith("amq.gen-"), f"server-named queue is {q.name!r}")
            Queue(uniq("excl"), exclusive=True, channel=ch).declare()
            Queue(ad, auto_delete=True, durable=False, channel=ch).declare()
            durable = Queue(dur, durable=True, channel=ch)
            durable.declare()
            publish(ch, dur, b"one")
            publish(ch, dur, b"two")
            count = None
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                count = passive_count(ch, dur)
                if count == 2:
                    break
                time.sleep(0.01)
            check(count == 2, f"passive declare reports {count} messages, want 2")
            n = durable.delete()
            check(n == 2, f"delete-ok message count {n}, want 2")
            Queue(ad, channel=ch).delete()
        finally:
            try:
                cc = conn.channel()
                cc.queue_delete(dur)
                cc.queue_delete(ad)
            except Exception:
                pass


def bind_unbind():
    with dial() as conn:
        ch = conn.channel()
        name = uniq("direct")
        try:
            x = Exchange(name, type="direct", durable=False, channel=ch)
            x.declare()
            q = tmp_queue(ch)
            q.bind_to(x, "k")
            publish(ch, "k", b"bound", exchange=x)
            got = drain_until_sentinel(ch, q)
            check(got == [b"bound"], f"while bound got {got}")
            q.unbind_from(x, "k")
            publish(ch, "k", b"unbound", exchange=x)
            got = drain_until_sentinel(ch, q)
            check(got == [], f"after unbind got {got}")
        finally:
            delete_exchange(conn, name)


def route_default():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        publish(ch, q.name, b"default")
        m = get_one(q)
        check(m is not None and m.body == b"default", "default exchange did not deliver by queue name")
        di = m.delivery_info
        check(di["exchange"] == "" and di["routing_key"] == q.name, f"delivered with {di}")


def _route(kind, setup, sends, wants):
    with dial() as conn:
        ch = conn.channel()
        name = uniq(kind)
        try:
            x = Exchange(name, type=kind, durable=False, channel=ch)
            x.declare()
            qs = [tmp_queue(ch) for _ in wants]
            for q, binding in zip(qs, setup):
                q.bind_to(x, **binding)
            for key, body, headers in sends:
                publish(ch, key, body, exchange=x, headers=headers)
            for q, want in zip(qs, wants):
                got = drain_until_sentinel(ch, q)
                check(got == want, f"queue bound with {setup[qs.index(q)]} got {got}, want {want}")
        finally:
            delete_exchange(conn, name)


def route_direct():
    _route("direct", [{"routing_key": "red"}, {"routing_key": "blue"}],
           [("red", b"r", None), ("blue", b"b", None), ("green", b"g", None)], [[b"r"], [b"b"]])


def route_fanout():
    _route("fanout", [{"routing_key": f"key{i}"} for i in range(3)], [("whatever", b"all", None)],
           [[b"all"]] * 3)


def route_topic():
    keys = ["quick.orange.rabbit", "lazy.orange.elephant", "lazy", "quick.brown.fox"]
    _route("topic", [{"routing_key": "*.orange.*"}, {"routing_key": "lazy.#"}],
           [(k, k.encode(), None) for k in keys],
           [[b"lazy.orange.elephant", b"quick.orange.rabbit"], [b"lazy", b"lazy.orange.elephant"]])


def route_headers():
    _route("headers",
           [{"arguments": {"x-match": "all", "format": "pdf", "type": "report"}},
            {"arguments": {"x-match": "any", "format": "pdf", "type": "log"}}],
           [("", b"both", {"format": "pdf", "type": "report"}), ("", b"log", {"format": "zip", "type": "log"}),
            ("", b"none", {"format": "zip", "type": "report"}), ("", b"half", {"format": "pdf"})],
           [[b"both"], [b"both", b"half", b"log"]])


def mandatory_return():
    with dial() as conn:
        ch = conn.channel()
        returns = []
        producer = Producer(ch, on_return=lambda exc, exchange, key, msg: returns.append((exc, exchange, key, msg)))
        key = uniq("nowhere")
        producer.publish(b"lost", exchange="amq.direct", routing_key=key, mandatory=True)
        check(pump(conn, lambda: returns), "no basic.return within 5 s")
        exc, exchange, rkey, msg = returns[0]
        check(exc.reply_code == 312 and exc.reply_text == "NO_ROUTE", f"return {exc.reply_code} {exc.reply_text}")
        check(exchange == "amq.direct" and rkey == key and msg.body == b"lost", f"returned {exchange}/{rkey} {msg.body!r}")
        return "kombu Producer(on_return=...)"


def confirms_sync():
    with dial(transport_options={"confirm_publish": True}) as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        for i in range(100):
            # py-amqp's basic_publish_confirm blocks until Basic.Ack (Nack raises MessageNacked)
            publish(ch, q.name, str(i).encode(), confirm_timeout=WAIT)
        n = passive_count(ch, q.name)
        check(n == 100, f"queue holds {n}, want 100")
        return "kombu Connection(transport_options={'confirm_publish': True}), each publish blocks for its ack"


def confirms_async():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        acked, nacked, dup = [], [], []

        def on_confirm(into):
            def cb(delivery_tag, multiple):
                done = set(acked) | set(nacked)
                tags = [t for t in range(1, delivery_tag + 1) if t not in done] if multiple else [delivery_tag]
                for t in tags:
                    (dup if t in done else into).append(t)
            return cb

        # kombu has no confirm listener: py-amqp's channel events are the callback form.
        ch.events["basic_ack"].add(on_confirm(acked))
        ch.events["basic_nack"].add(on_confirm(nacked))
        ch.confirm_select()
        for i in range(100):
            publish(ch, q.name, str(i).encode())
        ok = pump(conn, lambda: len(acked) + len(nacked) >= 100)
        check(ok, f"only {len(acked) + len(nacked)} of 100 confirmations within 5 s")
        check(not nacked, f"nacked tags {nacked}")
        check(sorted(acked) == list(range(1, 101)), f"acked tags {sorted(acked)}")
        check(not dup, f"tags confirmed twice: {dup}")
        return "py-amqp Channel.confirm_select + Channel.events['basic_ack'/'basic_nack'] callbacks"


def manual_ack():
    with dial() as conn:
        ch = conn.channel()
        q = work_queue(conn, ch)
        try:
            _manual_ack(conn, ch, q)
        finally:
            delete_queue(conn, q.name)


def _manual_ack(conn, ch, q):
        for i in range(10):
            publish(ch, q.name, str(i).encode(), delivery_mode=2, content_type="text/plain")
        got = []

        def on_message(m):
            got.append(m)
            m.ack()

        with Consumer(ch, queues=[q], on_message=on_message, no_ack=False, auto_declare=False):
            pump(conn, lambda: len(got) >= 10)
        check(len(got) == 10, f"got {len(got)} of 10 deliveries within 5 s")
        check([m.body for m in got] == [str(i).encode() for i in range(10)], f"bodies {[m.body for m in got]}")
        check(all(m.content_type == "text/plain" for m in got), f"content types {[m.content_type for m in got]}")
        ch.close()
        n = passive_count(conn.channel(), q.name)
        check(n == 0, f"queue still holds {n} after acks")


def nack_requeue():
    raise NotAvailable("neither kombu (Message.reject/requeue send basic.reject) nor py-amqp 5.4.2 "
                       "(no Channel.basic_nack; it only receives Basic.Nack as a confirm) sends basic.nack")


def reject():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        publish(ch, q.name, b"drop")
        m = get_one(q, no_ack=False)
        check(m is not None, "message did not arrive")
        m.reject(requeue=False)
        ch.close()  # an unsettled message would be requeued here
        ch2 = conn.channel()
        n = passive_count(ch2, q.name)
        check(n == 0, f"rejected message still there ({n})")
        check(Queue(q.name, channel=ch2).get(no_ack=True) is None, "rejected message still delivered")
        return "kombu Message.reject(requeue=False)"


def prefetch_fair():
    with dial() as conn:
        ch_a, ch_b = conn.channel(), conn.channel()
        q = tmp_queue(ch_a)
        got_a, got_b = [], []

        def on_b(m):
            got_b.append(m.body)
            check(len(got_a) == 1, f"consumer A got {[x.body for x in got_a]} while holding an unacked message")
            m.ack()

        ca = Consumer(ch_a, queues=[q], on_message=got_a.append, prefetch_count=1, auto_declare=False, tag_prefix="A")
        ca.consume()
        publish(ch_a, q.name, b"first")
        check(pump(conn, lambda: got_a), "consumer A did not get the first message")
        cb = Consumer(ch_b, queues=[Queue(q.name, channel=ch_b)], on_message=on_b, prefetch_count=1,
                      auto_declare=False, tag_prefix="B")
        cb.consume()
        for i in range(6):
            publish(ch_a, q.name, str(i).encode())
        pump(conn, lambda: len(got_b) >= 6)
        pump(conn, lambda: False, 0.1)
        check(got_b == [str(i).encode() for i in range(6)], f"consumer B got {got_b}")
        check([m.body for m in got_a] == [b"first"], f"consumer A got {[m.body for m in got_a]}")
        got_a[0].ack()
        return "kombu Consumer(prefetch_count=1)"


def basic_get():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        for b in [b"a", b"b", b"c"]:
            publish(ch, q.name, b)
        m = get_one(q, no_ack=False)
        check(m is not None, "get returned empty")
        count = m.delivery_info.get("message_count")
        check(m.body == b"a" and count == 2, f"first get: body {m.body!r} count {count}")
        m.ack()
        m = get_one(q)
        check(m is not None and m.body == b"b" and m.delivery_info.get("message_count") == 1, "second get")
        m = get_one(q)
        check(m is not None and m.body == b"c" and m.delivery_info.get("message_count") == 0, "third get")
        check(q.get(no_ack=True) is None, "empty queue did not give get-empty")


def large_message():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        body = os.urandom(1 << 20)
        publish(ch, q.name, body)
        m = get_one(q)
        check(m is not None, "1 MiB message did not arrive")
        check(m.body == body, f"body differs (len {len(m.body)})")
        return f"frame_max {conn.connection.frame_max}"


def empty_message():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        publish(ch, q.name, b"", content_type="x/empty", content_encoding="binary")
        m = get_one(q)
        check(m is not None, "empty message did not arrive")
        check(len(m.body) == 0 and m.content_type == "x/empty", f"got {m.body!r} type {m.content_type!r}")
        return f"body {m.body!r} (py-amqp hands a zero-length body over as its default str '')"


def properties_roundtrip():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        props = dict(correlation_id="corr-1", reply_to="reply.q", message_id="msg-1", timestamp=1700000000,
                     type="kind", user_id=login_user(), app_id="interop-kombu")
        headers = {"h1": "v1", "h2": 7}
        publish(ch, q.name, b"props", content_type="application/json", content_encoding="gzip",
                headers=headers, delivery_mode=2, priority=5, expiration=60, **props)
        m = get_one(q)
        check(m is not None, "message did not arrive")
        p = m.properties
        got = {k: p.get(k) for k in props}
        ts = got["timestamp"]
        if isinstance(ts, datetime.datetime):  # py-amqp decodes the timestamp property as a datetime
            got["timestamp"] = int(ts.replace(tzinfo=datetime.timezone.utc).timestamp())
        bad = [f"{k}: got {got[k]!r} want {v!r}" for k, v in props.items() if got[k] != v]
        for k, want, value in [("content_type", "application/json", m.content_type),
                               ("content_encoding", "gzip", m.content_encoding), ("headers", headers, m.headers),
                               ("delivery_mode", 2, p.get("delivery_mode")), ("priority", 5, p.get("priority")),
                               ("expiration", "60000", p.get("expiration")), ("body", b"props", m.body)]:
            if value != want:
                bad.append(f"{k}: got {value!r} want {want!r}")
        check(not bad, "; ".join(bad))


def same(a, b):
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(map(same, a, b))
    return isinstance(a, type(b)) and isinstance(a, bool) == isinstance(b, bool) and a == b


def headers_types():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        h = {
            "string": "text \u00fc",
            "int32": -320000,
            "int64": -64000000000,
            "true": True,
            "false": False,
            "double": -2.25,
            "decimal": decimal.Decimal("123.45"),
            "time": datetime.datetime(2023, 11, 14, 22, 13, 20),
            "table": {"inner": "v", "n": 1, "deeper": {"x": 2}},
            "array": ["a", 1, True, {"k": "v"}, [2]],
            "void": None,
        }
        publish(ch, q.name, b"h", headers=h)
        m = get_one(q)
        check(m is not None, "message did not arrive")
        got = m.headers
        bad = [f"{k}: got {got.get(k)!r} want {v!r}" for k, v in h.items() if k not in got or not same(got[k], v)]
        check(len(got) == len(h), f"got {len(got)} headers, sent {len(h)}")
        check(not bad, "; ".join(bad))
        return ("sent S I L t d D T F A V (py-amqp writes int64 as 'L' and bytes as 'S'; "
                "it has no int8/int16/float/byte-array encoders)")


def passive_missing_404():
    with dial() as conn:
        ch = conn.channel()
        name = uniq("missing")
        try:
            Queue(name, channel=ch).queue_declare(passive=True)
            raise AssertionError("passive declare of a missing queue succeeded")
        except amqp.exceptions.NotFound as e:  # py-amqp's error class; kombu lets it through
            check(e.reply_code == 404, f"reply code {e.reply_code}")
            want = f"NOT_FOUND - no queue '{name}' in vhost "
            check(str(e.reply_text).startswith(want), f"reply text {e.reply_text!r}")
        tmp_queue(conn.channel())  # the connection still works
        return "amqp.exceptions.NotFound (reply_code 404)"


def exchange_to_exchange():
    with dial() as conn:
        ch = conn.channel()
        a_name, b_name = uniq("src"), uniq("dst")
        try:
            a = Exchange(a_name, type="direct", durable=False, channel=ch)
            b = Exchange(b_name, type="fanout", durable=False, channel=ch)
            a.declare()
            b.declare()
            b.bind_to(a, routing_key="k")
            q = tmp_queue(ch)
            q.bind_to(b)
            publish(ch, "k", b"via-e2e", exchange=a)
            publish(ch, "other", b"unrouted", exchange=a)
            g = drain_until_sentinel(ch, q)
            check(g == [b"via-e2e"], f"queue got {g}")
            b.unbind_from(a, routing_key="k")
            return "kombu Exchange.bind_to / unbind_from"
        finally:
            delete_exchange(conn, a_name)
            delete_exchange(conn, b_name)


def tx_commit():
    with dial() as conn:
        tx, other = conn.channel(), conn.channel()
        q = tmp_queue(other)
        tx.tx_select()  # kombu has no tx API: py-amqp's channel
        publish(tx, q.name, b"tx")
        time.sleep(0.1)
        check(q.get(no_ack=True) is None, "uncommitted publish is visible")
        tx.tx_commit()
        m = get_one(q)
        check(m is not None and m.body == b"tx", "committed publish did not arrive")
        return "py-amqp Channel.tx_select/tx_commit (kombu has no tx API)"


def tx_rollback():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        ch.tx_select()
        publish(ch, q.name, b"rolled-back")
        ch.tx_rollback()
        publish(ch, q.name, b"committed")
        ch.tx_commit()
        m = get_one(q)
        check(m is not None, "nothing arrived after commit")
        check(m.body == b"committed", f"first message is {m.body!r}")
        check(q.get(no_ack=True) is None, "more messages than the committed one")
        return "py-amqp Channel.tx_select/tx_rollback (kombu has no tx API)"


def channels_100():
    with dial() as conn:
        ch = conn.channel()
        q = tmp_queue(ch)
        chans = [conn.channel() for _ in range(100)]
        ids = {c.channel_id for c in chans}
        check(len(ids) == 100, f"{len(ids)} distinct channel ids")
        for i, c in enumerate(chans):
            publish(c, q.name, str(i).encode())
        for c in chans:
            c.close()
        n = passive_count(ch, q.name)
        check(n == 100, f"queue holds {n}, want 100")


def close_requeues():
    with dial() as conn:
        ch1, ch2 = conn.channel(), conn.channel()
        q = work_queue(conn, ch2)
        try:
            _close_requeues(conn, ch1, ch2, q)
        finally:
            delete_queue(conn, q.name)


def _close_requeues(conn, ch1, ch2, q):
        publish(ch2, q.name, b"held")
        got = []
        Consumer(ch1, queues=[Queue(q.name, channel=ch1)], on_message=got.append, auto_declare=False).consume()
        check(pump(conn, lambda: got), "no delivery")
        check(got[0].body == b"held" and not got[0].delivery_info["redelivered"], "first delivery")
        ch1.close()
        m = get_one(q)
        check(m is not None, "unacked message did not come back")
        check(m.body == b"held" and m.delivery_info["redelivered"], f"came back with {m.body!r} {m.delivery_info}")


def server_cancel():
    with dial() as conn:
        ch1, ch2 = conn.channel(), conn.channel()
        name = uniq("cancel")
        q = Queue(name, auto_delete=True, durable=False, channel=ch1)
        q.declare()
        cancelled = []
        tag = "ctag-" + name
        q.consume(tag, callback=lambda m: None, on_cancel=cancelled.append)
        ch2.queue_delete(name)
        check(pump(conn, lambda: cancelled), "no basic.cancel within 5 s")
        check(cancelled == [tag], f"cancel for tags {cancelled}")
        check(ch1.is_open, "channel closed by the cancel")
        tmp_queue(ch1)
        return "kombu Queue.consume(on_cancel=...)"


def clean_close():
    conn = dial()
    tmp_queue(conn.channel())
    raw = conn.connection
    raw.close()  # py-amqp: Connection.Close / Close-Ok; raises on any error
    conn.close()  # kombu's own close (it swallows connection errors, hence the py-amqp call above)
    check(not raw.connected, "py-amqp connection still connected")
    return "py-amqp Connection.close, then kombu Connection.close"


def count_eventually(ch, name, want):
    """Passive declares until the queue holds `want` messages or 5 s pass; the last count."""
    deadline = time.monotonic() + WAIT
    while True:
        n = passive_count(ch, name)
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.01)


def arg_queue(ch, name="", **arguments):
    """A queue declared with x-arguments (server-named and exclusive when name is empty)."""
    if name:
        q = Queue(name, durable=False, auto_delete=False, queue_arguments=arguments, channel=ch)
    else:
        q = Queue("", exclusive=True, queue_arguments=arguments, channel=ch)
    q.declare()
    return q


def queue_arg_invalid():
    with dial() as conn:
        ch = conn.channel()
        name = uniq("badarg")
        try:
            arg_queue(ch, name, **{"x-max-priority": 256})
            raise AssertionError("declare with x-max-priority 256 succeeded")
        except amqp.exceptions.PreconditionFailed as e:  # py-amqp's error class; kombu lets it through
            check(e.reply_code == 406, f"reply code {e.reply_code}")
            want = (f"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{name}' in vhost '/': "
                    "{max_value_exceeded,256}")
            check(e.reply_text == want, f"reply text {e.reply_text!r}")
        finally:
            delete_queue(conn, name)
        tmp_queue(conn.channel())  # the connection still works
        return "amqp.exceptions.PreconditionFailed (reply_code 406)"


def message_ttl():
    with dial() as conn:
        ch = conn.channel()
        ttl_q = arg_queue(ch, **{"x-message-ttl": 100})
        publish(ch, ttl_q.name, b"short-lived")
        n = count_eventually(ch, ttl_q.name, 0)
        check(n == 0, f"queue with x-message-ttl 100 still holds {n}")
        plain = tmp_queue(ch)
        publish(ch, plain.name, b"expires", expiration=0.05)  # kombu takes seconds: "50" on the wire
        n = count_eventually(ch, plain.name, 0)
        check(n == 0, f"message with expiration 50 still there ({n})")
        publish(ch, plain.name, b"stays")
        time.sleep(0.3)
        n = count_eventually(ch, plain.name, 1)
        check(n == 1, f"plain queue holds {n} after 300 ms, want the message without expiration")
        m = get_one(plain)
        check(m is not None and m.body == b"stays", f"got {m and m.body!r}")
        return "Producer.publish(expiration=0.05)"


def dead_letter():
    with dial() as conn:
        ch = conn.channel()
        dlx_name = uniq("dlx")
        try:
            dlx = Exchange(dlx_name, type="fanout", durable=False, channel=ch)
            dlx.declare()
            dlq = tmp_queue(ch)
            dlq.bind_to(dlx)
            src = arg_queue(ch, **{"x-dead-letter-exchange": dlx_name})
            publish(ch, src.name, b"dead")
            m = get_one(src, no_ack=False)
            check(m is not None, "message did not arrive")
            m.reject(requeue=False)
            d = get_one(dlq)
            check(d is not None and d.body == b"dead", "the rejected message did not reach the dead-letter queue")
            deaths = d.headers.get("x-death")
            check(isinstance(deaths, list) and deaths, f"x-death {deaths!r}")
            first = deaths[0]
            got = (first.get("queue"), first.get("reason"), first.get("count"))
            check(got == (src.name, "rejected", 1), f"x-death[0] {first!r}")
            reason = d.headers.get("x-first-death-reason")
            check(reason == "rejected", f"x-first-death-reason {reason!r}")
            n = count_eventually(ch, src.name, 0)
            check(n == 0, f"the rejected message is still in its queue ({n})")
            return "kombu Queue(queue_arguments=...), Message.reject(requeue=False)"
        finally:
            delete_exchange(conn, dlx_name)


def quorum_queue():
    with dial(transport_options={"confirm_publish": True}) as conn:
        q_name, dlx_name, dlq_name = uniq("quorum"), uniq("qdlx"), uniq("qdlq")
        try:
            try:
                Queue(q_name, durable=False, auto_delete=False, queue_arguments={"x-queue-type": "quorum"},
                      channel=conn.channel()).declare()
                raise AssertionError("a non-durable quorum queue was declared")
            except amqp.exceptions.PreconditionFailed as e:  # py-amqp's error class; kombu lets it through
                check(e.reply_code == 406, f"reply code {e.reply_code}")
                check("invalid property 'non-durable'" in e.reply_text, f"reply text {e.reply_text!r}")
            ch = conn.channel()
            dlx = Exchange(dlx_name, type="fanout", durable=False, channel=ch)
            dlx.declare()
            dlq = Queue(dlq_name, durable=False, auto_delete=False, channel=ch)
            dlq.declare()
            dlq.bind_to(dlx)
            q = Queue(q_name, durable=True, auto_delete=False, channel=ch, queue_arguments={
                "x-queue-type": "quorum", "x-delivery-limit": 1, "x-dead-letter-exchange": dlx_name})
            q.declare()
            # py-amqp's basic_publish_confirm blocks until Basic.Ack (Nack raises MessageNacked)
            publish(ch, q_name, b"quorum", delivery_mode=1, confirm_timeout=WAIT)
            m = get_one(q, no_ack=False)
            check(m is not None and m.body == b"quorum", "the message did not arrive")
            check(not m.delivery_info["redelivered"], "first delivery flagged redelivered")
            first = (m.headers or {}).get("x-delivery-count")
            # RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
            check(first in (None, 0), f"first delivery has x-delivery-count {first!r}")
            m.reject(requeue=True)
            m = get_one(q, no_ack=False)
            check(m is not None and m.body == b"quorum", "the requeued message did not come back")
            check(m.delivery_info["redelivered"], "second delivery not flagged redelivered")
            count = (m.headers or {}).get("x-delivery-count")
            check(isinstance(count, int) and count == 1, f"second delivery has x-delivery-count {count!r}")
            m.reject(requeue=True)
            d = get_one(dlq)
            check(d is not None and d.body == b"quorum", "the message did not reach the dead-letter queue")
            deaths = (d.headers or {}).get("x-death")
            check(isinstance(deaths, list) and deaths, f"x-death {deaths!r}")
            got = (deaths[0].get("reason"), deaths[0].get("queue"))
            check(got == ("delivery_limit", q_name), f"x-death[0] {deaths[0]!r}")
            check(q.get(no_ack=True) is None, "the quorum queue still holds the message")
            return (f"kombu Queue(queue_arguments=...), Message.reject(requeue=True); first delivery "
                    f"x-delivery-count {'absent' if first is None else first}")
        finally:
            delete_queue(conn, q_name)
            delete_queue(conn, dlq_name)
            delete_exchange(conn, dlx_name)


class TaggedLong(int):
    """An int that py-amqp decoded from a long ('l') field."""


def stream_queue():
    with dial(transport_options={"confirm_publish": True}) as conn:
        s_name = uniq("stream")
        try:
            try:
                Queue(s_name, durable=False, auto_delete=False, queue_arguments={"x-queue-type": "stream"},
                      channel=conn.channel()).declare()
                raise AssertionError("a non-durable stream was declared")
            except amqp.exceptions.PreconditionFailed as e:  # py-amqp's error class; kombu lets it through
                want = f"PRECONDITION_FAILED - invalid property 'non-durable' for queue '{s_name}' in vhost '/'"
                check((e.reply_code, e.reply_text) == (406, want), f"non-durable declare: {e.reply_code} {e.reply_text!r}")
            ch = conn.channel()
            Queue(s_name, durable=True, auto_delete=False, channel=ch,
                  queue_arguments={"x-queue-type": "stream"}).declare()
            for i in range(5):  # py-amqp's basic_publish_confirm blocks until Basic.Ack (Nack raises MessageNacked)
                publish(ch, s_name, f"m{i}".encode(), delivery_mode=2, confirm_timeout=WAIT)

            def consume(offset, want):
                c = conn.channel()
                got = []

                def on_message(m):
                    got.append((m.body, (m.headers or {}).get("x-stream-offset")))
                    m.ack()
                Consumer(c, queues=[Queue(s_name, consumer_arguments={"x-stream-offset": offset}, channel=c)],
                         on_message=on_message, no_ack=False, prefetch_count=10, auto_declare=False).consume()
                pump(conn, lambda: len(got) >= len(want))
                pump(conn, lambda: False, 0.2)  # nothing more comes
                expected = [(f"m{i}".encode(), i) for i in want]
                check(got == expected, f"x-stream-offset {offset!r}: got {got!r}, want {expected!r}")
                check(all(type(o) is TaggedLong for _, o in got),
                      f"x-stream-offset headers are not longs ('l'): {[type(o).__name__ for _, o in got]}")
                c.close()
            # py-amqp decodes every integer field type to int; for this scenario its field reader
            # tags what it reads from a long ('l'), so that the header's field type can be checked.
            read_item = amqp.serialization._read_item

            def tagged(buf, offset):
                val, end = read_item(buf, offset)
                return (TaggedLong(val) if chr(buf[offset]) == "l" else val), end
            amqp.serialization._read_item = tagged
            try:
                consume("first", range(5))
                consume(3, [3, 4])
            finally:
                amqp.serialization._read_item = read_item
            with dial() as other:
                try:
                    Queue(s_name, channel=other.channel()).get(no_ack=False)
                    raise AssertionError("basic.get on a stream succeeded")
                except amqp.exceptions.AMQPNotImplementedError as e:  # py-amqp's class for 540, a connection.close
                    want = f"NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{s_name}' in vhost '/'"
                    check((e.reply_code, e.reply_text) == (540, want), f"basic.get: {e.reply_code} {e.reply_text!r}")
            ch.queue_delete(s_name)
            return ("kombu Queue(consumer_arguments={'x-stream-offset': ...}), Consumer(prefetch_count=10); "
                    "x-stream-offset headers are longs; basic.get closes the connection with 540")
        finally:
            delete_queue(conn, s_name)


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
    return url, ca, refused, parsed.hostname, urllib.parse.unquote(parsed.username), urllib.parse.unquote(parsed.path[1:])


def vhost_user_tls():
    tls_url, ca, refused_url, host, user, vhost = tls_setup()
    # py-amqp wraps the socket with these (ssl_context.wrap_socket): the chain and, given
    # server_hostname, the host name (an IP SAN here) are checked
    sslopts = {"ca_certs": ca, "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": host}
    x_name, q_name, denied = (f"{p}.{uuid.uuid4().hex}" for p in ("tls-x", "tls-q", "denied"))  # ^tls-.* only
    body = bytes(range(256)) * 4 + uuid.uuid4().bytes
    with Connection(tls_url, transport="pyamqp", ssl=sslopts, connect_timeout=WAIT) as conn:
        conn.connect()
        try:
            version = conn.connection.transport.sock.version()
            ch = conn.channel()
            x = Exchange(x_name, type="direct", durable=False, channel=ch)
            x.declare()
            q = Queue(q_name, exchange=x, routing_key="k", durable=False, auto_delete=False, channel=ch)
            q.declare()  # declares and binds
            publish(ch, "k", body, exchange=x_name)  # a named exchange: "" is amq.default, outside ^tls-.*
            m = get_one(q)
            check(m is not None and m.body == body, f"basic.get gave {m and m.body!r:.80}")
            try:
                Queue(denied, durable=False, auto_delete=False, channel=conn.channel()).declare()
                raise AssertionError(f"queue {denied} was declared outside the user's configure permission")
            except amqp.exceptions.AccessRefused as e:  # py-amqp's class for 403; kombu lets it through
                texts = refused_texts(denied, vhost, user)
                check(e.reply_code == 403 and e.reply_text in texts, f"channel closed with {e.reply_code} {e.reply_text!r}")
                text403 = texts[e.reply_text]
        finally:
            delete_queue(conn, q_name)
            delete_exchange(conn, x_name)
    try:
        with Connection(refused_url, transport="pyamqp", connect_timeout=WAIT) as c:
            c.connect()
        raise AssertionError(f"{user} logged in to vhost '/'")
    except amqp.exceptions.NotAllowed as e:  # py-amqp's class for 530
        want = f"NOT_ALLOWED - access to vhost '/' refused for user '{user}'"
        check((e.reply_code, e.reply_text) == (530, want), f"connection closed with {e.reply_code} {e.reply_text!r}")
    return (f"{version}, kombu Connection(ssl={{'ca_certs': CA, 'cert_reqs': CERT_REQUIRED, 'server_hostname': host}}); "
            f"{text403}; vhost '/' refused: amqp.exceptions.NotAllowed 530 with the text")


def retry_with_delay():
    with dial() as conn:
        ch = conn.channel()
        work_name, delay_name = uniq("work"), uniq("delay")
        try:
            work = arg_queue(ch, work_name, **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": delay_name})
            arg_queue(ch, delay_name, **{"x-message-ttl": 50, "x-dead-letter-exchange": "",
                                         "x-dead-letter-routing-key": work_name})
            publish(ch, work_name, b"job")
            for i in range(4):
                m = get_one(work, no_ack=False)
                check(m is not None and m.body == b"job", f"delivery {i + 1} did not come back within 5 s")
                if i < 3:
                    m.reject(requeue=False)
            m.ack()
            got = [(d.get("queue"), d.get("reason"), d.get("count")) for d in m.headers.get("x-death") or []]
            check(got == [(delay_name, "expired", 3), (work_name, "rejected", 3)], f"x-death {got}")
        finally:
            delete_queue(conn, work_name)
            delete_queue(conn, delay_name)


def max_length():
    with dial() as conn:
        ch = conn.channel()
        q = arg_queue(ch, **{"x-max-length": 2})
        for i in range(1, 5):
            publish(ch, q.name, str(i).encode())
        n = count_eventually(ch, q.name, 2)
        check(n == 2, f"x-max-length 2 queue holds {n}")
        got = [get_one(q) for _ in range(2)]
        check([m and m.body for m in got] == [b"3", b"4"], f"drop-head kept {[m and m.body for m in got]}")
    with dial(transport_options={"confirm_publish": True}) as conn:
        ch = conn.channel()
        r = arg_queue(ch, **{"x-max-length": 2, "x-overflow": "reject-publish"})
        publish(ch, r.name, b"1", confirm_timeout=WAIT)
        publish(ch, r.name, b"2", confirm_timeout=WAIT)
        try:
            publish(ch, r.name, b"3", confirm_timeout=WAIT)
            raise AssertionError("publish past x-max-length with reject-publish was acked")
        except amqp.exceptions.MessageNacked:
            pass
        kept = [get_one(r) for _ in range(2)]
        check([m and m.body for m in kept] == [b"1", b"2"], f"reject-publish kept {[m and m.body for m in kept]}")
        return "reject-publish: a confirm_publish connection's publish raised amqp.exceptions.MessageNacked"


def priority_queue():
    with dial() as conn:
        ch = conn.channel()
        q = arg_queue(ch, **{"x-max-priority": 10})
        for p in [1, 9, 5]:
            publish(ch, q.name, str(p).encode(), priority=p)
        n = count_eventually(ch, q.name, 3)
        check(n == 3, f"queue holds {n}, want 3")
        got = []
        with Consumer(ch, queues=[q], on_message=lambda m: got.append(m.body), no_ack=True, auto_declare=False):
            pump(conn, lambda: len(got) >= 3)
        check(got == [b"9", b"5", b"1"], f"delivered {got}")


def single_active_consumer():
    with dial() as conn:
        ch_a, ch_b = conn.channel(), conn.channel()
        q = arg_queue(ch_a, **{"x-single-active-consumer": True})
        got_a, got_b = [], []
        ca = Consumer(ch_a, queues=[q], on_message=lambda m: got_a.append(m.body), no_ack=True,
                      auto_declare=False, tag_prefix="A")
        ca.consume()
        Consumer(ch_b, queues=[Queue(q.name, channel=ch_b)], on_message=lambda m: got_b.append(m.body),
                 no_ack=True, auto_declare=False, tag_prefix="B").consume()
        for b in [b"1", b"2"]:
            publish(ch_a, q.name, b)
        pump(conn, lambda: len(got_a) + len(got_b) >= 2)
        pump(conn, lambda: False, 0.2)
        check(got_a == [b"1", b"2"] and got_b == [], f"active A got {got_a}, B got {got_b}")
        ca.cancel()
        for b in [b"3", b"4"]:
            publish(ch_a, q.name, b)
        pump(conn, lambda: len(got_b) >= 2)
        pump(conn, lambda: False, 0.1)
        check(got_b == [b"3", b"4"] and got_a == [b"1", b"2"], f"after cancelling A: A got {got_a}, B got {got_b}")
        return "kombu Consumer.consume / Consumer.cancel"


def queue_expiry():
    with dial() as conn:
        ch = conn.channel()
        idle, used = uniq("expires"), uniq("expires")
        try:
            # The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
            q = arg_queue(ch, used, **{"x-expires": 200})
            c = Consumer(ch, queues=[q], on_message=lambda m: None, no_ack=True, auto_declare=False)
            c.consume()
            arg_queue(ch, idle, **{"x-expires": 200})
            start = time.monotonic()
            while True:
                # Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than
                # the 200 ms: RabbitMQ renews the lease on a passive declare too.
                probe = conn.channel()
                try:
                    Queue(idle, channel=probe).queue_declare(passive=True)
                except amqp.exceptions.NotFound as e:  # py-amqp's error class; kombu lets it through
                    check(e.reply_code == 404, f"reply code {e.reply_code}")
                    break
                probe.close()
                check(time.monotonic() - start < WAIT, "queue with x-expires 200 and no consumer still there after 5 s")
                time.sleep(0.3)
            gone = time.monotonic() - start
            probe = conn.channel()
            Queue(used, channel=probe).queue_declare(passive=True)  # raises if the consumed queue expired too
            probe.close()
            c.cancel()
            return f"idle queue gone after {gone * 1000:.0f} ms (amqp.exceptions.NotFound); consumed one still there"
        finally:
            delete_queue(conn, idle)
            delete_queue(conn, used)


def consumer_priority():
    with dial() as conn:
        ch_a, ch_b = conn.channel(), conn.channel()
        q = tmp_queue(ch_a)
        got_a, got_b = [], []
        # B first: the priority, not the order of registration, gives A the first messages.
        Consumer(ch_b, queues=[Queue(q.name, channel=ch_b)], on_message=lambda m: got_b.append(m.body),
                 no_ack=True, auto_declare=False, tag_prefix="B").consume()
        Consumer(ch_a, queues=[Queue(q.name, consumer_arguments={"x-priority": 10}, channel=ch_a)],
                 on_message=lambda m: got_a.append(m.body), prefetch_count=2, auto_declare=False,
                 tag_prefix="A").consume()
        for i in range(5):
            publish(ch_a, q.name, str(i).encode())
        pump(conn, lambda: len(got_a) + len(got_b) >= 5)
        pump(conn, lambda: False, 0.2)
        check(got_a == [b"0", b"1"] and got_b == [b"2", b"3", b"4"],
              f"A (x-priority 10, prefetch 2, no acks) got {got_a}, B got {got_b}")
        return "kombu Queue(consumer_arguments={'x-priority': 10}), Consumer(prefetch_count=2)"


def sender_selected():
    with dial() as conn:
        ch = conn.channel()
        name = uniq("cc")
        try:
            x = Exchange(name, type="direct", durable=False, channel=ch)
            x.declare()
            qs = []
            for k in ["k1", "k2", "k3"]:
                q = tmp_queue(ch)
                q.bind_to(x, k)
                qs.append((k, q))
            publish(ch, "k1", b"selected", exchange=x, headers={"CC": ["k2"], "BCC": ["k3"]})
            for k, q in qs:
                m = get_one(q)
                check(m is not None and m.body == b"selected", f"queue bound with {k} got nothing")
                check("BCC" not in m.headers, f"copy for {k} carries BCC: {m.headers!r}")
        finally:
            delete_exchange(conn, name)


def rpc_reply_to():
    with dial() as requester, dial() as responder:
        ch = requester.channel()
        replies = []
        # a pseudo-queue: consumed (no-ack) on the channel that publishes, never declared
        reply_q = Queue("amq.rabbitmq.reply-to", no_declare=True, channel=ch)
        Consumer(ch, queues=[reply_q], on_message=replies.append, no_ack=True, auto_declare=False).consume()
        rch = responder.channel()
        req_name = uniq("rpc")
        try:
            req_q = Queue(req_name, exclusive=True, channel=rch)
            req_q.declare()
            corr = uuid.uuid4().hex
            publish(ch, req_name, b"ping", reply_to="amq.rabbitmq.reply-to", correlation_id=corr)
            req = get_one(req_q)
            check(req is not None, "request did not arrive")
            reply_to = req.properties.get("reply_to")
            check(reply_to.startswith("amq.rabbitmq.reply-to."), f"request reply_to {reply_to!r}")
            publish(rch, reply_to, b"pong", correlation_id=req.properties.get("correlation_id"))
            check(pump(requester, lambda: replies), "reply did not arrive within 5 s")
            rep = replies[0]
            got = rep.properties.get("correlation_id")
            check(rep.body == b"pong" and got == corr, f"reply {rep.body!r} correlation id {got!r}")
            return "kombu Consumer(queues=[Queue('amq.rabbitmq.reply-to', no_declare=True)], no_ack=True)"
        finally:
            delete_queue(responder, req_name)


SCENARIOS = {f.__name__: f for f in [
    connect, connect_amqplain, declare_exchanges, declare_queues, bind_unbind, route_default,
    route_direct, route_fanout, route_topic, route_headers, mandatory_return, confirms_sync,
    confirms_async, manual_ack, nack_requeue, reject, prefetch_fair, basic_get, large_message,
    empty_message, properties_roundtrip, headers_types, passive_missing_404, exchange_to_exchange,
    tx_commit, tx_rollback, channels_100, close_requeues, server_cancel, clean_close, queue_arg_invalid,
    message_ttl, dead_letter, retry_with_delay, max_length, priority_queue, single_active_consumer,
    sender_selected, rpc_reply_to, queue_expiry, consumer_priority, quorum_queue, stream_queue, vhost_user_tls]}


def one_line(s):
    return " ".join(str(s).split())


def run(sid):
    f = SCENARIOS.get(sid)
    if f is None:
        return f"SCENARIO {sid} fail no implementation in the kombu client"
    box = {}

    def target():
        try:
            box["detail"] = f() or ""
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = e
            if not isinstance(e, NotAvailable):
                traceback.print_exc(file=sys.stderr)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(20)
    if t.is_alive():
        return f"SCENARIO {sid} fail timed out after 20 s"
    e = box.get("error")
    if e is None:
        return f"SCENARIO {sid} pass {one_line(box['detail'])}".rstrip()
    if isinstance(e, NotAvailable):
        return f"SCENARIO {sid} na {one_line(e)}"
    return f"SCENARIO {sid} fail {one_line(repr(e))}"


if __name__ == "__main__":
    URL = sys.argv[1]
    for sid in [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]:
        print(run(sid), flush=True)
