"""llama.cpp server (`--metrics`, `/metrics` on its port), names as tools/server (server-context.cpp) writes
them: unlabelled `llamacpp:` counters. It counts tokens but no requests, so requests stay absent (unknown)."""

from .page import GENERATION_TOKENS, PROMPT_TOKENS, Page, put

RUNTIME = "llamacpp"
FAMILIES = ("llamacpp:prompt_tokens", "llamacpp:tokens_predicted")
MODEL_LABEL = ""  # the page names no model


def counters(page: Page) -> dict[str, float]:
    values: dict[str, float] = {}
    put(values, PROMPT_TOKENS, page.counter("llamacpp:prompt_tokens"))
    put(values, GENERATION_TOKENS, page.counter("llamacpp:tokens_predicted"))
    return values
