"""The compiled decode path accepts exactly what the precise validator accepts and builds the same batch; where
it declines, the precise path answers (its error names the place). Checked on an agent's real batch and on a few
hundred mutations of it, each one field changed to a value of another type, out of range, or odd."""

import copy
import datetime
import json
import random

import pytest

from microdc.telemetry import wire
from microdc.telemetry.batch import BatchError, parse_batch
from tests.telemetry.factories import batch, gpu, sample

NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)
ODD_VALUES = [None, True, False, 0, -1, 1023, 1024, 2**70, -(2**70), 1.5, 1e100, 1e101, -1e300, "", "x" * 101,
              "gpu", "npu", "GPU", [], [1], ["a" * 64], ["ok"] * 33, {}, {"a": 1}, "2026-12-03T12:00:00",
              "2026-12-03T11:59:00+00:00", "not a uuid", "12345678-1234-5678-1234-567812345678"]


def agent_batch() -> dict:
    ts = NOW - datetime.timedelta(seconds=5)
    devices = [gpu(i, f"GPU-{i}", ecc_uncorrected_errors_total=0) for i in range(4)]
    devices[0]["throttle_reasons"] = ["sw_power_cap"]
    devices[1]["mig_mode"] = "disabled"
    devices[2]["power_limit"] = {"desired_watts": 500.0, "status": "applied", "detail": ""}
    sensors = [{"source": "hwmon", "chip": "k10temp", "name": "Tctl", "simulated": False,
                "metrics": {"temperature_celsius": 48.5}}]
    return batch("gpu-01", [sample(ts, devices, sensors), sample(ts + datetime.timedelta(seconds=1), devices)])


def outcome(decode, body: bytes):
    try:
        return "ok", decode(body)
    except BatchError as exc:
        return "refused", str(exc)
    except (ValueError, RecursionError) as exc:
        return "not json", type(exc).__name__


def precise(body: bytes):
    return parse_batch(json.loads(body), NOW)


def paths(node, prefix=()):
    """Every (path, value) in a JSON document."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


def mutated(document: dict, path: tuple, value) -> dict:
    copied = copy.deepcopy(document)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def test_an_agents_batch_takes_the_compiled_path_and_decodes_alike():
    body = json.dumps(agent_batch()).encode()
    fast = wire._fast(wire._decoder.decode(body), NOW)  # no fallback: it would raise instead
    assert fast == precise(body)
    assert wire.decode_batch(body, NOW) == fast


def test_every_mutation_is_accepted_or_refused_as_the_precise_path_does():
    document = agent_batch()
    cases = [mutated(document, path, value) for path, _ in paths(document) if path
             for value in ODD_VALUES]
    rng = random.Random(13)
    cases += [mutated(document, path, rng.choice(ODD_VALUES)) for path, _ in rng.choices(list(paths(document))[1:],
                                                                                       k=200)]
    accepted = 0
    for case in cases:
        body = json.dumps(case).encode()
        expected = outcome(precise, body)
        assert outcome(lambda b: wire.decode_batch(b, NOW), body) == expected, case
        accepted += expected[0] == "ok"
    assert 0 < accepted < len(cases)  # both kinds were exercised


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b"[]", b'{"samples": NaN}', b"[" * 100_000,
                                  b'{"batch_id": "6f1c1f9e-4a1b-4c1d-9e1f-1a2b3c4d5e6f", "samples": [{"ts": 1}]}'])
def test_bodies_that_are_not_batches_fail_as_before(body):
    assert outcome(lambda b: wire.decode_batch(b, NOW), body) == outcome(precise, body)
