#!/usr/bin/env python3
"""Stock aio-pika (PyPI, on aiormq) against the broker at argv[1], running every id listed in
argv[2] (interop/scenarios.txt). Prints one line per id: SCENARIO <id> pass|fail|na [detail].

Each scenario opens its own connection, so a scenario that breaks its connection cannot
take the others with it; each one is bounded by a 20 s overall timeout and 5 s waits.
"""
import asyncio
import datetime
import decimal
import os
import sys
import time
import traceback
import uuid

import aio_pika
import aiormq
import pamqp.decode
from aio_pika import DeliveryMode, ExchangeType, Message

URL = ""
WAIT = 5.0


class NotAvailable(Exception):
    """The client's API does not offer the feature."""


def uniq(prefix):
    return f"interop.aio-pika.{prefix}.{uuid.uuid4().hex[:16]}"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def dial(**kw):
    return await aio_pika.connect(URL, heartbeat=30, **kw)


async def tmp_queue(ch):
    return await ch.declare_queue("", exclusive=True)


async def publish(ch, queue_name, body, **props):
    """Publishes through the default exchange (mandatory off, so nothing comes back)."""
    return await ch.default_exchange.publish(Message(body, **props), routing_key=queue_name, mandatory=False)


async def get_one(q, no_ack=True):
    """basic.get until a message arrives or 5 s pass; None then."""
    deadline = time.monotonic() + WAIT
    while True:
        msg = await q.get(no_ack=no_ack, fail=False)
        if msg is not None or time.monotonic() > deadline:
            return msg
        await asyncio.sleep(0.01)


async def drain_until_sentinel(ch, q):
    """Bodies that arrived before a sentinel sent through the default exchange, sorted."""
    await publish(ch, q.name, b"sentinel")
    got = []
    while True:
        msg = await get_one(q)
        check(msg is not None, f"queue {q.name}: sentinel did not arrive within 5 s (got {got})")
        if msg.body == b"sentinel":
            return sorted(got)
        got.append(msg.body)


async def recv(queue, timeout=WAIT):
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        return None


async def delete_exchange(conn, name):
    try:
        ch = await conn.channel()
        await ch.exchange_delete(name)
        await ch.close()
    except Exception:
        pass


def login_user():
    from yarl import URL as YURL
    return YURL(URL).user or "guest"


# ---------------------------------------------------------------- scenarios

async def connect():
    conn = await dial()
    try:
        tune = conn.transport.connection.connection_tune  # aiormq keeps the negotiated Tune-Ok
        check(tune.heartbeat == 30, f"negotiated heartbeat {tune.heartbeat}, want 30")
        await tmp_queue(await conn.channel())
        return f"heartbeat {tune.heartbeat} (aiormq Connection.connection_tune)"
    finally:
        await conn.close()


async def connect_amqplain():
    # aiormq 7.2.4's aiormq/auth.py: AuthMechanism has PLAIN and EXTERNAL only.
    raise NotAvailable("aiormq offers PLAIN and EXTERNAL only (aiormq.auth.AuthMechanism has no AMQPLAIN)")


async def declare_exchanges():
    conn = await dial()
    try:
        ch = await conn.channel()
        for kind in [ExchangeType.DIRECT, ExchangeType.FANOUT, ExchangeType.TOPIC, ExchangeType.HEADERS]:
            name = uniq(kind.value)
            x = await ch.declare_exchange(name, kind)
            await ch.declare_exchange(name, kind)  # an equivalent redeclare
            await ch.declare_exchange(name, kind, passive=True)
            await x.delete()
    finally:
        await conn.close()


async def declare_queues():
    conn = await dial()
    dur, ad = uniq("durable"), uniq("autodel")
    try:
        ch = await conn.channel()
        q = await ch.declare_queue("", exclusive=True)
        check(q.name.startswith("amq.gen-"), f"server-named queue is {q.name!r}")
        await ch.declare_queue(uniq("excl"), exclusive=True)
        await ch.declare_queue(ad, auto_delete=True)
        durable = await ch.declare_queue(dur, durable=True)
        await publish(ch, dur, b"one")
        await publish(ch, dur, b"two")
        count = None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            p = await ch.declare_queue(dur, passive=True)
            count = p.declaration_result.message_count
            if count == 2:
                break
            await asyncio.sleep(0.01)
        check(count == 2, f"passive declare reports {count} messages, want 2")
        ok = await durable.delete(if_unused=False, if_empty=False)
        check(ok.message_count == 2, f"delete-ok message count {ok.message_count}, want 2")
        await ch.queue_delete(ad)
    finally:
        try:
            cc = await conn.channel()
            await cc.queue_delete(dur)
            await cc.queue_delete(ad)
        except Exception:
            pass
        await conn.close()


async def bind_unbind():
    conn = await dial()
    name = uniq("direct")
    try:
        ch = await conn.channel()
        x = await ch.declare_exchange(name, ExchangeType.DIRECT)
        q = await tmp_queue(ch)
        await q.bind(x, "k")
        await x.publish(Message(b"bound"), "k")
        got = await drain_until_sentinel(ch, q)
        check(got == [b"bound"], f"while bound got {got}")
        await q.unbind(x, "k")
        await x.publish(Message(b"unbound"), "k", mandatory=False)
        got = await drain_until_sentinel(ch, q)
        check(got == [], f"after unbind got {got}")
    finally:
        await delete_exchange(conn, name)
        await conn.close()


async def route_default():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        await publish(ch, q.name, b"default")
        msg = await get_one(q)
        check(msg is not None and msg.body == b"default", "default exchange did not deliver by queue name")
        check(msg.exchange == "" and msg.routing_key == q.name, f"delivered with {msg.exchange!r}/{msg.routing_key!r}")
    finally:
        await conn.close()


