"""Rollup runs never lose history: a failing source is put back with backoff while the others roll up, a run
that stops puts back what it did not reach, a dead runner's claim is taken over, writers keep the earliest
dirty mark, and prune keeps every raw sample a pending rollup still reads."""

import datetime
import uuid

import pytest
from django.db import OperationalError

from microdc.nodes.models import Node
from microdc.telemetry import rollup_claims, rollups
from microdc.telemetry.models import Rollup, Sample, Source
from microdc.telemetry.rollups import prune, roll_up_dirty
from microdc.telemetry.store import Reading, store

T0 = datetime.datetime(2026, 11, 27, 3, 0, 0, tzinfo=datetime.UTC)
NOW = T0 + datetime.timedelta(hours=3)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def sources(rack):
    """One source on each of three nodes (three reporters)."""
    made = {}
    for name in ("a", "b", "c"):
        node = Node.objects.create(rack=rack, hostname=f"gpu-{name}", position_u=ord(name) - 96)
        made[name] = Source.objects.create(key=f"test/{name}", node=node)
    return made


def feed(source, seconds, watts=100.0):
    source = Source.objects.get(pk=source.pk)  # as ingest does: sources are read fresh for every batch
    store([Reading(source, at(s), {"power_watts": watts}) for s in seconds])


def fresh(source) -> Source:
    return Source.objects.get(pk=source.pk)


def fail_for(monkeypatch, failing_pk, exc):
    real = rollups._roll_up

    def roll_up(source, since, rows):
        if source.pk == failing_pk:
            raise exc
        return real(source, since, rows)

    monkeypatch.setattr(rollups, "_roll_up", roll_up)


@pytest.mark.django_db
def test_a_failing_source_keeps_its_mark_and_backs_off_while_the_others_roll_up(sources, monkeypatch, settings,
                                                                                 caplog):
    settings.MICRODC_RAW_RETENTION_HOURS = 1
    for source in sources.values():
        feed(source, range(0, 120, 10))
    fail_for(monkeypatch, sources["b"].pk, ValueError("cannot convert float infinity"))

    assert roll_up_dirty(now=NOW) == 2
    for name in ("a", "c"):
        assert Rollup.objects.filter(source=sources[name]).exists()
        assert fresh(sources[name]).dirty_since is None
    failing = fresh(sources["b"])
    assert not Rollup.objects.filter(source=failing).exists()
    assert failing.dirty_since == T0 and failing.rollup_claimed_since is None and failing.rollup_claim is None
    assert failing.rollup_failures == 1
    assert failing.rollup_error == "ValueError: cannot convert float infinity"
    assert failing.rollup_retry_at == NOW + rollup_claims.RETRY_FIRST
    assert "rollup of source" in caplog.text and "cannot convert float infinity" in caplog.text

    # Not tried again before its time; tried and failing again doubles the wait.
    assert roll_up_dirty(now=NOW + datetime.timedelta(seconds=29)) == 0
    later = failing.rollup_retry_at
    assert roll_up_dirty(now=later) == 0
    assert fresh(failing).rollup_failures == 2
    assert fresh(failing).rollup_retry_at == later + 2 * rollup_claims.RETRY_FIRST

    # Retention lets the rolled-up reporters' samples go, never the failing one's.
    assert prune(NOW)["samples"] == 2 * 12
    assert Sample.objects.filter(node=failing.node).count() == 12

    monkeypatch.undo()
    assert roll_up_dirty(now=fresh(failing).rollup_retry_at) == 1
    recovered = fresh(failing)
    assert recovered.dirty_since is None and recovered.rollup_failures == 0 and recovered.rollup_error == ""
    assert recovered.rollup_retry_at is None
    assert Rollup.objects.get(source=recovered, resolution=Rollup.HOUR).stats["power_watts"]["n"] == 12
    assert prune(NOW)["samples"] == 12


@pytest.mark.django_db
def test_database_is_locked_puts_the_source_back(sources, monkeypatch):
    feed(sources["a"], range(0, 60, 10))
    fail_for(monkeypatch, sources["a"].pk, OperationalError("database is locked"))
    assert roll_up_dirty(now=NOW) == 0
    locked = fresh(sources["a"])
    assert locked.dirty_since == T0 and locked.rollup_error == "OperationalError: database is locked"
    monkeypatch.undo()
    assert roll_up_dirty(now=locked.rollup_retry_at) == 1
    assert fresh(sources["a"]).dirty_since is None


