"""The simulated model server over loopback: OpenAI-compatible completions, validation, vLLM-shaped metrics."""

import json
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from microdc.energy.adapters import read_page
from microdc.simulator.inference_load import E2E_BUCKETS, TTFT_BUCKETS, DeploymentLoad
from microdc.simulator.model_server import SIMULATED_HEADER, start_model_server

MODEL = "simulated-test-model"


@pytest.fixture
def server():
    running = start_model_server(DeploymentLoad("chat"), MODEL, started=time.time() - 6 * 3600)
    yield running
    running.stop()


def _post(server, body, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(f"{server.url}/v1/completions", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def _get(server, path):
    with urllib.request.urlopen(f"{server.url}{path}", timeout=5) as response:
        return response.headers, response.read().decode()


def _families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_completion_answers_with_usage_and_is_labelled_simulated(server):
    status, headers, body = _post(server, {"model": MODEL, "prompt": "x" * 40, "max_tokens": 7})
    assert status == 200 and headers[SIMULATED_HEADER] == "true"
    assert body["model"] == MODEL and body["simulated"] is True
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}
    assert len(body["choices"][0]["text"].split()) == 7


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"prompt": "hi"}, 400, "model"),
    ({"model": "gpt-4", "prompt": "hi"}, 404, "model"),
    ({"model": MODEL}, 400, "prompt"),
    ({"model": MODEL, "prompt": [1, 2]}, 400, "prompt"),
    ({"model": MODEL, "prompt": "hi", "max_tokens": 0}, 400, "max_tokens"),
    ({"model": MODEL, "prompt": "hi", "max_tokens": "5"}, 400, "max_tokens"),
    ({"model": MODEL, "prompt": "hi", "temperature": 3}, 400, "temperature"),
    ({"model": MODEL, "prompt": "hi", "stream": True}, 400, "stream"),
])
def test_bad_requests_get_openai_errors_naming_the_parameter(server, body, status, param):
    got, headers, answer = _post(server, body)
    assert got == status and headers[SIMULATED_HEADER] == "true"
    assert answer["error"]["param"] == param and answer["error"]["message"]


def test_a_body_that_is_not_json_is_refused(server):
    status, _, answer = _post(server, None, raw=b"{not json")
    assert status == 400 and "not JSON" in answer["error"]["message"]


def test_models_and_health(server):
    headers, text = _get(server, "/v1/models")
    assert [m["id"] for m in json.loads(text)["data"]] == [MODEL]
    headers, text = _get(server, "/health")
    assert headers[SIMULATED_HEADER] == "true"


def test_metrics_parse_and_carry_vllm_names_labels_and_buckets(server):
    headers, text = _get(server, "/metrics")
    assert headers["Content-Type"].startswith("text/plain")
    families = _families(text)
    for name in ("vllm:request_success", "vllm:prompt_tokens", "vllm:generation_tokens",
                 "vllm:e2e_request_latency_seconds", "vllm:time_to_first_token_seconds"):
        assert name in families, name
    reasons = {s.labels["finished_reason"] for s in families["vllm:request_success"].samples
               if s.name == "vllm:request_success_total"}
    assert reasons == {"stop", "length", "abort"}
    for name, bounds in (("vllm:e2e_request_latency_seconds", E2E_BUCKETS),
                         ("vllm:time_to_first_token_seconds", TTFT_BUCKETS)):
        les = [s.labels["le"] for s in families[name].samples if s.name.endswith("_bucket")]
        assert les == [repr(float(b)) for b in bounds] + ["+Inf"]
        assert all(s.labels["model_name"] == MODEL for s in families[name].samples)
    assert read_page("vllm", text).values["requests_total"] > 0  # what the appliance's adapter reads


def test_real_requests_add_exactly_to_the_counters(server):
    fixed = time.time()
    server.clock = lambda: fixed  # the background stands still, so the difference is the real requests
    before = read_page("vllm", server.page()).values
    for _ in range(5):
        assert _post(server, {"model": MODEL, "prompt": "y" * 8, "max_tokens": 3})[0] == 200
    after = read_page("vllm", server.page()).values
    assert after["requests_total"] - before["requests_total"] == 5
    assert after["prompt_tokens_total"] - before["prompt_tokens_total"] == 10
    assert after["generation_tokens_total"] - before["generation_tokens_total"] == 15
