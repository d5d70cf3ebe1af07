"""From a committed ingest (or meter reading) to the websocket: what is sent, to which groups, how often."""

import datetime
import json
import time

import msgpack
import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from microdc.dashboard import consumers, publisher
from microdc.dashboard.coalesce import merge
from microdc.dashboard.payloads import build_messages
from microdc.telemetry import live
from microdc.telemetry.ingest import ingest_batch

from .conftest import gpu_batch

pytestmark = pytest.mark.django_db(transaction=True)


async def frames_for(communicator, seconds: float) -> list[dict]:
    frames = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05):
            frames.append(await communicator.receive_json_from(timeout=1))
    return frames


async def test_an_ingest_reaches_node_rack_and_site_groups_with_their_views(connect, users, small_site):
    node = small_site["nodes"][0]
    site, rack = small_site["site"], small_site["racks"][0]
    communicator, _, _ = await connect(users["viewer"], [f"node.{node.pk}", f"rack.{rack.pk}", f"site.{site.pk}"])
    first = await communicator.receive_json_from(timeout=5)  # the site's summary, sent on joining
    assert first["group"] == f"site.{site.pk}" and "summary" in first["data"]

    body = gpu_batch(node, {i: {"temperature_celsius": 60.0 + i, "power_watts": 300.0 + 10 * i} for i in range(4)})
    started = time.monotonic()
    await database_sync_to_async(ingest_batch)(node, body)
    received = {}
    while len(received) < 3:
        frame = await communicator.receive_json_from(timeout=2)
        received.setdefault(frame["group"], frame["data"])
    assert time.monotonic() - started < 2.0

    full = received[f"node.{node.pk}"]["nodes"][str(node.pk)]
    assert full["up"] is True and full["hostname"] == "gpu-01"
    assert [a["values"]["temperature_celsius"] for a in full["accelerators"]] == [60.0, 61.0, 62.0, 63.0]
    assert "memory_used_bytes" in full["accelerators"][0]["values"]  # the node page shows every value
    assert full["power_watts"] == pytest.approx(300 + 310 + 320 + 330)

    tiles = received[f"rack.{rack.pk}"]["nodes"][str(node.pk)]
    assert set(tiles["accelerators"][0]["values"]) <= {"temperature_celsius", "power_watts", "utilization_ratio",
                                                       "power_limit_watts"}
    assert tiles["accelerators"][3]["values"]["power_watts"] == 330.0

    brief = received[f"site.{site.pk}"]["nodes"][str(node.pk)]
    assert brief["up"] is True and brief["power_watts"] == pytest.approx(1260.0) and "accelerators" not in brief


async def test_a_burst_of_ingests_is_coalesced_per_node_and_ends_on_the_latest(connect, users, small_site,
                                                                              monkeypatch):
    monkeypatch.setattr(consumers, "SEND_INTERVAL", 0.0)  # count what the publisher sends, not the socket
    node = small_site["nodes"][0]
    communicator, _, _ = await connect(users["viewer"], [f"node.{node.pk}"])
    now = timezone.now()
    for i in range(15):
        body = gpu_batch(node, {0: {"temperature_celsius": 40.0 + i}}, ts=now - datetime.timedelta(seconds=15 - i))
        await database_sync_to_async(ingest_batch)(node, body)
    frames = await frames_for(communicator, 1.5)
    # Leading edge at once, the rest within each 0.5 s interval merged: far fewer messages than batches.
    assert 1 <= len(frames) <= 5, f"{len(frames)} messages for 15 batches"
    state: dict = {}
    for frame in frames:
        merge(state, frame["data"])
    assert state["nodes"][str(node.pk)]["accelerators"][0]["values"]["temperature_celsius"] == 54.0


async def test_nothing_is_sent_for_a_rolled_back_ingest(connect, users, small_site):
    node = small_site["nodes"][0]
    communicator, _, _ = await connect(users["viewer"], [f"node.{node.pk}"])

    class Abandon(Exception):
        pass

    def ingest_and_roll_back():
        try:
            with transaction.atomic():
                ingest_batch(node, gpu_batch(node, {0: {"temperature_celsius": 99.0}}))
                raise Abandon
        except Abandon:
            pass

    await database_sync_to_async(ingest_and_roll_back)()
    assert await communicator.receive_nothing(timeout=1.0)


async def test_a_meter_reading_reaches_its_site_and_rack(connect, users, small_site):
    from microdc.telemetry.store import Reading, sources_by_key, store

    meter = small_site["meters"]["pdu"]
    site, rack = small_site["site"], small_site["racks"][0]
    communicator, _, _ = await connect(users["viewer"], [f"rack.{rack.pk}"])

    def poll():
        with transaction.atomic():
            sources = sources_by_key({f"meter/{meter.pk}/{c}": {"meter": meter, "sensor": c}
                                      for c in ("", "outlets")})
            store([Reading(sources[f"meter/{meter.pk}/"], timezone.now(), {"power_watts": 5100.0}),
                   Reading(sources[f"meter/{meter.pk}/outlets"], timezone.now(), {"power_watts": 5000.0})])
            transaction.on_commit(lambda: live.meter_updated(meter.pk))

    await database_sync_to_async(poll)()
    frame = await communicator.receive_json_from(timeout=3)
    view = frame["data"]["meters"][str(meter.pk)]
    # Its PUE boundary is the outlets (PDU output), so that is the rack's PDU load.
    assert view["power_channel"] == "outlets" and view["power_watts"] == 5000.0
    assert set(view["channels"]) == {"", "outlets"}
    messages = dict(await database_sync_to_async(build_messages)([("meter", meter.pk)]))
    assert messages[f"site.{site.pk}"]["meters"][str(meter.pk)]["power_watts"] == 5000.0


def test_messages_are_plain_data_the_redis_layer_can_carry(small_site):
    node = small_site["nodes"][0]
    ingest_batch(node, gpu_batch(node, {0: {}, 1: {}}))
    messages = build_messages([("node", node.pk), ("meter", small_site["meters"]["pdu"].pk)])
    assert {group for group, _ in messages} == {f"node.{node.pk}", f"rack.{node.rack_id}",
                                                f"site.{small_site['site'].pk}"}
    for _, data in messages:
        json.dumps(data)
        msgpack.packb(data)


def test_nothing_is_built_when_no_one_in_this_process_listens_on_the_in_memory_layer(small_site, settings,
                                                                                       monkeypatch):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(publisher, "_consumer_loop", None)
    built = []
    monkeypatch.setattr(publisher, "build_messages", lambda keys: built.append(keys) or [])
    node = small_site["nodes"][0]
    ingest_batch(node, gpu_batch(node, {0: {}}))
    assert publisher.target_loop() is None
    time.sleep(0.2)
    assert built == []


def test_a_failing_listener_never_fails_the_ingest(small_site):
    def broken(kind, ident):
        raise RuntimeError("screen on fire")

    live.add_listener(broken)
    try:
        node = small_site["nodes"][0]
        result = ingest_batch(node, gpu_batch(node, {0: {}}))
    finally:
        live.remove_listener(broken)
    assert result.accepted == 1
