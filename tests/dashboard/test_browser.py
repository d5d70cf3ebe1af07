"""A real browser (Debian's chromium, driven by Playwright) against the real server: log in, watch the overview,
a rack and a node update from telemetry posted through the API within 2 seconds and without a reload, follow a
job's output, and leave a screenshot of every page in tests/artifacts/dashboard/ for a person to look at."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import require_binary

from .served import PYTHON, ROOT, ServedAppliance, push
from .test_served import node_batch

pytestmark = pytest.mark.integration
ARTIFACTS = ROOT / "tests" / "artifacts" / "dashboard"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LIVE_TIMEOUT_MS = 2000


def watts(value: float) -> str:
    from microdc.dashboard.templatetags.dashboard import watts as fmt

    return fmt(value)


@pytest.fixture(scope="module")
def appliance():
    served = ServedAppliance(redis_url=os.environ.get("REDIS_URL") or None)
    try:
        served.prepare(hours=6, quiet=("gpu-a01-01", "gpu-a02-01"))
        served.url = served.start()
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def browser():
    chromium = require_binary("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, appliance):
    """A logged-in viewer's tab; fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(f"{appliance.url}/login/")
    tab.fill("#id_username", "viewer")
    tab.fill("#id_password", appliance.seed["passwords"]["viewer"])
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{appliance.url}/")
    yield tab
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def shoot(tab, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_live(tab, url: str) -> None:
    """Open a page and wait until its websocket has joined its groups (a POST before that would be missed)."""
    tab.goto(url)
    tab.wait_for_selector("html[data-live-groups]", timeout=10000)
    tab.evaluate("window.__sameDocument = true")


def assert_not_reloaded(tab) -> None:
    assert tab.evaluate("window.__sameDocument === true"), "the page reloaded"


def post(appliance, hostname: str, **metrics) -> None:
    response = push(appliance.url, appliance.seed["tokens"][hostname], node_batch(hostname, **metrics))
    assert response.status_code == 202, response.text


def test_overview_updates_live_when_a_silent_node_reports(page, appliance):
    from playwright.sync_api import expect

    seed = appliance.seed
    quiet = seed["quiet_nodes"][0]
    others = [h for h in seed["nodes"] if h not in seed["quiet_nodes"]]
    open_live(page, f"{appliance.url}/?site={seed['site_slug']}")
    expect(page.locator("#live-status")).to_have_text("Live")
    # Fresh, known values from the reporting nodes first, so the expected totals do not depend on the seed's age.
    for hostname in others:
        post(appliance, hostname, power_watts=250.0)
    expect(page.locator("#nodes-up")).to_have_text(str(len(others)), timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#nodes-down")).to_have_text(str(len(seed["quiet_nodes"])))
    expect(page.locator("#power-accelerators")).to_have_text(watts(len(others) * 4 * 250.0), timeout=LIVE_TIMEOUT_MS)
    shoot(page, "overview")

    per_gpu = 437.5
    started = time.monotonic()
    post(appliance, quiet, power_watts=per_gpu, temperature_celsius=66.0)
    expect(page.locator("#nodes-up")).to_have_text(str(len(others) + 1), timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#nodes-down")).to_have_text(str(len(seed["quiet_nodes"]) - 1), timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#power-accelerators")).to_have_text(watts(len(others) * 4 * 250.0 + 4 * per_gpu),
                                                             timeout=LIVE_TIMEOUT_MS)
    row = page.locator(f'tr[data-node="{seed["nodes"][quiet]}"]')
    expect(row.locator('[data-field="state"]')).to_have_text("up", timeout=LIVE_TIMEOUT_MS)
    assert time.monotonic() - started < 2.0 + 0.5  # the expectations above each waited at most 2 s in total
    assert_not_reloaded(page)
    shoot(page, "overview-live")


def test_a_silent_node_is_shown_stale_until_it_reports(page, appliance):
    from playwright.sync_api import expect

    seed = appliance.seed
    quiet = seed["quiet_nodes"][1]
    open_live(page, f"{appliance.url}/racks/{seed['racks']['A02']}/")
    box = page.locator(f'.node-box[data-node="{seed["nodes"][quiet]}"]')
    expect(box).to_have_class(re.compile(r"\bdown\b"))
    expect(box.locator('[data-field="state"]')).to_have_text("down")
    expect(box.locator(".tile.stale")).to_have_count(4)
    shoot(page, "rack-stale")
    post(appliance, quiet, temperature_celsius=48.2)
    expect(box.locator(".tile.stale")).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    expect(box).not_to_have_class(re.compile(r"\bdown\b"))
    expect(box.locator(".tile-value")).to_have_text(["48.2 °C"] * 4)
    assert_not_reloaded(page)


def test_rack_tiles_follow_the_posted_values(page, appliance):
    from playwright.sync_api import expect

    seed = appliance.seed
    hostname = "gpu-a01-02"  # reporting all along
    node_id = seed["nodes"][hostname]
    open_live(page, f"{appliance.url}/racks/{seed['racks']['A01']}/")
    temperatures = [77.3, 78.4, 79.5, 80.6]
    response = push(appliance.url, seed["tokens"][hostname], _per_gpu_batch(hostname, temperatures))
    assert response.status_code == 202, response.text
    box = page.locator(f'.node-box[data-node="{node_id}"]')
    tiles = box.locator(".tile .tile-value")
    expect(tiles).to_have_text([f"{t:.1f} °C" for t in temperatures], timeout=LIVE_TIMEOUT_MS)
    hottest = box.locator(".tile").nth(3)
    expect(hottest).to_have_attribute("aria-label", "GPU 3: 80.6 °C")
    coolest = box.locator(".tile").nth(0)
    # Coloured along the labelled scale: at the hot end, yellow-orange turns red as the green fades.
    green = [_green(t) for t in (coolest, hottest)]
    assert green[1] < green[0], green
    page.get_by_label("power").check()
    expect(tiles).to_have_text(["612 W"] * 4)
    expect(page.locator("#scale-caption")).to_contain_text("GPU power, 0–700 W")
    assert_not_reloaded(page)
    shoot(page, "rack")


def _per_gpu_batch(hostname: str, temperatures: list[float]) -> dict:
    body = node_batch(hostname, power_watts=612.0)
    for device, temperature in zip(body["samples"][0]["devices"], temperatures, strict=True):
        device["metrics"]["temperature_celsius"] = temperature
    return body


def _green(locator) -> int:
    colour = locator.evaluate("el => getComputedStyle(el).backgroundColor")  # "rgb(r, g, b)"
    return int(colour.split("(")[1].split(",")[1])


def test_node_page_updates_values_and_throttle_reasons(page, appliance):
    from playwright.sync_api import expect

    seed = appliance.seed
    hostname = "gpu-a01-02"
    open_live(page, f"{appliance.url}/nodes/{seed['nodes'][hostname]}/")
    body = node_batch(hostname, temperature_celsius=88.8, power_watts=699.0)
    body["samples"][0]["devices"][2]["throttle_reasons"] = ["sw_thermal_slowdown"]
    response = push(appliance.url, seed["tokens"][hostname], body)
    assert response.status_code == 202, response.text
    card = page.locator(".acc").nth(2)
    expect(card.locator('dd[data-metric="temperature_celsius"]')).to_have_text("88.8 °C", timeout=LIVE_TIMEOUT_MS)
    expect(card.locator(".chip")).to_have_text("too hot: driver slowing clocks")
    expect(page.locator("#node-power")).to_have_text(watts(4 * 699.0))
    assert_not_reloaded(page)
    page.wait_for_timeout(500)  # let the charts draw
    shoot(page, "node")


def test_job_output_streams_in_without_a_reload(page, appliance):
    from playwright.sync_api import expect

    job = appliance.seed.get("job")
    if job is None:
        pytest.skip("the provisioning app has no jobs in this tree")
    open_live(page, f"{appliance.url}/jobs/{job}/")
    expect(page.locator("#joblog")).to_contain_text("TASK [Gathering Facts]")
    # The worker (another process) appends output and finishes the job.
    subprocess.run([PYTHON, "tests/dashboard/seed_site.py", "--job", str(job), "--line", "TASK [start service] ***",
                    "--line", "ok: [gpu-a01-02]", "--status", "succeeded"],
                   cwd=ROOT, env=appliance.env, check=True, timeout=60)
    expect(page.locator("#joblog")).to_contain_text("TASK [start service] ***\nok: [gpu-a01-02]", timeout=3000)
    expect(page.locator("#job-status")).to_have_text("succeeded")
    assert_not_reloaded(page)
    shoot(page, "job")


def test_the_deployment_page_draws_its_charts_and_switches_windows(page, appliance):
    from playwright.sync_api import expect

    chat = appliance.seed["deployments"]["assistant"]
    open_live(page, f"{appliance.url}/deployments/{chat}/")
    charts = page.locator("#deployment-charts .chart")
    expect(charts).to_have_count(6)
    # Every measure of "assistant" (tokens, requests, latency, GPU power) has points: six plots drawn.
    expect(page.locator("#deployment-charts .chart .uplot")).to_have_count(6, timeout=5000)
    expect(page.locator('#figures tr[data-figure="jpt_gpu"] td[data-window="1h"]')).to_have_text(
        re.compile(r"^\d[\d.]* [mµk]?J$"))
    shoot(page, "deployment")
    page.locator('[data-chart-windows="deployment-charts"] button[data-window="24h"]').click()
    expect(page.locator('[data-chart-windows="deployment-charts"] button[data-window="24h"]')).to_have_attribute(
        "aria-pressed", "true")
    page.wait_for_timeout(800)
    expect(page.locator("#deployment-charts .chart .uplot")).to_have_count(6)
    assert_not_reloaded(page)
    iris = appliance.seed["deployments"]["iris"]
    page.goto(f"{appliance.url}/deployments/{iris}/")
    expect(page.locator('#figures tr[data-figure="jpt_gpu"] td[data-window="24h"]')).to_contain_text(
        "reports no token count")


def test_the_energy_page_lists_every_deployment(page, appliance):
    from playwright.sync_api import expect

    page.goto(f"{appliance.url}/energy/")
    from microdc.simulator.demo_deployments import DEPLOYMENTS

    deployments = appliance.seed["deployments"]
    rows = page.locator("#pilot tbody tr[data-deployment]")
    expect(rows).to_have_count(len(deployments) + len(DEPLOYMENTS))  # the demo's own deployments too
    for name, pk in deployments.items():
        expect(page.locator(f'#pilot tr[data-deployment="{pk}"] a')).to_have_text(name)
    expect(page.locator(f'#pilot tr[data-deployment="{deployments["assistant"]}"] td[data-figure="jpt_facility"]'))\
        .to_have_text(re.compile(r"^(\d[\d.]* [mµk]?J|— .+)$"))
    expect(page.locator("#csv-export")).to_have_attribute("href", "/api/v1/energy/?window=24h&format=csv")
    shoot(page, "energy")
    page.click("#pilot a >> nth=0")
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))


