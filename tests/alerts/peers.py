"""Real receivers on loopback for the notification tests: a webhook endpoint (records what it gets, can refuse
or go away), an SMTP server (aiosmtpd), and Debian's prometheus-alertmanager."""

from __future__ import annotations

import json
import subprocess
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.support import free_port, require_binary, stop_process, wait_for, wait_for_port


class WebhookReceiver:
    """POSTs to http://127.0.0.1:<port>/hook are kept as (headers, raw body); `status` is what it answers."""

    def __init__(self):
        self.port = free_port()
        self.received: list[tuple[dict, bytes]] = []
        self.status = 200
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body in self.received]

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.status == 200:
                    with receiver.lock:
                        receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


class SmtpServer:
    """aiosmtpd on loopback, keeping every message it accepts."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):  # noqa: N802 - aiosmtpd's naming
                server.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class Alertmanager:
    """Debian's prometheus-alertmanager with one receiver: a webhook to `webhook_url` when given."""

    def __init__(self, tmp_path, webhook_url: str | None = None, group_wait: str = "1s"):
        self.binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
        self.port = free_port()
        self.dir = tmp_path / f"alertmanager-{self.port}"
        self.dir.mkdir()
        receiver = {"name": "hook"}
        if webhook_url:
            receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
        config = {"route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": group_wait,
                            "group_interval": "1s", "repeat_interval": "1h"},
                  "receivers": [receiver]}
        (self.dir / "alertmanager.yml").write_text(json.dumps(config))  # JSON is YAML
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Alertmanager:
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self.dir / 'alertmanager.yml'}", f"--storage.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, self.process)
        assert wait_for(lambda: httpx.get(f"{self.url}/-/ready").status_code == 200, timeout=20)
        return self

    def __exit__(self, *exc) -> None:
        stop_process(self.process)

    def alerts(self, active: bool | None = None) -> list[dict]:
        params = {} if active is None else {"active": str(active).lower()}
        return httpx.get(f"{self.url}/api/v2/alerts", params=params).json()
