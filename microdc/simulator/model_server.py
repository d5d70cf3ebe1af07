"""A SIMULATED model server on loopback that speaks like vLLM: OpenAI-compatible `POST /v1/completions`,
`GET /v1/models`, `GET /health`, and `GET /metrics` with vLLM's metric names, label names and buckets.

Its counters are the simulated background load (inference_load.DeploymentLoad, counted from the server's
start) plus every real request it answered, so a scrape sees both. Every response says it is simulated:
the model id starts with "simulated-" and each response carries the header `X-Microdc-Simulated: true`.

>>> server = start_model_server(DeploymentLoad("chat"), model="simulated-llama-3-8b")
>>> server.url, server.metrics_url
>>> server.stop()
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .inference_load import E2E_BUCKETS, FINISHED_REASONS, TTFT_BUCKETS, DeploymentLoad

SIMULATED_HEADER = "X-Microdc-Simulated"
MAX_BODY_BYTES = 1 << 20
MAX_TOKENS_LIMIT = 4096
PROMPT_CHARS_PER_TOKEN = 4  # the usual rough rule for English text under a BPE tokenizer


class RequestError(Exception):
    """A request the OpenAI API would refuse: status, message and the parameter at fault."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind


@dataclass
class RealCounters:
    """What real requests added (exact counts), beside the simulated background."""

    requests: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    e2e_sum: float = 0.0
    ttft_sum: float = 0.0
    e2e_buckets: list[int] = field(default_factory=lambda: [0] * len(E2E_BUCKETS))
    ttft_buckets: list[int] = field(default_factory=lambda: [0] * len(TTFT_BUCKETS))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, prompt_tokens: int, generation_tokens: int, e2e: float, ttft: float) -> None:
        with self.lock:
            self.requests += 1
            self.prompt_tokens += prompt_tokens
            self.generation_tokens += generation_tokens
            self.e2e_sum += e2e
            self.ttft_sum += ttft
            for i, le in enumerate(E2E_BUCKETS):
                self.e2e_buckets[i] += e2e <= le
            for i, le in enumerate(TTFT_BUCKETS):
                self.ttft_buckets[i] += ttft <= le


class Throttle:
    """What the server could not serve of its load because its GPUs ran slower (a power cap): the load is
    open-loop, so requests beyond the throughput left are lost, and every counter grows by the served share.

    Counted as time passes, at the GPUs' speed seen at each look (each scrape or request), so counters never
    run backwards whatever the cap does."""

    def __init__(self, load: DeploymentLoad, speed: Callable[[], float], started: float):
        self.load, self.speed, self.started = load, speed, started
        self.t = started
        self.lost: list[float] | None = None
        self.lock = threading.Lock()

    def served_share(self, t: float) -> float:
        rate = self.load.rate(t)
        capacity = self.load.profile.capacity_rps * self.speed()
        return 1.0 if rate <= capacity else capacity / rate

    def lost_until(self, t: float) -> list[float] | None:
        with self.lock:
            if t > self.t:
                share = self.served_share(t)
                if share < 1.0:
                    increase = self.load.increase(self.t, t, self.started)
                    lost = self.lost or [0.0] * len(increase)
                    self.lost = [a + b * (1.0 - share) for a, b in zip(lost, increase, strict=True)]
                self.t = t
            return self.lost


def metrics_page(load: DeploymentLoad, model: str, t: float, started: float,
                 real: RealCounters | None = None, throttle: Throttle | None = None) -> str:
    """The server's /metrics text at `t` (Prometheus text format, as vLLM's prometheus_client writes it)."""
    totals = load.totals(t, since=started, lost=throttle.lost_until(t) if throttle else None)
    real = real or RealCounters()
    labels = {"model_name": model}
    reasons = {name: math.floor(totals.by_reason[name]) for name, _ in FINISHED_REASONS}
    reasons["length"] += real.requests  # a real request here always runs to its max_tokens
    count = sum(reasons.values())
    families = []
    success = CounterMetricFamily("vllm:request_success", "Count of successfully processed requests.",
                                  labels=["model_name", "finished_reason"])
    for name, value in reasons.items():
        success.add_metric([model, name], value)
    families.append(success)
    for name, help_text, value in (
        ("vllm:prompt_tokens", "Number of prefill tokens processed.",
         math.floor(totals.prompt_tokens) + real.prompt_tokens),
        ("vllm:generation_tokens", "Number of generation tokens processed.",
         math.floor(totals.generation_tokens) + real.generation_tokens),
    ):
        family = CounterMetricFamily(name, help_text, labels=list(labels))
        family.add_metric([model], value)
        families.append(family)
    for name, help_text, bounds, background, extra, total_sum in (
        ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", E2E_BUCKETS,
         totals.e2e_buckets, real.e2e_buckets, totals.e2e_sum + real.e2e_sum),
        ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS,
         totals.ttft_buckets, real.ttft_buckets, totals.ttft_sum + real.ttft_sum),
    ):
        # Floored expected counts, capped by the request count so no bucket ever exceeds +Inf.
        buckets = [(_le(le), min(count, math.floor(b) + r)) for le, b, r in zip(bounds, background, extra,
                                                                                  strict=True)]
        buckets.append(("+Inf", count))
        family = HistogramMetricFamily(name, help_text, labels=list(labels))
        family.add_metric([model], buckets, sum_value=total_sum)
        families.append(family)
    running = GaugeMetricFamily("vllm:num_requests_running", "Number of requests in model execution batches.",
                                labels=list(labels))
    running.add_metric([model], round(load.rate(t) * (totals.e2e_sum / totals.requests if totals.requests else 0.0)))
    families.append(running)
    return generate_latest(_Collected(families)).decode()


