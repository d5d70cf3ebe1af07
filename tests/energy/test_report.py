"""The report against hand-made ledger rows: every figure checked against arithmetic done by hand."""

import datetime

import pytest

from microdc.energy.embodied import SECONDS_PER_YEAR
from microdc.energy.models import ModelServer, Reservation, UsageBucket
from microdc.energy.report import as_dict, deployment_energy, pilot_table
from microdc.energy.windows import WindowError
from microdc.nodes.models import Accelerator
from microdc.provisioning.models import Deployment
from tests.energy.ledger_rows import HOUR, MINUTE, metered_site, minutes, scaled, usage

START = datetime.datetime(2026, 11, 27, 0, 30, tzinfo=datetime.UTC)
END = datetime.datetime(2026, 11, 27, 3, 0, tzinfo=datetime.UTC)
BUSY = {"gpu_joules": 6000.0, "gpu_idle_joules": 0.0, "node_joules": 9000.0, "operational_grams_at_pue1": 1.0,
        "requests": 10.0, "failed_requests": 1.0, "prompt_tokens": 1000.0, "generation_tokens": 500.0,
        "latency": {"e2e_latency_le_0p1_total": 2, "e2e_latency_le_0p5_total": 8, "e2e_latency_le_inf_total": 10,
                    "e2e_latency_seconds_sum_total": 3.0, "e2e_latency_seconds_count_total": 10,
                    "ttft_le_0p05_total": 5, "ttft_le_0p2_total": 10, "ttft_le_inf_total": 10,
                    "ttft_seconds_sum_total": 0.6, "ttft_seconds_count_total": 10}}
IDLE = BUSY | {"gpu_idle_joules": 6000.0, "requests": 0.0, "failed_requests": 0.0, "prompt_tokens": 0.0,
               "generation_tokens": 0.0, "latency": {}}


@pytest.fixture
def hardware(node):
    node.embodied_kgco2e, node.expected_life_years = 1000.0, 5.0
    node.save()
    gpus = [Accelerator.objects.create(node=node, vendor="nvidia", model="H100", index=i, uuid=f"GPU-{i}",
                                       embodied_kgco2e=150.0, expected_life_years=5.0) for i in range(2)]
    return node, gpus


@pytest.fixture
def chat(hardware):
    node, gpus = hardware
    deployment = Deployment.objects.create(name="chat", runtime="vllm", status="healthy")
    Reservation.objects.create(deployment=deployment, node=node, accelerator=gpus[0],
                               start=START - datetime.timedelta(days=2))
    ModelServer.objects.create(deployment=deployment, node=node, runtime="vllm", model_name="llama-3-8b")
    rows = minutes(deployment, node, START, 2, **IDLE) + minutes(deployment, node, START + 2 * MINUTE, 28, **BUSY)
    rows += [usage(deployment, node, START + MINUTE * 30, UsageBucket.HOUR, **scaled(BUSY, 60)),
             usage(deployment, node, START + MINUTE * 90, UsageBucket.HOUR, **scaled(BUSY, 60))]
    # Rows the window must not read: the hour before, minutes its hour rows already hold, the hour after.
    rows += [usage(deployment, node, START - MINUTE * 30, UsageBucket.HOUR, **scaled(BUSY, 60)),
             *minutes(deployment, node, START + MINUTE * 30, 5, **BUSY), usage(deployment, node, END, **BUSY),
             usage(deployment, node, END, UsageBucket.HOUR, **scaled(BUSY, 60))]
    UsageBucket.objects.bulk_create(rows)
    metered_site(node.rack.site, START, END, pue=1.3)
    return deployment


@pytest.mark.django_db
def test_every_figure_of_a_complete_window(chat):
    result = deployment_energy(chat, start=START, end=END)
    assert result.complete, result.reasons
    gpu, node, requests, tokens = 150 * 6000.0, 150 * 9000.0, 1480.0, 148 * 1500.0
    assert (result.requests, result.failed_requests) == (requests, 148.0)
    assert (result.prompt_tokens, result.generation_tokens, result.tokens) == (148000.0, 74000.0, tokens)
    assert result.pue == pytest.approx(1.3)
    assert result.energy_joules == pytest.approx({"gpu": gpu, "node": node, "facility": node * 1.3})
    assert result.gpu_idle_joules == 12000.0 and result.idle_share == pytest.approx(12000.0 / gpu)
    assert result.joules_per_request["gpu"] == pytest.approx(gpu / requests)
    assert result.joules_per_generated_token["node"] == pytest.approx(node / 74000.0)
    assert result.joules_per_token["facility"] == pytest.approx(node * 1.3 / tokens)
    assert result.wh_per_1k_tokens["gpu"] == pytest.approx(gpu / 3600 / tokens * 1000)
    embodied = 9000 * (150_000 + 1_000_000 / 2) / (5 * SECONDS_PER_YEAR)
    operational = 150 * 1.0 * 1.3
    assert result.carbon_grams == pytest.approx({"operational": operational, "embodied": embodied,
                                                 "total": operational + embodied})
    assert result.grams_per_request["total"] == pytest.approx((operational + embodied) / requests)
    assert result.grams_per_1k_tokens["embodied"] == pytest.approx(embodied / tokens * 1000)
    # 1480 requests: 296 under 0.1 s, 1184 under 0.5 s; the median interpolates to 0.3 s, p95 is past 0.5 s.
    assert result.latency_seconds == pytest.approx({"p50": 0.3, "p95": 0.5, "mean": 0.3})
    assert result.ttft_seconds == pytest.approx({"p50": 0.05, "p95": 0.05 + 0.15 * 666 / 740, "mean": 0.06})
    assert "gpu:exclusive" in result.rules and any(r.startswith("facility:") for r in result.rules)
    assert result.model == "llama-3-8b" and result.nodes == ["gpu-01"]
    assert result.accelerators == [{"node": "gpu-01", "index": 0, "uuid": "GPU-0", "model": "H100",
                                    "simulated": False}]
    data = as_dict(result)
    assert data["start"] == "2026-11-27T00:30:00+00:00" and data["deployment"]["name"] == "chat"
    assert data["energy_joules"]["gpu"] == gpu and data["window"] is None


