"""Warren's management UI in a real browser: Playwright drives Debian's Chromium against the
release `warren` binary, while pika plays the applications whose queues the UI shows.

Every step waits for what the page shows (a selector, a text) with a timeout, never for a
fixed time, and leaves a screenshot in artifacts/. The overview's screenshot is also written
to screenshot-overview.png for the README when --update-screenshot is given.

    test_ui.py --binary target/release/warren [--chromium /usr/bin/chromium] [--update-screenshot]
"""

import argparse
import base64
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pika
from playwright.sync_api import Page, expect, sync_playwright

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
FIXTURE = HERE / "definitions.json"
N = 25
TIMEOUT_MS = 15_000
QUEUE = "ui-test-queue"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """The release binary on free loopback ports, in memory, logging to artifacts/."""

    def __init__(self, binary: str):
        self.amqp_port, self.http_port = free_port(), free_port()
        help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
        args = [binary, "--listen", f"127.0.0.1:{self.amqp_port}",
                "--management-listen", f"127.0.0.1:{self.http_port}", "--in-memory"]
        if "--no-prometheus" in help_text:
            args.append("--no-prometheus")
        self.log = open(ARTIFACTS / "warren.log", "w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.http_port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                self.api("GET", "/api/overview")
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"warren did not serve {self.url} (see artifacts/warren.log)")
                time.sleep(0.05)

    def api(self, method: str, path: str, body=None):
        auth = base64.b64encode(b"guest:guest").decode()
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Basic {auth}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            text = r.read()
            return json.loads(text) if text else None

    def amqp(self, name: str) -> pika.BlockingConnection:
        params = pika.ConnectionParameters(
            "127.0.0.1", self.amqp_port, credentials=pika.PlainCredentials("guest", "guest"),
            client_properties={"connection_name": name})
        return pika.BlockingConnection(params)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Load(threading.Thread):
    """A steady publisher and consumer, so the overview's charts have something to draw:
    `ui-load` is consumed and acked, `ui-backlog` only grows."""

    def __init__(self, broker: Broker):
        super().__init__(daemon=True)
        self.broker = broker
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            conn = self.broker.amqp("ui-test load")
            ch = conn.channel()
            for q in ("ui-load", "ui-backlog"):
                ch.queue_declare(q)
            ch.basic_qos(prefetch_count=50)
            ch.basic_consume("ui-load", lambda c, m, p, b: c.basic_ack(m.delivery_tag))
            tick = 0
            while not self.stopping.is_set():
                for _ in range(8):
                    ch.basic_publish("", "ui-load", b"load")
                if tick % 2 == 0:
                    ch.basic_publish("", "ui-backlog", b"backlog")
                tick += 1
                # Paces the load at about 80 messages a second, serving the consumer between.
                self.stopping.wait(0.1)
                conn.process_data_events(time_limit=0)
            conn.close()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e


def shot(page: Page, name: str):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    print(f"  step {name}: ok", flush=True)


def refusal(broker: Broker, method: str, path: str, body) -> str:
    """The reason the API gives for a request it must refuse."""
    try:
        broker.api(method, path, body)
    except urllib.error.HTTPError as e:
        assert e.code in (400, 406), (path, e.code)
        return json.loads(e.read())["reason"]
    raise AssertionError(f"{method} {path} {body} was accepted")


def expect_refusal(page: Page, form: str, reason: str):
    """The form shows the API's reason (whitespace as the page lays it out)."""
    note = page.locator(f"#{form} .note.error")
    expect(note).to_be_visible()
    shown = " ".join((note.text_content() or "").split())
    assert shown == " ".join(reason.split()), (shown, reason)


def submit(page: Page, form: str):
    page.click(f"#{form} button[type=submit]")


def test_add_user(page: Page, broker: Broker):
    page.click("#tabs a[data-tab=admin]")
    page.fill("#add-user input[name=name]", "ui-alice")
    page.fill("#add-user input[name=password]", "s3cret")
    page.fill("#add-user input[name=tags]", "management, monitoring")
    submit(page, "add-user")
    expect(page.locator("#add-user .note.ok")).to_have_text("User ui-alice saved.")
    expect(page.locator("#users tbody tr", has_text="ui-alice")).to_have_count(1)
    tags = broker.api("GET", "/api/users/ui-alice")["tags"]
    tags = tags if isinstance(tags, list) else tags.split(",")
    assert sorted(tags) == ["management", "monitoring"], tags
    shot(page, "13-user-added")


