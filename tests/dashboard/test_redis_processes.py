"""Two web processes and two workers sharing one database and the Redis channel layer, as a site scaled out
runs them: telemetry ingested through one web process reaches a websocket connected to the other (what several
uvicorn workers behind a proxy rely on), and what a worker finds reaches the screens on both."""

import asyncio
import json
import os
import time

import pytest

from .served import ServedAppliance, login, push
from .test_served import node_batch, open_live, receive_until

pytestmark = pytest.mark.integration
DEFAULT_REDIS = "redis://127.0.0.1:6379/4"


def redis_url() -> str:
    """REDIS_URL (CI) or a local Redis; skipped on a developer machine without one, a failure on CI."""
    import redis

    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {url} ({exc}); the Debian package redis-server provides it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="module")
def two_processes():
    served = ServedAppliance(redis_url=redis_url(), extra_env={"MICRODC_ALERT_EVAL_SECONDS": "2"})
    try:
        served.prepare(hours=0.25)
        served.urls = [served.start(), served.start()]
        # Several workers share a site on PostgreSQL; on SQLite one is the rule (the database has one writer).
        for _ in range(2 if served.postgres else 1):
            served.start_worker()
        yield served
    finally:
        served.stop()


async def test_telemetry_posted_to_one_process_reaches_a_websocket_on_the_other(two_processes):
    first, second = two_processes.urls
    seed = two_processes.seed
    hostname = "gpu-a01-02"
    node_id, rack_id = seed["nodes"][hostname], seed["racks"]["A01"]
    cookie = login(second, "viewer", seed["passwords"]["viewer"]).cookies["sessionid"]
    ws = await open_live(second, cookie)
    try:
        await ws.send(json.dumps({"subscribe": [f"node.{node_id}", f"rack.{rack_id}"]}))
        await receive_until(ws, lambda m: m["type"] == "subscribed", 5)
        started = time.monotonic()
        response = await asyncio.to_thread(push, first, seed["tokens"][hostname],
                                           node_batch(hostname, temperature_celsius=66.6, power_watts=321.0))
        assert response.status_code == 202, response.text
        got = {}
        while len(got) < 2:
            message = await receive_until(ws, lambda m: m["type"] == "update", 3)
            got[message["group"]] = message["data"]["nodes"][str(node_id)]
        elapsed = time.monotonic() - started
    finally:
        await ws.close()
    assert [a["values"]["temperature_celsius"] for a in got[f"node.{node_id}"]["accelerators"]] == [66.6] * 4
    assert [a["values"]["power_watts"] for a in got[f"rack.{rack_id}"]["accelerators"]] == [321.0] * 4
    assert elapsed < 2.0, f"took {elapsed:.2f} s across processes"
    assert "Traceback" not in two_processes.logs(), two_processes.logs()


async def test_an_alert_a_worker_raises_reaches_the_screens_on_both_processes(two_processes):
    # The seed's quiet node stopped pushing ten minutes ago: past the 120 s of "Node agent silent", so a worker's
    # first rule cycle fires it, and each web process's alert watch carries it to its own screens.
    seed = two_processes.seed
    sockets = []
    try:
        for url in two_processes.urls:
            cookie = login(url, "viewer", seed["passwords"]["viewer"]).cookies["sessionid"]
            sockets.append(ws := await open_live(url, cookie))
            await ws.send(json.dumps({"subscribe": [f"alerts.{seed['site']}"]}))
            await receive_until(ws, lambda m: m["type"] == "subscribed", 5)

        def silent_fires(message: dict) -> bool:
            board = message.get("data", {}).get("board") if message["type"] == "update" else None
            return board is not None and any(
                a["name"] == "node_agent_silent" and a["state"] == "firing" and
                a["labels"].get("node") == "gpu-a01-01" for a in board["open"])

        boards = [await receive_until(ws, silent_fires, 60) for ws in sockets]
    finally:
        for ws in sockets:
            await ws.close()
    ids = [{a["id"] for a in message["data"]["board"]["open"] if a["name"] == "node_agent_silent"}
           for message in boards]
    assert ids[0] == ids[1], "both screens show the one alert the workers keep"
    assert "Traceback" not in two_processes.logs(), two_processes.logs()