async def route_direct():
    conn = await dial()
    name = uniq("direct")
    try:
        ch = await conn.channel()
        x = await ch.declare_exchange(name, ExchangeType.DIRECT)
        a, b = await tmp_queue(ch), await tmp_queue(ch)
        await a.bind(x, "red")
        await b.bind(x, "blue")
        for key, body in [("red", b"r"), ("blue", b"b"), ("green", b"g")]:
            await x.publish(Message(body), key, mandatory=False)
        ga, gb = await drain_until_sentinel(ch, a), await drain_until_sentinel(ch, b)
        check(ga == [b"r"], f"red queue got {ga}")
        check(gb == [b"b"], f"blue queue got {gb}")
    finally:
        await delete_exchange(conn, name)
        await conn.close()


async def route_fanout():
    conn = await dial()
    name = uniq("fanout")
    try:
        ch = await conn.channel()
        x = await ch.declare_exchange(name, ExchangeType.FANOUT)
        qs = [await tmp_queue(ch) for _ in range(3)]
        for i, q in enumerate(qs):
            await q.bind(x, f"key{i}")
        await x.publish(Message(b"all"), "whatever")
        for q in qs:
            g = await drain_until_sentinel(ch, q)
            check(g == [b"all"], f"queue got {g}")
    finally:
        await delete_exchange(conn, name)
        await conn.close()


async def route_topic():
    conn = await dial()
    name = uniq("topic")
    try:
        ch = await conn.channel()
        x = await ch.declare_exchange(name, ExchangeType.TOPIC)
        star, hash_ = await tmp_queue(ch), await tmp_queue(ch)
        await star.bind(x, "*.orange.*")
        await hash_.bind(x, "lazy.#")
        for k in ["quick.orange.rabbit", "lazy.orange.elephant", "lazy", "quick.brown.fox"]:
            await x.publish(Message(k.encode()), k, mandatory=False)
        gs, gh = await drain_until_sentinel(ch, star), await drain_until_sentinel(ch, hash_)
        check(gs == [b"lazy.orange.elephant", b"quick.orange.rabbit"], f"*.orange.* got {gs}")
        check(gh == [b"lazy", b"lazy.orange.elephant"], f"lazy.# got {gh}")
    finally:
        await delete_exchange(conn, name)
        await conn.close()


async def route_headers():
    conn = await dial()
    name = uniq("headers")
    try:
        ch = await conn.channel()
        x = await ch.declare_exchange(name, ExchangeType.HEADERS)
        all_q, any_q = await tmp_queue(ch), await tmp_queue(ch)
        await all_q.bind(x, "", arguments={"x-match": "all", "format": "pdf", "type": "report"})
        await any_q.bind(x, "", arguments={"x-match": "any", "format": "pdf", "type": "log"})
        for body, h in [(b"both", {"format": "pdf", "type": "report"}), (b"log", {"format": "zip", "type": "log"}),
                        (b"none", {"format": "zip", "type": "report"}), (b"half", {"format": "pdf"})]:
            await x.publish(Message(body, headers=h), "", mandatory=False)
        ga, gy = await drain_until_sentinel(ch, all_q), await drain_until_sentinel(ch, any_q)
        check(ga == [b"both"], f"x-match all got {ga}")
        check(gy == [b"both", b"half", b"log"], f"x-match any got {gy}")
    finally:
        await delete_exchange(conn, name)
        await conn.close()


async def mandatory_return():
    conn = await dial()
    try:
        ch = await conn.channel()  # publisher confirms on: publish returns the Basic.Return'ed message
        returned = asyncio.get_running_loop().create_future()
        ch.return_callbacks.add(lambda _ch, msg: returned.done() or returned.set_result(msg))
        x = await ch.get_exchange("amq.direct", ensure=False)
        key = uniq("nowhere")
        result = await x.publish(Message(b"lost"), key, mandatory=True)
        check(isinstance(result, aiormq.abc.DeliveredMessage), f"publish result {result!r}, want the returned message")
        ret = result.delivery
        check(isinstance(ret, aiormq.spec.Basic.Return), f"delivery {ret!r}")
        check(ret.reply_code == 312 and ret.reply_text == "NO_ROUTE", f"return {ret.reply_code} {ret.reply_text}")
        check(ret.exchange == "amq.direct" and ret.routing_key == key and result.body == b"lost",
              f"returned {ret.exchange}/{ret.routing_key} body {result.body!r}")
        msg = await asyncio.wait_for(returned, WAIT)
        check(msg.body == b"lost", "Channel.return_callbacks did not see the returned message")
        return "Exchange.publish result and Channel.return_callbacks"
    finally:
        await conn.close()


async def confirms_sync():
    conn = await dial()
    try:
        ch = await conn.channel(publisher_confirms=True)
        q = await tmp_queue(ch)
        for i in range(100):
            r = await asyncio.wait_for(publish(ch, q.name, str(i).encode()), WAIT)
            check(isinstance(r, aiormq.spec.Basic.Ack), f"publish {i} confirmed with {r!r}")
        p = await ch.declare_queue(q.name, passive=True)
        n = p.declaration_result.message_count
        check(n == 100, f"queue holds {n}, want 100")
        return "await Exchange.publish on a publisher_confirms channel"
    finally:
        await conn.close()


async def confirms_async():
    raise NotAvailable("aio-pika's confirmations are awaitable only (Exchange.publish returns the "
                       "Basic.Ack); it has no confirm callback/listener")


async def manual_ack():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        for i in range(10):
            await publish(ch, q.name, str(i).encode(), delivery_mode=DeliveryMode.PERSISTENT, content_type="text/plain")
        inbox = asyncio.Queue()
        await q.consume(inbox.put)
        for i in range(10):
            msg = await recv(inbox)
            check(msg is not None, f"got {i} of 10 deliveries within 5 s")
            check(msg.body == str(i).encode(), f"delivery {i} has body {msg.body!r}")
            check(msg.content_type == "text/plain", f"content type {msg.content_type!r}")
            await msg.ack()
        await ch.close()
        ch2 = await conn.channel()
        p = await ch2.declare_queue(q.name, passive=True)
        n = p.declaration_result.message_count
        check(n == 0, f"queue still holds {n} after acks")
    finally:
        await conn.close()


