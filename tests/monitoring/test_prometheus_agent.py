"""The shipped agent-mode config for a fleet: promtool accepts it, and a real Prometheus agent running a config
derived from it scrapes the appliance and remote-writes to a real central Prometheus, whose PromQL answers the
appliance's series with the fleet's external label; a central gone for a while loses no scrape of the gap."""

import copy
import datetime
import re
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
import yaml
from django.utils import timezone

from microdc.nodes.models import Node
from microdc.provisioning.models import Deployment
from tests.dashboard.ledger_rows import hour_row
from tests.support import PrometheusServer, require_binary, wait_for

from .test_grafana_dashboard import seed

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "monitoring" / "prometheus" / "agent.yml"
UUID0 = "GPU-1-0"  # the first GPU seed() pushes
TOKEN = "fleet-scrape-token"
GAP = 20  # seconds the central is away; the shipped WAL settings carry hours, the test affords this much


def promtool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([require_binary("promtool", "prometheus"), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def shipped() -> dict:
    return yaml.safe_load(AGENT.read_text())


def site_config(appliance_port: int, central_url: str, token_file: Path) -> dict:
    """The shipped config with this test's targets, URL, credentials and a 1 s scrape; external_labels and
    queue_config stay as shipped, since they are what is under test."""
    config = copy.deepcopy(shipped())
    config["global"] |= {"scrape_interval": "1s", "scrape_timeout": "1s"}
    (job,) = config["scrape_configs"]
    job |= {"scrape_interval": "1s", "scrape_timeout": "1s", "static_configs": [{"targets":
                                                                                   [f"127.0.0.1:{appliance_port}"]}]}
    job["authorization"]["credentials_file"] = str(token_file)
    (write,) = config["remote_write"]
    write["url"] = f"{central_url}/api/v1/write"
    return config


def test_the_shipped_agent_config_is_valid(tmp_path):
    # As shipped its token file is a placeholder path that does not exist here, so promtool checks the syntax;
    # the same file with only that path pointing at a real file passes the full check.
    done = promtool("check", "config", "--agent", "--syntax-only", AGENT)
    assert done.returncode == 0, done.stdout + done.stderr
    config = shipped()
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    config["scrape_configs"][0]["authorization"]["credentials_file"] = str(token)
    (tmp_path / "agent.yml").write_text(yaml.safe_dump(config))
    done = promtool("check", "config", "--agent", tmp_path / "agent.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
    # What the fleet relies on: one external label that is not the appliance's own `site`, and a queue that
    # retries (a dropped batch is a hole in the fleet's history).
    assert set(config["global"]["external_labels"]) == {"appliance"}
    assert config["remote_write"][0]["queue_config"]["retry_on_http_429"] is True


def fleet_queries() -> list[str]:
    """The PromQL examples in README.md's "A fleet of sites" section, one per comment line."""
    section = (ROOT / "README.md").read_text().split("### A fleet of sites", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```promql\n(.*?)```", section, re.S)
    return [" ".join(query.split()) for query in re.split(r"^#.*$", block, flags=re.M) if query.strip()]


def samples(server: PrometheusServer, selector: str, start: float, end: float) -> list[tuple[float, str]]:
    """The raw samples of the one series `selector` names with timestamps in (start, end]."""
    answer = server.query(f"{selector}[{int(end - start) + 1}s]", at=end)
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    assert len(result) <= 1, result
    return [(float(t), v) for t, v in (result[0]["values"] if result else []) if start < float(t) <= end]


def assert_every_scrape(points: list[tuple[float, str]], start: float, end: float, what: str) -> None:
    """One sample a second from start to end: no step between samples, or at either end, longer than 1.5 s."""
    assert points, f"no {what} samples between {start} and {end}"
    times = [start, *(t for t, _ in points), end]
    holes = [(round(a, 3), round(b - a, 3)) for a, b in pairwise(times) if b - a > 1.5]
    assert not holes, f"{what}: {len(points)} samples over {end - start:.1f} s, holes (at, seconds): {holes}"


@pytest.mark.integration
def test_an_agent_remote_writes_to_a_central_prometheus_through_a_cut(live_appliance, site, rack, tmp_path,
                                                                     settings):
    settings.MICRODC_METRICS_TOKEN = TOKEN
    token_file = tmp_path / "metrics-token"
    token_file.write_text(TOKEN + "\n")
    seed(site, rack, live_appliance)  # GPUs, meters (PUE), the energy ledger (J/token), as the dashboard test
    # The scrape must authenticate: without the token the appliance refuses it.
    assert httpx.get(f"{live_appliance.url}/metrics").status_code == 401
    appliance = shipped()["global"]["external_labels"]["appliance"]

    # Without scrape configs the central writes nothing itself: every series in it came by remote write. With
    # one site the backlog is newer than anything the central holds, so it needs no out_of_order_time_window;
    # a central that other sites keep writing to does (README.md, "A fleet of sites").
    central = PrometheusServer(tmp_path, config="global: {evaluation_interval: 1s}\n",
                               flags=("--web.enable-remote-write-receiver",))
    agent = PrometheusServer(tmp_path, agent=True, config=yaml.safe_dump(
        site_config(live_appliance.port, central.url, token_file)))
    done = promtool("check", "config", "--agent", agent.config)
    assert done.returncode == 0, done.stdout + done.stderr
    gpu_series = f'microdc_gpu_power_watts{{uuid="{UUID0}",appliance="{appliance}"}}'
    up = f'up{{job="microdc",appliance="{appliance}"}}'
    with central, agent:
        def arrived() -> list:
            try:
                return central.query(gpu_series)["data"]["result"]
            except (RuntimeError, httpx.TransportError):
                return []

        assert wait_for(arrived, timeout=30, every=0.5), \
            f"the central never answered {gpu_series}\nagent: {agent.log()}\ncentral: {central.log()}"
        (series,) = arrived()
        # The appliance's own site label and the agent's external label, side by side.
        assert series["metric"]["site"] == "plant-1" and series["metric"]["appliance"] == appliance
        assert series["metric"]["node"] == "gpu-01" and float(series["value"][1]) == 300.0
        assert central.query(up)["data"]["result"][0]["value"][1] == "1", "the agent's scrape is refused"

        time.sleep(3)  # a few scrapes before the cut: the window checked below starts before it
        cut = time.time()
        central.stop()
        # While the centre is away the ledger grows by one hour row: its J/token reaches the centre only
        # through the agent's backlog (the counters are flat before and after it).
        hour = timezone.now().replace(minute=0, second=0, microsecond=0) - datetime.timedelta(hours=10)
        row = hour_row(Deployment.objects.get(name="assistant"), Node.objects.get(hostname="gpu-01"), hour, 1,
                       tokens=True)
        row.save()
        time.sleep(GAP)
        central.start()  # the same port and storage: the link comes back
        back = time.time()

        def caught_up() -> bool:
            try:
                latest = central.query(f"timestamp({up})")["data"]["result"]
            except (RuntimeError, httpx.TransportError):
                return False
            return bool(latest) and float(latest[0]["value"][1]) > back + 2

        # The agent retries within the shipped max_backoff and sends the WAL in order.
        assert wait_for(caught_up, timeout=30, every=0.5), \
            f"the agent never caught up\nagent: {agent.log()}\ncentral: {central.log()}"
        start, end = cut - 2, back + 2
        scrapes = samples(central, up, start, end)
        assert_every_scrape(scrapes, start, end, "up")
        assert all(value == "1" for _, value in scrapes), scrapes
        in_gap = [t for t, _ in scrapes if cut < t < back]
        assert len(in_gap) >= int(back - cut) - 1, (len(in_gap), back - cut)
        assert_every_scrape(samples(central, gpu_series, start, end), start, end, "microdc_gpu_power_watts")
        # count_over_time over the gap window agrees with the raw samples: PromQL sees the gap filled.
        counted = central.query(f"count_over_time({up}[{int(back - cut)}s])", at=back)["data"]["result"]
        assert float(counted[0]["value"][1]) >= int(back - cut) - 1, counted

        # README's fleet PromQL answers from the central, per appliance and, where it says so, per site. The
        # seed holds 15 minutes of meter readings: its 5 m PUE is complete, its 1 h one is not.
        pue, *per_token = fleet_queries()
        assert len(per_token) == 2, per_token
        answers = {query: central.query(query.replace('window="1h"', 'window="5m"')) for query in (pue, *per_token)}
        for query, answer in answers.items():
            assert answer["status"] == "success" and len(answer["data"]["result"]) == 1, (query, answer)
            labels = answer["data"]["result"][0]["metric"]
            assert labels["appliance"] == appliance and labels.get("site", "plant-1") == "plant-1", (query, labels)
            assert ("site" in labels) == ("site)" in query), (query, labels)
        assert 1.0 < float(answers[pue]["data"]["result"][0]["value"][1]) < 2.0
        for query in per_token:
            joules_per_token = float(answers[query]["data"]["result"][0]["value"][1])
            assert joules_per_token == pytest.approx(row.facility_joules / row.generation_tokens, rel=1e-9), query
