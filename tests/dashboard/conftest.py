"""Fixtures for the dashboard tests: a small site with GPUs and meters, agent tokens, websocket clients."""

import asyncio
import contextlib
import datetime
import os
import shutil

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.core.cache import caches
from django.db import connections
from django.utils import timezone

from tests.telemetry.factories import batch, gpu, sample


@pytest.fixture(autouse=True)
def in_process_live(monkeypatch):
    """In-process tests keep the live machinery on the test's own event loop and thread:
    - its reads run on asgiref's single thread, like the tests' own database calls (the suite's in-memory
      SQLite refuses a concurrent reader and writer);
    - no background publishing loop is started when no consumer is attached (with REDIS_URL set it would
      outlive the test and hold a database connection).
    The served tests (real uvicorn processes) run the real arrangement."""
    from asgiref.sync import SyncToAsync

    from microdc.dashboard import db, publisher

    monkeypatch.setattr(db, "SERIALIZE", True)
    monkeypatch.setattr(publisher, "_start_background_loop", lambda: None)
    monkeypatch.setattr(publisher, "_consumer_loop", None)
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)


@pytest.fixture
def small_site(db):
    """Site "Plant 1": racks R1 and R2; gpu-01 (4 GPUs, U10-U13 of R1), gpu-02 (2 GPUs, R2); a PDU meter on R1
    (IT load at PDU outputs), a utility feed and a cooling unit."""
    from microdc.nodes.models import Accelerator, FacilityMeter, Node, Rack, Site

    site = Site.objects.create(name="Plant 1", slug="plant-1")
    r1 = Rack.objects.create(site=site, name="R1", height_u=42)
    r2 = Rack.objects.create(site=site, name="R2", height_u=42, simulated=True)
    n1 = Node.objects.create(hostname="gpu-01", management_address="10.0.0.11", rack=r1, position_u=10, height_u=4)
    n2 = Node.objects.create(hostname="gpu-02", management_address="10.0.0.12", rack=r2, position_u=1, height_u=2,
                             simulated=True)
    for index in range(4):
        Accelerator.objects.create(node=n1, index=index, vendor="nvidia", model="H100", uuid=f"GPU-n1-{index}",
                                   power_limit_watts=700.0)
    for index in range(2):
        Accelerator.objects.create(node=n2, index=index, vendor="nvidia", model="H100", uuid=f"GPU-n2-{index}",
                                   simulated=True)
    meters = {
        "pdu": FacilityMeter.objects.create(site=site, rack=r1, name="PDU R1", kind="pdu", boundary="it_load",
                                            it_measurement_point="pdu_output", protocol="redfish", host="10.0.1.1",
                                            boundary_channel="outlets"),
        "utility": FacilityMeter.objects.create(site=site, name="Utility", kind="utility_feed",
                                                boundary="facility_input", protocol="modbus", host="10.0.1.2",
                                                simulated=True),
        "cooling": FacilityMeter.objects.create(site=site, name="CDU", kind="cooling_unit", boundary="cooling",
                                                protocol="redfish", host="10.0.1.3"),
    }
    return {"site": site, "racks": [r1, r2], "nodes": [n1, n2], "meters": meters}


def gpu_batch(node, values: dict[int, dict], ts: datetime.datetime | None = None) -> dict:
    """An agent batch for `node` with one sample: {gpu index: metrics}; UUIDs as small_site names them."""
    prefix = "n1" if node.hostname == "gpu-01" else "n2"
    devices = [gpu(index, f"GPU-{prefix}-{index}", **metrics) for index, metrics in values.items()]
    return batch(node.hostname, [sample(ts or timezone.now(), devices)])


@pytest.fixture
def ws_app():
    """The websocket stack of microdc.asgi without the Origin check (the test client sends none)."""
    from microdc.dashboard.routing import websocket_urlpatterns

    return AuthMiddlewareStack(URLRouter(websocket_urlpatterns))


@pytest.fixture
async def connect(ws_app):
    """Open a websocket as `user` (scope injected) and join `groups`; every socket is closed at the end."""
    opened = []
    # Connection slots live in the shared cache, which outlives a test (Redis) or its flush (the cache table).
    await database_sync_to_async(caches["shared"].clear)()

    async def open_socket(user, groups: list[str] | None = None):
        communicator = WebsocketCommunicator(ws_app, "/ws/live/")
        communicator.scope["user"] = user
        connected, code = await communicator.connect()
        opened.append(communicator)
        if connected and groups:
            await communicator.send_json_to({"subscribe": groups})
            reply = await communicator.receive_json_from(timeout=5)
            assert reply == {"type": "subscribed", "groups": sorted(groups)}, reply
        return communicator, connected, code

    yield open_socket
    for communicator in opened:
        # Already closed by the test, or refused at connect.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await communicator.disconnect()
    # Database work the consumers started queues on one thread: once this has run there, that work is done, and
    # that thread's connection is closed (PostgreSQL cannot drop the test database while it is open).
    await database_sync_to_async(connections.close_all)()


def chromium_path() -> str | None:
    return shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
