"""The real server (uvicorn on loopback, its own database): a telemetry POST reaches a websocket client.

Runs without a browser: the `websockets` package is the client, with the session cookie of a real login.
Under CI's PostgreSQL + Redis run the appliance uses both (a throwaway database, its own Redis key prefix).
"""

import asyncio
import json
import os
import time

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from tests.telemetry.factories import batch, sample

from .served import ServedAppliance, login, push

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def appliance():
    served = ServedAppliance(redis_url=os.environ.get("REDIS_URL") or None)
    try:
        served.prepare(hours=0.5)
        served.url = served.start()
        yield served
    finally:
        served.stop()


def session_cookie(appliance) -> str:
    client = login(appliance.url, "viewer", appliance.seed["passwords"]["viewer"])
    return client.cookies["sessionid"]


def gpu_sample(hostname: str, index: int, **metrics) -> dict:
    from microdc.agent.collectors.simulated import simulated_uuid
    from microdc.simulator.demo_site import SIM_SEED

    values = {"power_watts": 100.0, "temperature_celsius": 40.0, "utilization_ratio": 0.1} | metrics
    return {"kind": "gpu", "index": index, "uuid": simulated_uuid(SIM_SEED, hostname, index), "name": "Simulated H100",
            "vendor": "nvidia", "simulated": True, "metrics": values}


def node_batch(hostname: str, **metrics) -> dict:
    from django.utils import timezone

    return batch(hostname, [sample(timezone.now(), [gpu_sample(hostname, i, **metrics) for i in range(4)])])


async def open_live(url: str, cookie: str | None, origin: str | None = None):
    ws_url = url.replace("http://", "ws://") + "/ws/live/"
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    return await ws_connect(ws_url, additional_headers=headers, origin=origin or url, open_timeout=5)


async def receive_until(ws, predicate, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching websocket message in time")
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=left))
        if predicate(message):
            return message


async def test_a_telemetry_post_reaches_a_logged_in_websocket(appliance):
    hostname = "gpu-a02-02"
    node_id = appliance.seed["nodes"][hostname]
    ws = await open_live(appliance.url, session_cookie(appliance))
    try:
        await ws.send(json.dumps({"subscribe": [f"node.{node_id}"]}))
        await receive_until(ws, lambda m: m["type"] == "subscribed", 5)
        started = time.monotonic()
        response = await asyncio.to_thread(push, appliance.url, appliance.seed["tokens"][hostname],
                                           node_batch(hostname, temperature_celsius=71.5, power_watts=432.0))
        assert response.status_code == 202, response.text
        message = await receive_until(ws, lambda m: m["type"] == "update", 2)
        elapsed = time.monotonic() - started
    finally:
        await ws.close()
    view = message["data"]["nodes"][str(node_id)]
    assert [a["values"]["temperature_celsius"] for a in view["accelerators"]] == [71.5] * 4
    assert view["power_watts"] == pytest.approx(4 * 432.0) and view["up"] is True
    assert elapsed < 2.0, f"update took {elapsed:.2f} s"


async def test_a_websocket_without_a_session_is_refused(appliance):
    with pytest.raises(InvalidStatus) as refused:
        await open_live(appliance.url, None)
    assert refused.value.response.status_code == 403


async def test_a_websocket_from_another_origin_is_refused(appliance):
    with pytest.raises(InvalidStatus) as refused:
        await open_live(appliance.url, session_cookie(appliance), origin="http://evil.example")
    assert refused.value.response.status_code == 403
