"""NVIDIA Triton (metrics port, 8002 by default), names as triton core's src/metrics.cc registers them through
prometheus-cpp, which adds no `_total`. Labels model and version (and a failure's reason) are summed over.

Triton adds a request's duration (microseconds) only when it succeeds (src/infer_stats.cc), so the latency
count is the success count. nv_inference_count counts batch elements, not requests. No tokens.
"""

from .page import E2E_COUNT, E2E_SUM, FAILED_REQUESTS, INFERENCES, REQUESTS, Page, put

RUNTIME = "triton"
FAMILIES = ("nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
            "nv_inference_request_duration_us")
MODEL_LABEL = "model"
MICROSECONDS = 1e-6


def counters(page: Page) -> dict[str, float]:
    values: dict[str, float] = {}
    success = page.counter("nv_inference_request_success")
    put(values, REQUESTS, success)
    put(values, FAILED_REQUESTS, page.counter("nv_inference_request_failure"))
    put(values, INFERENCES, page.counter("nv_inference_count"))
    duration_us = page.counter("nv_inference_request_duration_us")
    if duration_us is not None and success is not None:
        values[E2E_SUM] = duration_us * MICROSECONDS
        values[E2E_COUNT] = success
    return values
