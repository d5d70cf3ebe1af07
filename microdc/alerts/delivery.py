"""Sending the outbox: every due Notification is claimed (a lease, so two workers never send one twice, and a
worker that dies mid-send gives it back when the lease runs out), sent, and each attempt recorded. A failure is
tried again with exponential backoff (capped at MICRODC_NOTIFICATION_MAX_BACKOFF_SECONDS) until it succeeds or
MICRODC_NOTIFICATION_RETRY_HOURS pass; nothing is dropped silently.

- webhook: POST of the exact JSON body; with a secret, ``X-Microdc-Signature`` is the hex HMAC-SHA512 of those
  bytes keyed by it (NetBox signs its webhooks so, in X-Hook-Signature);
- e-mail: Django's mailer (MAILERS from the environment), to the receiver's addresses;
- Alertmanager: POST {url}/api/v2/alerts, with a bearer token or basic auth when given.
Secrets and headers never reach logs or stored errors.
"""

import concurrent.futures
import datetime
import hashlib
import hmac
import json
import logging
import random
import time

import httpx
from django.conf import settings
from django.core import mail
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from microdc.agent.version import AGENT_VERSION

from .models import DeliveryAttempt, Notification, Receiver
from .payloads import email_message

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Microdc-Signature"
BATCH = 20  # notifications one synchronous round sends at most
WORKERS = 4  # sends in flight at once in the worker
FIRST_RETRY_SECONDS = 5.0
MAX_ERROR_CHARS = 500


class DeliveryError(Exception):
    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def encode(payload) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _post(url: str, body: bytes, headers: dict, auth, timeout: float) -> int:
    try:
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json",
                                                          "User-Agent": f"microdc/{AGENT_VERSION}", **headers},
                              auth=auth, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}", response.status_code)
    return response.status_code


def send(receiver: Receiver, notification: Notification) -> int | None:
    """Send one notification; returns the HTTP status (None for e-mail) or raises DeliveryError."""
    secret = receiver.secret or {}
    if receiver.kind == Receiver.Kind.WEBHOOK:
        body = encode(notification.payload)
        headers = {SIGNATURE_HEADER: signature(secret["hmac_key"], body)} if secret.get("hmac_key") else {}
        return _post(receiver.url, body, headers, None, receiver.timeout_seconds)
    if receiver.kind == Receiver.Kind.ALERTMANAGER:
        headers, auth = {}, None
        if secret.get("bearer_token"):
            headers["Authorization"] = f"Bearer {secret['bearer_token']}"
        elif secret.get("username"):
            auth = (secret["username"], secret.get("password", ""))
        return _post(receiver.url.rstrip("/") + "/api/v2/alerts", encode(notification.payload), headers, auth,
                     receiver.timeout_seconds)
    subject, text = email_message(notification.payload)
    try:
        mail.EmailMessage(subject, text, settings.DEFAULT_FROM_EMAIL, receiver.email_to).send()
    except Exception as exc:  # noqa: BLE001 - SMTP and socket errors of every kind: retried, never lost
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    return None


def backoff(attempts: int) -> float:
    delay = min(settings.MICRODC_NOTIFICATION_MAX_BACKOFF_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempts - 1))
    return delay * (0.8 + 0.4 * random.random())  # noqa: S311 - jitter, not secrecy


def _claim(now: datetime.datetime, lease: datetime.timedelta, limit: int) -> list[int]:
    due = (Notification.objects.filter(status=Notification.Status.PENDING, next_attempt_at__lte=now)
           .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)).order_by("next_attempt_at", "id"))
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            Notification.objects.filter(pk__in=ids).update(claimed_until=now + lease)
            return ids
        # SQLite: one writer at a time, so a conditional update claims atomically.
        ids = []
        for pk in due.values_list("pk", flat=True)[:limit]:
            if Notification.objects.filter(pk=pk).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)) \
                    .update(claimed_until=now + lease):
                ids.append(pk)
        return ids


def _deliver_one(pk: int, close: bool = True, now: datetime.datetime | None = None) -> bool:
    """Send one claimed notification and record the attempt (close: on a pool thread, which owns its
    connection)."""
    try:
        notification = Notification.objects.select_related("receiver").get(pk=pk)
        receiver = notification.receiver
        started = time.perf_counter()
        ok, code, error = True, None, ""
        try:
            code = send(receiver, notification)
        except DeliveryError as exc:
            ok, code, error = False, exc.status_code, str(exc)[:MAX_ERROR_CHARS]
        except (KeyError, ValueError, TypeError) as exc:  # a receiver misconfigured since the row was made
            ok, error = False, f"receiver {receiver.name}: {type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        _record(notification, ok, code, error, time.perf_counter() - started, now or timezone.now())
        return ok
    finally:
        if close:
            close_old_connections()


def _record(notification: Notification, ok: bool, code: int | None, error: str, seconds: float,
            now: datetime.datetime) -> None:
    with transaction.atomic():
        DeliveryAttempt.objects.create(notification=notification, at=now, ok=ok, status_code=code, error=error,
                                       duration_seconds=seconds)
        notification.attempts += 1
        notification.claimed_until = None
        notification.last_error = error
        if ok:
            notification.status, notification.delivered_at = Notification.Status.DELIVERED, now
        elif now - notification.created >= datetime.timedelta(hours=settings.MICRODC_NOTIFICATION_RETRY_HOURS):
            notification.status = Notification.Status.FAILED
            log.error("notification %s to %s given up after %d attempts: %s", notification.pk,
                      notification.receiver.name, notification.attempts, error)
        else:
            notification.next_attempt_at = now + datetime.timedelta(seconds=backoff(notification.attempts))
            log.warning("notification %s to %s failed (attempt %d), retrying at %s: %s", notification.pk,
                        notification.receiver.name, notification.attempts,
                        notification.next_attempt_at.isoformat(timespec="seconds"), error)
        notification.save(update_fields=["attempts", "claimed_until", "last_error", "status", "delivered_at",
                                         "next_attempt_at"])


def deliver_due(now: datetime.datetime | None = None, limit: int = BATCH) -> int:
    """Send what is due, one after another in this thread (tests, commands); returns how many were delivered."""
    now = now or timezone.now()
    return sum(_deliver_one(pk, close=False, now=now) for pk in _claim(now, _lease(), limit))


def _lease() -> datetime.timedelta:
    timeout = max((r.timeout_seconds for r in Receiver.objects.all()), default=10.0)
    return datetime.timedelta(seconds=timeout + 5)  # a send takes at most its timeout


class Deliverer:
    """The worker's sender: a few sends in flight on their own threads, so an unreachable receiver (each try
    waits up to its timeout) never holds up the periodic loop, meter polling included."""

    def __init__(self, workers: int = WORKERS):
        self.workers = workers
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify")
        self.in_flight: set[concurrent.futures.Future] = set()

    def tick(self) -> int:
        done = {f for f in self.in_flight if f.done()}
        self.in_flight -= done
        delivered = sum(1 for f in done if f.exception() is None and f.result())
        for f in done:
            if f.exception() is not None:
                log.error("notification send failed: %s", f.exception())
        room = self.workers - len(self.in_flight)
        if room > 0:
            for pk in _claim(timezone.now(), _lease(), room):
                self.in_flight.add(self.pool.submit(_deliver_one, pk))
        return delivered