@pytest.mark.django_db
def test_a_window_inside_one_hour_reads_minute_rows(chat):
    result = deployment_energy(chat, start=START + MINUTE * 30, end=START + MINUTE * 35)
    assert result.complete, result.reasons
    assert result.energy_joules["gpu"] == 5 * 6000.0 and result.requests == 50.0  # minutes 01:00 to 01:04
    assert result.energy_joules["facility"] == pytest.approx(5 * 9000.0 * 1.3)


@pytest.mark.django_db
def test_unknown_requests_and_every_incomplete_reason(hardware):
    node, gpus = hardware
    tiny = Deployment.objects.create(name="tiny", runtime="llamacpp", status="healthy")
    Reservation.objects.create(deployment=tiny, node=node, accelerator=gpus[1], start=START)
    ModelServer.objects.create(deployment=tiny, node=node, runtime="llamacpp", stale_reason="connection refused")
    figures = BUSY | {"requests": None, "failed_requests": None, "latency": {}, "rules": ["node:no-measurement"]}
    rows = minutes(tiny, node, START, 10, **figures)
    rows[3].server_coverage = rows[4].server_coverage = 0.0
    rows[5].operational_grams_at_pue1 = None
    UsageBucket.objects.bulk_create(rows)
    result = deployment_energy(tiny, start=START, end=START + 10 * MINUTE)
    assert result.requests is None and result.joules_per_request == dict.fromkeys(("gpu", "node", "facility"))
    assert result.generation_tokens == 5000.0 and result.joules_per_generated_token["gpu"] == 6000 * 10 / 5000
    assert result.energy_joules["facility"] is None and result.pue is None  # the site has no meters
    assert result.carbon_grams["operational"] is None and result.latency_seconds["p50"] is None
    assert not result.complete
    reasons = "\n".join(result.reasons)
    for words in ("no carbon intensity for 1 ledger buckets on gpu-01",
                  "node gpu-01 is not measured",
                  "model server counters on gpu-01 covers 80% of the time held",
                  "PUE of site plant-1 is incomplete: ",
                  "model server on gpu-01 is stale: connection refused",
                  "requests unknown: llama.cpp server exposes no request counter"):
        assert words in reasons, reasons
    assert "gpu:exclusive" not in result.rules and "node:no-measurement" in result.rules


@pytest.mark.django_db
def test_coverage_counts_the_time_held_not_the_whole_window(chat, hardware):
    node, gpus = hardware
    late = Deployment.objects.create(name="late", runtime="vllm", status="healthy")
    Reservation.objects.create(deployment=late, node=node, accelerator=gpus[1], start=END - 10 * MINUTE)
    ten = scaled(BUSY, 10) | {f"{k}_coverage": 600.0 for k in ("gpu", "node", "server")}
    UsageBucket.objects.bulk_create([*minutes(late, node, END - 10 * MINUTE, 10, **BUSY),
                                     usage(late, node, END - HOUR, UsageBucket.HOUR, **ten)])
    result = deployment_energy(late, start=START, end=END)
    assert result.complete, result.reasons
    embodied = 600 * (150_000 + 1_000_000 / 2) / (5 * SECONDS_PER_YEAR)
    assert result.carbon_grams["embodied"] == pytest.approx(embodied)
    assert result.energy_joules["gpu"] == 60000.0


@pytest.mark.django_db
def test_pilot_table_rows_and_named_windows(chat, hardware):
    node, _ = hardware
    Deployment.objects.create(name="old", runtime="triton", status="removed")  # never ran in the window
    idle = Deployment.objects.create(name="idle", runtime="mlserver", status="pending")
    gone = Deployment.objects.create(name="gone", runtime="triton", status="removed")
    Reservation.objects.create(deployment=gone, node=node, start=START, end=START + HOUR)
    table = pilot_table(start=START, end=END)
    assert [r.deployment["name"] for r in table] == ["chat", "gone", "idle"]
    by_name = {r.deployment["name"]: r for r in table}
    assert by_name["idle"].reasons == ["the deployment held no hardware in the window"]
    assert by_name["chat"].energy_joules["gpu"] == 150 * 6000.0
    named = pilot_table("1h", now=END + 61 * datetime.timedelta(seconds=1))
    assert named[0].window == "1h" and (named[0].start, named[0].end) == (END - HOUR, END)
    assert idle.pk in {r.deployment["id"] for r in named}


@pytest.mark.django_db
@pytest.mark.parametrize(("kwargs", "words"), [
    ({"window": "2h"}, "window must be one of"),
    ({"start": START}, "start and end go together"),
    ({"start": END, "end": START}, "must be before end"),
    ({"start": START + datetime.timedelta(seconds=5), "end": END}, "whole minute"),
    ({"start": START.replace(tzinfo=None), "end": END}, "UTC offset"),
    ({"window": "1h", "start": START, "end": END}, "not both"),
])
def test_bad_windows_name_what_is_wrong(chat, kwargs, words):
    with pytest.raises(WindowError, match=words):
        deployment_energy(chat, **kwargs)