def test_add_vhost(page: Page, broker: Broker):
    page.fill("#add-vhost input[name=name]", "ui-vhost")
    page.fill("#add-vhost input[name=description]", "made in the UI")
    page.fill("#add-vhost input[name=tags]", "ui, test")
    page.select_option("#add-vhost select[name=default_queue_type]", "quorum")
    submit(page, "add-vhost")
    expect(page.locator("#add-vhost .note.ok")).to_have_text("Virtual host ui-vhost added.")
    row = page.locator("#vhosts tbody tr", has_text="ui-vhost")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("made in the UI")
    expect(row).to_contain_text("quorum")
    # The API keeps what the form sent, and the creator gets full permissions on the vhost,
    # as RabbitMQ grants.
    v = broker.api("GET", "/api/vhosts/ui-vhost")
    assert (v["description"], v["tags"], v["default_queue_type"]) == (
        "made in the UI", ["ui", "test"], "quorum"), v
    p = broker.api("GET", "/api/permissions/ui-vhost/guest")
    assert (p["configure"], p["write"], p["read"]) == (".*", ".*", ".*"), p
    shot(page, "14-vhost-added")


def test_set_permission(page: Page, broker: Broker):
    f = "set-permission"
    page.select_option(f"#{f} select[name=user]", "ui-alice")
    page.select_option(f"#{f} select[name=vhost]", "ui-vhost")
    page.fill(f"#{f} input[name=configure]", "(")
    submit(page, f)
    expect_refusal(page, f, refusal(broker, "PUT", "/api/permissions/ui-vhost/ui-alice",
                                    {"configure": "(", "write": ".*", "read": ".*"}))
    page.fill(f"#{f} input[name=configure]", "^ui-")
    page.fill(f"#{f} input[name=read]", "^reports$")
    submit(page, f)
    expect(page.locator(f"#{f} .note.ok")).to_have_text("Permission set.")
    expect(page.locator("#permissions tbody tr", has_text="ui-alice")).to_have_count(1)
    p = broker.api("GET", "/api/permissions/ui-vhost/ui-alice")
    assert (p["configure"], p["write"], p["read"]) == ("^ui-", ".*", "^reports$"), p
    shot(page, "15-permission-set")


def test_set_topic_permission(page: Page, broker: Broker):
    f = "set-topic-permission"
    page.select_option(f"#{f} select[name=user]", "ui-alice")
    page.select_option(f"#{f} select[name=vhost]", "ui-vhost")
    page.fill(f"#{f} input[name=write]", "[")
    submit(page, f)
    expect_refusal(page, f, refusal(broker, "PUT", "/api/topic-permissions/ui-vhost/ui-alice",
                                    {"exchange": "amq.topic", "write": "[", "read": ".*"}))
    page.fill(f"#{f} input[name=write]", "^orders\\.")
    submit(page, f)
    expect(page.locator(f"#{f} .note.ok")).to_have_text("Topic permission set.")
    row = page.locator("#topic-permissions tbody tr", has_text="ui-alice")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("amq.topic")
    tp = broker.api("GET", "/api/topic-permissions/ui-vhost/ui-alice")
    assert [(t["exchange"], t["write"], t["read"]) for t in tp] == [("amq.topic", "^orders\\.", ".*")], tp
    shot(page, "16-topic-permission-set")
    # Clear removes it.
    row.get_by_role("button", name="Clear").click()
    expect(page.locator("#topic-permissions tbody tr", has_text="ui-alice")).to_have_count(0)
    assert all(t["user"] != "ui-alice" for t in broker.api("GET", "/api/topic-permissions"))


def limits(broker: Broker, path: str) -> dict:
    got = broker.api("GET", path)
    return got[0]["value"] if got else {}


def test_vhost_limit(page: Page, broker: Broker):
    f = "set-vhost-limit"
    page.select_option(f"#{f} select[name=vhost]", "ui-vhost")
    page.select_option(f"#{f} select[name=name]", "max-queues")
    submit(page, f)  # no value
    expect_refusal(page, f, refusal(broker, "PUT", "/api/vhost-limits/ui-vhost/max-queues", {}))
    page.fill(f"#{f} input[name=value]", "5")
    submit(page, f)
    expect(page.locator(f"#{f} .note.ok")).to_have_text("Limit max-queues set on ui-vhost.")
    expect(page.locator("#vhost-limits tbody tr", has_text="ui-vhost")).to_contain_text("5")
    assert limits(broker, "/api/vhost-limits/ui-vhost") == {"max-queues": 5}
    shot(page, "17-vhost-limit-set")


