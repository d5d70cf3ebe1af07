"""The deployment page's live group: the watch sends the figures on joining and again when the ledger moves
them, and only deployments that exist can be joined."""

import datetime

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from microdc.dashboard import watches

from .ledger_rows import minute_row, seed_ledger

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(watches.DeploymentRefresh, "interval", 0.2)
    cache.clear()


async def test_the_deployment_group_sends_figures_and_follows_the_ledger(connect, users, small_site):
    n1, n2 = small_site["nodes"]
    # Rows up to two minutes back: all settled (a window ends a minute before now), so a minute that turns
    # during the test moves no figure.
    now = timezone.now() - datetime.timedelta(minutes=2)
    made = await database_sync_to_async(seed_ledger)(n1, n2, now, 5, 2)
    chat = made["assistant"]
    communicator, _, _ = await connect(users["viewer"], [f"deployment.{chat.pk}"])
    first = (await communicator.receive_json_from(timeout=10))["data"]["energy"]
    assert first["available"], first["problem"]
    assert set(first["windows"]) == {"1h", "24h", "30d"}
    # Nothing moved: the watch keeps quiet.
    assert await communicator.receive_nothing(timeout=0.6)

    def ledger_writes_a_minute():
        from microdc.energy.models import UsageBucket

        # A minute the ledger had not written yet, with far more energy than the others.
        start = now.replace(second=0, microsecond=0) - datetime.timedelta(minutes=6)
        row = minute_row(chat, n1, start, 1, True)
        row.gpu_joules *= 10
        UsageBucket.objects.bulk_create([row])

    await database_sync_to_async(ledger_writes_a_minute)()
    second = (await communicator.receive_json_from(timeout=10))["data"]["energy"]
    before, after = (result["windows"]["1h"]["figures"]["energy_gpu"]["value"] for result in (first, second))
    assert after == pytest.approx(before + 10 * 60.0 * 300.0)  # the new minute: ten times 300 W for 60 s


async def test_only_deployments_that_exist_can_be_joined(connect, users, small_site):
    communicator, connected, _ = await connect(users["viewer"])
    assert connected
    await communicator.send_json_to({"subscribe": ["deployment.999999"]})
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and "deployment.999999" in error["detail"]
    assert (await communicator.receive_json_from(timeout=5)) == {"type": "subscribed", "groups": []}
