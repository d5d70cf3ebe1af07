"""The scrape round against real HTTP servers on loopback: good pages are stored as canonical counters on one
source per server, every kind of bad answer is a clear stale reason, and one bad server never stops the rest."""

import datetime
import logging

import pytest

from microdc.energy.fetch import FetchError, fetch_page, make_client
from microdc.energy.models import ModelServer
from microdc.energy.scrape import Scraper, record_page
from microdc.telemetry.models import Rollup
from microdc.telemetry.rollups import roll_up_dirty
from tests.energy.conftest import answer, endless, page_of, slow
from tests.energy.test_adapters import page
from tests.energy.vllm_metrics import VllmMetrics
from tests.support import free_port

UTC = datetime.UTC


@pytest.fixture(autouse=True)
def scrape_settings(settings):
    settings.MICRODC_MODEL_SCRAPE_TIMEOUT_SECONDS = 2.0
    settings.MICRODC_MODEL_SCRAPE_MAX_BYTES = 256 * 1024


@pytest.fixture
def scraper():
    scraper = Scraper(max_workers=16)
    yield scraper
    scraper.shutdown()


def servers_by_name() -> dict[str, ModelServer]:
    return {s.deployment.name: s for s in ModelServer.objects.select_related("deployment", "source")}


def test_a_round_stores_good_servers_and_gives_each_bad_one_a_clear_reason(metrics_server, deploy, scraper, caplog):
    vllm = VllmMetrics(model="qwen2.5-7b")
    vllm.request(100, 20, 0.4, 0.03)
    deploy("chat", metrics_server.route("/vllm", page_of(vllm.page)))
    deploy("iris", metrics_server.route("/mlserver", answer(page("mlserver"))), runtime="mlserver")
    deploy("code", metrics_server.route("/llamacpp", answer(page("llamacpp"))), runtime="llamacpp")
    deploy("vision", metrics_server.route("/triton", answer(page("triton"))), runtime="triton")
    bad = {
        "garbage": (metrics_server.route("/garbage", answer("these are not metrics\n{{{\n")),
                    "none of vllm's metrics"),
        "broken": (metrics_server.route("/broken", answer("vllm:prompt_tokens_total lots\n")),
                   "not Prometheus text format"),
        "html": (metrics_server.route("/html", answer("<html><body>Login</body></html>", "text/html")),
                 "the server answered HTML (text/html), not Prometheus text"),
        "sniffed": (metrics_server.route("/sniffed", answer("<!DOCTYPE html><html></html>")),
                    "the server answered HTML or XML"),
        "empty": (metrics_server.route("/empty", answer("")), "the page is empty"),
        "huge": (metrics_server.route("/huge", answer("vllm:prompt_tokens_total 1\n" * 20000)),
                 "over the limit of 262144 bytes (MICRODC_MODEL_SCRAPE_MAX_BYTES)"),
        "endless": (metrics_server.route("/endless", endless()), "over the limit of 262144 bytes"),
        "slow": (metrics_server.route("/slow", slow(6)), "no answer within 2 s"),
        "error": (metrics_server.route("/error", answer("oops", status=500)), "HTTP 500 Internal Server Error"),
        "missing": (metrics_server.url("/nowhere"), "HTTP 404"),
        "refused": (f"http://127.0.0.1:{free_port()}/metrics", "cannot connect to http://127.0.0.1:"),
        "ftp": ("ftp://127.0.0.1/metrics", "metrics_url must be http:// or https://, got ftp"),
    }
    for name, (url, _) in bad.items():
        deploy(name, url)

    with caplog.at_level(logging.WARNING, logger="microdc.energy.scrape"):
        assert scraper.run_round() == 4 + len(bad)
    servers = servers_by_name()

    chat = servers["chat"]
    assert chat.stale_reason == "" and chat.consecutive_failures == 0 and chat.last_success is not None
    assert chat.model_name == "qwen2.5-7b"
    assert chat.source.key == f"model/{chat.deployment_id}/{chat.node_id}"
    assert chat.source.sensor == "model/chat" and chat.source.node_id == chat.node_id
    assert chat.source.last_values["requests_total"] == 1 and chat.source.last_values["prompt_tokens_total"] == 100
    assert servers["iris"].source.last_values["requests_total"] == 7
    assert servers["code"].source.last_values == {"prompt_tokens_total": 6886.0, "generation_tokens_total": 3469.0}
    assert servers["vision"].source.last_values["failed_requests_total"] == 3

    for name, (_, reason) in bad.items():
        server = servers[name]
        assert reason in server.stale_reason, (name, server.stale_reason)
        assert server.consecutive_failures == 1 and server.last_success is None and server.last_attempt
        assert server.source is None  # nothing guessed, nothing stored
    # Logged once per server when the reason first appears...
    assert len([r for r in caplog.records if "counters stale" in r.message]) == len(bad)

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="microdc.energy.scrape"):
        scraper.run_round()
    # ...and not again while it stays the same.
    assert not [r for r in caplog.records if "counters stale" in r.message]
    assert servers_by_name()["garbage"].consecutive_failures == 2


