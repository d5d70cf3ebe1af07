"""Scrape what the model servers serve: fetch each active server's metrics page, map it to the canonical
counters with its runtime's adapter, and store them in the telemetry store (one Source per server), so the
standard rollups (counter resets included) give every window's requests and tokens.

The worker calls `Scraper.tick()` every second: it stores the pages that arrived and, every
MICRODC_MODEL_SCRAPE_SECONDS, starts a round. Fetching and parsing run in a thread pool (no database), so a
slow or dead server never holds up the others or the worker's other jobs; the worker's thread does the writes.
"""

import concurrent.futures
import datetime
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from microdc.core import turns
from microdc.provisioning.masking import mask_url
from microdc.telemetry.store import Reading, sources_by_key, store

from .adapters import Counters, PageError, read_page
from .fetch import FetchError, fetch_page, make_client
from .models import ModelServer, model_server_source_key
from .servers import sync_model_servers

log = logging.getLogger(__name__)
HEALTH_FIELDS = ["last_attempt", "last_success", "stale_reason", "consecutive_failures", "source", "model_name"]
MAX_REASON = 2000
ROUND = "model-server scrape round"


def source_key(server: ModelServer) -> str:
    return model_server_source_key(server.deployment_id, server.node_id)


def _store(pages: list[tuple[ModelServer, Counters, datetime.datetime]]) -> None:
    """Store the servers' counters in one transaction and point each server at its source (not saved)."""
    with transaction.atomic():
        sources = sources_by_key({source_key(server): {"node": server.node, "sensor": f"model/{server.deployment.name}",
                                                       "simulated": server.node.simulated}
                                  for server, _, _ in pages})
        store([Reading(sources[source_key(server)], ts, counters.values) for server, counters, ts in pages])
    for server, counters, _ in pages:
        server.source = sources[source_key(server)]
        server.model_name = counters.model_name


def record_page(server: ModelServer, text: str, ts: datetime.datetime) -> None:
    """Parse one metrics page with the server's runtime adapter and store its counters at `ts`.
    Raises PageError on a page that cannot be read (nothing is stored then)."""
    counters = read_page(server.runtime, text)
    _store([(server, counters, ts)])
    ModelServer.objects.filter(pk=server.pk).update(source=server.source, model_name=server.model_name)


@dataclass(frozen=True)
class Scraped:
    """One scrape of one server: its counters, or why there are none."""

    server_id: int
    ts: datetime.datetime
    counters: Counters | None
    error: str
    seconds: float


def scrape_one(client, server_id: int, runtime: str, url: str, timeout: float, max_bytes: int) -> Scraped:
    """Fetch and parse one page (network and CPU only, no database: runs in a pool thread)."""
    started = time.monotonic()
    ts = timezone.now()
    counters, error = None, ""
    try:
        counters = read_page(runtime, fetch_page(client, url, timeout, max_bytes))
    except (FetchError, PageError) as exc:
        error = str(exc)
    except Exception as exc:  # a bug must not stop the round; it shows on the server instead
        log.exception("model server %s: unexpected error scraping %s", server_id, mask_url(url))
        error = f"internal error: {type(exc).__name__}: {exc}"
    return Scraped(server_id, ts, counters, error[:MAX_REASON], time.monotonic() - started)


def record(servers: dict[int, ModelServer], results: list[Scraped]) -> None:
    """Store the good pages and every server's health; a reason is logged once, when it changes."""
    good = [(servers[r.server_id], r.counters, r.ts) for r in results if r.counters is not None]
    failed: dict[int, str] = {r.server_id: r.error for r in results if r.counters is None}
    if good:
        try:
            _store(good)
        except Exception as exc:
            log.exception("storing %d model-server pages failed", len(good))
            failed |= {server.pk: f"internal error storing the counters: {type(exc).__name__}: {exc}"[:MAX_REASON]
                       for server, _, _ in good}
    for result in results:
        server = servers[result.server_id]
        server.last_attempt = result.ts
        reason = failed.get(server.pk)
        if reason is not None:
            if reason != server.stale_reason:
                log.warning("model server %s (%s): counters stale: %s", server, mask_url(server.metrics_url), reason)
            server.stale_reason = reason
            server.consecutive_failures += 1
        else:
            if server.stale_reason:
                log.info("model server %s scraped again after %d failures", server, server.consecutive_failures)
            server.stale_reason, server.consecutive_failures, server.last_success = "", 0, result.ts
    _save_health([servers[r.server_id] for r in results])


def _save_health(servers: list[ModelServer]) -> None:
    """One parameterised UPDATE per server, sent with executemany: bulk_update's CASE expressions cost about
    3 ms of CPU per row, most of a round's database time at 200 servers."""
    meta, ops = ModelServer._meta, connection.ops
    columns = ", ".join(f"{ops.quote_name(meta.get_field(name).column)} = %s" for name in HEALTH_FIELDS)
    rows = [(ops.adapt_datetimefield_value(s.last_attempt), ops.adapt_datetimefield_value(s.last_success),
             s.stale_reason, s.consecutive_failures, s.source_id, s.model_name, s.pk) for s in servers]
    # Only the model's own quoted names go into the text; every value is a parameter.
    sql = f"UPDATE {ops.quote_name(meta.db_table)} SET {columns} WHERE {ops.quote_name(meta.pk.column)} = %s"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


class Scraper:
    """Rounds of scrapes in a thread pool; results are stored by the thread that calls tick()."""

    def __init__(self, max_workers: int | None = None):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers or settings.MICRODC_MODEL_SCRAPE_WORKERS,
                                                          thread_name_prefix="model-scrape")
        self.client = make_client()
        self.in_flight: dict[int, tuple[ModelServer, concurrent.futures.Future]] = {}
        self.next_round = 0.0

    def start_round(self) -> int:
        """Follow the deployments, then start a scrape of every active server not still in flight."""
        sync_model_servers()
        timeout, max_bytes = settings.MICRODC_MODEL_SCRAPE_TIMEOUT_SECONDS, settings.MICRODC_MODEL_SCRAPE_MAX_BYTES
        started = 0
        for server in ModelServer.objects.filter(active=True).select_related("deployment", "node"):
            if server.pk in self.in_flight:
                continue
            future = self.pool.submit(scrape_one, self.client, server.pk, server.runtime, server.metrics_url,
                                      timeout, max_bytes)
            self.in_flight[server.pk] = (server, future)
            started += 1
        return started

    def collect(self) -> int:
        """Store the scrapes that finished. Returns how many."""
        done = {pk: entry for pk, entry in self.in_flight.items() if entry[1].done()}
        for pk in done:
            del self.in_flight[pk]
        if done:
            record({pk: server for pk, (server, _) in done.items()}, [future.result() for _, future in done.values()])
        return len(done)

    def tick(self) -> int:
        """Store what finished; start a round when one is due and this worker takes its turn (several workers
        scrape in turns, never all at once). Returns the number of scrapes started."""
        self.collect()
        now = time.monotonic()
        if now < self.next_round:
            return 0
        interval = settings.MICRODC_MODEL_SCRAPE_SECONDS
        self.next_round = now + interval
        if not turns.take(ROUND, interval):
            return 0
        try:
            return self.start_round()
        finally:
            turns.end(ROUND)

    def run_round(self) -> int:
        """One whole round now, waiting for it (management commands, tests). Returns the servers scraped."""
        self.start_round()
        concurrent.futures.wait([future for _, future in self.in_flight.values()])
        return self.collect()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()
