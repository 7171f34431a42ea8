# A pytest fixture for Warren as a test broker: one Warren per session (in memory, free
# loopback ports), reset to its state at start before every test, faults injected over
# the control API. WARREN is the path of the `warren` binary.
import base64, json, os, socket, subprocess, time, urllib.request

import pika
import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Warren:
    def __init__(self, binary):
        self.port, self.mport = free_port(), free_port()
        self.proc = subprocess.Popen([binary, "--listen", f"127.0.0.1:{self.port}",
                                      "--management-listen", f"127.0.0.1:{self.mport}",
                                      "--no-prometheus", "--log-level", "warn"])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                self.api("GET", "/api/warren/snapshot")
                break
            except OSError:
                assert time.monotonic() < deadline, "warren did not start within 10 s"
                time.sleep(0.02)

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.mport}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return json.loads(text) if text else None

    def reset(self):
        self.api("POST", "/api/warren/reset")

    def inject_fault(self, connection_name, *steps):
        """Plays `steps` on the connection whose client property connection_name is this;
        returns once that connection holds the plan."""
        plan = {"target": {"connection_name": connection_name}, "steps": list(steps)}
        return self.api("POST", "/api/warren/faults", plan)["id"]

    def wait(self, **condition):
        return self.api("POST", "/api/warren/wait", condition)

    def params(self, connection_name, **kw):
        return pika.ConnectionParameters(
            "127.0.0.1", self.port, credentials=pika.PlainCredentials("guest", "guest"),
            client_properties={"connection_name": connection_name}, **kw)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="session")
def warren_session():
    w = Warren(os.environ["WARREN"])
    yield w
    w.stop()


@pytest.fixture
def warren(warren_session):
    warren_session.reset()
    return warren_session
