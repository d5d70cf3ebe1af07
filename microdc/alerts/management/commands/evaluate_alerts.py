from django.core.management.base import BaseCommand

from microdc.alerts.evaluation import evaluate
from microdc.alerts.routing import route


class Command(BaseCommand):
    help = "Evaluate the alert rules once now and route notifications (what the worker does every few seconds)."

    def handle(self, *args, **options):
        result = evaluate()
        routed = route()
        self.stdout.write(f"{result.rules} rules, {result.observed} observations in {result.seconds * 1000:.0f} ms: "
                          f"{result.opened} opened, {result.fired} fired, {result.resolved} resolved, "
                          f"{result.nodata} missing data; {routed} notifications queued")
