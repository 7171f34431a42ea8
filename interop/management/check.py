"""Drives Warren's management API with rabbitmqadmin v2, curl and urllib while pika clients
are connected, and compares each answer's fields with RabbitMQ 3.10.8's (recorded on the
development machine for the same set-up: a topic exchange ex1, a durable queue q1 bound to it
with three messages, a queue q2 with one consumer, a named pika connection).

Exits non-zero on the first failed check, naming it."""
import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pika

# Fields RabbitMQ reports from the Erlang VM or its queue internals, which Warren leaves out
# (README, Deviations).
ERLANG_ONLY = {
    "garbage_collection", "reductions", "reductions_details", "backing_queue_status",
    "recoverable_slaves", "erlang_version", "erlang_full_version", "statistics_db_event_queue",
    "context_switches", "context_switches_details", "gc_num", "gc_num_details", "gc_bytes_reclaimed",
    "gc_bytes_reclaimed_details", "io_read_avg_time", "io_read_avg_time_details", "io_read_bytes",
    "io_read_bytes_details", "io_read_count", "io_read_count_details", "io_reopen_count",
    "io_reopen_count_details", "io_seek_avg_time", "io_seek_avg_time_details", "io_seek_count",
    "io_seek_count_details", "io_sync_avg_time", "io_sync_avg_time_details", "io_sync_count",
    "io_sync_count_details", "io_write_avg_time", "io_write_avg_time_details", "io_write_bytes",
    "io_write_bytes_details", "io_write_count", "io_write_count_details", "metrics_gc_queue_length",
    "mnesia_disk_tx_count", "mnesia_disk_tx_count_details", "mnesia_ram_tx_count",
    "mnesia_ram_tx_count_details", "msg_store_read_count", "msg_store_read_count_details",
    "msg_store_write_count", "msg_store_write_count_details", "queue_index_read_count",
    "queue_index_read_count_details", "queue_index_write_count", "queue_index_write_count_details",
    "ra_open_file_metrics", "proc_used_details", "fd_used_details", "sockets_used_details",
    "db_dir", "channel_closed", "channel_closed_details", "channel_created", "channel_created_details",
    "connection_closed", "connection_closed_details", "connection_created", "connection_created_details",
    "queue_created", "queue_created_details", "queue_declared", "queue_declared_details",
    "queue_deleted", "queue_deleted_details",
    # global_parameters: RabbitMQ's internal_cluster_id.
    "global_parameters",
}

# Fields of RabbitMQ's that Warren does not track (README, Deviations): when a channel was
# last busy, and per-exchange message counts (publish_in / publish_out).
NOT_TRACKED = {"channels": {"idle_since"}, "exchanges": {"message_stats"}}
# ... and the message store's disk reads and writes in the overview's message_stats.
NOT_TRACKED_NESTED = {"disk_reads", "disk_reads_details", "disk_writes", "disk_writes_details"}

AUTH = "Basic " + base64.b64encode(b"guest:guest").decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"nothing listens on {port}")


