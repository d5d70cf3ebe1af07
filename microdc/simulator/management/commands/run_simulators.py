import signal
import threading

from django.core.management.base import BaseCommand

from microdc.simulator.agents import start_simulated_agents
from microdc.simulator.demo_deployments import start_demo_model_servers
from microdc.simulator.facility_demo import start_demo_facility


class Command(BaseCommand):
    help = ("Run the demo's SIMULATED hardware: a real agent per simulated node pushing to --url, and the "
            "facility meters served over Redfish, SNMP and Modbus TCP on loopback, and a simulated vLLM-like "
            "model server per demo deployment.")

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the appliance's base URL")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between agent collections")

    def handle(self, *args, url, interval, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        facility = start_demo_facility(stop)
        for endpoint in facility.endpoints:
            self.stdout.write(f"simulated meter {endpoint.name}: {endpoint.protocol} on "
                              f"{endpoint.host}:{endpoint.port}")
        servers = start_demo_model_servers()
        for server in servers:
            self.stdout.write(f"simulated model server {server.load.name} ({server.model}): {server.url}")
        agents = start_simulated_agents(url, stop, interval=interval)
        self.stdout.write(f"simulated agents pushing to {url}: {', '.join(a.node for a in agents) or 'none'}")
        try:
            stop.wait()
        finally:
            for agent in agents:
                agent.thread.join(timeout=10)
            facility.stop()
            for server in servers:
                server.stop()