def test_user_limit(page: Page, broker: Broker):
    f = "set-user-limit"
    page.select_option(f"#{f} select[name=user]", "ui-alice")
    page.select_option(f"#{f} select[name=name]", "max-channels")
    page.fill(f"#{f} input[name=value]", "3")
    submit(page, f)
    expect(page.locator(f"#{f} .note.ok")).to_have_text("Limit max-channels set on ui-alice.")
    row = page.locator("#user-limits tbody tr", has_text="ui-alice")
    expect(row).to_contain_text("3")
    assert limits(broker, "/api/user-limits/ui-alice") == {"max-channels": 3}
    shot(page, "18-user-limit-set")
    # Remove takes it off.
    row.get_by_role("button", name="Remove max-channels").click()
    expect(page.locator("#user-limits tbody tr", has_text="ui-alice")).to_have_count(0)
    assert "max-channels" not in limits(broker, "/api/user-limits/ui-alice")


def test_add_policy(page: Page, broker: Broker):
    f = "add-policy"
    page.select_option(f"#{f} select[name=vhost]", "ui-vhost")
    page.fill(f"#{f} input[name=name]", "ui-policy")
    page.fill(f"#{f} input[name=pattern]", "^ui-")
    page.select_option(f"#{f} select[name=apply_to]", "queues")
    page.fill(f"#{f} input[name=priority]", "3")
    page.fill(f"#{f} textarea[name=definition]", '{"max-length": "lots"}')
    submit(page, f)
    expect_refusal(page, f, refusal(broker, "PUT", "/api/policies/ui-vhost/ui-policy", {
        "pattern": "^ui-", "apply-to": "queues", "priority": 3, "definition": {"max-length": "lots"}}))
    page.fill(f"#{f} textarea[name=definition]", '{"max-length": 100}')
    submit(page, f)
    expect(page.locator(f"#{f} .note.ok")).to_have_text("Policy ui-policy saved.")
    expect(page.locator("#policies tbody tr", has_text="ui-policy")).to_have_count(1)
    p = broker.api("GET", "/api/policies/ui-vhost/ui-policy")
    assert (p["pattern"], p["apply-to"], p["priority"], p["definition"]) == (
        "^ui-", "queues", 3, {"max-length": 100}), p
    shot(page, "19-policy-added")


def test_add_queue_with_arguments(page: Page, broker: Broker):
    page.click("#tabs a[data-tab=queues]")
    f = "add-queue"
    rows = page.locator("#queue-arguments .arg-row")
    page.select_option(f"#{f} select[name=vhost]", "/")
    page.fill(f"#{f} input[name=name]", "ui-quorum")
    # A string where a number belongs: the API's refusal shows.
    page.click("#queue-arguments .arg-quick[data-key=x-max-length]")
    expect(rows.first.locator(".arg-key")).to_have_value("x-max-length")
    expect(rows.first.locator(".arg-type")).to_have_value("number")
    rows.first.locator(".arg-type").select_option("string")
    rows.first.locator(".arg-value").fill("ten")
    submit(page, f)
    expect_refusal(page, f, refusal(broker, "PUT", "/api/queues/%2F/ui-quorum", {
        "durable": True, "auto_delete": False, "arguments": {"x-max-length": "ten"}}))
    rows.first.locator(".arg-type").select_option("number")
    rows.first.locator(".arg-value").fill("10")
    page.click("#queue-arguments .arg-quick[data-key=x-queue-type]")
    expect(rows).to_have_count(2)
    rows.nth(1).locator(".arg-value").fill("quorum")
    submit(page, f)
    expect(page.locator(f"#{f} .note.ok")).to_have_text("Queue ui-quorum declared.")
    q = broker.api("GET", "/api/queues/%2F/ui-quorum")
    assert q["arguments"] == {"x-max-length": 10, "x-queue-type": "quorum"}, q["arguments"]
    assert q["type"] == "quorum" and q["durable"] is True, (q["type"], q["durable"])
    page.fill("#queue-filter", "ui-quorum")
    expect(page.locator("#queues tbody tr", has_text="ui-quorum")).to_contain_text("quorum")
    shot(page, "20-queue-with-arguments")
    page.fill("#queue-filter", "")


