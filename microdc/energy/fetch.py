"""Fetch one metrics page over HTTP(S), network only (safe in a pool thread): bounded in size and time, and
every way it can go wrong turned into a reason a person can act on."""

import time
import urllib.parse

import httpx

from microdc.provisioning.masking import mask_url

HTML_TYPES = ("text/html", "application/xhtml+xml")


class FetchError(Exception):
    """Why a page could not be fetched; str() is the reason shown on the model server."""


def check_url(url: str) -> str:
    """The URL if it is http(s) with a host; FetchError naming what is wrong otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"metrics_url must be http:// or https://, got {parts.scheme or 'no scheme'}")
    if not parts.hostname:
        raise FetchError(f"metrics_url has no host: {mask_url(url)[:200]!r}")
    return url


def make_client() -> httpx.Client:
    # Nodes are scraped directly: no proxies from the environment, no redirects (a 3xx is a wrong URL).
    return httpx.Client(trust_env=False, follow_redirects=False, headers={"Accept": "text/plain"})


def fetch_page(client: httpx.Client, url: str, timeout: float, max_bytes: int) -> str:
    """The page's text. Stops reading past `max_bytes` and past `timeout` seconds in all."""
    check_url(url)
    shown = mask_url(url)  # reasons are shown and logged: no credentials or query values
    deadline = time.monotonic() + timeout
    try:
        with client.stream("GET", url, timeout=timeout) as response:
            if response.status_code != 200:
                raise FetchError(f"HTTP {response.status_code} {response.reason_phrase} from {shown}")
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind in HTML_TYPES:
                raise FetchError(f"the server answered HTML ({kind}), not Prometheus text")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"page of {int(declared)} bytes is over the limit of {max_bytes} bytes "
                                 "(MICRODC_MODEL_SCRAPE_MAX_BYTES)")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"page is over the limit of {max_bytes} bytes (MICRODC_MODEL_SCRAPE_MAX_BYTES);"
                                     " stopped reading")
                if time.monotonic() > deadline:
                    raise FetchError(f"page took longer than {timeout:g} s to arrive; stopped reading")
    except httpx.TimeoutException:
        raise FetchError(f"no answer within {timeout:g} s from {shown}") from None
    except httpx.ConnectError as exc:
        raise FetchError(f"cannot connect to {shown}: {_cause(exc)}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"HTTP error from {shown}: {type(exc).__name__}: {_cause(exc)}") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchError(f"the page is not UTF-8 text (byte {exc.start})") from None
    if text.lstrip()[:1] == "<":
        raise FetchError("the server answered HTML or XML, not Prometheus text")
    return text


def _cause(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__)[:200]