async def nack_requeue():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        await publish(ch, q.name, b"again")
        msg = await get_one(q, no_ack=False)
        check(msg is not None, "message did not arrive")
        check(not msg.redelivered, "first delivery already redelivered")
        await msg.nack(requeue=True)
        msg2 = await get_one(q, no_ack=False)
        check(msg2 is not None, "nacked message did not come back")
        check(msg2.body == b"again" and msg2.redelivered, f"came back with {msg2.body!r} redelivered={msg2.redelivered}")
        await msg2.ack()
    finally:
        await conn.close()


async def reject():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        await publish(ch, q.name, b"drop")
        msg = await get_one(q, no_ack=False)
        check(msg is not None, "message did not arrive")
        await msg.reject(requeue=False)
        await ch.close()  # an unsettled message would be requeued here
        ch2 = await conn.channel()
        p = await ch2.declare_queue(q.name, passive=True)
        check(p.declaration_result.message_count == 0, f"rejected message still there ({p.declaration_result.message_count})")
        check(await p.get(no_ack=True, fail=False) is None, "rejected message still delivered")
    finally:
        await conn.close()


async def prefetch_fair():
    conn = await dial()
    try:
        ch_a, ch_b = await conn.channel(), await conn.channel()
        await ch_a.set_qos(prefetch_count=1)
        await ch_b.set_qos(prefetch_count=1)
        qa = await tmp_queue(ch_a)
        qb = await ch_b.declare_queue(qa.name, passive=True)
        inbox_a, inbox_b = asyncio.Queue(), asyncio.Queue()
        await qa.consume(inbox_a.put, consumer_tag="A")
        await publish(ch_a, qa.name, b"first")
        first = await recv(inbox_a)
        check(first is not None and first.body == b"first", "consumer A did not get the first message")
        await qb.consume(inbox_b.put, consumer_tag="B")
        for i in range(6):
            await publish(ch_a, qa.name, str(i).encode())
        for i in range(6):
            m = await recv(inbox_b)
            check(m is not None, f"consumer B got {i} of 6")
            check(m.body == str(i).encode(), f"B got {m.body!r}, want {i}")
            check(inbox_a.empty(), "consumer A got a message while holding an unacked one")
            await m.ack()
        extra = await recv(inbox_a, 0.1)
        check(extra is None, f"consumer A got {extra.body if extra else None!r} while holding an unacked message")
        await first.ack()
    finally:
        await conn.close()


async def basic_get():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        for b in [b"a", b"b", b"c"]:
            await publish(ch, q.name, b)
        m = await get_one(q, no_ack=False)
        check(m is not None, "get returned empty")
        check(m.body == b"a" and m.message_count == 2, f"first get: body {m.body!r} count {m.message_count}")
        await m.ack()
        m = await get_one(q)
        check(m is not None and m.body == b"b" and m.message_count == 1, f"second get: {m and (m.body, m.message_count)}")
        m = await get_one(q)
        check(m is not None and m.body == b"c" and m.message_count == 0, f"third get: {m and (m.body, m.message_count)}")
        try:
            await q.get(no_ack=True)
            raise AssertionError("empty queue did not give get-empty")
        except aio_pika.exceptions.QueueEmpty:
            pass
    finally:
        await conn.close()


async def large_message():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        body = os.urandom(1 << 20)
        await publish(ch, q.name, body)
        m = await get_one(q)
        check(m is not None, "1 MiB message did not arrive")
        check(m.body == body, f"body differs (len {len(m.body)})")
        return f"frame_max {conn.transport.connection.connection_tune.frame_max}"
    finally:
        await conn.close()


async def empty_message():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        await publish(ch, q.name, b"", content_type="x/empty")
        m = await get_one(q)
        check(m is not None, "empty message did not arrive")
        check(m.body == b"" and m.content_type == "x/empty", f"got {m.body!r} type {m.content_type!r}")
    finally:
        await conn.close()


async def properties_roundtrip():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        ts = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
        sent = dict(content_type="application/json", content_encoding="gzip", headers={"h1": "v1", "h2": 7},
                    delivery_mode=DeliveryMode.PERSISTENT, priority=5, correlation_id="corr-1",
                    reply_to="reply.q", expiration=60, message_id="msg-1", timestamp=ts, type="kind",
                    user_id=login_user(), app_id="interop-aio-pika")
        await publish(ch, q.name, b"props", **sent)
        m = await get_one(q)
        check(m is not None, "message did not arrive")
        bad = [f"{k}: got {getattr(m, k)!r} want {v!r}" for k, v in sent.items() if getattr(m, k) != v]
        raw = m.properties.expiration
        if raw != "60000":
            bad.append(f"expiration on the wire {raw!r}, want '60000'")
        check(m.body == b"props", f"body {m.body!r}")
        check(not bad, "; ".join(bad))
    finally:
        await conn.close()


def same(a, b):
    """Equal, and of the same Python kind (bool is not int, bytearray is not str)."""
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(map(same, a, b))
    return isinstance(a, type(b)) and isinstance(a, bool) == isinstance(b, bool) and a == b