def _le(bound: float) -> str:
    return repr(float(bound))


class _Collected:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / PROMPT_CHARS_PER_TOKEN))


def parse_completion_request(body: bytes, model: str) -> dict:
    """Validate a /v1/completions body the way the OpenAI API does; return prompt list and max_tokens."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(400, "the body must be a JSON object")
    if data.get("model") != model:
        if not isinstance(data.get("model"), str):
            raise RequestError(400, "'model' is required and must be a string", "model")
        raise RequestError(404, f"The model `{data['model']}` does not exist; this server serves `{model}`.",
                           "model", "NotFoundError")
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = prompt
    else:
        raise RequestError(400, "'prompt' is required: a string or a non-empty list of strings", "prompt")
    max_tokens = data.get("max_tokens", 16)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        raise RequestError(400, f"'max_tokens' must be an integer from 1 to {MAX_TOKENS_LIMIT}", "max_tokens")
    temperature = data.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise RequestError(400, "'temperature' must be a number from 0 to 2", "temperature")
    if data.get("stream"):
        raise RequestError(400, "streaming is not supported by this simulated server", "stream")
    return {"prompts": prompts, "max_tokens": max_tokens}


def _completion_text(prompt: str, tokens: int) -> str:
    words = ("simulated", "tokens", "from", "a", "model", "that", "is", "not", "real")
    return " ".join(words[i % len(words)] for i in range(tokens))


class SimulatedModelServer:
    """One simulated server: its HTTP thread, its load and counters. `stop()` shuts it down."""

    def __init__(self, load: DeploymentLoad, model: str, host: str = "127.0.0.1", port: int = 0,
                 started: float | None = None, clock: Callable[[], float] = time.time,
                 speed: Callable[[], float] | None = None):
        if not model.startswith("simulated-"):
            raise ValueError(f"a simulated server's model id must start with 'simulated-', got {model!r}")
        self.load, self.model, self.clock = load, model, clock
        self.started = clock() if started is None else started
        # `speed`: how fast its GPUs run now (1: full clock), e.g. collectors.simulated.speed_of for its GPUs.
        self.throttle = Throttle(load, speed, self.started) if speed is not None else None
        self.real = RealCounters()
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"model-server-{load.name}",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    def start(self) -> SimulatedModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def page(self, t: float | None = None) -> str:
        return metrics_page(self.load, self.model, self.clock() if t is None else t, self.started, self.real,
                            self.throttle)

    def complete(self, body: bytes) -> dict:
        began = time.monotonic()
        request = parse_completion_request(body, self.model)
        choices, prompt_tokens, generated = [], 0, 0
        for index, prompt in enumerate(request["prompts"]):
            tokens = request["max_tokens"]
            choices.append({"index": index, "text": _completion_text(prompt, tokens), "logprobs": None,
                            "finish_reason": "length"})
            prompt_tokens += _tokens(prompt)
            generated += tokens
        elapsed = time.monotonic() - began
        for prompt in request["prompts"]:  # each prompt is one request to vLLM's engine
            self.real.add(_tokens(prompt), request["max_tokens"], elapsed, elapsed)
        return {"id": f"cmpl-sim-{uuid.uuid4().hex}", "object": "text_completion", "created": int(self.clock()),
                "model": self.model, "choices": choices, "simulated": True,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": generated,
                          "total_tokens": prompt_tokens + generated}}


def _handler(server: SimulatedModelServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "microdc-simulated-model-server"

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature; quiet on loopback
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header(SIMULATED_HEADER, "true")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _error(self, error: RequestError) -> None:
            self._json(error.status, {"error": {"message": error.message, "type": error.kind,
                                                "param": error.param, "code": error.status}})

        def do_GET(self):  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, server.page().encode(), CONTENT_TYPE_LATEST)
            elif path == "/health":
                self._send(200, b"", "text/plain")
            elif path == "/v1/models":
                self._json(200, {"object": "list", "data": [
                    {"id": server.model, "object": "model", "created": int(server.started),
                     "owned_by": "microdc-simulator", "simulated": True}]})
            else:
                self._error(RequestError(404, f"no route {path}", kind="NotFoundError"))

        def do_POST(self):  # noqa: N802
            if self.path.split("?", 1)[0] != "/v1/completions":
                self._error(RequestError(404, f"no route {self.path}", kind="NotFoundError"))
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self.close_connection = True
                self._error(RequestError(411, "a Content-Length header is required"))
                return
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._error(RequestError(413, f"the body is {length} bytes; at most {MAX_BODY_BYTES} are accepted"))
                return
            try:
                self._json(200, server.complete(self.rfile.read(length)))
            except RequestError as error:
                self._error(error)

    return Handler


def start_model_server(load: DeploymentLoad, model: str, host: str = "127.0.0.1", port: int = 0,
                       started: float | None = None) -> SimulatedModelServer:
    return SimulatedModelServer(load, model, host, port, started).start()
