"""Refreshes of watched groups: what other processes wrote (meter readings, job output) still reaches screens."""

import datetime
import time

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from microdc.dashboard import provisioning, watches
from microdc.dashboard.coalesce import merge

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(watches.SiteRefresh, "interval", 0.3)
    monkeypatch.setattr(watches.JobRefresh, "interval", 0.2)
    cache.clear()


def needs_jobs():
    if provisioning.model("JobEvent") is None:
        pytest.skip("the provisioning app has no Job/JobEvent models in this tree")
    return provisioning.model("Job"), provisioning.model("JobEvent")


async def test_joining_a_site_sends_its_summary_and_refreshes_it(connect, users, small_site):
    site = small_site["site"]
    communicator, _, _ = await connect(users["viewer"], [f"site.{site.pk}"])
    first = (await communicator.receive_json_from(timeout=5))["data"]["summary"]
    assert first["nodes"] == {"up": 0, "down": 2, "maintenance": 0, "offline": 0, "total": 2}
    assert first["power"]["facility"]["watts"] is None

    # A reading stored by another process announces nothing here; the refresh finds it.
    from microdc.telemetry.store import Reading, sources_by_key, store

    meter = small_site["meters"]["utility"]

    def other_process_polls():
        with transaction.atomic():
            source = sources_by_key({f"meter/{meter.pk}/": {"meter": meter, "sensor": ""}})[f"meter/{meter.pk}/"]
            store([Reading(source, timezone.now(), {"power_watts": 7300.0})])

    await database_sync_to_async(other_process_polls)()
    for _ in range(20):
        summary = (await communicator.receive_json_from(timeout=5))["data"]["summary"]
        if summary["power"]["facility"]["watts"] is not None:
            break
    assert summary["power"]["facility"] == {"watts": 7300.0, "meters": 1, "reporting": 1, "partial_watts": 7300.0}
    assert summary["meters"][str(meter.pk)]["power_watts"] == 7300.0


async def test_a_node_push_brings_the_site_counts_and_alarms_along_soon(connect, users, small_site, monkeypatch):
    """The counts follow the push at once; the stored "agent silent" alert follows the worker's next evaluation,
    which the push's refresh shows (the test evaluates where the worker would)."""
    from microdc.alerts.evaluation import evaluate
    from microdc.telemetry.ingest import ingest_batch
    from microdc.telemetry.models import AgentState

    from .conftest import gpu_batch

    monkeypatch.setattr(watches.SiteRefresh, "interval", 60.0)  # only a nudge can refresh within the test
    n1, n2 = small_site["nodes"]
    await database_sync_to_async(AgentState.objects.create)(
        node=n1, last_seen=timezone.now() - datetime.timedelta(minutes=30))
    await database_sync_to_async(evaluate)()
    site = small_site["site"]
    communicator, _, _ = await connect(users["viewer"], [f"site.{site.pk}"])
    before = (await communicator.receive_json_from(timeout=5))["data"]["summary"]
    assert before["nodes"]["up"] == 0 and any("agent silent" in a["text"] for a in before["alarms"])
    await database_sync_to_async(ingest_batch)(n1, gpu_batch(n1, {0: {}}))
    await database_sync_to_async(evaluate)()
    deadline = time.monotonic() + watches.NUDGE_GAP + 2
    summary = before
    while time.monotonic() < deadline and summary["nodes"]["up"] == 0:
        data = (await communicator.receive_json_from(timeout=deadline - time.monotonic()))["data"]
        summary = data.get("summary", summary)
    assert summary["nodes"]["up"] == 1
    assert not any(a["subject"] == "gpu-01" and "agent silent" in a["text"] for a in summary["alarms"])


async def test_the_last_screen_leaving_stops_the_refresh(connect, users, small_site):
    group = f"site.{small_site['site'].pk}"
    a, _, _ = await connect(users["viewer"], [group])
    b, _, _ = await connect(users["admin"], [group])
    assert len(watches._watches[group].clients) == 2
    await a.disconnect()
    assert len(watches._watches[group].clients) == 1
    await b.send_json_to({"unsubscribe": [group]})
    while (await b.receive_json_from(timeout=5))["type"] != "subscribed":
        pass  # summaries sent before the unsubscribe was handled
    assert group not in watches._watches


async def test_job_output_written_by_the_worker_streams_to_the_job_page(connect, users):
    job_model, event_model = needs_jobs()

    def make_job():
        job = job_model.objects.create(kind="deploy", status="running")
        event_model.objects.create(job=job, counter=1, event="playbook_on_start", stdout="")
        return job

    job = await database_sync_to_async(make_job)()
    communicator, _, _ = await connect(users["viewer"], [f"job.{job.pk}"])

    def worker_writes():
        event_model.objects.bulk_create([
            event_model(job=job, counter=2, event="playbook_on_task_start", stdout="TASK [place model]"),
            event_model(job=job, counter=3, event="runner_on_ok", host="gpu-01", stdout="ok: [gpu-01]"),
        ])
        job_model.objects.filter(pk=job.pk).update(status="succeeded")

    await database_sync_to_async(worker_writes)()
    data: dict = {}
    while data.get("status") != "succeeded":
        merge(data, (await communicator.receive_json_from(timeout=5))["data"])
    # Only what came after the subscription (the page rendered the rest), in order, with the new status.
    assert [e["counter"] for e in data["events"]] == [2, 3]
    assert data["events"][1] == {"counter": 3, "event": "runner_on_ok", "host": "gpu-01", "stdout": "ok: [gpu-01]",
                                 "created": data["events"][1]["created"]}
    assert data["status"] == "succeeded"


@pytest.mark.django_db
def test_job_page_renders_the_output_so_far_and_serves_what_follows(client, users):
    job_model, event_model = needs_jobs()
    job = job_model.objects.create(kind="deploy", status="running")
    for counter, text in ((1, "PLAY [deploy]"), (2, "TASK [unpack]"), (3, "ok: [gpu-01]")):
        event_model.objects.create(job=job, counter=counter, event="verbose", stdout=text)
    client.force_login(users["viewer"])
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert html.index("PLAY [deploy]") < html.index("TASK [unpack]") < html.index("ok: [gpu-01]")
    assert f'"groups": ["job.{job.pk}"]' in html
    later = client.get(f"/jobs/{job.pk}/events?after=2").json()
    assert [e["stdout"] for e in later["events"]] == ["ok: [gpu-01]"] and later["status"] == "running"
    assert client.get(f"/jobs/{job.pk + 1000}/").status_code == 404
    listing = client.get("/jobs/").content.decode()
    assert f'href="/jobs/{job.pk}/"' in listing and "running" in listing