async def headers_types():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        h = {
            "string": "text \u00fc",
            "int8": -8,               # b
            "int16": -1600,           # s
            "uint16": 60000,          # u
            "int32": -320000,         # I
            "uint32": 3000000000,     # i
            "int64": -64000000000,    # l
            "true": True,
            "false": False,
            "float": 1.5,             # f (pamqp encodes a Python float as a single float)
            "decimal": decimal.Decimal("123.45"),
            "time": datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc),
            "table": {"inner": "v", "n": 1, "deeper": {"x": 2}},
            "array": ["a", 1, True, {"k": "v"}, [2]],
            "bytes": bytearray(b"\x00\x01\x02\xff"),
            "void": None,
        }
        await publish(ch, q.name, b"h", headers=h)
        m = await get_one(q)
        check(m is not None, "message did not arrive")
        got = m.headers
        bad = [f"{k}: got {got.get(k)!r} want {v!r}" for k, v in h.items() if k not in got or not same(got[k], v)]
        check(len(got) == len(h), f"got {len(got)} headers, sent {len(h)}")
        check(not bad, "; ".join(bad))
        return "sent b s u I i l t f D S T F A x V (pamqp has no double encoder: a Python float goes as f)"
    finally:
        await conn.close()


async def passive_missing_404():
    conn = await dial()
    try:
        ch = await conn.channel()
        name = uniq("missing")
        try:
            await ch.declare_queue(name, passive=True)
            raise AssertionError("passive declare of a missing queue succeeded")
        except aiormq.exceptions.ChannelNotFoundEntity as e:  # aiormq maps reply code 404 to this class
            text = e.args[0] if e.args else ""
            want = f"NOT_FOUND - no queue '{name}' in vhost "
            check(str(text).startswith(want), f"reply text {text!r}")
        check(ch.is_closed, "channel still open after the 404")
        await tmp_queue(await conn.channel())  # the connection still works
        return "aio_pika.exceptions.ChannelNotFoundEntity (reply code 404)"
    finally:
        await conn.close()


async def exchange_to_exchange():
    conn = await dial()
    a_name, b_name = uniq("src"), uniq("dst")
    try:
        ch = await conn.channel()
        a = await ch.declare_exchange(a_name, ExchangeType.DIRECT)
        b = await ch.declare_exchange(b_name, ExchangeType.FANOUT)
        await b.bind(a, "k")
        q = await tmp_queue(ch)
        await q.bind(b, "")
        await a.publish(Message(b"via-e2e"), "k", mandatory=False)
        await a.publish(Message(b"unrouted"), "other", mandatory=False)
        g = await drain_until_sentinel(ch, q)
        check(g == [b"via-e2e"], f"queue got {g}")
        await b.unbind(a, "k")
    finally:
        await delete_exchange(conn, a_name)
        await delete_exchange(conn, b_name)
        await conn.close()


async def tx_commit():
    conn = await dial()
    try:
        tx_ch = await conn.channel(publisher_confirms=False)
        other = await conn.channel()
        q = await tmp_queue(other)
        tx = tx_ch.transaction()
        await tx.select()
        await publish(tx_ch, q.name, b"tx")
        await asyncio.sleep(0.1)
        check(await q.get(no_ack=True, fail=False) is None, "uncommitted publish is visible")
        await tx.commit()
        m = await get_one(q)
        check(m is not None and m.body == b"tx", "committed publish did not arrive")
    finally:
        await conn.close()


async def tx_rollback():
    conn = await dial()
    try:
        ch = await conn.channel(publisher_confirms=False)
        q = await tmp_queue(ch)
        tx = ch.transaction()
        await tx.select()
        await publish(ch, q.name, b"rolled-back")
        await tx.rollback()
        await publish(ch, q.name, b"committed")
        await tx.commit()
        m = await get_one(q)
        check(m is not None, "nothing arrived after commit")
        check(m.body == b"committed", f"first message is {m.body!r}")
        check(await q.get(no_ack=True, fail=False) is None, "more messages than the committed one")
    finally:
        await conn.close()


async def channels_100():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await tmp_queue(ch)
        chans = [await conn.channel() for _ in range(100)]
        numbers = {c.number for c in chans}
        check(len(numbers) == 100, f"{len(numbers)} distinct channel numbers")
        for i, c in enumerate(chans):
            await publish(c, q.name, str(i).encode())
        for c in chans:
            await c.close()
        p = await ch.declare_queue(q.name, passive=True)
        check(p.declaration_result.message_count == 100, f"queue holds {p.declaration_result.message_count}, want 100")
    finally:
        await conn.close()


async def close_requeues():
    conn = await dial()
    try:
        ch1, ch2 = await conn.channel(), await conn.channel()
        q2 = await tmp_queue(ch2)
        await publish(ch2, q2.name, b"held")
        q1 = await ch1.declare_queue(q2.name, passive=True)
        inbox = asyncio.Queue()
        await q1.consume(inbox.put)
        m = await recv(inbox)
        check(m is not None and m.body == b"held", "no delivery")
        check(not m.redelivered, "first delivery already redelivered")
        await ch1.close()
        m2 = await get_one(q2)
        check(m2 is not None, "unacked message did not come back")
        check(m2.body == b"held" and m2.redelivered, f"came back with {m2.body!r} redelivered={m2.redelivered}")
    finally:
        await conn.close()


async def server_cancel():
    conn = await dial()
    try:
        ch1, ch2 = await conn.channel(), await conn.channel()
        name = uniq("cancel")
        q = await ch1.declare_queue(name, auto_delete=True)
        cancelled = asyncio.get_running_loop().create_future()
        # aio-pika's Channel has no consumer-cancel hook: the listener is aiormq's channel's.
        underlay = await ch1.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(
            lambda frame: cancelled.done() or cancelled.set_result(frame.consumer_tag))
        tag = "ctag-" + name
        await q.consume(lambda m: None, consumer_tag=tag)
        await ch2.queue_delete(name)
        try:
            got = await asyncio.wait_for(cancelled, WAIT)
        except asyncio.TimeoutError:
            raise AssertionError("no basic.cancel within 5 s")
        check(got == tag, f"cancel for tag {got!r}")
        check(tag not in underlay.consumers, "consumer still registered after the cancel")
        await asyncio.sleep(0.1)
        check(not ch1.is_closed, "channel closed by the cancel")
        await tmp_queue(ch1)
        return "aiormq Channel.on_consumer_cancel_callbacks (aio-pika has no hook of its own)"
    finally:
        await conn.close()


