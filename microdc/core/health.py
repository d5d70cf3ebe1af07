"""/healthz: is the database answering, is the channel layer passing messages."""

import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is the answer, not an error page
        return {"ok": False, "vendor": connection.vendor, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "vendor": connection.vendor, "latency_ms": round((time.perf_counter() - started) * 1e3, 2)}


async def _round_trip(layer) -> None:
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("channel layer returned a different message")


def _check_channel_layer() -> dict:
    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "error": "no channel layer configured"}
    backend = f"{type(layer).__module__}.{type(layer).__name__}"
    started = time.perf_counter()
    try:
        async_to_sync(_round_trip)(layer)
    except Exception as exc:
        return {"ok": False, "backend": backend, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "backend": backend, "latency_ms": round((time.perf_counter() - started) * 1e3, 2)}


@never_cache
@require_GET
def healthz(request):
    database = _check_database()
    channel_layer = _check_channel_layer()
    healthy = database["ok"] and channel_layer["ok"]
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "database": database, "channel_layer": channel_layer},
        status=200 if healthy else 503,
    )