def test_a_server_that_recovers_is_fresh_again(metrics_server, deploy, scraper):
    state = {"text": "<html>starting</html>"}
    deploy("chat", metrics_server.route("/metrics", page_of(lambda: state["text"])))
    scraper.run_round()
    assert "HTML" in servers_by_name()["chat"].stale_reason
    state["text"] = VllmMetrics().page()
    scraper.run_round()
    server = servers_by_name()["chat"]
    assert server.stale_reason == "" and server.consecutive_failures == 0
    assert server.source.last_values["requests_total"] == 0  # reported as 0 by the server itself


def test_tick_starts_a_round_per_interval_and_stores_what_arrived(metrics_server, deploy, settings):
    settings.MICRODC_MODEL_SCRAPE_SECONDS = 3600
    deploy("chat", metrics_server.route("/metrics", answer(VllmMetrics().page())))
    scraper = Scraper(max_workers=2)
    try:
        assert scraper.tick() == 1
        assert scraper.tick() == 0  # not due again for an interval
        for _, future in list(scraper.in_flight.values()):
            future.result(timeout=5)
        scraper.tick()
        assert servers_by_name()["chat"].last_success is not None
    finally:
        scraper.shutdown()


def test_a_restarted_server_counts_from_zero_and_the_minute_delta_is_right(metrics_server, deploy, scraper):
    """Counters 10 -> 15, restart, 3 -> 5 within one minute: 5 + 3 + 2 = 10 requests in that minute."""
    current = {"metrics": VllmMetrics()}
    url = metrics_server.route("/metrics", page_of(lambda: current["metrics"].page()))
    deploy("chat", url)
    scraper.run_round()
    server = servers_by_name()["chat"]
    client = make_client()
    minute = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def serve(count: int):
        while current["metrics"].success.labels(current["metrics"].model, "0", "stop")._value.get() < count:
            current["metrics"].request(10, 4, 0.5, 0.05)

    try:
        for seconds, restart, count in ((5, False, 10), (15, False, 15), (25, True, 3), (35, False, 5)):
            if restart:
                current["metrics"] = VllmMetrics()
            serve(count)
            text = fetch_page(client, url, 1.0, 1 << 20)
            record_page(server, text, minute + datetime.timedelta(seconds=seconds))
    finally:
        client.close()
    roll_up_dirty(now=minute + datetime.timedelta(minutes=5))
    rollup = Rollup.objects.get(source=server.source, resolution=Rollup.MINUTE, start=minute)
    assert rollup.stats["requests_total"]["delta"] == pytest.approx(10)
    assert rollup.stats["prompt_tokens_total"]["delta"] == pytest.approx(100)
    assert rollup.stats["e2e_latency_le_0p5_total"]["delta"] == pytest.approx(10)
    hour = Rollup.objects.get(source=server.source, resolution=Rollup.HOUR, start=minute)
    assert hour.stats["requests_total"]["delta"] == pytest.approx(10)


def test_fetch_rejects_what_is_not_an_http_url():
    client = make_client()
    try:
        for url, reason in (("file:///etc/passwd", "must be http:// or https://"), ("http:///metrics", "no host")):
            with pytest.raises(FetchError, match=reason):
                fetch_page(client, url, 1.0, 1024)
    finally:
        client.close()


def test_reasons_never_show_credentials(deploy, scraper):
    deploy("secret", f"http://scraper:hunter2@127.0.0.1:{free_port()}/metrics?token=abc123")
    scraper.run_round()
    reason = servers_by_name()["secret"].stale_reason
    assert "cannot connect" in reason
    assert "hunter2" not in reason and "abc123" not in reason
