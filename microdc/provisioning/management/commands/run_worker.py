import threading

from django.core.management.base import BaseCommand
from django_tasks_db.compat import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME
from django_tasks_db.management.commands.db_worker import Worker

from microdc.core.identity import worker_id
from microdc.provisioning.jobs import recover_interrupted
from microdc.worker.jobs import default_jobs
from microdc.worker.periodic import run_lanes


class Command(BaseCommand):
    help = ("Run the background worker: the task queue (Ansible jobs) and, beside it, the periodic jobs (meter "
            "polling, rollups, alerts, power policies). First marks jobs no worker will finish (their worker "
            "died, or their task was lost) as interrupted and unlocks their nodes, so a restarted worker starts "
            "clean. Start several on PostgreSQL to share the work; they need no coordinator.")

    # The system checks import the whole URLconf (every API view, DRF, the schema generator): some 25 MB that
    # this process never serves. `migrate`, which `make run` runs first, checks the project.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--no-periodic", action="store_true",
                            help="run the task queue only (periodic jobs run in another worker)")

    def handle(self, *args, **options):
        recovered = recover_interrupted()
        if recovered:
            self.stdout.write(f"{recovered} job(s) left by a dead worker or a lost task marked interrupted")
        # One process for both: a second Django process would cost its own ~80 MB for a loop that mostly sleeps.
        stop = threading.Event()
        periodic = None
        if not options["no_periodic"]:
            periodic = threading.Thread(target=run_lanes, args=(default_jobs(), stop), name="periodic")
            periodic.start()
        tasks = Worker(queue_names=[DEFAULT_TASK_QUEUE_NAME], interval=1.0, batch=False,
                       backend_name=DEFAULT_TASK_BACKEND_ALIAS, startup_delay=False, max_tasks=None,
                       worker_id=worker_id(), excluded_queue_names=[])
        tasks.configure_signals()
        try:
            tasks.run()
        finally:
            stop.set()
            if periodic is not None:
                periodic.join(timeout=15)
