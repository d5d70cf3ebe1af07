"""The report's API: roles, several windows, validation with clear 400s, and the pilot table as CSV."""

import csv
import datetime
import io

import pytest

from microdc.core.roles import Role
from tests.energy.test_report import END, START, chat, hardware  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
RANGE = {"start": START.isoformat(), "end": END.isoformat()}


def test_viewers_read_anonymous_do_not(chat, client_for):  # noqa: F811
    url = f"/api/v1/deployments/{chat.pk}/energy/"
    assert client_for(None).get(url).status_code in (401, 403)
    response = client_for(Role.VIEWER).get(url, RANGE)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["deployment"] == chat.pk and len(body["results"]) == 1
    result = body["results"][0]
    assert result["energy_joules"]["gpu"] == 150 * 6000.0 and result["complete"], result["reasons"]
    assert client_for(Role.VIEWER).get("/api/v1/energy/", RANGE).status_code == 200


def test_several_named_windows(chat, client_for):  # noqa: F811
    response = client_for(Role.VIEWER).get(f"/api/v1/deployments/{chat.pk}/energy/?window=1h&window=24h&window=1h")
    assert response.status_code == 200
    assert [r["window"] for r in response.json()["results"]] == ["1h", "24h"]


def test_the_deployment_viewset_still_answers(chat, client_for):  # noqa: F811
    response = client_for(Role.VIEWER).get(f"/api/v1/deployments/{chat.pk}/")
    assert response.status_code == 200 and response.json()["name"] == "chat"
    assert client_for(Role.VIEWER).get("/api/v1/deployments/999999/energy/").status_code == 404


@pytest.mark.parametrize(("query", "field", "words"), [
    ({"window": "2h"}, "window", "window must be one of"),
    ({"start": "yesterday", "end": END.isoformat()}, "start", "not an ISO 8601"),
    ({"start": "2026-13-45T00:00:00Z", "end": END.isoformat()}, "start", "not an ISO 8601"),
    ({"start": START.isoformat()}, "start", "start and end go together"),
    ({"start": END.isoformat(), "end": START.isoformat()}, "start", "before end"),
    ({"start": "2026-11-27T00:30:15Z", "end": END.isoformat()}, "start", "whole minute"),
    ({"start": "2026-11-27T00:30:00", "end": END.isoformat()}, "start", "UTC offset"),
    ({"window": "1h", **RANGE}, "window", "not both"),
])
def test_bad_windows_are_400s_naming_the_parameter(chat, client_for, query, field, words):  # noqa: F811
    for url in (f"/api/v1/deployments/{chat.pk}/energy/", "/api/v1/energy/"):
        response = client_for(Role.VIEWER).get(url, query)
        assert response.status_code == 400, response.content
        assert words in response.json()[field][0], response.json()


def test_the_pilot_table_takes_one_window(chat, client_for):  # noqa: F811
    response = client_for(Role.VIEWER).get("/api/v1/energy/?window=1h&window=24h")
    assert response.status_code == 400 and "one window" in response.json()["window"][0]
    body = client_for(Role.VIEWER).get("/api/v1/energy/", RANGE).json()
    assert (body["window"], body["start"], body["end"]) == (None, RANGE["start"], RANGE["end"])
    assert [r["deployment"]["name"] for r in body["results"]] == ["chat"]


def test_pilot_table_csv(chat, client_for):  # noqa: F811
    response = client_for(Role.VIEWER).get("/api/v1/energy/", RANGE | {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert (row["deployment"], row["runtime"], row["model"], row["accelerators"]) == (
        "chat", "vllm", "llama-3-8b", "gpu-01/0:H100")
    assert float(row["energy_gpu (J)"]) == 150 * 6000.0 and float(row["pue (ratio)"]) == pytest.approx(1.3)
    assert row["complete"] == "true" and row["reasons"] == ""
    assert float(row["joules_per_token_node (J)"]) == pytest.approx(150 * 9000.0 / 222000.0)
    bad = client_for(Role.VIEWER).get("/api/v1/energy/", {"window": "2h", "format": "csv"})
    assert bad.status_code == 400 and "window must be one of" in bad.json()["window"][0]


def test_csv_leaves_unknowns_empty_and_defuses_formulas():
    from microdc.energy.csv_export import pilot_csv

    result = {"deployment": {"name": "=cmd", "id": 1, "runtime": "llamacpp", "status": "healthy"}, "model": "",
              "nodes": [], "accelerators": [], "simulated": True, "start": "s", "end": "e", "requests": None,
              "failed_requests": None, "prompt_tokens": 5.0, "generation_tokens": -1.5,
              "energy_joules": dict.fromkeys(("gpu", "node", "facility")), "idle_share": None, "pue": None,
              **{k: dict.fromkeys(("gpu", "node", "facility")) for k in
                 ("joules_per_request", "joules_per_token", "wh_per_1k_tokens")},
              **{k: dict.fromkeys(("operational", "embodied", "total")) for k in
                 ("carbon_grams", "grams_per_request", "grams_per_1k_tokens")},
              "latency_seconds": {"p50": None, "p95": None}, "complete": False, "reasons": ["-x"]}
    row = next(csv.DictReader(io.StringIO(pilot_csv([result]))))
    assert row["deployment"] == "'=cmd" and row["reasons"] == "'-x" and row["requests"] == ""
    assert row["generation_tokens"] == "-1.5" and row["simulated"] == "true"


def test_start_and_end_in_another_offset(chat, client_for):  # noqa: F811
    local = datetime.timezone(datetime.timedelta(hours=2))
    query = {"start": START.astimezone(local).isoformat(), "end": END.astimezone(local).isoformat()}
    body = client_for(Role.VIEWER).get(f"/api/v1/deployments/{chat.pk}/energy/", query).json()
    assert body["results"][0]["start"] == RANGE["start"]
