from django.core.management import call_command
from django.core.management.base import BaseCommand

from microdc.provisioning.jobs import recover_interrupted


class Command(BaseCommand):
    help = ("Run the task worker (Ansible jobs). First marks jobs no worker will finish (their worker died, or "
            "their task was lost) as interrupted and unlocks their nodes, so a restarted worker starts clean.")

    def handle(self, *args, **options):
        recovered = recover_interrupted()
        if recovered:
            self.stdout.write(f"{recovered} job(s) left by a dead worker or a lost task marked interrupted")
        call_command("db_worker", startup_delay=False)
