"""HTTP push of spooled batches to the appliance (``POST <url>/api/v1/telemetry/``, node bearer token).

Response handling:
- 2xx: taken (the appliance answers 202 ``{"accepted": n, "duplicate": bool, "power_limits": {...}}``; a
  resent batch_id is a duplicate, which is fine; the reply's desired power limits go to the agent);
- 400, 413, 422: the batch itself is bad and will be bad on every resend: log the appliance's detail, drop;
- anything else (401/403 token problems, 404 wrong URL or old appliance, 429, 5xx, redirects, connection
  errors, timeouts): keep the batch and retry later with exponential backoff.
"""

from __future__ import annotations

import enum
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from microdc.agent.config import AgentConfig
from microdc.agent.version import AGENT_VERSION

log = logging.getLogger(__name__)

PERMANENT_REJECT_STATUSES = frozenset({400, 413, 422})
_DETAIL_CHARS = 1000


class Outcome(enum.Enum):
    SENT = "sent"
    REJECTED = "rejected"  # dropped for good
    RETRY = "retry"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    status_code: int | None
    detail: str
    retry_after: float | None = None
    reply: dict | None = None  # the appliance's JSON answer to a batch it took

    def describe(self) -> str:
        where = f"HTTP {self.status_code}" if self.status_code is not None else "no response"
        return f"{where}: {self.detail}" if self.detail else where


class Backoff:
    """Exponential backoff with +-20 % jitter, so nodes returning after an outage don't all hit at once."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0,
                 rand: Callable[[], float] = random.random) -> None:
        self.initial = initial
        self.maximum = maximum
        self._rand = rand
        self._next = initial

    def reset(self) -> None:
        self._next = self.initial

    def next_delay(self, hint: float | None = None) -> float:
        base = self._next
        self._next = min(self.maximum, self._next * 2)
        delay = base * (0.8 + 0.4 * self._rand())
        if hint is not None:  # Retry-After from a 429/503 is a floor, within the cap
            delay = max(delay, min(hint, self.maximum))
        return min(delay, self.maximum)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from our appliance, fall back to backoff


def _json_object(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _detail(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:_DETAIL_CHARS] + ("..." if len(text) > _DETAIL_CHARS else "")


def tls_context(config: AgentConfig) -> ssl.SSLContext | bool:
    """``--ca-file`` if given, else the system trust store (where an on-site CA gets installed), else
    certifi's bundle on a system without one; ``--insecure`` turns verification off."""
    if config.insecure:
        return False
    if config.ca_file:
        try:
            return ssl.create_default_context(cafile=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load CA file {config.ca_file}: {exc}") from exc
    ctx = ssl.create_default_context()
    if not ctx.cert_store_stats().get("x509_ca"):
        import certifi

        ctx.load_verify_locations(cafile=certifi.where())
    return ctx


class Uploader:
    """One HTTP client (keep-alive) for the agent's lifetime."""

    def __init__(self, config: AgentConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self.url = config.telemetry_url()
        self._client = client or httpx.Client(
            verify=tls_context(config),
            timeout=httpx.Timeout(config.http_timeout, connect=min(5.0, config.http_timeout)),
            follow_redirects=False,  # never resend the token to wherever a redirect points
            headers={"User-Agent": f"microdc-agent/{AGENT_VERSION}", "Content-Type": "application/json"},
        )

    def post(self, payload: str, timeout: float | None = None) -> SendResult:
        try:
            token = self.config.read_token()  # re-read per request: token rotation needs no restart
        except ValueError as exc:
            return SendResult(Outcome.RETRY, None, str(exc))
        kwargs = {"timeout": timeout} if timeout is not None else {}
        try:
            response = self._client.post(
                self.url, content=payload.encode(), headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
        except httpx.HTTPError as exc:
            return SendResult(Outcome.RETRY, None, f"{type(exc).__name__}: {exc}")
        code = response.status_code
        if 200 <= code < 300:
            return SendResult(Outcome.SENT, code, "", reply=_json_object(response))
        detail = _detail(response)
        if code in PERMANENT_REJECT_STATUSES:
            return SendResult(Outcome.REJECTED, code, detail)
        if 300 <= code < 400:
            detail = f"redirected to {response.headers.get('Location', '?')}; set --url to the final address"
        elif code in (401, 403):
            detail = f"node token refused ({detail}); check --token-file / MICRODC_NODE_TOKEN"
        return SendResult(Outcome.RETRY, code, detail, _retry_after(response))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Uploader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
