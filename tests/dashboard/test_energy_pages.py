"""The energy pages: the deployment page, the pilot table and the node page's GPUs, for every role, over seeded
ledger rows; each figure is the report's (never a zero where it is unknown: an em dash and the reason)."""

import html
import re
import sys

import pytest
from django.core.cache import cache
from django.utils import timezone

from microdc.dashboard.figures import EM_DASH, figure_text
from microdc.energy import series

from .ledger_rows import seed_ledger

ROLES = ["viewer", "operator", "admin"]


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ledger(small_site):
    n1, n2 = small_site["nodes"]
    return seed_ledger(n1, n2, timezone.now(), minutes=60, hours=30) | {"nodes": (n1, n2)}


def report_of(deployment, window: str) -> dict:
    from microdc.energy import report

    return report.as_dict(report.deployment_energy(deployment, window=window))


def cell(page: str, figure: str, window: str | None = None) -> str:
    """The text of a figure's cell (the deployment page by window, the pilot table by figure)."""
    row = re.search(rf'<tr data-figure="{figure}">(.*?)</tr>', page, re.S) if window else None
    scope = row.group(1) if row else page
    attributes = f'data-window="{window}"' if window else f'data-figure="{figure}"'
    found = re.search(rf'<td class="num" {attributes}[^>]*>(.*?)</td>', scope, re.S)
    assert found, (figure, window)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def pilot_row(page: str, deployment_id: int) -> str:
    found = re.search(rf'<tr data-deployment="{deployment_id}">(.*?)</tr>', page, re.S)
    assert found, deployment_id
    return found.group(1)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_role_views_the_energy_pages(client, users, ledger, role):
    client.force_login(users[role])
    n1 = ledger["nodes"][0]
    for path in ["/energy/", f"/deployments/{ledger['assistant'].pk}/", f"/deployments/{ledger['iris'].pk}/",
                 f"/nodes/{n1.pk}/"]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert b'<a href="/energy/"' in response.content, "the navigation links the energy page"


@pytest.mark.django_db
def test_the_pages_need_a_login_and_an_unknown_deployment_is_404(client, users, ledger):
    for path in ["/energy/", f"/deployments/{ledger['assistant'].pk}/"]:
        assert client.get(path).status_code == 302
    client.force_login(users["viewer"])
    assert client.get("/deployments/999999/").status_code == 404


@pytest.mark.django_db
def test_the_deployment_page_shows_the_reports_figures_for_each_window(client, users, ledger):
    client.force_login(users["viewer"])
    chat = ledger["assistant"]
    page = client.get(f"/deployments/{chat.pk}/").content.decode()
    from microdc.dashboard.energy import FIGURES

    checked = 0
    for window in ("1h", "24h", "30d"):
        result = report_of(chat, window)
        for key, _label, path, kind in FIGURES:
            value = result
            for part in path:
                value = value[part]
            text = cell(page, key, window)
            if value is None:
                assert text.startswith(EM_DASH) and len(text) > 2, (key, window, text)  # a dash and its reason
            else:
                assert text == figure_text(value, kind), (key, window)
                checked += 1
        assert (">complete<" in page) or result["reasons"]
        for reason in result["reasons"]:
            assert html.escape(reason) in page
    # chat reports requests, tokens and latency sums, and its GPUs and node are measured in every window.
    known = {"requests", "tokens", "energy_gpu", "energy_node", "jpr_gpu", "jpt_gpu", "jpt_node", "latency_mean"}
    assert checked >= 3 * len(known)
    for window in ("1h", "24h", "30d"):
        for key in known:
            assert not cell(page, key, window).startswith(EM_DASH), (key, window)
    assert "J per token, GPU" in page and "simulated" in page


@pytest.mark.django_db
def test_unknown_figures_are_a_dash_and_the_reason_never_zero(client, users, ledger):
    client.force_login(users["viewer"])
    iris = ledger["iris"]
    page = client.get(f"/deployments/{iris.pk}/").content.decode()
    for key in ("tokens", "jpt_gpu", "jpt_facility", "wh1k_facility", "g1k_total"):
        for window in ("1h", "24h", "30d"):
            text = cell(page, key, window)
            assert text.startswith(EM_DASH) and "reports no token count" in text, (key, window, text)
    assert cell(page, "requests", "24h") == figure_text(report_of(iris, "24h")["requests"], "count")


