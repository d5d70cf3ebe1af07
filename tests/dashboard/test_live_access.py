"""What a websocket may cost the appliance: only groups of real objects, and a bounded number of connections."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from microdc.dashboard import connections, consumers, watches

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job(transactional_db):
    from microdc.provisioning.models import Job

    return Job.objects.create(kind="deploy", status="running")


async def test_groups_of_objects_that_do_not_exist_are_refused_and_start_no_watch(connect, users, small_site, job):
    node = small_site["nodes"][0]
    communicator, _, _ = await connect(users["viewer"])
    missing = [f"job.{job.pk + 1000}", f"node.{node.pk + 1000}", "site.999999", "rack.999999"]
    await communicator.send_json_to({"subscribe": [f"job.{job.pk}", f"node.{node.pk}", *missing]})
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and "No such object" in error["detail"]
    assert sorted(error["detail"].split(": ", 1)[1].strip("[]").replace("'", "").split(", ")) == sorted(missing)
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "subscribed", "groups": sorted([f"job.{job.pk}", f"node.{node.pk}"])}
    assert f"job.{job.pk}" in watches._watches
    assert not any(group in watches._watches for group in missing)


async def test_a_user_deactivated_after_connecting_joins_nothing(connect, users, job):
    communicator, _, _ = await connect(users["viewer"])
    users["viewer"].is_active = False
    await database_sync_to_async(users["viewer"].save)()
    await communicator.send_json_to({"subscribe": [f"job.{job.pk}"]})
    assert "No such object" in (await communicator.receive_json_from(timeout=5))["detail"]
    assert await communicator.receive_json_from(timeout=5) == {"type": "subscribed", "groups": []}


async def test_connections_per_user_are_capped_and_freed_on_close(connect, users, settings):
    settings.MICRODC_LIVE_MAX_CONNECTIONS_PER_USER = 2
    first, connected, _ = await connect(users["viewer"])
    assert connected
    assert (await connect(users["viewer"]))[1]
    _, connected, code = await connect(users["viewer"])
    assert not connected and code == consumers.CLOSE_TOO_MANY
    assert (await connect(users["operator"]))[1]  # another user's connections are their own
    await first.disconnect()
    assert (await connect(users["viewer"]))[1]


async def test_connections_held_in_another_process_count(connect, users, settings):
    """Slots live in the shared cache (Redis with REDIS_URL, else the database): what another web process holds
    counts here too, and a process that died frees its slots when they expire."""
    settings.MICRODC_LIVE_MAX_CONNECTIONS_PER_USER = 2
    user = users["viewer"]
    await connect(user)  # clears the shared cache first
    assert await database_sync_to_async(connections.take)(user.pk, "other-process!channel") is not None
    _, connected, code = await connect(user)
    assert not connected and code == consumers.CLOSE_TOO_MANY


async def test_a_dead_process_slot_expires(connect, users, settings, monkeypatch):
    settings.MICRODC_LIVE_MAX_CONNECTIONS_PER_USER = 1
    user = users["viewer"]
    monkeypatch.setattr(connections, "SLOT_SECONDS", 1)
    await connect(users["admin"])  # clears the shared cache first
    assert await database_sync_to_async(connections.take)(user.pk, "dead-process!channel") is not None
    assert not (await connect(user))[1]
    await asyncio.sleep(2.2)
    assert (await connect(user))[1]


async def test_one_watch_per_group_for_every_connection_of_a_process(connect, users, job):
    group = f"job.{job.pk}"
    a, _, _ = await connect(users["viewer"], [group])
    b, _, _ = await connect(users["admin"], [group])
    watch = watches._watches[group]
    assert watch.clients and len(watch.clients) == 2
    await a.disconnect()
    assert watches._watches[group] is watch and len(watch.clients) == 1
    await b.disconnect()
    assert group not in watches._watches
    await asyncio.sleep(0)
    assert watch.task.cancelled() or watch.task.done()
