"""Silences (operators and up): made, changed and ended with an audit record each; ended means ends_at is now,
the row is kept, as Alertmanager keeps expired silences."""

import datetime

from django.db import transaction
from django.utils import timezone

from microdc.core import audit

from .labels import MatcherError, matches_everything, validate_matchers
from .models import Silence

MAX_DURATION = datetime.timedelta(days=90)


class SilenceError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def check(matchers, starts_at: datetime.datetime, ends_at: datetime.datetime, comment: str) -> list[dict]:
    try:
        matchers = validate_matchers(matchers, allow_empty=False)
    except MatcherError as exc:
        raise SilenceError("matchers", str(exc)) from None
    if matches_everything(matchers):
        raise SilenceError("matchers", "these matchers match every alert (they all accept an empty label): name "
                                       "at least one label value to silence")
    if ends_at <= starts_at:
        raise SilenceError("ends_at", "must be after starts_at")
    if ends_at - starts_at > MAX_DURATION:
        raise SilenceError("ends_at", f"a silence lasts at most {MAX_DURATION.days} days")
    if not comment.strip():
        raise SilenceError("comment", "say why (who is working on it)")
    return matchers


def create(*, matchers, starts_at, ends_at, comment: str, user, remote_addr=None) -> Silence:
    matchers = check(matchers, starts_at, ends_at, comment)
    with transaction.atomic():
        silence = Silence.objects.create(matchers=matchers, starts_at=starts_at, ends_at=ends_at, comment=comment,
                                         created_by=user)
        audit.record(actor=user, source="api", action="create", instance=silence, remote_addr=remote_addr,
                     changes=audit.diff(silence, {}, audit.snapshot(silence)))
    return silence


def update(silence: Silence, *, user, remote_addr=None, **fields) -> Silence:
    if silence.status() == "expired":
        raise SilenceError("ends_at", "the silence has expired; make a new one")
    merged = {"matchers": silence.matchers, "starts_at": silence.starts_at, "ends_at": silence.ends_at,
              "comment": silence.comment, **fields}
    merged["matchers"] = check(merged["matchers"], merged["starts_at"], merged["ends_at"], merged["comment"])
    with transaction.atomic():
        before = audit.snapshot(silence)
        for name, value in merged.items():
            setattr(silence, name, value)
        silence.save()
        audit.record(actor=user, source="api", action="update", instance=silence, remote_addr=remote_addr,
                     changes=audit.diff(silence, before, audit.snapshot(silence)))
    return silence


def expire(silence: Silence, *, user, remote_addr=None) -> Silence:
    now = timezone.now()
    if silence.ends_at <= now:
        return silence
    with transaction.atomic():
        old = silence.ends_at
        silence.ends_at = now
        silence.starts_at = min(silence.starts_at, now)  # a silence that had not begun ends before it does
        silence.save(update_fields=["starts_at", "ends_at", "updated"])
        audit.record(actor=user, source="api", action="update", instance=silence, remote_addr=remote_addr,
                     changes={"ends_at": {"old": old.isoformat(), "new": silence.ends_at.isoformat()}})
    return silence