@pytest.mark.django_db
def test_the_pilot_table_has_a_row_per_deployment_and_the_csv_link(client, users, ledger):
    from microdc.dashboard.energy import BY_KEY, PILOT_COLUMNS
    from microdc.energy import report

    client.force_login(users["operator"])
    page = client.get("/energy/?window=24h").content.decode()
    assert 'href="/api/v1/energy/?window=24h&amp;format=csv"' in page
    results = {r["deployment"]["id"]: r for r in map(report.as_dict, report.pilot_table(window="24h"))}
    assert set(results) == {ledger["assistant"].pk, ledger["iris"].pk}
    for pk, result in results.items():
        row = pilot_row(page, pk)
        assert f'href="/deployments/{pk}/"' in row and result["deployment"]["runtime"] in row
        for key in PILOT_COLUMNS:
            _label, path, kind = BY_KEY[key]
            value = result[path[0]] if len(path) == 1 else result[path[0]][path[1]]
            text = cell(row, key)
            assert text == figure_text(value, kind) if value is not None else text.startswith(EM_DASH), (pk, key)
    assert EM_DASH in cell(pilot_row(page, ledger["iris"].pk), "jpt_facility")
    # Another window is another table; a made-up one falls back to 24 h.
    assert 'href="/api/v1/energy/?window=30d&amp;format=csv"' in client.get("/energy/?window=30d").content.decode()
    assert 'window=24h&amp;format=csv' in client.get("/energy/?window=forever").content.decode()


@pytest.mark.django_db
def test_the_node_page_lists_what_runs_on_each_gpu_with_its_j_per_token(client, users, ledger):
    client.force_login(users["viewer"])
    n1, n2 = ledger["nodes"]
    chat, iris = ledger["assistant"], ledger["iris"]
    page = client.get(f"/nodes/{n1.pk}/").content.decode()
    runs = re.findall(r'<p class="runs" data-field="runs">(.*?)</p>', page, re.S)
    assert len(runs) == 4  # one line per GPU of gpu-01
    per_token = figure_text(report_of(chat, "24h")["joules_per_token"]["gpu"], "joules")
    for line in runs[:2]:  # chat holds GPUs 0 and 1
        assert f'href="/deployments/{chat.pk}/"' in line and f"{per_token}/token" in line
    assert all("nothing reserved" in line for line in runs[2:])
    other = client.get(f"/nodes/{n2.pk}/").content.decode()
    first = re.findall(r'<p class="runs" data-field="runs">(.*?)</p>', other, re.S)[0]
    assert f'href="/deployments/{iris.pk}/"' in first and EM_DASH in first and "reports no token count" in first


@pytest.mark.django_db
def test_without_the_report_the_pages_say_so_and_show_no_figure(client, users, ledger, monkeypatch):
    monkeypatch.setitem(sys.modules, "microdc.energy.report", None)  # importing it now fails
    client.force_login(users["viewer"])
    deployment_page = client.get(f"/deployments/{ledger['assistant'].pk}/").content.decode()
    assert "energy report unavailable" in deployment_page
    assert cell(deployment_page, "jpt_gpu", "24h").startswith(EM_DASH)
    assert "energy report unavailable" in client.get("/energy/").content.decode()
    assert "energy report unavailable" in client.get(f"/nodes/{ledger['nodes'][0].pk}/").content.decode()


@pytest.mark.django_db
def test_deployment_chart_data_is_the_series(client, users, ledger):
    chat = ledger["assistant"]
    url = f"/charts/deployments/{chat.pk}?measure=gpu_power&window=1h"
    assert client.get(url).status_code == 401
    client.force_login(users["viewer"])
    body = client.get(url).json()
    expected = series.chart(chat.pk, "gpu_power", "1h")
    assert body["t"] == expected["t"] and body["series"] == expected["series"] and body["unit"] == "W"
    assert len(body["t"]) == 60
    bad = client.get(f"/charts/deployments/{chat.pk}?measure=watts&window=1h")
    assert bad.status_code == 400 and "measure must be one of" in bad.json()["detail"]
    assert client.get(f"/charts/deployments/{chat.pk}?window=2h").status_code == 400
    assert client.get("/charts/deployments/999999?window=1h").status_code == 404
