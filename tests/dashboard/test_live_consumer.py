"""The dashboard websocket: who may connect, what each connection receives, and how bursts are coalesced."""

import asyncio
import time

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser

from microdc.dashboard import consumers
from microdc.dashboard.coalesce import merge

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live_objects")]


@pytest.fixture
def live_objects(transactional_db):
    """The objects the groups of these tests name (rack.1, node.1-7, job.4, job.9; site 1 holds them): only groups
    of objects that exist can be joined."""
    from django.core.management.color import no_style
    from django.db import connection

    from microdc.nodes.models import Node, Rack, Site
    from microdc.provisioning.models import Job

    Site.objects.create(pk=1, name="Live", slug="live")
    Rack.objects.create(pk=1, site_id=1, name="Live R1", height_u=42)
    for pk in range(1, 8):
        Node.objects.create(pk=pk, hostname=f"live-{pk}", management_address=f"10.9.0.{pk}", rack_id=1,
                            position_u=2 * pk, height_u=1)
    for pk in (4, 9):
        Job.objects.create(pk=pk, kind="deploy", status="running")
    # PostgreSQL: objects created later (small_site) must not be given these ids again.
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Site, Rack, Node, Job]):
            cursor.execute(sql)


async def send(group: str, data: dict) -> None:
    await get_channel_layer().group_send(group, {"type": "live.update", "group": group, "data": data})


async def drain(communicator, seconds: float) -> list[dict]:
    """Every message that arrives within `seconds` (receive_nothing peeks: a receive timeout would kill the app)."""
    messages = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05):
            messages.append(await communicator.receive_json_from(timeout=1))
    return messages


async def test_unauthenticated_connection_is_refused(connect):
    _, connected, code = await connect(AnonymousUser())
    assert not connected and code == consumers.CLOSE_UNAUTHENTICATED


async def test_inactive_user_is_refused(connect, users):
    users["viewer"].is_active = False
    _, connected, code = await connect(users["viewer"])
    assert not connected and code == consumers.CLOSE_UNAUTHENTICATED


async def test_websocket_route_in_the_asgi_app_checks_origin_and_session():
    from channels.auth import AuthMiddleware
    from channels.security.websocket import OriginValidator

    from microdc.asgi import application

    stack = application.application_mapping["websocket"]
    assert isinstance(stack, OriginValidator)
    # AuthMiddlewareStack = CookieMiddleware(SessionMiddleware(AuthMiddleware(router))).
    assert isinstance(stack.application.inner.inner, AuthMiddleware)


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
async def test_every_role_gets_updates_of_the_groups_it_joined_only(connect, users, role):
    communicator, connected, _ = await connect(users[role], ["node.1", "node.3"])
    assert connected
    await send("node.2", {"nodes": {"2": {"hostname": "other"}}})
    await send("rack.1", {"nodes": {"1": {"hostname": "not joined"}}})
    await send("node.1", {"nodes": {"1": {"hostname": "gpu-01"}}})
    assert await communicator.receive_json_from(timeout=2) == {
        "type": "update", "group": "node.1", "data": {"nodes": {"1": {"hostname": "gpu-01"}}}}
    assert await communicator.receive_nothing(timeout=0.4)


async def test_unsubscribe_stops_updates(connect, users):
    communicator, _, _ = await connect(users["viewer"], ["node.1", "node.2"])
    await communicator.send_json_to({"unsubscribe": ["node.1"]})
    assert await communicator.receive_json_from(timeout=2) == {"type": "subscribed", "groups": ["node.2"]}
    await send("node.1", {"x": 1})
    assert await communicator.receive_nothing(timeout=0.4)
    await send("node.2", {"x": 2})
    assert (await communicator.receive_json_from(timeout=2))["group"] == "node.2"


@pytest.mark.parametrize("message, problem", [
    ({"subscribe": ["users.1; drop"]}, "Unknown group names"),
    ({"subscribe": "node.1"}, "take a list"),
    ({"subscribe": [5]}, "Unknown group names"),
    (["node.1"], "JSON object"),
])
async def test_bad_requests_are_answered_with_an_error(connect, users, message, problem):
    communicator, _, _ = await connect(users["viewer"])
    await communicator.send_json_to(message)
    reply = await communicator.receive_json_from(timeout=2)
    assert reply["type"] == "error" and problem in reply["detail"], reply


async def test_a_connection_joins_at_most_max_groups(connect, users, monkeypatch):
    monkeypatch.setattr(consumers, "MAX_GROUPS", 3)
    communicator, _, _ = await connect(users["viewer"])
    await communicator.send_json_to({"subscribe": ["node.1", "node.2", "node.3", "node.4", "node.5"]})
    error = await communicator.receive_json_from(timeout=2)
    assert error["type"] == "error" and "node.4" in error["detail"] and "node.5" in error["detail"]
    assert await communicator.receive_json_from(timeout=2) == {
        "type": "subscribed", "groups": ["node.1", "node.2", "node.3"]}


async def test_a_burst_is_coalesced_into_few_frames_with_the_latest_values(connect, users, monkeypatch):
    monkeypatch.setattr(consumers, "SEND_INTERVAL", 0.3)
    communicator, _, _ = await connect(users["viewer"], ["rack.1"])
    # 60 updates in about 0.1 s, alternating between two nodes: the browser must not see 60 frames.
    for i in range(60):
        node = str(1 + i % 2)
        await send("rack.1", {"nodes": {node: {"seq": i, "power_watts": 100.0 + i}}})
    frames = await drain(communicator, 1.2)
    assert 1 <= len(frames) <= 3, f"{len(frames)} frames for a burst of 60 updates"
    state: dict = {}
    for frame in frames:
        assert frame["type"] == "update" and frame["group"] == "rack.1"
        merge(state, frame["data"])
    # Nothing lost: each node's latest values arrived.
    assert state["nodes"] == {"1": {"seq": 58, "power_watts": 158.0}, "2": {"seq": 59, "power_watts": 159.0}}


