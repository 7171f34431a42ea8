#!/usr/bin/env python3
"""One pika connection whose transcript Warren and RabbitMQ should answer alike.

Usage: scenario.py AMQP_URL
Names its connection "recording-scenario" (what `warren --record-connection-name` selects).
Touches the handshake, exchange and queue declares with arguments, a server-named queue,
publisher confirms, a mandatory publish that is returned, basic.get, a consumer with acks,
qos, cancel, deletes, and a channel error (a passive declare of a missing queue).
Leaves nothing behind.
"""
import sys

import pika


def main(url):
    params = pika.URLParameters(url)
    params.client_properties = {"connection_name": "recording-scenario"}
    params.heartbeat = 0
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.exchange_declare("rec.x", "direct", auto_delete=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "rec.x", "k")
    ch.queue_declare("rec.q", arguments={"x-max-length": 10, "x-queue-mode": "default"})
    for i in range(3):
        props = pika.BasicProperties(content_type="text/plain", delivery_mode=2,
                                     headers={"n": i, "who": "scenario"})
        ch.basic_publish("rec.x", "k", f"message {i}".encode(), props)
    try:
        ch.basic_publish("rec.x", "nowhere", b"unroutable", mandatory=True)
    except pika.exceptions.UnroutableError:
        pass
    method, props, body = ch.basic_get(q)
    assert body == b"message 0", body
    ch.basic_ack(method.delivery_tag)
    ch.basic_qos(prefetch_count=5)
    got = []

    def on_message(channel, method, props, body):
        got.append(method.delivery_tag)

    tag = ch.basic_consume(q, on_message)
    while len(got) < 2:
        conn.process_data_events(time_limit=0.1)
    ch.basic_ack(got[-1], multiple=True)
    ch.basic_cancel(tag)
    ok = ch.queue_declare("rec.q", passive=True).method
    assert ok.message_count == 0, ok
    ch.queue_delete("rec.q")
    ch.exchange_delete("rec.x")
    ch2 = conn.channel()
    try:
        ch2.queue_declare("rec.missing", passive=True)
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "amqp://guest:guest@localhost:5672/%2f")
