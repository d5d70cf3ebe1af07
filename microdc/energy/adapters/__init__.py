"""Runtime adapters: each maps its runtime's metrics page to the canonical counters (energy.adapters.page).

>>> read_page("vllm", text)   # -> Counters(values={"requests_total": 12.0, ...}, model_name="llama-3-8b")

A metric the runtime does not expose is absent from `values`, never 0. A page that is not Prometheus text, or
that has none of the runtime's metrics, raises PageError naming what was wrong.
"""

from types import ModuleType
from typing import NamedTuple

from . import llamacpp, mlserver, triton, vllm
from .page import CANONICAL, Page, PageError, bucket_metric

__all__ = ["ADAPTERS", "CANONICAL", "Counters", "Page", "PageError", "adapter_for", "bucket_metric", "read_page"]

ADAPTERS: dict[str, ModuleType] = {module.RUNTIME: module for module in (vllm, llamacpp, triton, mlserver)}
MAX_MODEL_NAME = 200  # ModelServer.model_name


class Counters(NamedTuple):
    values: dict[str, float]
    model_name: str


def adapter_for(runtime: str) -> ModuleType:
    try:
        return ADAPTERS[runtime]
    except KeyError:
        raise PageError(f"no metrics adapter for runtime {runtime!r}; one of {', '.join(sorted(ADAPTERS))}") from None


def read_page(runtime: str, text: str) -> Counters:
    adapter = adapter_for(runtime)
    page = Page(text, adapter.FAMILIES)
    if not any(page.has(family) for family in adapter.FAMILIES):
        raise PageError(f"the page has none of {runtime}'s metrics ({', '.join(adapter.FAMILIES)})")
    values = adapter.counters(page)
    if not values:
        raise PageError(f"the page has {runtime}'s metric families but none of the counters this appliance reads")
    model = ""
    if adapter.MODEL_LABEL:
        samples = tuple(f"{family}{suffix}" for family in adapter.FAMILIES
                        for suffix in ("", "_total", "_bucket", "_sum", "_count"))
        names = page.label_values(samples, adapter.MODEL_LABEL)
        model = ", ".join(sorted(names))[:MAX_MODEL_NAME]
    return Counters(values, model)