@pytest.mark.django_db
def test_a_run_that_stops_puts_back_what_it_did_not_reach(sources, monkeypatch):
    for source in sources.values():
        feed(source, range(0, 60, 10))
    real = rollups._roll_up_group
    groups = []

    def stop_at_the_second_group(group, now, settled):
        groups.append(group)
        if len(groups) == 2:
            raise RuntimeError("worker stopping")
        return real(group, now, settled)

    monkeypatch.setattr(rollups, "_roll_up_group", stop_at_the_second_group)
    with pytest.raises(RuntimeError):
        roll_up_dirty(now=NOW)
    done = groups[0][0]
    assert fresh(done).dirty_since is None
    for source in Source.objects.exclude(pk=done.pk):
        # Put back as it was: dirty, unclaimed, not counted as a failure.
        assert source.dirty_since == T0 and source.rollup_claim is None and source.rollup_failures == 0
    monkeypatch.undo()
    assert roll_up_dirty(now=NOW) == 2


@pytest.mark.django_db
def test_a_dead_runners_claim_is_taken_over_after_its_lease(sources):
    source = sources["a"]
    feed(source, range(60, 120, 10))
    [claimed] = rollup_claims.claim(Source.objects.filter(pk=source.pk), 10, NOW)  # ... and the runner dies
    assert claimed.rollup_claimed_since == at(60) and fresh(source).dirty_since is None
    feed(source, range(0, 60, 10))  # an agent backfills meanwhile
    feed(source, range(120, 180, 10))
    assert roll_up_dirty(now=NOW) == 0  # the lease still holds it
    assert roll_up_dirty(now=NOW + rollup_claims.LEASE + datetime.timedelta(seconds=1)) == 1
    assert fresh(source).dirty_since is None and fresh(source).rollup_claimed_since is None
    minutes = Rollup.objects.filter(source=source, resolution=Rollup.MINUTE).order_by("start")
    assert [m.start for m in minutes] == [at(0), at(60), at(120)]
    assert Rollup.objects.get(source=source, resolution=Rollup.HOUR).stats["power_watts"]["n"] == 18


@pytest.mark.django_db
def test_a_runner_whose_lease_ran_out_writes_nothing(sources, monkeypatch):
    source = sources["a"]
    feed(source, range(0, 60, 10))
    real = rollups._roll_up_group
    taken_over = uuid.uuid4()

    def roll_up_too_slowly(group, now, settled):
        Source.objects.filter(pk=source.pk).update(rollup_claim=taken_over)  # another runner took it over
        return real(group, now, settled)

    monkeypatch.setattr(rollups, "_roll_up_group", roll_up_too_slowly)
    assert roll_up_dirty(now=NOW) == 0
    assert not Rollup.objects.filter(source=source).exists()
    assert fresh(source).rollup_claim == taken_over and fresh(source).rollup_claimed_since == T0


@pytest.mark.django_db
def test_a_finished_claim_does_not_clear_marks_of_samples_that_arrived_during_the_run(sources, monkeypatch):
    source = sources["a"]
    feed(source, range(0, 60, 10))
    real = rollups._roll_up

    def roll_up_while_a_batch_arrives(src, since, rows):
        feed(source, range(300, 360, 10))
        return real(src, since, rows)

    monkeypatch.setattr(rollups, "_roll_up", roll_up_while_a_batch_arrives)
    assert roll_up_dirty(now=NOW) == 1
    assert fresh(source).dirty_since == at(300)


@pytest.mark.django_db
def test_writers_keep_the_earliest_mark_and_the_newest_values(sources):
    source = sources["a"]
    # Two batches of one node at once: both read the source before either wrote.
    first, second = fresh(source), fresh(source)
    store([Reading(first, at(100), {"power_watts": 1.0})])
    store([Reading(second, at(200), {"power_watts": 2.0})])
    assert fresh(source).dirty_since == at(100)
    assert fresh(source).last_ts == at(200) and fresh(source).last_values == {"power_watts": 2.0}
    stale = fresh(source)
    store([Reading(fresh(source), at(300), {"power_watts": 3.0})])
    store([Reading(stale, at(50), {"power_watts": 0.5})])  # a backfill that read the source before
    final = fresh(source)
    assert final.dirty_since == at(50)
    assert final.last_ts == at(300) and final.last_values == {"power_watts": 3.0}


