"""The Redis channel layer as settings configure it: a consumer waiting on a quiet channel keeps waiting.

channels_redis blocks a receive on the server for 5 s (BZPOPMIN) and asks again; redis-py 8's default socket
read timeout is also 5 s, so with the defaults every quiet receive raised ``redis.TimeoutError`` and closed
the websocket. Run in a fresh interpreter with ``REDIS_URL`` set, so this process's settings stay put.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WAIT = (
    "import asyncio, django; django.setup()\n"
    "from channels.layers import get_channel_layer\n"
    "async def main():\n"
    "    layer = get_channel_layer()\n"
    "    name = await layer.new_channel()\n"
    "    try:\n"
    "        await asyncio.wait_for(layer.receive(name), layer.brpop_timeout + 2)\n"
    "    except TimeoutError:\n"
    "        print('still waiting')\n"
    "asyncio.run(main())\n"
)


def test_a_receive_on_a_quiet_channel_outlasts_the_servers_block():
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"DJANGO_SETTINGS_MODULE": "microdc.settings", "REDIS_URL": "redis://127.0.0.1:6379/5",
            "MICRODC_REDIS_PREFIX": f"microdc-test-quiet-{os.getpid()}", "SECRET_KEY": "x" * 60}
    result = subprocess.run([sys.executable, "-c", WAIT], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "still waiting"
