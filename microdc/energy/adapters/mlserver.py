"""MLServer (metrics port, 8082 by default), names as mlserver's handlers/dataplane.py registers them with
prometheus_client: success and failure counters and the model_infer_request_duration summary (seconds), which
times every request, failed ones included. Labels model and version are summed over. No tokens."""

from .page import E2E_COUNT, E2E_SUM, FAILED_REQUESTS, REQUESTS, Page, put

RUNTIME = "mlserver"
FAMILIES = ("model_infer_request_success", "model_infer_request_failure", "model_infer_request_duration")
MODEL_LABEL = "model"


def counters(page: Page) -> dict[str, float]:
    values: dict[str, float] = {}
    put(values, REQUESTS, page.counter("model_infer_request_success"))
    put(values, FAILED_REQUESTS, page.counter("model_infer_request_failure"))
    put(values, E2E_SUM, page.total("model_infer_request_duration_sum"))
    put(values, E2E_COUNT, page.total("model_infer_request_duration_count"))
    return values
