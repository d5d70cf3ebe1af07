"""HTTP(S) for the Redfish and PromQL sources: one client per read, a hard total deadline, clear errors.

httpx's timeouts apply per network operation, so a server that trickles bytes could otherwise stretch
one read far past its budget; the body is therefore streamed and the deadline checked between chunks.
Every failure becomes a :class:`MeterError` worded for an operator (what, where, and the likely fix).
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from .base import Deadline, MeterError

MAX_BODY_BYTES = 8 * 1024 * 1024

_tls_contexts: dict[bool, ssl.SSLContext] = {}
_tls_lock = threading.Lock()


def tls_context(verify: bool) -> ssl.SSLContext:
    """One shared TLS context per verification mode: building one loads the CA bundle (about 25 ms),
    too slow to repeat on every poll of every meter. Contexts are safe to share between threads."""
    with _tls_lock:
        if verify not in _tls_contexts:
            _tls_contexts[verify] = httpx.create_ssl_context(verify=verify)
        return _tls_contexts[verify]


@dataclass
class HttpResponse:
    status: int
    url: str
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        content_type = self.headers.get("content-type", "")
        try:
            return json.loads(self.body)
        except ValueError:
            snippet = self.body[:60].decode("utf-8", "replace")
            kind = f"content-type {content_type}" if content_type else "no content-type"
            raise MeterError(f"not JSON from {self.url} (HTTP {self.status}, {kind}): {snippet!r}") from None


class HttpSession:
    """A short-lived HTTP client for one meter read."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        verify_tls: bool,
        deadline: Deadline,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ):
        self.host, self.port, self.scheme = host, port, scheme
        self.deadline = deadline
        self.verify_tls = verify_tls
        host_part = f"[{host}]" if ":" in host else host
        self.base_url = f"{scheme}://{host_part}:{port}"
        self.client = httpx.Client(
            base_url=self.base_url,
            verify=tls_context(verify_tls),
            headers=headers or {},
            auth=auth,
            follow_redirects=False,
            timeout=deadline.timeout,
        )

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        url = self.base_url + path
        doing = f"waiting for {method} {url}"
        left = self.deadline.remaining(doing)
        try:
            request = self.client.build_request(
                method, path, params=params, json=json_body, headers=headers, timeout=httpx.Timeout(left)
            )
            response = self.client.send(request, stream=True)
            try:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise MeterError(f"response from {url} is larger than {MAX_BODY_BYTES // 1024 // 1024} MiB")
                    chunks.append(chunk)
                    if self.deadline.left() <= 0:
                        raise self.deadline.expired_error(f"reading the response of {url}")
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise self._explain(exc, url) from None
        return HttpResponse(response.status_code, str(response.url), response.headers, b"".join(chunks))

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = self.request("GET", path, params=params)
        check_status(response)
        return response.json()

    def _explain(self, exc: httpx.HTTPError, url: str) -> MeterError:
        where = f"{self.host}:{self.port}"
        budget = f"{self.deadline.timeout:g} s"
        if isinstance(exc, httpx.ConnectTimeout):
            return MeterError(f"timeout after {budget} connecting to {where}")
        if isinstance(exc, httpx.TimeoutException):
            return MeterError(f"timeout after {budget} waiting for {url}")
        cause = _root_cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return MeterError(
                f"TLS certificate of {where} not trusted: {reason} (install a trusted certificate on the "
                "meter, or set verify_tls to false)"
            )
        if isinstance(cause, ssl.SSLError):
            hint = " (is it plain HTTP? set scheme to http)" if "WRONG_VERSION_NUMBER" in str(cause).upper() else ""
            return MeterError(f"TLS handshake with {where} failed: {cause.reason or cause}{hint}")
        if isinstance(cause, ConnectionRefusedError):
            return MeterError(f"connection refused by {where} (nothing listening on that port?)")
        if isinstance(exc, httpx.RemoteProtocolError):
            return MeterError(f"no valid HTTP response from {where}: {exc} (is it an HTTP server?)")
        if isinstance(exc, httpx.ConnectError):
            return MeterError(f"cannot connect to {where}: {cause}")
        return MeterError(f"HTTP request to {url} failed: {exc or type(exc).__name__}")


def check_status(response: HttpResponse) -> None:
    if 200 <= response.status < 300:
        return
    hint = ""
    if response.status == 401:
        hint = ": authentication failed (check the username and password)"
    elif response.status == 403:
        hint = ": the account may not read this resource"
    raise MeterError(f"HTTP {response.status} from {response.url}{hint}")


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
        if isinstance(seen, ssl.SSLError | ConnectionRefusedError):
            return seen
    return seen
