"""One model server's metrics page, parsed with prometheus-client's own parser, and the canonical counter names
the runtime adapters map it to.

prometheus-client 0.26 names a counter family without `_total` and its samples with it, and appends `_total`
to the samples of a counter whose TYPE line has none (Triton's prometheus-cpp names): so a counter is looked up
as `<name>_total` first, then as the bare name an untyped page would use.

A family the page declares (HELP and TYPE lines) with no samples yet has counted nothing under any label set:
prometheus-client writes a labelled family's series only once it is first used (a fresh MLServer's request
counters). That zero is the server's own, so its counts read 0; a family the page does not declare stays absent.
"""

import math

from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "requests_total"
FAILED_REQUESTS = "failed_requests_total"
PROMPT_TOKENS = "prompt_tokens_total"
GENERATION_TOKENS = "generation_tokens_total"
INFERENCES = "inferences_total"  # Triton: inferences performed (batch elements), not requests
E2E_SUM = "e2e_latency_seconds_sum_total"
E2E_COUNT = "e2e_latency_seconds_count_total"
TTFT_SUM = "ttft_seconds_sum_total"
TTFT_COUNT = "ttft_seconds_count_total"
E2E_BUCKET_PREFIX = "e2e_latency"
TTFT_BUCKET_PREFIX = "ttft"

CANONICAL = (REQUESTS, FAILED_REQUESTS, PROMPT_TOKENS, GENERATION_TOKENS, INFERENCES, E2E_SUM, E2E_COUNT,
             TTFT_SUM, TTFT_COUNT)
MAX_METRIC_NAME = 64  # telemetry.metrics_catalog.METRIC_NAME
# The count samples an empty family of each type stands for (a histogram's buckets are unknown until it has one).
EMPTY_COUNTS = {"counter": ("_total",), "summary": ("_sum", "_count"), "histogram": ("_sum", "_count")}


class PageError(ValueError):
    """A metrics page that cannot be read as the runtime's counters; str() says what was wrong."""


def bucket_metric(prefix: str, le: str) -> str:
    """`e2e_latency_le_0p3_total` for bound "0.3"; "+Inf" -> `..._le_inf_total`. Bounds are written as Python
    writes the float, so "1" and "1.0" are one bucket."""
    bound = float(le)
    if math.isinf(bound):
        text = "inf"
    else:
        text = repr(bound)
        if "e" in text:  # 1e-05: spell it out, metric names have no "-" or "+"
            text = f"{bound:.12f}".rstrip("0")
            text += "0" if text.endswith(".") else ""
    return f"{prefix}_le_{text.replace('.', 'p')}_total"


def _bucket_ok(name: str) -> bool:
    return len(name) <= MAX_METRIC_NAME and "-" not in name


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def relevant_lines(text: str, families: tuple[str, ...]) -> str:
    """The lines of `families` (samples, HELP and TYPE): a vLLM page is mostly other families (gauges,
    process metrics, `_created` series), and the parser is pure Python, so only these are handed to it."""
    prefixes = families + tuple(f"# {kind} {family}" for family in families for kind in ("HELP", "TYPE"))
    return "\n".join(line for line in text.splitlines() if line.lstrip().startswith(prefixes))


class Page:
    """The samples of one page by sample name: [(labels, value)]; with `families`, only theirs."""

    def __init__(self, text: str, families: tuple[str, ...] | None = None):
        if not text.strip():
            raise PageError("the page is empty")
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        self.declared_empty: set[str] = set()  # sample names of declared families with no samples yet
        try:
            for family in text_string_to_metric_families(text if families is None
                                                         else relevant_lines(text, families)):
                for sample in family.samples:
                    self.samples.setdefault(sample.name, []).append((sample.labels, sample.value))
                if not family.samples:
                    self.declared_empty.update(f"{family.name}{suffix}" for suffix in EMPTY_COUNTS.get(family.type, ()))
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            detail = _printable(str(exc).strip() or type(exc).__name__)
            raise PageError(f"not Prometheus text format: {detail[:200]}") from None

    def has(self, name: str) -> bool:
        return any(n in self.samples or n in self.declared_empty
                   for n in (name, f"{name}_total", f"{name}_bucket", f"{name}_count"))

    def _rows(self, name: str) -> list[tuple[dict[str, str], float]]:
        return self.samples.get(name, [])

    def total(self, sample_name: str, keep=None) -> float | None:
        """The sum of the samples named exactly so over every label set (those `keep(labels)` accepts); 0 for a
        declared family with no samples yet; None when the page has no such sample: absent, never 0."""
        rows = self._rows(sample_name)
        if not rows:
            return 0.0 if sample_name in self.declared_empty else None
        values = [value for labels, value in rows if keep is None or keep(labels)]
        for value in values:
            if not math.isfinite(value) or value < 0:
                raise PageError(f"{sample_name} is {value}, not a count")
        return float(sum(values))

    def counter(self, name: str, keep=None) -> float | None:
        """A counter's sum over its label sets, found as `<name>_total` or `<name>`."""
        total = f"{name}_total"
        return self.total(total if total in self.samples or total in self.declared_empty else name, keep)

    def buckets(self, histogram: str, prefix: str) -> dict[str, float]:
        """A histogram's cumulative buckets summed over label sets, as canonical bucket counters."""
        sums: dict[str, float] = {}
        for labels, value in self._rows(f"{histogram}_bucket"):
            if "le" not in labels:
                raise PageError(f"{histogram}_bucket has a sample without an le label")
            try:
                name = bucket_metric(prefix, labels["le"])
            except ValueError:
                raise PageError(f"{histogram}_bucket has le={_printable(labels['le'])[:40]!r}, not a number") from None
            if not math.isfinite(value) or value < 0:
                raise PageError(f"{histogram}_bucket{{le={labels['le']!r}}} is {value}, not a count")
            if _bucket_ok(name):
                sums[name] = sums.get(name, 0.0) + float(value)
        return sums

    def label_values(self, sample_names: tuple[str, ...], label: str) -> set[str]:
        return {labels[label] for name in sample_names for labels, _ in self._rows(name) if labels.get(label)}


def put(values: dict[str, float], name: str, value: float | None) -> None:
    """Set a canonical counter when the page has it (absent stays absent)."""
    if value is not None:
        values[name] = value
