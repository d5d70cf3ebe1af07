"""The name a worker process goes by in the leases it takes: host and pid, so that an operator reading a lease
row knows which process holds it."""

import os
import socket


def worker_id() -> str:
    # Read each time: a forked process is a different worker.
    return f"{socket.gethostname()}:{os.getpid()}"