async def clean_close():
    conn = await dial()
    await tmp_queue(await conn.channel())
    await conn.close()
    check(conn.is_closed, "connection not closed")
    closed = await asyncio.wait_for(conn.closed(), WAIT)
    check(closed is True, f"closed() gave {closed!r}")


async def count_eventually(ch, name, want):
    """Passive declares until the queue holds `want` messages or 5 s pass; the last count."""
    deadline = time.monotonic() + WAIT
    while True:
        p = await ch.declare_queue(name, passive=True)
        n = p.declaration_result.message_count
        if n == want or time.monotonic() > deadline:
            return n
        await asyncio.sleep(0.01)


async def delete_queues(conn, *names):
    try:
        ch = await conn.channel()
        for n in names:
            await ch.queue_delete(n)
        await ch.close()
    except Exception:
        pass


async def queue_arg_invalid():
    conn = await dial()
    name = uniq("badarg")
    try:
        ch = await conn.channel()
        try:
            await ch.declare_queue(name, arguments={"x-max-priority": 256})
            raise AssertionError("declare with x-max-priority 256 succeeded")
        except aiormq.exceptions.ChannelPreconditionFailed as e:  # aiormq maps reply code 406 to this class
            text = e.args[0] if e.args else ""
            want = (f"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{name}' in vhost '/': "
                    "{max_value_exceeded,256}")
            check(text == want, f"reply text {text!r}")
        await tmp_queue(await conn.channel())  # the connection still works
        return "aiormq.exceptions.ChannelPreconditionFailed (reply code 406)"
    finally:
        await delete_queues(conn, name)
        await conn.close()


async def message_ttl():
    conn = await dial()
    try:
        ch = await conn.channel()
        ttl_q = await ch.declare_queue("", exclusive=True, arguments={"x-message-ttl": 100})
        await publish(ch, ttl_q.name, b"short-lived")
        n = await count_eventually(ch, ttl_q.name, 0)
        check(n == 0, f"queue with x-message-ttl 100 still holds {n}")
        plain = await tmp_queue(ch)
        wire = Message(b"", expiration=0.05).properties.expiration  # aio-pika takes seconds
        check(wire == "50", f"expiration 0.05 s goes on the wire as {wire!r}")
        await publish(ch, plain.name, b"expires", expiration=0.05)
        n = await count_eventually(ch, plain.name, 0)
        check(n == 0, f"message with expiration 50 still there ({n})")
        await publish(ch, plain.name, b"stays")
        await asyncio.sleep(0.3)
        n = await count_eventually(ch, plain.name, 1)
        check(n == 1, f"plain queue holds {n} after 300 ms, want the message without expiration")
        m = await get_one(plain)
        check(m is not None and m.body == b"stays", f"got {m and m.body!r}")
        return "Message(expiration=0.05)"
    finally:
        await conn.close()


async def dead_letter():
    conn = await dial()
    dlx_name = uniq("dlx")
    try:
        ch = await conn.channel()
        dlx = await ch.declare_exchange(dlx_name, ExchangeType.FANOUT)
        dlq = await tmp_queue(ch)
        await dlq.bind(dlx, "")
        src = await ch.declare_queue("", exclusive=True, arguments={"x-dead-letter-exchange": dlx_name})
        await publish(ch, src.name, b"dead")
        m = await get_one(src, no_ack=False)
        check(m is not None, "message did not arrive")
        await m.reject(requeue=False)
        d = await get_one(dlq)
        check(d is not None and d.body == b"dead", "the rejected message did not reach the dead-letter queue")
        deaths = d.headers.get("x-death")
        check(isinstance(deaths, list) and deaths, f"x-death {deaths!r}")
        first = deaths[0]
        got = (first.get("queue"), first.get("reason"), first.get("count"))
        check(got == (src.name, "rejected", 1), f"x-death[0] {first!r}")
        reason = d.headers.get("x-first-death-reason")
        check(reason == "rejected", f"x-first-death-reason {reason!r}")
        n = await count_eventually(ch, src.name, 0)
        check(n == 0, f"the rejected message is still in its queue ({n})")
    finally:
        await delete_exchange(conn, dlx_name)
        await conn.close()


async def quorum_queue():
    conn = await dial()
    q_name, dlx_name, dlq_name = uniq("quorum"), uniq("qdlx"), uniq("qdlq")
    try:
        ch = await conn.channel()
        try:
            await ch.declare_queue(q_name, durable=False, arguments={"x-queue-type": "quorum"})
            raise AssertionError("a non-durable quorum queue was declared")
        except aiormq.exceptions.ChannelPreconditionFailed as e:  # aiormq maps reply code 406 to this class
            text = e.args[0] if e.args else ""
            check("invalid property 'non-durable'" in text, f"reply text {text!r}")
        ch = await conn.channel(publisher_confirms=True)
        dlx = await ch.declare_exchange(dlx_name, ExchangeType.FANOUT)
        dlq = await ch.declare_queue(dlq_name)
        await dlq.bind(dlx, "")
        q = await ch.declare_queue(q_name, durable=True, arguments={
            "x-queue-type": "quorum", "x-delivery-limit": 1, "x-dead-letter-exchange": dlx_name})
        r = await asyncio.wait_for(publish(ch, q_name, b"quorum", delivery_mode=DeliveryMode.NOT_PERSISTENT), WAIT)
        check(isinstance(r, aiormq.spec.Basic.Ack), f"publish confirmed with {r!r}")
        m = await get_one(q, no_ack=False)
        check(m is not None and m.body == b"quorum", "the message did not arrive")
        check(not m.redelivered, "first delivery flagged redelivered")
        first = (m.headers or {}).get("x-delivery-count")
        # RabbitMQ 3.10 shows 0 on a first basic.get, 4.x (and Warren) leave the header out.
        check(first in (None, 0), f"first delivery has x-delivery-count {first!r}")
        await m.reject(requeue=True)
        m = await get_one(q, no_ack=False)
        check(m is not None and m.body == b"quorum", "the requeued message did not come back")
        check(m.redelivered, "second delivery not flagged redelivered")
        count = (m.headers or {}).get("x-delivery-count")
        check(isinstance(count, int) and count == 1, f"second delivery has x-delivery-count {count!r}")
        await m.reject(requeue=True)
        d = await get_one(dlq)
        check(d is not None and d.body == b"quorum", "the message did not reach the dead-letter queue")
        deaths = (d.headers or {}).get("x-death")
        check(isinstance(deaths, list) and deaths, f"x-death {deaths!r}")
        got = (deaths[0].get("reason"), deaths[0].get("queue"))
        check(got == ("delivery_limit", q_name), f"x-death[0] {deaths[0]!r}")
        left = await q.get(no_ack=True, fail=False)
        check(left is None, "the quorum queue still holds the message")
        return f"first delivery x-delivery-count {'absent' if first is None else first}"
    finally:
        await delete_queues(conn, q_name, dlq_name)
        await delete_exchange(conn, dlx_name)
        await conn.close()


