import time

from django.core.management.base import BaseCommand

from microdc.simulator.backfill import backfill_demo


class Command(BaseCommand):
    help = ("Backfill the demo's SIMULATED history (the last 7 days of GPUs, meters and model servers) through "
            "the real ingest, scrape, rollup and ledger code. Idempotent; run after seed_demo.")

    def handle(self, *args, **options):
        began = time.perf_counter()
        result = backfill_demo()
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seconds.items())
        self.stdout.write(f"Backfilled {result.gpu_samples} node samples, {result.meter_samples} meter instants, "
                          f"{result.pages} model-server pages, {result.ledger_rows} ledger rows "
                          f"in {time.perf_counter() - began:.1f} s ({steps}); all simulated.")