async def test_the_first_update_after_a_quiet_spell_goes_out_at_once(connect, users, monkeypatch):
    monkeypatch.setattr(consumers, "SEND_INTERVAL", 5.0)  # a long interval must not delay a lone update
    communicator, _, _ = await connect(users["viewer"], ["node.7"])
    started = time.monotonic()
    await send("node.7", {"nodes": {"7": {"up": True}}})
    await communicator.receive_json_from(timeout=2)
    assert time.monotonic() - started < 0.5


async def test_coalesced_job_output_keeps_every_event_in_order(connect, users, monkeypatch):
    monkeypatch.setattr(consumers, "SEND_INTERVAL", 0.3)
    communicator, _, _ = await connect(users["viewer"], ["job.4"])
    for counter in range(1, 41):
        await send("job.4", {"events": [{"counter": counter, "event": "runner_on_ok", "host": "gpu-01",
                                         "stdout": f"line {counter}", "created": "2026-01-01T00:00:00+00:00"}],
                             "status": "running" if counter < 40 else "succeeded"})
    frames = await drain(communicator, 1.2)
    assert len(frames) <= 3
    events = [e["counter"] for f in frames for e in f["data"]["events"]]
    assert events == list(range(1, 41))
    assert frames[-1]["data"]["status"] == "succeeded"


async def test_groups_are_separate_streams_within_one_connection(connect, users, monkeypatch):
    monkeypatch.setattr(consumers, "SEND_INTERVAL", 0.3)
    communicator, _, _ = await connect(users["viewer"], ["node.1", "rack.1"])
    await send("node.1", {"nodes": {"1": {"a": 1}}})
    await send("rack.1", {"nodes": {"1": {"b": 2}}})
    await send("node.1", {"nodes": {"1": {"a": 3}}})
    frames = await drain(communicator, 1.0)
    by_group: dict = {}
    for frame in frames:
        merge(by_group.setdefault(frame["group"], {}), frame["data"])
    assert by_group == {"node.1": {"nodes": {"1": {"a": 3}}}, "rack.1": {"nodes": {"1": {"b": 2}}}}


async def test_updates_after_disconnect_are_dropped_quietly(connect, users):
    communicator, _, _ = await connect(users["viewer"], ["node.3"])
    await communicator.disconnect()
    await send("node.3", {"x": 1})
    await asyncio.sleep(0.2)  # no exception escapes from the closed consumer


def test_merge_rule():
    held = {"nodes": {"1": {"a": 1}}, "events": [1], "status": "running"}
    merge(held, {"nodes": {"2": {"b": 2}}, "events": [2, 3], "status": "failed", "summary": {"x": 1}})
    merge(held, {"nodes": {"1": {"a": 9}}, "summary": {"x": 2, "y": 3}})
    assert held == {"nodes": {"1": {"a": 9}, "2": {"b": 2}}, "events": [1, 2, 3], "status": "failed",
                    "summary": {"x": 2, "y": 3}}
    update = {"events": [4]}
    fresh = merge({}, update)
    fresh["events"].append(5)
    assert update == {"events": [4]}, "merge must not share the update's lists"


async def test_a_refresh_summary_does_not_hold_back_the_next_update(connect, users, small_site, monkeypatch):
    """Summaries come paced by their watch (seconds apart): they go out at once and leave the connection's
    interval alone, so a node update right behind one is not delayed."""
    monkeypatch.setattr(consumers, "SEND_INTERVAL", 5.0)
    group = f"site.{small_site['site'].pk}"
    communicator, _, _ = await connect(users["viewer"], [group])
    first = await communicator.receive_json_from(timeout=5)
    assert "summary" in first["data"]
    started = time.monotonic()
    await send(group, {"nodes": {"1": {"up": True}}})
    update = await communicator.receive_json_from(timeout=2)
    assert update["data"] == {"nodes": {"1": {"up": True}}}
    assert time.monotonic() - started < 0.5


async def test_each_job_event_goes_out_once_whichever_way_it_came(connect, users, monkeypatch):
    """The provisioning app's messages and the job watch can both carry an event: a connection sends it once."""
    monkeypatch.setattr(consumers, "SEND_INTERVAL", 0.0)

    def events(*counters):
        return [{"counter": c, "event": "verbose", "host": None, "stdout": f"line {c}",
                 "created": "2026-01-01T00:00:00+00:00"} for c in counters]

    communicator, _, _ = await connect(users["viewer"], ["job.9"])
    await send("job.9", {"events": events(1, 2, 3), "status": "running"})
    await send("job.9", {"events": events(2, 3, 4)})
    await send("job.9", {"events": events(3)})  # nothing new: no frame
    await send("job.9", {"events": [], "status": "succeeded"})
    frames = await drain(communicator, 1.0)
    assert [e["counter"] for f in frames for e in f["data"]["events"]] == [1, 2, 3, 4]
    assert frames[-1]["data"]["status"] == "succeeded"
    assert all(f["data"]["events"] or "status" in f["data"] for f in frames)