class TaggedLong(int):
    """An int that pamqp decoded from a long ('l') field."""


async def stream_queue():
    conn = await dial()
    s_name = uniq("stream")
    try:
        ch = await conn.channel()
        try:
            await ch.declare_queue(s_name, durable=False, arguments={"x-queue-type": "stream"})
            raise AssertionError("a non-durable stream was declared")
        except aiormq.exceptions.ChannelPreconditionFailed as e:  # aiormq maps reply code 406 to this class
            text = e.args[0] if e.args else ""
            want = f"PRECONDITION_FAILED - invalid property 'non-durable' for queue '{s_name}' in vhost '/'"
            check(text == want, f"reply text {text!r}")
        ch = await conn.channel(publisher_confirms=True)
        await ch.declare_queue(s_name, durable=True, arguments={"x-queue-type": "stream"})
        for i in range(5):
            r = await asyncio.wait_for(publish(ch, s_name, f"m{i}".encode(), delivery_mode=DeliveryMode.PERSISTENT), WAIT)
            check(isinstance(r, aiormq.spec.Basic.Ack), f"publish m{i} confirmed with {r!r}")

        async def consume(offset, want):
            c = await conn.channel()
            await c.set_qos(prefetch_count=10)
            q = await c.get_queue(s_name, ensure=False)
            inbox = asyncio.Queue()
            await q.consume(inbox.put, no_ack=False, arguments={"x-stream-offset": offset})
            got = []
            for _ in want:
                m = await recv(inbox)
                if m is None:
                    break
                got.append((m.body, (m.headers or {}).get("x-stream-offset")))
                await m.ack()
            extra = await recv(inbox, 0.2)  # nothing more comes
            check(extra is None, f"x-stream-offset {offset!r}: an extra delivery {extra and extra.body!r}")
            expected = [(f"m{i}".encode(), i) for i in want]
            check(got == expected, f"x-stream-offset {offset!r}: got {got!r}, want {expected!r}")
            check(all(type(o) is TaggedLong for _, o in got),
                  f"x-stream-offset headers are not longs ('l'): {[type(o).__name__ for _, o in got]}")
            await c.close()
        # pamqp decodes every integer field type to int; for this scenario its 'l' (long) decoder
        # tags what it decodes, so that the header's field type can be checked.
        decode_long = pamqp.decode.TABLE_MAPPING[b"l"]

        def tagged(value):
            n, v = decode_long(value)
            return n, TaggedLong(v)
        pamqp.decode.TABLE_MAPPING[b"l"] = tagged
        try:
            await consume("first", range(5))
            await consume(3, [3, 4])
        finally:
            pamqp.decode.TABLE_MAPPING[b"l"] = decode_long
        other = await dial()
        try:
            och = await other.channel()
            oq = await och.get_queue(s_name, ensure=False)
            await oq.get(no_ack=False)
            raise AssertionError("basic.get on a stream succeeded")
        except aiormq.exceptions.ConnectionNotImplemented as e:  # aiormq maps connection.close 540 to this class
            text = e.args[0] if e.args else ""
            want = f"NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{s_name}' in vhost '/'"
            check(text == want, f"basic.get: connection closed with {text!r}")
        finally:
            try:
                await other.close()
            except Exception:
                pass
        await (await conn.channel()).queue_delete(s_name)
        return "x-stream-offset headers are longs; basic.get closes the connection with 540"
    finally:
        await delete_queues(conn, s_name)
        await conn.close()


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
    from yarl import URL as YURL
    parsed = YURL(url)
    return url, ca, refused, parsed.user, parsed.path[1:]


