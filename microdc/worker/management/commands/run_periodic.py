import signal
import threading

from django.core.management.base import BaseCommand

from microdc.worker.jobs import default_jobs
from microdc.worker.periodic import run_lanes


class Command(BaseCommand):
    help = "Run the periodic background jobs (rollups, retention, meter polling) until stopped."

    # The system checks import the whole URLconf (every API view, DRF, the schema generator): some 25 MB that
    # this process never serves. `migrate`, which `make run` runs first, checks the project.
    requires_system_checks = []

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        jobs = default_jobs()
        self.stdout.write("periodic jobs: " + ", ".join(f"{j.name} every {j.interval:g} s" for j in jobs))
        run_lanes(jobs, stop)