def check(ok, what):
    if not ok:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def eventually(f, what, timeout=15):
    deadline = time.time() + timeout
    while True:
        v = f()
        if v:
            check(True, what)
            return v
        if time.time() > deadline:
            check(False, what)
        time.sleep(0.05)


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}/api"

    def call(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", AUTH)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None

    def get(self, path):
        return self.call("GET", path)


def keys_of(v):
    if isinstance(v, list):
        out = set()
        for item in v:
            if isinstance(item, dict):
                out |= set(item)
        return out
    return set(v) if isinstance(v, dict) else set()


def compare_shapes(api, observed):
    """Every field RabbitMQ answered for the same set-up, Warren answers too."""
    for name in sorted(os.listdir(observed)):
        endpoint = name[:-5]
        rabbit = json.load(open(os.path.join(observed, name)))
        status, ours = api.get("/" + endpoint)
        check(status == 200, f"GET /api/{endpoint} answers 200")
        skip = ERLANG_ONLY | NOT_TRACKED.get(endpoint, set())
        missing = keys_of(rabbit) - keys_of(ours) - skip
        check(not missing, f"GET /api/{endpoint} has RabbitMQ's fields" + (f"; missing {sorted(missing)}" if missing else ""))
        # One level down, for the nested objects clients read (message_stats, client_properties).
        for field in ["message_stats", "client_properties", "object_totals", "queue_totals", "channel_details", "queue"]:
            r_inner = [i.get(field) for i in (rabbit if isinstance(rabbit, list) else [rabbit]) if isinstance(i, dict) and isinstance(i.get(field), dict)]
            o_inner = [i.get(field) for i in (ours if isinstance(ours, list) else [ours]) if isinstance(i, dict) and isinstance(i.get(field), dict)]
            if r_inner and o_inner:
                missing = keys_of(r_inner) - keys_of(o_inner) - ERLANG_ONLY - NOT_TRACKED_NESTED
                # RabbitMQ's channel message_stats also count what Warren's channels do not see.
                check(not missing, f"GET /api/{endpoint} {field} has RabbitMQ's fields" + (f"; missing {sorted(missing)}" if missing else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--rabbitmqadmin", required=True)
    ap.add_argument("--observed", required=True)
    a = ap.parse_args()
    port, mport = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="warren-mgmt-")
    broker = subprocess.Popen([a.binary, "--listen", f"127.0.0.1:{port}", "--management-listen",
                               f"127.0.0.1:{mport}", "--no-prometheus", "--data-dir", data,
                               "--log-level", "warn"])
    try:
        wait_port(port)
        wait_port(mport)
        run(a, port, mport)
    finally:
        broker.terminate()
        broker.wait(10)
        subprocess.run(["rm", "-rf", data])
    print("management tools: all checks passed")


def run(a, port, mport):
    api = Api(mport)
    admin = [a.rabbitmqadmin, "--host", "127.0.0.1", "--port", str(mport), "--username", "guest",
             "--password", "guest", "--non-interactive"]

    def rmq(*args, vhost=None):
        cmd = admin + (["--vhost", vhost] if vhost else []) + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            print(f"FAIL rabbitmqadmin {' '.join(args)}: {r.stderr.strip()} {r.stdout.strip()}")
            sys.exit(1)
        return r.stdout

    # The set-up the recorded RabbitMQ answers came from.
    params = pika.ConnectionParameters(port=port, client_properties={"connection_name": "oracle-conn"})
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.exchange_declare("ex1", "topic", durable=True)
    ch.queue_declare("q1", durable=True, arguments={"x-max-length": 100})
    ch.queue_declare("q2", durable=False)
    ch.queue_bind("q1", "ex1", "a.#")
    for i in range(3):
        ch.basic_publish("ex1", "a.b", b"hello %d" % i, pika.BasicProperties(content_type="text/plain", delivery_mode=2))
    ch2 = conn.channel()
    ch2.basic_qos(prefetch_count=5)
    ch2.basic_consume("q2", lambda *x: None, consumer_tag="ctag1")
    conn.process_data_events(0.2)
    compare_shapes(api, a.observed)

    # rabbitmqadmin v2.
    out = rmq("show", "overview")
    check("Warren" in out, "rabbitmqadmin show overview")
    rmq("declare", "vhost", "--name", "tools")
    rmq("declare", "user", "--name", "ops", "--password", "s3cret", "--tags", "administrator")
    rmq("declare", "permissions", "--username", "ops", "--configure", ".*", "--read", ".*", "--write", ".*", vhost="tools")
    check("ops" in rmq("list", "users"), "rabbitmqadmin declare/list users")
    rmq("declare", "queue", "--name", "jobs", "--durable", "true", vhost="tools")
    rmq("declare", "exchange", "--name", "ev", "--type", "topic", vhost="tools")
    rmq("declare", "binding", "--source", "ev", "--destination-type", "queue", "--destination", "jobs",
        "--routing-key", "job.#", vhost="tools")
    for i in range(8):
        rmq("publish", "message", "--exchange", "ev", "--routing-key", f"job.{i}", "--payload", f"job {i}", vhost="tools")
    status, q = api.get("/queues/tools/jobs")
    check(status == 200 and q["messages"] == 8, "rabbitmqadmin publish reached the bound queue (8 messages)")
    got = rmq("get", "messages", "--queue", "jobs", "--count", "1", "--ack-mode", "ack_requeue_true", vhost="tools")
    check("job 0" in got, "rabbitmqadmin get messages shows the first payload")
    rmq("declare", "policy", "--name", "cap", "--pattern", "^jobs$", "--apply-to", "queues",
        "--definition", '{"max-length": 5}', vhost="tools")
    status, q = api.get("/queues/tools/jobs")
    check(q["messages"] == 5 and q["policy"] == "cap", "a policy declared by rabbitmqadmin trims the queue to 5")
    check("cap" in rmq("list", "policies", vhost="tools"), "rabbitmqadmin list policies")
    rmq("purge", "queue", "--name", "jobs", vhost="tools")
    check(api.get("/queues/tools/jobs")[1]["messages"] == 0, "rabbitmqadmin purge queue")

    # Definitions: export with rabbitmqadmin, delete the vhost, import, and the queue is back.
    defs = tempfile.mktemp(suffix=".json")
    rmq("definitions", "export", "--file", defs)
    rmq("delete", "vhost", "--name", "tools")
    check(api.get("/vhosts/tools")[0] == 404, "rabbitmqadmin delete vhost")
    rmq("definitions", "import", "--file", defs)
    check(api.get("/queues/tools/jobs")[0] == 200, "rabbitmqadmin definitions import brings the queue back")
    check(api.get("/policies/tools/cap")[0] == 200, "... and the policy")

    # Close a pika connection with rabbitmqadmin; pika hears 320 with the reason.
    closed = {}

    def watch():
        c = pika.BlockingConnection(pika.ConnectionParameters(port=port, client_properties={"connection_name": "victim"}))
        try:
            while True:
                c.process_data_events(0.1)
        except pika.exceptions.ConnectionClosedByBroker as e:
            closed["code"], closed["text"] = e.reply_code, e.reply_text
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    victim = eventually(lambda: next((c["name"] for c in api.get("/connections")[1]
                                      if c.get("user_provided_name") == "victim"), None),
                        "the named connection is listed")
    rmq("close", "connection", "--name", victim)
    t.join(15)
    check(closed.get("code") == 320, f"rabbitmqadmin close connection: pika got {closed}")

    # curl: X-Reason reaches the client.
    t = threading.Thread(target=watch, daemon=True)
    closed.clear()
    t.start()
    victim = eventually(lambda: next((c["name"] for c in api.get("/connections")[1]
                                      if c.get("user_provided_name") == "victim"), None),
                        "the named connection is listed again")
    quoted = urllib.parse.quote(victim, safe="")
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "guest:guest", "-X", "DELETE",
                        "-H", "X-Reason: maintenance window", f"http://127.0.0.1:{mport}/api/connections/{quoted}"],
                       capture_output=True, text=True, timeout=30)
    check(r.stdout == "204", "curl DELETE /api/connections/NAME answers 204")
    t.join(15)
    check(closed.get("code") == 320 and "maintenance window" in closed.get("text", ""),
          f"curl's X-Reason is the close text: {closed}")

    # curl: a bad argument gets RabbitMQ's 400 and text.
    r = subprocess.run(["curl", "-s", "-u", "guest:guest", "-X", "PUT", "-H", "content-type: application/json",
                        "-d", '{"durable":true,"arguments":{"x-message-ttl":-1}}',
                        f"http://127.0.0.1:{mport}/api/queues/%2F/badttl"], capture_output=True, text=True, timeout=30)
    body = json.loads(r.stdout)
    check(body == {"error": "bad_request",
                   "reason": "invalid arg 'x-message-ttl' for queue 'badttl' in vhost '/': {value_negative,-1}"},
          f"curl PUT with a bad x-message-ttl gets RabbitMQ's answer: {body}")
    conn.close()


if __name__ == "__main__":
    main()
