"""A real HTTP server for the appliance on loopback, in this process, over the test database.

Django's LiveServerThread (the server behind LiveServerTestCase), wrapped so a test can stop it and start it
again on the same port, as when the appliance goes away and comes back.
"""

import os
import shutil
import socket

import pytest
from django.db import connections
from django.test.testcases import LiveServerThread, _StaticFilesHandler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_binary(name: str, package: str) -> str:
    """Path of a peer's binary; a skip on a developer machine without it, a failure on CI."""
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
                                      None)
    if path is None:
        message = f"{name} is not installed (Debian package {package})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class LiveAppliance:
    def __init__(self):
        self.port = free_port()
        self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveAppliance":
        # An in-memory SQLite test database must be shared with the server thread.
        overrides = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
        for connection in overrides.values():
            connection.inc_thread_sharing()
        self.thread = LiveServerThread("127.0.0.1", _StaticFilesHandler, overrides, port=self.port)
        self.thread.daemon = True
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.terminate()
            for connection in self.thread.connections_override.values():
                connection.dec_thread_sharing()
            self.thread = None
