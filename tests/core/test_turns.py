"""A periodic job's turn goes to exactly one of the workers asking, and a dead holder's turn to the next one
once its lease runs out."""

import datetime

import pytest
from django.utils import timezone

from microdc.core import turns
from microdc.core.models import JobTurn

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_worker(monkeypatch):
    def become(name):
        monkeypatch.setattr("microdc.core.turns.worker_id", lambda: name)
    return become


def test_one_worker_gets_a_due_turn_and_the_other_waits_for_the_next(as_worker):
    now = timezone.now()
    as_worker("a:1")
    assert turns.take("rollups", 30, now)
    as_worker("b:2")
    assert not turns.take("rollups", 30, now)
    turns.end("rollups")  # not b's turn: it cannot end it
    assert JobTurn.objects.get(name="rollups").lease_until is not None
    as_worker("a:1")
    turns.end("rollups")
    assert not turns.take("rollups", 30, now + datetime.timedelta(seconds=29)), "not due yet"
    as_worker("b:2")
    assert turns.take("rollups", 30, now + datetime.timedelta(seconds=30))
    assert JobTurn.objects.get(name="rollups").holder == "b:2"


def test_a_dead_holders_turn_is_taken_over_when_its_lease_runs_out(as_worker):
    now = timezone.now()
    as_worker("a:1")
    assert turns.take("alert rules", 10, now)  # and dies without ending it
    as_worker("b:2")
    assert not turns.take("alert rules", 10, now + datetime.timedelta(seconds=15)), "a's lease still runs"
    after = now + turns.MIN_LEASE + datetime.timedelta(seconds=1)
    assert turns.take("alert rules", 10, after)
    turn = JobTurn.objects.get(name="alert rules")
    assert turn.holder == "b:2" and turn.next_due == after + datetime.timedelta(seconds=10)
