"""Model servers on loopback: a real HTTP server whose routes answer the way a metrics endpoint can (a page,
HTML, garbage, nothing, too much, too slowly, an error), and deployments pointing at them."""

import http.server
import threading
import time
from collections.abc import Callable

import pytest

from microdc.provisioning.models import Deployment


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, *args):  # keep the test output quiet
        pass


def answer(body: bytes | str, content_type: str = "text/plain; version=0.0.4", status: int = 200):
    data = body.encode() if isinstance(body, str) else body

    def respond(handler):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return respond


def page_of(make_text: Callable[[], str]):
    """A route answering whatever make_text() returns now (a server whose counters move)."""
    return lambda handler: answer(make_text())(handler)


def endless(chunk: bytes = b"vllm:prompt_tokens_total 1\n" * 1000):
    """A page with no Content-Length that never ends."""
    def respond(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(chunk)
        except OSError:
            pass  # the scraper stopped reading
    return respond


def slow(seconds: float):
    def respond(handler):
        time.sleep(seconds)
        answer("vllm:prompt_tokens_total 1\n")(handler)
    return respond


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a scraper that hung up on a slow or huge page: expected here


class MetricsServer:
    def __init__(self):
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def route(self, path: str, respond) -> str:
        self.httpd.routes[path] = respond
        return self.url(path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def metrics_server():
    server = MetricsServer()
    yield server
    server.close()


@pytest.fixture
def deploy(node):
    """deploy(name, metrics_url, runtime="vllm", nodes=[node]): a healthy deployment as a rollout records it."""
    def make(name: str, metrics_url: str, runtime: str = "vllm", nodes=None, state: str = "healthy") -> Deployment:
        endpoints = [{"node": n.hostname, "state": state, "url": f"http://{n.management_address}:8000",
                      "metrics_url": metrics_url} for n in (nodes or [node])]
        return Deployment.objects.create(name=name, runtime=runtime, status=Deployment.Status.HEALTHY,
                                         endpoints=endpoints)
    return make