async def vhost_user_tls():
    tls_url, ca, refused_url, user, vhost = tls_setup()
    from yarl import URL as YURL
    # aiormq reads ?cafile= into ssl.create_default_context(cafile=...): chain and host name checked
    conn = await aio_pika.connect(YURL(tls_url).update_query(cafile=ca))
    x_name, q_name, denied = (f"{p}.{uuid.uuid4().hex}" for p in ("tls-x", "tls-q", "denied"))  # ^tls-.* only
    body = bytes(range(256)) * 4 + uuid.uuid4().bytes
    try:
        ch = await conn.channel()
        x = await ch.declare_exchange(x_name, ExchangeType.DIRECT)
        q = await ch.declare_queue(q_name)
        await q.bind(x, "k")
        await x.publish(Message(body), routing_key="k")  # a named exchange: "" is amq.default, outside ^tls-.*
        m = await get_one(q)
        check(m is not None and m.body == body, f"basic.get gave {m and m.body!r:.80}")
        try:
            await ch.declare_queue(denied)
            raise AssertionError(f"queue {denied} was declared outside the user's configure permission")
        except aiormq.exceptions.ChannelAccessRefused as e:  # aiormq maps reply code 403 to this class
            texts = refused_texts(denied, vhost, user)
            text = e.args[0] if e.args else ""
            check(text in texts, f"channel closed with {e.args!r}")
            text403 = texts[text]
    finally:
        await delete_queues(conn, q_name)
        await delete_exchange(conn, x_name)
        await conn.close()
    try:
        await (await aio_pika.connect(refused_url)).close()
        raise AssertionError(f"{user} logged in to vhost '/'")
    except aiormq.exceptions.InvalidFrameError as e:
        # aiormq 7.2.4 (connection.py _rpc) raises InvalidFrameError "Expected one of
        # ['Connection.OpenOk'], got <Connection.Close ...>" and drops the close's code and text;
        # the pamqp Connection.Close it got is still a local of _rpc in the traceback.
        close = None
        tb = e.__traceback__
        while tb is not None:
            f = tb.tb_frame.f_locals.get("frame")
            if isinstance(f, aiormq.spec.Connection.Close):
                close = f
            tb = tb.tb_next
        check(close is not None, f"connection refused with {e!r}")
        want = f"NOT_ALLOWED - access to vhost '/' refused for user '{user}'"
        check((close.reply_code, close.reply_text) == (530, want),
              f"connection.close {close.reply_code} {close.reply_text!r}")
    return (f"aio_pika.connect(amqps://...?cafile=CA) with the host name checked; {text403}; vhost '/' "
            "refused: aiormq raises InvalidFrameError naming the Connection.Close, whose 530 and text (read from "
            "the traceback) are RabbitMQ's")

