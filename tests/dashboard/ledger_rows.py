"""Usage-ledger rows for the dashboard's tests and the browser test's appliance: two simulated deployments
holding GPUs, with minute rows over the last `minutes` and hour rows over the last `hours`.

"assistant" (vLLM) holds GPUs 0 and 1 of its node and reports requests, tokens and latency; "iris" (MLServer) holds
GPU 0 of another node and reports requests but no tokens (its per-token figures are unknown, never zero).
The rows are what energy.ledger would write (coverage in seconds covered); the values follow simple formulas so
tests can recompute them.
"""

import datetime

MINUTE_GPU_WATTS = (250.0, 300.0, 350.0)  # cycles by minute index
HOUR_GPU_WATTS = (200.0, 400.0)


def deployment_on(name: str, runtime: str, node, indices: list[int], since: datetime.datetime):
    """A healthy deployment with a current revision on `node` and open reservations of its GPUs `indices`."""
    from microdc.energy.models import Reservation
    from microdc.provisioning.models import Deployment, DeploymentRevision

    deployment = Deployment.objects.create(name=name, runtime=runtime, status="healthy")
    revision = DeploymentRevision.objects.create(deployment=deployment, number=1, artifact="/srv/models/m.bin",
                                                 artifact_sha256="0" * 64, port=8000, accelerators=indices)
    revision.nodes.set([node])
    deployment.current_revision = revision
    deployment.endpoints = [{"node": node.hostname, "url": f"http://{node.management_address}:8000/v1",
                             "metrics_url": f"http://{node.management_address}:8000/metrics"}]
    deployment.save()
    for accelerator in node.accelerators.filter(index__in=indices):
        Reservation.objects.create(deployment=deployment, node=node, accelerator=accelerator, start=since)
    return deployment


def minute_row(deployment, node, start: datetime.datetime, i: int, tokens: bool):
    from microdc.energy.models import UsageBucket

    gpu = 60.0 * MINUTE_GPU_WATTS[i % len(MINUTE_GPU_WATTS)]
    requests = 10.0 + i % 3
    return UsageBucket(
        deployment=deployment, node=node, resolution=UsageBucket.MINUTE, start=start, gpu_joules=gpu,
        gpu_idle_joules=0.0, node_joules=gpu * 1.25, operational_grams_at_pue1=gpu * 1.25 / 3.6e6 * 400.0,
        gpu_coverage=60.0, node_coverage=60.0, server_coverage=60.0, requests=requests, failed_requests=0.0,
        prompt_tokens=100.0 * requests if tokens else None, generation_tokens=300.0 * requests if tokens else None,
        latency={"e2e_latency_seconds_sum_total": 0.8 * requests, "e2e_latency_seconds_count_total": requests},
        rules=["gpu:exclusive", "node:rapl"])


def hour_row(deployment, node, start: datetime.datetime, i: int, tokens: bool):
    from microdc.energy.models import UsageBucket

    gpu = 3600.0 * HOUR_GPU_WATTS[i % len(HOUR_GPU_WATTS)]
    requests = 600.0 + 60 * (i % 4)
    idle = gpu * 0.1 if i % 4 == 0 else 0.0
    node_joules = gpu * 1.25
    return UsageBucket(
        deployment=deployment, node=node, resolution=UsageBucket.HOUR, start=start, gpu_joules=gpu,
        gpu_idle_joules=idle, node_joules=node_joules, facility_joules=node_joules * 1.3,
        operational_grams_at_pue1=node_joules / 3.6e6 * 400.0, operational_grams=node_joules * 1.3 / 3.6e6 * 400.0,
        gpu_coverage=3600.0, node_coverage=3600.0, server_coverage=3600.0, requests=requests, failed_requests=1.0,
        prompt_tokens=100.0 * requests if tokens else None, generation_tokens=300.0 * requests if tokens else None,
        latency={"e2e_latency_seconds_sum_total": 0.8 * requests, "e2e_latency_seconds_count_total": requests},
        rules=["gpu:exclusive", "node:rapl"])


def seed_ledger(chat_node, iris_node, now: datetime.datetime, minutes: int = 60, hours: int = 30) -> dict:
    """The two deployments and their rows, up to the minute before `now`; returns {"assistant": d, "iris": d}."""
    from microdc.energy.models import UsageBucket

    this_minute = now.replace(second=0, microsecond=0)
    this_hour = this_minute.replace(minute=0)
    since = this_hour - datetime.timedelta(hours=hours + 1)
    made = {"assistant": deployment_on("assistant", "vllm", chat_node, [0, 1], since),
            "iris": deployment_on("iris", "mlserver", iris_node, [0], since)}
    rows = []
    for name, node, tokens in (("assistant", chat_node, True), ("iris", iris_node, False)):
        for i in range(1, minutes + 1):
            rows.append(minute_row(made[name], node, this_minute - datetime.timedelta(minutes=i), i, tokens))
        for i in range(1, hours + 1):
            rows.append(hour_row(made[name], node, this_hour - datetime.timedelta(hours=i), i, tokens))
    UsageBucket.objects.bulk_create(rows)
    return made
