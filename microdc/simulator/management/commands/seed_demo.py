from django.core.management.base import BaseCommand

from microdc.simulator.demo_site import seed_demo_site


class Command(BaseCommand):
    help = "Create the demo's simulated site (idempotent) and print how to log in."

    def handle(self, *args, **options):
        result = seed_demo_site()
        if result.created:
            self.stdout.write(f"Created {len(result.created)} objects: " + ", ".join(result.created[:8])
                              + (" ..." if len(result.created) > 8 else ""))
        else:
            self.stdout.write("Demo site already in place; nothing to create.")
        self.stdout.write("Log in at the dashboard or /admin/ with one of (all hardware is SIMULATED):")
        for username, password in result.passwords.items():
            self.stdout.write(f"  {username:9s} password: {password}")
        self.stdout.write(f"(kept in {result.credentials_file})")