@pytest.mark.django_db
def test_prune_keeps_what_a_pending_rollup_reads(sources, settings):
    settings.MICRODC_RAW_RETENTION_HOURS = 1
    settings.MICRODC_TELEMETRY_MAX_GAP_SECONDS = 300
    source = sources["a"]
    feed(source, range(0, 3600, 10))
    roll_up_dirty(now=NOW)
    feed(source, [1805])  # a late sample
    reach = 300 + 2 * 60
    assert prune(NOW)["samples"] == len(range(0, 1805 - reach, 10))
    assert Sample.objects.order_by("ts").first().ts == at(1390)
    # The late sample's buckets are recomputed from what is left, as from the whole history.
    roll_up_dirty(now=NOW)
    minute = Rollup.objects.get(source=source, resolution=Rollup.MINUTE, start=at(1800))
    assert minute.stats["power_watts"]["n"] == 7 and minute.coverage == 60
    assert Rollup.objects.get(source=source, resolution=Rollup.HOUR).stats["power_watts"]["n"] == 361


@pytest.mark.django_db
def test_rollup_status_reports_failing_sources(sources, monkeypatch, client_for):
    feed(sources["a"], range(0, 60, 10))
    feed(sources["b"], range(0, 60, 10))
    fail_for(monkeypatch, sources["b"].pk, ValueError("bad value"))
    roll_up_dirty(now=NOW)
    feed(sources["c"], range(0, 60, 10))

    assert client_for(None).get("/api/v1/telemetry/rollup-status/").status_code in (401, 403)
    for role in ("viewer", "admin"):
        response = client_for(role).get("/api/v1/telemetry/rollup-status/")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["pending_sources"] == 2 and body["failing_sources"] == 1 and body["claimed_sources"] == 0
        assert body["oldest_pending"].startswith("2026-11-27T03:00:00")
        [failing] = body["failing"]
        assert failing["source"] == "test/b" and failing["failures"] == 1
        assert failing["last_error"] == "ValueError: bad value"
        assert failing["next_attempt"].startswith("2026-11-27T06:00:30")


@pytest.mark.django_db
def test_the_periodic_job_rolls_up_more_sources_than_one_run_takes(sources):
    for source in sources.values():
        feed(source, range(0, 120, 10))
    # Runs of two: the job goes on until a run finds fewer, so no source waits a whole turn.
    assert rollups.roll_up_pending(limit=2) == 3
    assert not Source.objects.filter(dirty_since__isnull=False).exists()
    assert {r.source_id for r in Rollup.objects.all()} == {s.pk for s in sources.values()}


@pytest.mark.django_db
def test_a_failing_source_of_a_node_does_not_hold_back_the_nodes_other_sources(rack, monkeypatch):
    # A node's sources roll up together in one transaction; when one fails, the others still do.
    node = Node.objects.create(rack=rack, hostname="gpu-multi", position_u=10)
    good, bad = (Source.objects.create(key=f"test/multi/{i}", node=node) for i in range(2))
    store([Reading(source, at(s), {"power_watts": 100.0}) for source in (good, bad) for s in range(0, 120, 10)])
    real = rollups._minutes

    def minutes(source, since, rows):
        if source.pk == bad.pk:
            raise ValueError("cannot convert float infinity")
        return real(source, since, rows)

    monkeypatch.setattr(rollups, "_minutes", minutes)
    assert roll_up_dirty(now=NOW) == 1
    assert fresh(good).dirty_since is None
    assert Rollup.objects.get(source=good, resolution=Rollup.HOUR).stats["power_watts"]["n"] == 12
    assert not Rollup.objects.filter(source=bad).exists()
    assert fresh(bad).rollup_failures == 1 and fresh(bad).dirty_since == T0
    monkeypatch.undo()
    assert roll_up_dirty(now=fresh(bad).rollup_retry_at) == 1
    assert Rollup.objects.get(source=bad, resolution=Rollup.HOUR).stats["power_watts"]["n"] == 12
