"""Each runtime's adapter against a metrics page in the shape its source code defines (tests/energy/pages/,
each file's first lines say where its shape comes from)."""

from pathlib import Path

import pytest

from microdc.energy.adapters import ADAPTERS, PageError, bucket_metric, read_page
from microdc.provisioning.models import Runtime

PAGES = Path(__file__).parent / "pages"


def page(name: str) -> str:
    return (PAGES / f"{name}.prom").read_text()


def test_every_runtime_has_an_adapter():
    assert set(ADAPTERS) == set(Runtime.values)


def test_vllm_counts_every_finish_reason_but_abort_as_served_and_sums_engines():
    counters = read_page("vllm", page("vllm"))
    values = counters.values
    assert counters.model_name == "meta-llama/Llama-3.1-8B-Instruct"
    assert values["requests_total"] == 6  # 5 stop + 1 length, over both engines
    assert values["failed_requests_total"] == 1  # abort
    assert values["prompt_tokens_total"] == 910
    assert values["generation_tokens_total"] == 368
    assert values["e2e_latency_seconds_count_total"] == 7
    assert values["e2e_latency_seconds_sum_total"] == pytest.approx(9.2)
    assert values["e2e_latency_le_0p3_total"] == 2
    assert values["e2e_latency_le_0p5_total"] == 4
    assert values["e2e_latency_le_5p0_total"] == 6
    assert values["e2e_latency_le_inf_total"] == 7
    assert values["ttft_seconds_count_total"] == 7
    assert values["ttft_seconds_sum_total"] == pytest.approx(0.365)
    assert values["ttft_le_0p01_total"] == 1
    assert values["ttft_le_0p02_total"] == 3
    assert values["ttft_le_inf_total"] == 7
    assert len([n for n in values if n.startswith("e2e_latency_le_")]) == 22  # 21 bounds and +Inf
    assert len([n for n in values if n.startswith("ttft_le_")]) == 23
    assert all(len(name) <= 64 for name in values)


def test_vllm_error_finish_reason_is_a_failure():
    text = ('# TYPE vllm:request_success_total counter\n'
            'vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 4.0\n'
            'vllm:request_success_total{engine="0",finished_reason="error",model_name="m"} 2.0\n'
            'vllm:request_success_total{engine="0",finished_reason="repetition",model_name="m"} 1.0\n')
    values = read_page("vllm", text).values
    assert values == {"requests_total": 5.0, "failed_requests_total": 2.0}


def test_llamacpp_has_tokens_and_no_request_counter():
    counters = read_page("llamacpp", page("llamacpp"))
    assert counters.values == {"prompt_tokens_total": 6886.0, "generation_tokens_total": 3469.0}
    assert "requests_total" not in counters.values  # unknown, never zero
    assert counters.model_name == ""


def test_triton_counters_have_no_total_suffix_and_durations_are_microseconds():
    counters = read_page("triton", page("triton"))
    assert counters.values == {
        "requests_total": 150.0, "failed_requests_total": 3.0, "inferences_total": 510.0,
        "e2e_latency_seconds_sum_total": pytest.approx(2.55), "e2e_latency_seconds_count_total": 150.0}
    assert counters.model_name == "densenet_onnx, simple"


def test_triton_page_without_type_lines_reads_the_same():
    text = "\n".join(line for line in page("triton").splitlines() if not line.startswith("#"))
    assert read_page("triton", text).values["requests_total"] == 150.0


def test_mlserver_success_failure_and_duration_summary():
    counters = read_page("mlserver", page("mlserver"))
    assert counters.values == {"requests_total": 7.0, "failed_requests_total": 2.0,
                               "e2e_latency_seconds_sum_total": pytest.approx(0.007590598001115723),
                               "e2e_latency_seconds_count_total": 9.0}
    assert counters.model_name == "iris"


def test_a_fresh_mlserver_has_counted_zero_not_nothing():
    # Its families are declared, with no series until the first request: the server's own zero.
    counters = read_page("mlserver", page("mlserver_fresh"))
    assert counters.values == {"requests_total": 0.0, "failed_requests_total": 0.0,
                               "e2e_latency_seconds_sum_total": 0.0, "e2e_latency_seconds_count_total": 0.0}
    assert counters.model_name == ""


def test_a_family_the_page_does_not_declare_stays_absent():
    declared = "# HELP model_infer_request_success_total Model infer request success count\n" \
               "# TYPE model_infer_request_success_total counter\n"
    assert read_page("mlserver", declared).values == {"requests_total": 0.0}


def test_bucket_names():
    assert bucket_metric("e2e_latency", "0.3") == "e2e_latency_le_0p3_total"
    assert bucket_metric("ttft", "+Inf") == "ttft_le_inf_total"
    assert bucket_metric("ttft", "1") == bucket_metric("ttft", "1.0") == "ttft_le_1p0_total"
    assert bucket_metric("ttft", "1e-05") == "ttft_le_0p00001_total"


@pytest.mark.parametrize("text, reason", [
    ("", "the page is empty"),
    ("   \n\n", "the page is empty"),
    ("<!DOCTYPE html><html><body>metrics</body></html>", "none of vllm's metrics"),
    ("garbage garbage", "none of vllm's metrics"),
    ("vllm:prompt_tokens_total twelve", "not Prometheus text format"),
    ('vllm:prompt_tokens_total{model_name="m} 1', "not Prometheus text format"),
    ("vllm:prompt_tokens_total NaN", "vllm:prompt_tokens_total is nan, not a count"),
    ("vllm:prompt_tokens_total -3", "is -3, not a count"),
    ('vllm:e2e_request_latency_seconds_bucket{le="soon"} 1', "le='soon', not a number"),
    ("vllm:prompt_tokens_total\x00 1", "not Prometheus text format"),
])
def test_bad_pages_raise_a_page_error_naming_what_was_wrong(text, reason):
    with pytest.raises(PageError) as caught:
        read_page("vllm", text)
    assert reason in str(caught.value)
    assert str(caught.value).isprintable()


def test_a_page_of_another_runtime_is_refused():
    with pytest.raises(PageError, match="none of triton's metrics"):
        read_page("triton", page("mlserver"))


def test_unknown_runtime():
    with pytest.raises(PageError, match="no metrics adapter for runtime 'onnx'"):
        read_page("onnx", page("vllm"))
