"""A metrics page in the shape vLLM's own code writes: the families, label names and bucket bounds of
vllm/v1/metrics/loggers.py (PrometheusStatLogger), registered with prometheus_client as vLLM does, and
driven by made-up requests. Used for tests/energy/pages/vllm.prom, the scrape tests and the scrape benchmark."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REQUEST_LATENCY = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
                   480.0, 960.0, 1920.0, 7680.0]
TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
        160.0, 640.0, 2560.0]
TPOT = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0]
PREFILL_TOKEN = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
ITERATION_TOKENS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
FINISH_REASONS = ("stop", "length", "abort")


def one_two_five(max_value: int) -> list[int]:
    """vLLM's build_1_2_5_buckets."""
    buckets, exponent = [], 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return buckets
            buckets.append(value)
        exponent += 1


class VllmMetrics:
    def __init__(self, model: str = "meta-llama/Llama-3.1-8B-Instruct", engines: int = 1, max_model_len: int = 8192):
        self.registry = CollectorRegistry()
        self.model, self.engines = model, [str(i) for i in range(engines)]
        labels = ["model_name", "engine"]
        reg = self.registry

        def gauge(name, doc):
            return Gauge(name, doc, labels, registry=reg)

        def counter(name, doc, extra=()):
            return Counter(name, doc, labels + list(extra), registry=reg)

        def histogram(name, doc, buckets):
            return Histogram(name, doc, labels, buckets=buckets, registry=reg)

        lengths = one_two_five(max_model_len)
        self.running = gauge("vllm:num_requests_running", "Number of requests in model execution batches.")
        self.waiting = gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.")
        self.gpu_cache = gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.")
        self.kv_cache = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")
        self.gpu_prefix_queries = counter("vllm:gpu_prefix_cache_queries", "GPU prefix cache queries.")
        self.gpu_prefix_hits = counter("vllm:gpu_prefix_cache_hits", "GPU prefix cache hits.")
        self.prefix_queries = counter("vllm:prefix_cache_queries", "Prefix cache queries.")
        self.prefix_hits = counter("vllm:prefix_cache_hits", "Prefix cache hits.")
        self.preemptions = counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.")
        self.prompt_tokens = counter("vllm:prompt_tokens", "Number of prefill tokens processed.")
        self.generation_tokens = counter("vllm:generation_tokens", "Number of generation tokens processed.")
        self.success = counter("vllm:request_success", "Count of successfully processed requests.",
                               ["finished_reason"])
        self.prompt_hist = histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", lengths)
        self.generation_hist = histogram("vllm:request_generation_tokens", "Number of generation tokens processed.",
                                         lengths)
        self.iteration = histogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
                                   ITERATION_TOKENS)
        self.max_generation = histogram("vllm:request_max_num_generation_tokens",
                                        "Histogram of maximum number of requested generation tokens.", lengths)
        self.params_n = histogram("vllm:request_params_n", "Histogram of the n request parameter.", [1, 2, 5, 10, 20])
        self.max_tokens = histogram("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.",
                                    lengths)
        self.ttft = histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT)
        self.tpot = histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.",
                              TPOT)
        self.prefill_token = histogram("vllm:time_per_prefill_token_request_seconds",
                                       "Time spent per token during prefill phase in seconds", PREFILL_TOKEN)
        self.e2e = histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                             REQUEST_LATENCY)
        self.phases = [histogram(f"vllm:request_{phase}_time_seconds", f"Histogram of time spent in {phase} phase.",
                                 REQUEST_LATENCY) for phase in ("queue", "inference", "prefill", "decode")]
        # vLLM creates every label set at start (make_per_engine, one success counter per finish reason).
        for engine in self.engines:
            for metric in (self.running, self.waiting, self.gpu_cache, self.kv_cache, self.gpu_prefix_queries,
                           self.gpu_prefix_hits, self.prefix_queries, self.prefix_hits, self.preemptions,
                           self.prompt_tokens, self.generation_tokens, self.prompt_hist, self.generation_hist,
                           self.iteration, self.max_generation, self.params_n, self.max_tokens, self.ttft, self.tpot,
                           self.prefill_token, self.e2e, *self.phases):
                metric.labels(model, engine)
            for reason in FINISH_REASONS:
                self.success.labels(model, engine, reason)

    def request(self, prompt: int, generated: int, e2e: float, ttft: float, reason: str = "stop",
                engine: str = "0") -> None:
        """One finished request, recorded as vLLM's PrometheusStatLogger.record does."""
        labels = (self.model, engine)
        self.prompt_tokens.labels(*labels).inc(prompt)
        self.generation_tokens.labels(*labels).inc(generated)
        self.iteration.labels(*labels).observe(prompt + generated)
        self.ttft.labels(*labels).observe(ttft)
        if generated > 1:
            self.tpot.labels(*labels).observe((e2e - ttft) / (generated - 1))
        self.success.labels(*labels, reason).inc()
        self.e2e.labels(*labels).observe(e2e)
        for phase in self.phases:
            phase.labels(*labels).observe(e2e / 4)
        self.prompt_hist.labels(*labels).observe(prompt)
        self.generation_hist.labels(*labels).observe(generated)
        self.max_tokens.labels(*labels).observe(max(generated, 256))
        self.params_n.labels(*labels).observe(1)

    def page(self) -> str:
        return generate_latest(self.registry).decode()