@pytest.mark.parametrize("name, path", [
    ("racks", "/racks/"), ("facility", "/facility/"), ("jobs", "/jobs/"), ("kiosk", "/?kiosk=1&rotate=0"),
])
def test_every_page_renders_and_is_captured(page, appliance, name, path):
    open_live(page, f"{appliance.url}{path}") if path != "/jobs/" else page.goto(f"{appliance.url}{path}")
    page.wait_for_timeout(800)  # charts fetch their data
    if name == "kiosk":
        assert page.locator("nav").count() == 0 and page.locator("#clock").inner_text().strip()
    if name == "facility":
        from microdc.simulator.demo_site import METERS

        assert page.locator(".meter").count() == len(METERS)  # one card per demo meter, the solar array too
        assert page.locator(".meter .uplot").count() >= 1, "no meter chart drawn"
    shoot(page, name)
    assert Path(ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_kiosk_rotates_through_the_pages_by_itself(page, appliance):
    open_live(page, f"{appliance.url}/?kiosk=1&rotate=1")
    page.wait_for_url(re.compile(r"/racks/\?kiosk=1&rotate=1$"), timeout=5000)
    page.wait_for_url(re.compile(r"/facility/\?kiosk=1&rotate=1$"), timeout=5000)
    page.wait_for_url(re.compile(r"/\?kiosk=1&rotate=1$"), timeout=5000)
    assert page.locator("nav").count() == 0


def test_a_lost_connection_is_shown_and_the_page_reconnects_by_itself(page, appliance):
    """Runs last: it restarts the server. While the server is gone the page says so; when it is back the page
    reconnects (with backoff), joins its groups again and shows new values, all without a reload."""
    from playwright.sync_api import expect

    seed = appliance.seed
    hostname = "gpu-a02-02"
    open_live(page, f"{appliance.url}/nodes/{seed['nodes'][hostname]}/")
    port = appliance.kill()
    expect(page.locator("#live-status")).to_contain_text("Reconnecting", timeout=5000)
    expect(page.locator("#stale-banner")).to_contain_text("Connection to the appliance lost", timeout=10000)
    shoot(page, "connection-lost")
    appliance.start(port)
    expect(page.locator("#live-status")).to_have_text("Live", timeout=20000)
    page.wait_for_selector("html[data-live-groups]", timeout=5000)
    expect(page.locator("#stale-banner")).to_be_hidden()
    post(appliance, hostname, temperature_celsius=55.5)
    expect(page.locator('.acc dd[data-metric="temperature_celsius"]').first).to_have_text("55.5 °C",
                                                                                          timeout=LIVE_TIMEOUT_MS)
    assert_not_reloaded(page)


def test_the_alerts_page_follows_the_worker_and_a_viewer_acknowledges(page, appliance):
    """A GPU starts counting uncorrectable memory errors; the worker's evaluation (run here as the worker would)
    makes it a critical alert: the open alerts page shows it without a reload, the critical banner appears, and a
    viewer acknowledges it from the page."""
    from playwright.sync_api import expect

    seed = appliance.seed
    hostname = next(h for h in seed["nodes"] if h not in seed["quiet_nodes"])
    open_live(page, f"{appliance.url}/alerts/?site={seed['site_slug']}")
    post(appliance, hostname, ecc_uncorrected_errors_total=4)
    appliance._run([PYTHON, "manage.py", "evaluate_alerts"], "evaluate alerts")
    row = page.locator(".alert-row.critical", has_text=f"{hostname} GPU 0: 4 uncorrectable memory errors")
    expect(row).to_be_visible(timeout=6000)
    banner = page.locator("#critical-banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_class(re.compile("unacknowledged"))
    shoot(page, "alerts")
    row.locator(".ack-form input[name=comment]").fill("swapping the card tonight")
    row.locator(".ack-form button").click()
    # The same row once the board comes back from the worker's state (a locator is looked up again each time).
    expect(row.locator(".acked")).to_contain_text("acknowledged by viewer", timeout=6000)
    expect(row.locator(".acked")).to_contain_text("swapping the card tonight")
    assert_not_reloaded(page)
    # The kiosk overview shows the same stored alert in its panel, and the banner, from across the room.
    page.goto(f"{appliance.url}/?site={seed['site_slug']}&kiosk=1")
    expect(page.locator("#alarms")).to_contain_text("4 uncorrectable memory errors")
    expect(page.locator("#critical-banner")).to_be_visible()
    shoot(page, "overview-kiosk-critical")
