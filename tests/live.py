"""A real HTTP server for the appliance on loopback, in this process, over the test database.

Django's LiveServerThread (the server behind LiveServerTestCase), wrapped so a test can stop it and start it
again on the same port, as when the appliance goes away and comes back.
"""


from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connections
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler, _StaticFilesHandler

from tests.support import free_port


class _RestartableServerThread(LiveServerThread):
    def _create_server(self, connections_override=None):
        # Reuse the address: the test brings the appliance back on the port its agent knows.
        return ThreadedWSGIServer((self.host, self.port), QuietWSGIRequestHandler, allow_reuse_address=True,
                                  connections_override=connections_override)


class LiveAppliance:
    def __init__(self):
        self.port = free_port()
        self.thread = None
        self.shared = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveAppliance":
        # An in-memory SQLite test database must be shared with the server thread.
        overrides = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
        if not self.shared:
            for connection in overrides.values():
                connection.inc_thread_sharing()
                self.shared.append(connection)
        self.thread = _RestartableServerThread("127.0.0.1", _StaticFilesHandler, overrides, port=self.port)
        self.thread.daemon = True
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.terminate()
            self.thread = None

    def close(self) -> None:
        self.stop()
        while self.shared:
            self.shared.pop().dec_thread_sharing()