def test_add_exchange(page: Page, broker: Broker):
    page.click("#tabs a[data-tab=exchanges]")
    f = "add-exchange"
    page.select_option(f"#{f} select[name=vhost]", "/")
    page.fill(f"#{f} input[name=name]", "ui-exchange")
    page.select_option(f"#{f} select[name=type]", "topic")
    page.click("#exchange-arguments .arg-quick[data-key=alternate-exchange]")
    page.locator("#exchange-arguments .arg-row").first.locator(".arg-value").fill("amq.fanout")
    # List arguments, as RabbitMQ's UI has them: items separated by commas (strings) or a
    # JSON array (typed items).
    for key, text in (("x-owners", "ops, dev"), ("x-typed", '[1, "two", true]')):
        page.click("#exchange-arguments .arg-add")
        row = page.locator("#exchange-arguments .arg-row").last
        row.locator(".arg-key").fill(key)
        row.locator(".arg-value").fill(text)
        row.locator(".arg-type").select_option("list")
    submit(page, f)
    expect(page.locator(f"#{f} .note.ok")).to_have_text("Exchange ui-exchange declared.")
    expect(page.locator("#exchanges tbody tr", has_text="ui-exchange")).to_contain_text("topic")
    x = broker.api("GET", "/api/exchanges/%2F/ui-exchange")
    args = {"alternate-exchange": "amq.fanout", "x-owners": ["ops", "dev"], "x-typed": [1, "two", True]}
    assert (x["type"], x["durable"], x["arguments"]) == ("topic", True, args), x
    # The same name as another type: the API's refusal shows.
    page.select_option(f"#{f} select[name=type]", "fanout")
    submit(page, f)
    expect_refusal(page, f, refusal(broker, "PUT", "/api/exchanges/%2F/ui-exchange", {
        "type": "fanout", "durable": True, "auto_delete": False, "internal": False,
        "arguments": args}))
    shot(page, "21-exchange-added")


