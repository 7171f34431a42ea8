# pika (BlockingConnection) meeting faults Warren injects, and recovering the way pika
# documents: pika never reconnects by itself; a lost or closed connection surfaces as an
# AMQPConnectionError subclass and the application opens a new BlockingConnection.
import threading
import time

import pika
import pika.exceptions as exc
import pytest


def pump_until(conn, done, seconds=5.0):
    """Lets pika read frames (and run its callbacks) until done() holds, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        conn.process_data_events(time_limit=0.05)


def roundtrip(warren, name, queue):
    """A fresh connection publishes with confirms and gets the message back."""
    conn = pika.BlockingConnection(warren.params(name))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare(queue)
        ch.queue_purge(queue)
        ch.basic_publish("", queue, b"after")
        method, _, body = ch.basic_get(queue, auto_ack=True)
        assert body == b"after"
    finally:
        conn.close()


def test_connection_drop_raises_stream_lost_and_a_new_connection_works(warren):
    conn = pika.BlockingConnection(warren.params("drop"))
    ch = conn.channel()
    ch.queue_declare("py-drop")
    warren.inject_fault("drop", {"action": "drop_connection"})
    # The socket is gone: the next read fails with StreamLostError (an AMQPConnectionError).
    with pytest.raises(exc.StreamLostError):
        pump_until(conn, lambda: False)
    assert conn.is_closed
    # pika's documented recovery: catch AMQPConnectionError, connect again.
    roundtrip(warren, "drop-again", "py-drop")


def test_withheld_confirm_blocks_basic_publish_until_the_broker_closes(warren):
    conn = pika.BlockingConnection(warren.params("confirm"))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("py-confirm")
    warren.inject_fault("confirm", {"action": "withhold_confirms", "count": 1})
    outcome = {}

    def publish():  # the only thread using conn while it runs
        try:
            ch.basic_publish("", "py-confirm", b"m")
            outcome["returned"] = True
        except Exception as e:  # noqa: BLE001 - what basic_publish raises is the check
            outcome["raised"] = e

    t = threading.Thread(target=publish, daemon=True)
    t.start()
    # The message is in the queue, but basic.ack never comes: pika's confirm-mode
    # basic_publish has no timeout and keeps waiting.
    warren.wait(queue="py-confirm", messages_ready=1, timeout_ms=5000)
    t.join(0.5)
    assert t.is_alive(), f"basic_publish returned without a confirm: {outcome}"
    # What ends the wait is the connection (or channel) closing; pika raises its reason.
    warren.inject_fault("confirm", {"action": "close_connection", "code": 320,
                                    "text": "confirm withheld"})
    t.join(5)
    assert not t.is_alive(), "basic_publish still blocked after the connection closed"
    e = outcome.get("raised")
    assert isinstance(e, exc.ConnectionClosedByBroker), repr(outcome)
    assert (e.reply_code, e.reply_text) == (320, "CONNECTION_FORCED - confirm withheld")
    roundtrip(warren, "confirm-again", "py-confirm")


def test_forced_channel_close_raises_channel_closed_by_broker_and_a_new_channel_works(warren):
    conn = pika.BlockingConnection(warren.params("chclose"))
    ch = conn.channel()
    warren.inject_fault("chclose", {"action": "close_channel", "channel": ch.channel_number,
                                    "code": 406, "text": "injected"})
    # channel.close is on the wire; the next call on the channel raises it.
    with pytest.raises(exc.ChannelClosedByBroker) as e:
        ch.queue_declare("py-chclose")
    assert e.value.reply_code == 406
    assert e.value.reply_text == "PRECONDITION_FAILED - injected"
    assert ch.is_closed and conn.is_open
    ch2 = conn.channel()
    ch2.queue_declare("py-chclose")
    ch2.basic_publish("", "py-chclose", b"x")
    assert ch2.basic_get("py-chclose", auto_ack=True)[2] == b"x"
    conn.close()


def test_connection_blocked_and_unblocked_reach_the_callbacks(warren):
    conn = pika.BlockingConnection(warren.params("blocky"))
    events = []
    conn.add_on_connection_blocked_callback(
        lambda _c, frame: events.append(("blocked", frame.method.reason)))
    conn.add_on_connection_unblocked_callback(lambda _c, _f: events.append(("unblocked",)))
    warren.inject_fault("blocky", {"action": "block", "reason": "low on memory"})
    pump_until(conn, lambda: len(events) >= 1)
    assert events == [("blocked", "low on memory")]
    warren.inject_fault("blocky", {"action": "unblock"})
    pump_until(conn, lambda: len(events) >= 2)
    assert events[1] == ("unblocked",)
    assert conn.is_open
    conn.close()


def test_blocked_connection_timeout_tears_the_connection_down(warren):
    # pika's blocked_connection_timeout: blocked for longer than this, the connection is
    # closed with ConnectionBlockedTimeout.
    conn = pika.BlockingConnection(warren.params("stuck", blocked_connection_timeout=0.3))
    warren.inject_fault("stuck", {"action": "block"})
    with pytest.raises(exc.ConnectionBlockedTimeout):
        pump_until(conn, lambda: False)
    roundtrip(warren, "unstuck", "py-stuck")


def test_reset_closes_connections_and_forgets_queues(warren):
    conn = pika.BlockingConnection(warren.params("before-reset"))
    conn.channel().queue_declare("py-leftover")
    warren.reset()
    with pytest.raises(exc.ConnectionClosedByBroker) as e:
        pump_until(conn, lambda: False)
    assert e.value.reply_code == 320
    conn = pika.BlockingConnection(warren.params("after-reset"))
    with pytest.raises(exc.ChannelClosedByBroker) as e:
        conn.channel().queue_declare("py-leftover", passive=True)
    assert e.value.reply_code == 404
    conn.close()


def test_nacked_confirm_raises_nack_error_and_the_next_publish_is_acked(warren):
    conn = pika.BlockingConnection(warren.params("nack"))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("py-nack")
    warren.inject_fault("nack", {"action": "nack_confirms", "count": 1})
    with pytest.raises(exc.NackError):
        ch.basic_publish("", "py-nack", b"nacked")
    ch.basic_publish("", "py-nack", b"acked")  # returns: basic.ack
    conn.close()


def test_refused_publish_closes_the_channel_with_the_code(warren):
    conn = pika.BlockingConnection(warren.params("refuse"))
    ch = conn.channel()
    ch.queue_declare("py-refuse")
    warren.inject_fault("refuse", {"action": "refuse_publishes", "count": 1, "code": 403,
                                   "text": "no publishing here"})
    ch.basic_publish("", "py-refuse", b"x")  # no confirms: the refusal comes as channel.close
    with pytest.raises(exc.ChannelClosedByBroker) as e:
        ch.queue_declare("py-refuse")
    assert (e.value.reply_code, e.value.reply_text) == (403, "ACCESS_REFUSED - no publishing here")
    conn.close()


def test_drop_after_n_publishes_keeps_the_n_messages(warren):
    conn = pika.BlockingConnection(warren.params("dropper"))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("py-dropper")
    warren.inject_fault("dropper", {"after_publishes": 3, "action": "drop_connection"})
    ch.basic_publish("", "py-dropper", b"1")
    ch.basic_publish("", "py-dropper", b"2")
    with pytest.raises(exc.AMQPConnectionError):
        ch.basic_publish("", "py-dropper", b"3")  # dropped before its confirm
    warren.wait(queue="py-dropper", messages_ready=3, timeout_ms=5000)
