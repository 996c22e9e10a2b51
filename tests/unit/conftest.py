import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tools.simulator import control
from tools.simulator.server import start_in_thread


@pytest.fixture(scope="session")
def simulator_server():
    server, base_url = start_in_thread()
    yield server, base_url
    server.shutdown()


@pytest.fixture
def simulator(simulator_server):
    """Base URL of a running simulator, reset before each test."""
    server, base_url = simulator_server
    control.reset(base_url)
    return base_url


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.server.event.set()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver():
    """A local HTTP endpoint that records what is posted to it (the simulator's callbacks)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    server.received, server.lock, server.event = [], threading.Lock(), threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_port}"

    def wait_for(count, timeout=5.0):
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        while not deadline.is_set():
            with server.lock:
                if len(server.received) >= count:
                    timer.cancel()
                    return list(server.received)
            server.event.wait(0.05)
            server.event.clear()
        with server.lock:
            return list(server.received)

    server.wait_for = wait_for
    yield server
    server.shutdown()