def run(page: Page, broker: Broker, update_screenshot: bool):
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept("closed by the UI test")))

    # Log in: a wrong password shows the API's reason, guest/guest opens the overview.
    page.goto(broker.url + "/")
    page.fill("#login input[name=username]", "guest")
    page.fill("#login input[name=password]", "wrong")
    page.click("#login button[type=submit]")
    expect(page.locator("#login .note.error")).to_have_text("Login failed")
    page.fill("#login input[name=password]", "guest")
    shot(page, "01-login")
    page.click("#login button[type=submit]")
    expect(page.locator("#whoami")).to_contain_text("guest")
    expect(page.locator("#total-queues .tile-value")).to_have_text("2")
    shot(page, "02-overview")

    # An application declares a queue and publishes N messages; a smaller queue beside it.
    conn = broker.amqp("ui-test publisher")
    ch = conn.channel()
    ch.queue_declare(QUEUE)
    ch.queue_declare("ui-test-small")
    for i in range(N):
        ch.basic_publish("", QUEUE, f"message {i}".encode(),
                         pika.BasicProperties(content_type="text/plain", message_id=f"m{i}"))
    ch.basic_publish("", "ui-test-small", b"one")
    conn.close()

    # Connections: a client is listed by its name; closing it asks for a reason.
    victim = broker.amqp("ui-test closable")
    page.click("#tabs a[data-tab=connections]")
    row = page.locator("#connections tbody tr", has_text="ui-test closable")
    expect(row).to_have_count(1)
    shot(page, "03-connections")
    row.get_by_role("button", name="Close").click()
    expect(page.locator("#connections tbody tr", has_text="ui-test closable")).to_have_count(0)
    try:
        victim.close()
    except pika.exceptions.AMQPError:
        pass  # closed by the broker, as asked
    assert dialogs and dialogs[-1].startswith("Close connection"), dialogs

    # Queues: filtered by name, sorted by depth through the API, N ready in our queue.
    page.click("#tabs a[data-tab=queues]")
    page.fill("#queue-filter", "ui-test")
    expect(page.locator("#page-info")).to_contain_text("2 of")
    rows = page.locator("#queues tbody tr")
    expect(rows).to_have_count(2)
    ready = page.get_by_role("button", name="Ready")
    ready.click()
    expect(page.locator("#queues th[aria-sort=ascending]")).to_have_count(1)
    expect(rows.first).to_contain_text("ui-test-small")
    page.get_by_role("button", name="Ready ▲").click()
    expect(page.locator("#queues th[aria-sort=descending]")).to_have_count(1)
    expect(rows.first).to_contain_text(QUEUE)
    expect(rows.first.locator("td").nth(6)).to_have_text(str(N))
    page.fill("#queue-filter", "^ui-test-s")
    page.check("#queue-regex")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ui-test-small")
    page.uncheck("#queue-regex")
    page.fill("#queue-filter", "ui-test")
    expect(rows).to_have_count(2)
    shot(page, "04-queues")

    # The queue's page: depth, Get messages shows a payload and its properties, Purge empties it.
    page.click(f"#queues a.queue-link:text-is('{QUEUE}')")
    expect(page.locator("#depth-ready")).to_have_text(str(N))
    shot(page, "05-queue")
    page.select_option("#get-messages select[name=ackmode]", "ack_requeue_true")
    page.fill("#get-messages input[name=count]", "2")
    page.click("#get-messages button[type=submit]")
    expect(page.locator("#messages pre.payload").first).to_have_text("message 0")
    expect(page.locator("#messages pre.payload").nth(1)).to_have_text("message 1")
    expect(page.locator("#messages").first).to_contain_text('"message_id": "m0"')
    shot(page, "06-get-messages")
    page.click("#purge")
    expect(page.locator("#depth-ready")).to_have_text("0")
    assert broker.api("GET", f"/api/queues/%2F/{QUEUE}")["messages"] == 0
    shot(page, "07-purged")

    # Exchanges: a publish to a missing exchange shows the API's reason; to the default
    # exchange it routes.
    page.click("#tabs a[data-tab=exchanges]")
    expect(page.locator("#exchanges")).to_contain_text("amq.topic")
    page.fill("#publish input[name=exchange]", "no-such-exchange")
    page.fill("#publish textarea[name=payload]", "hello")
    page.click("#publish button[type=submit]")
    expect(page.locator("#publish .note.error")).to_contain_text("no-such-exchange")
    page.fill("#publish input[name=exchange]", "")
    page.fill("#publish input[name=routing_key]", QUEUE)
    page.click("#publish button[type=submit]")
    expect(page.locator("#publish .note.ok")).to_have_text("Message published and routed.")
    shot(page, "08-exchanges")

    # Admin: upload a definitions file; its vhost and queue appear.
    page.click("#tabs a[data-tab=admin]")
    expect(page.locator("#users")).to_contain_text("guest")
    page.set_input_files("#definitions-file", str(FIXTURE))
    page.click("#upload-definitions button[type=submit]")
    expect(page.locator("#upload-definitions .note.ok")).to_have_text("Imported definitions.json.")
    expect(page.locator("#vhosts")).to_contain_text("ui-imported")
    shot(page, "09-definitions-uploaded")
    page.click("#tabs a[data-tab=queues]")
    page.fill("#queue-filter", "ui-imported")
    row = page.locator("#queues tbody tr", has_text="ui-imported-queue")
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text("ui-imported")
    shot(page, "10-imported-queue")

    # Every admin form, then the queue and exchange forms with the argument editor; each
    # checks its result through the API and that a refusal shows the API's reason.
    for test in (test_add_user, test_add_vhost, test_set_permission, test_set_topic_permission,
                 test_vhost_limit, test_user_limit, test_add_policy,
                 test_add_queue_with_arguments, test_add_exchange):
        test(page, broker)
        print(f"  {test.__name__}: ok", flush=True)

    # The overview once the load has drawn 40 s of history (a sample every 5 s). (The queue
    # filter was cleared by test_add_queue_with_arguments.)
    page.click("#tabs a[data-tab=overview]")
    page.wait_for_function(
        """async () => {
            const r = await fetch("/api/warren/overview-history",
              {headers: {Authorization: "Basic " + sessionStorage.getItem("warren.credentials")}});
            return (await r.json()).length >= 8;
        }""", polling=1000, timeout=90_000)
    # The next refresh draws the full history.
    status = page.locator("#status")
    expect(status).to_contain_text("Updated")
    expect(status).not_to_have_text(status.text_content() or "")
    expect(page.locator("svg.chart polyline")).to_have_count(5)
    shot(page, "22-overview-charts")
    if update_screenshot:
        page.screenshot(path=str(HERE / "screenshot-overview.png"))

    # Log out: back to the login form, credentials gone.
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('warren.credentials')") is None
    shot(page, "23-logged-out")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--update-screenshot", action="store_true")
    a = p.parse_args()
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    broker = Broker(a.binary)
    load = Load(broker)
    load.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=a.chromium, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            try:
                run(page, broker, a.update_screenshot)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
                raise
            finally:
                browser.close()
            # A failed request the test provoked (the wrong password, the missing exchange)
            # is logged by Chromium as a console error; script errors are not expected.
            script_errors = [e for e in errors if "status of" not in e]
            if script_errors:
                raise SystemExit(f"errors in the page: {script_errors}")
    finally:
        load.stopping.set()
        load.join(timeout=10)
        broker.stop()
    if load.error:
        raise SystemExit(f"load generator failed: {load.error!r}")
    print("ui: all steps passed")


if __name__ == "__main__":
    sys.exit(main())