async def retry_with_delay():
    conn = await dial()
    work_name, delay_name = uniq("work"), uniq("delay")
    try:
        ch = await conn.channel()
        work = await ch.declare_queue(work_name, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": delay_name})
        await ch.declare_queue(delay_name, arguments={
            "x-message-ttl": 50, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": work_name})
        await publish(ch, work_name, b"job")
        for i in range(4):
            m = await get_one(work, no_ack=False)
            check(m is not None and m.body == b"job", f"delivery {i + 1} did not come back within 5 s")
            if i < 3:
                await m.reject(requeue=False)
        await m.ack()
        got = [(d.get("queue"), d.get("reason"), d.get("count")) for d in m.headers.get("x-death") or []]
        check(got == [(delay_name, "expired", 3), (work_name, "rejected", 3)], f"x-death {got}")
    finally:
        await delete_queues(conn, work_name, delay_name)
        await conn.close()


async def max_length():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await ch.declare_queue("", exclusive=True, arguments={"x-max-length": 2})
        for i in range(1, 5):
            await publish(ch, q.name, str(i).encode())
        n = await count_eventually(ch, q.name, 2)
        check(n == 2, f"x-max-length 2 queue holds {n}")
        got = [(await get_one(q)) for _ in range(2)]
        check([m and m.body for m in got] == [b"3", b"4"], f"drop-head kept {[m and m.body for m in got]}")
        ch2 = await conn.channel(publisher_confirms=True)
        r = await ch2.declare_queue("", exclusive=True, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
        for i in range(1, 3):
            ok = await asyncio.wait_for(publish(ch2, r.name, str(i).encode()), WAIT)
            check(isinstance(ok, aiormq.spec.Basic.Ack), f"publish {i} confirmed with {ok!r}")
        try:
            res = await asyncio.wait_for(publish(ch2, r.name, b"3"), WAIT)
            raise AssertionError(f"publish past x-max-length with reject-publish confirmed with {res!r}")
        except aio_pika.exceptions.DeliveryError as e:
            check(isinstance(e.frame, aiormq.spec.Basic.Nack), f"DeliveryError for {e.frame!r}")
        kept = [(await get_one(r)) for _ in range(2)]
        check([m and m.body for m in kept] == [b"1", b"2"], f"reject-publish kept {[m and m.body for m in kept]}")
        return "reject-publish: Exchange.publish raised DeliveryError(Basic.Nack)"
    finally:
        await conn.close()


async def priority_queue():
    conn = await dial()
    try:
        ch = await conn.channel()
        q = await ch.declare_queue("", exclusive=True, arguments={"x-max-priority": 10})
        for p in [1, 9, 5]:
            await publish(ch, q.name, str(p).encode(), priority=p)
        n = await count_eventually(ch, q.name, 3)
        check(n == 3, f"queue holds {n}, want 3")
        inbox = asyncio.Queue()
        await q.consume(inbox.put, no_ack=True)
        got = []
        for _ in range(3):
            m = await recv(inbox)
            check(m is not None, f"got {got} within 5 s")
            got.append(m.body)
        check(got == [b"9", b"5", b"1"], f"delivered {got}")
    finally:
        await conn.close()


async def single_active_consumer():
    conn = await dial()
    try:
        ch_a, ch_b = await conn.channel(), await conn.channel()
        q = await ch_a.declare_queue("", exclusive=True, arguments={"x-single-active-consumer": True})
        qb = await ch_b.declare_queue(q.name, passive=True)
        inbox_a, inbox_b = asyncio.Queue(), asyncio.Queue()
        tag_a = await q.consume(inbox_a.put, no_ack=True, consumer_tag="A")
        await qb.consume(inbox_b.put, no_ack=True, consumer_tag="B")
        for b in [b"1", b"2"]:
            await publish(ch_a, q.name, b)
        got_a = [await recv(inbox_a) for _ in range(2)]
        check([m and m.body for m in got_a] == [b"1", b"2"], f"active consumer A got {[m and m.body for m in got_a]}")
        extra = await recv(inbox_b, 0.2)
        check(extra is None, f"consumer B got {extra and extra.body!r} while A was active")
        await q.cancel(tag_a)
        for b in [b"3", b"4"]:
            await publish(ch_a, q.name, b)
        got_b = [await recv(inbox_b) for _ in range(2)]
        check([m and m.body for m in got_b] == [b"3", b"4"], f"consumer B got {[m and m.body for m in got_b]} after A was cancelled")
        extra = await recv(inbox_a, 0.1)
        check(extra is None, f"cancelled consumer A got {extra and extra.body!r}")
    finally:
        await conn.close()


async def queue_expiry():
    conn = await dial()
    idle, used = uniq("expires"), uniq("expires")
    try:
        ch = await conn.channel()
        # The consumed queue first, so it has its consumer before 200 ms pass on a slow machine.
        q = await ch.declare_queue(used, arguments={"x-expires": 200})
        tag = await q.consume(lambda m: None, no_ack=True)
        await ch.declare_queue(idle, arguments={"x-expires": 200})
        start = time.monotonic()
        while True:
            # Each probe on a fresh channel: the 404 closes it. Probes 300 ms apart, more than
            # the 200 ms: RabbitMQ renews the lease on a passive declare too.
            probe = await conn.channel()
            try:
                await probe.declare_queue(idle, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:  # aiormq maps reply code 404 to this class
                break
            await probe.close()
            check(time.monotonic() - start < WAIT, "queue with x-expires 200 and no consumer still there after 5 s")
            await asyncio.sleep(0.3)
        gone = time.monotonic() - start
        probe = await conn.channel()
        await probe.declare_queue(used, passive=True)  # raises if the consumed queue expired too
        await probe.close()
        await q.cancel(tag)
        return f"idle queue gone after {gone * 1000:.0f} ms (ChannelNotFoundEntity); consumed one still there"
    finally:
        await delete_queues(conn, idle, used)
        await conn.close()


async def consumer_priority():
    conn = await dial()
    try:
        ch_a, ch_b = await conn.channel(), await conn.channel()
        await ch_a.set_qos(prefetch_count=2)
        qa = await tmp_queue(ch_a)
        qb = await ch_b.declare_queue(qa.name, passive=True)
        inbox_a, inbox_b = asyncio.Queue(), asyncio.Queue()
        # B first: the priority, not the order of registration, gives A the first messages.
        await qb.consume(inbox_b.put, no_ack=True, consumer_tag="B")
        await qa.consume(inbox_a.put, consumer_tag="A", arguments={"x-priority": 10})
        for i in range(5):
            await publish(ch_a, qa.name, str(i).encode())
        got_a = [await recv(inbox_a) for _ in range(2)]
        got_b = [await recv(inbox_b) for _ in range(3)]
        extra = await recv(inbox_a, 0.2)
        got_a, got_b = [m and m.body for m in got_a], [m and m.body for m in got_b]
        check(got_a == [b"0", b"1"] and got_b == [b"2", b"3", b"4"] and extra is None,
              f"A (x-priority 10, prefetch 2, no acks) got {got_a} (then {extra and extra.body!r}), B got {got_b}")
        return "Queue.consume(arguments={'x-priority': 10})"
    finally:
        await conn.close()


async def sender_selected():
    conn = await dial()
    name = uniq("cc")
    try:
        ch = await conn.channel()
        x = await ch.declare_exchange(name, ExchangeType.DIRECT)
        qs = []
        for k in ["k1", "k2", "k3"]:
            q = await tmp_queue(ch)
            await q.bind(x, k)
            qs.append((k, q))
        await x.publish(Message(b"selected", headers={"CC": ["k2"], "BCC": ["k3"]}), "k1", mandatory=False)
        for k, q in qs:
            m = await get_one(q)
            check(m is not None and m.body == b"selected", f"queue bound with {k} got nothing")
            check("BCC" not in m.headers, f"copy for {k} carries BCC: {m.headers!r}")
    finally:
        await delete_exchange(conn, name)
        await conn.close()


async def rpc_reply_to():
    requester, responder = await dial(), await dial()
    req_name = uniq("rpc")
    try:
        ch = await requester.channel()
        reply_q = await ch.get_queue("amq.rabbitmq.reply-to", ensure=False)  # a pseudo-queue: never declared
        replies = asyncio.Queue()
        await reply_q.consume(replies.put, no_ack=True)
        rch = await responder.channel()
        req_q = await rch.declare_queue(req_name, exclusive=True)
        corr = uuid.uuid4().hex
        await publish(ch, req_name, b"ping", reply_to="amq.rabbitmq.reply-to", correlation_id=corr)
        req = await get_one(req_q)
        check(req is not None, "request did not arrive")
        check(req.reply_to.startswith("amq.rabbitmq.reply-to."), f"request reply_to {req.reply_to!r}")
        await publish(rch, req.reply_to, b"pong", correlation_id=req.correlation_id)
        rep = await recv(replies)
        check(rep is not None, "reply did not arrive within 5 s")
        check(rep.body == b"pong" and rep.correlation_id == corr, f"reply {rep.body!r} correlation id {rep.correlation_id!r}")
        return "Channel.get_queue('amq.rabbitmq.reply-to', ensure=False).consume(no_ack=True)"
    finally:
        await delete_queues(responder, req_name)
        await responder.close()
        await requester.close()


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


async def run(sid):
    f = SCENARIOS.get(sid)
    if f is None:
        return f"SCENARIO {sid} fail no implementation in the aio-pika client"
    try:
        detail = await asyncio.wait_for(f(), 20)
        return f"SCENARIO {sid} pass {one_line(detail or '')}".rstrip()
    except NotAvailable as e:
        return f"SCENARIO {sid} na {one_line(e)}"
    except asyncio.TimeoutError:
        return f"SCENARIO {sid} fail timed out after 20 s"
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        return f"SCENARIO {sid} fail {one_line(repr(e))}"


async def main(ids):
    for sid in ids:
        print(await run(sid), flush=True)


if __name__ == "__main__":
    URL = sys.argv[1]
    ids = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
    asyncio.run(main(ids))
