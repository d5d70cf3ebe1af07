"""vLLM (`/metrics` on its API port), names as vllm/v1/metrics/loggers.py defines them.

A request that finished for any reason but "abort" (or "error", which newer vLLM adds for a request the engine
failed) was served; those two are the failures. Labels model_name and engine are summed over.
"""

from .page import (
    E2E_BUCKET_PREFIX,
    E2E_COUNT,
    E2E_SUM,
    FAILED_REQUESTS,
    GENERATION_TOKENS,
    PROMPT_TOKENS,
    REQUESTS,
    TTFT_BUCKET_PREFIX,
    TTFT_COUNT,
    TTFT_SUM,
    Page,
    put,
)

RUNTIME = "vllm"
FAMILIES = ("vllm:request_success", "vllm:prompt_tokens", "vllm:generation_tokens",
            "vllm:e2e_request_latency_seconds", "vllm:time_to_first_token_seconds")
MODEL_LABEL = "model_name"
FAILED_REASONS = frozenset({"abort", "error"})


def counters(page: Page) -> dict[str, float]:
    values: dict[str, float] = {}
    put(values, REQUESTS, page.counter("vllm:request_success",
                                       lambda labels: labels.get("finished_reason") not in FAILED_REASONS))
    put(values, FAILED_REQUESTS, page.counter("vllm:request_success",
                                              lambda labels: labels.get("finished_reason") in FAILED_REASONS))
    put(values, PROMPT_TOKENS, page.counter("vllm:prompt_tokens"))
    put(values, GENERATION_TOKENS, page.counter("vllm:generation_tokens"))
    for histogram, prefix, total, count in (
            ("vllm:e2e_request_latency_seconds", E2E_BUCKET_PREFIX, E2E_SUM, E2E_COUNT),
            ("vllm:time_to_first_token_seconds", TTFT_BUCKET_PREFIX, TTFT_SUM, TTFT_COUNT)):
        put(values, total, page.total(f"{histogram}_sum"))
        put(values, count, page.total(f"{histogram}_count"))
        values |= page.buckets(histogram, prefix)
    return values
