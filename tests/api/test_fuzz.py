"""Schemathesis over the whole /api/schema/ as an admin, on the seeded demo site: no request the API can
receive gets a 5xx, and every response matches the schema.

Fixed seed (derandomize) and a bounded number of examples per operation, so it is quick and the same on every
run. Jobs (bootstrap, deployments) are only queued: the test's transaction never commits, so none is handed
to a worker, and the task backend is the dummy one. Left out: the agent's telemetry push (a node token,
fuzzed by the ingest tests) and meter polls (they would reach the seeded meters' hosts).
"""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from werkzeug.test import Client as WsgiClient

from microdc.core.roles import Role
from microdc.core.tokens import issue_token

MAX_EXAMPLES = 8

pytestmark = pytest.mark.django_db


def load_schema():
    """The document /api/schema/ serves (generated without a request, so it loads while tests are collected),
    sent to the appliance in this process over WSGI."""
    document = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    loaded = schemathesis.openapi.from_dict(document)
    # Valid and invalid data (an array where an object belongs, a missing field, a wrong type).
    loaded.config.generation.update(modes=list(GenerationMode))
    loaded.app = get_wsgi_application()
    return loaded


@pytest.fixture(autouse=True)
def requests_keep_the_test_transaction():
    # As Django's test client does: a request must not close the connection that holds the test's transaction.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def admin_headers(settings, tmp_path, make_user):
    # Jobs never run here, and the appliance's own files (SSH key, demo credentials) go to a temporary place.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    settings.DATA_DIR = tmp_path
    from microdc.simulator.demo_site import seed_demo_site

    seed_demo_site()
    _, key = issue_token(make_user("fuzz-admin", Role.ADMIN), name="fuzz")
    return {"Authorization": f"Token {key}"}


schema = (load_schema()
          .exclude(path="/api/v1/telemetry/", method="POST")
          .exclude(path="/api/v1/meters/{id}/poll/"))


@schema.parametrize()
# Only generated cases: schemathesis's coverage phase adds hundreds per operation, too slow for every run.
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx_and_matches_its_schema(case, admin_headers):
    if "id" in (case.path_parameters or {}):
        # Random ids only ever reach the 404 path: aim at an object that exists (a rack that holds nodes...).
        # Over the same WSGI app: Django's test client would reconnect the signal that closes the connection.
        listing = WsgiClient(case.operation.schema.app).get(case.path.split("{id}")[0], headers=admin_headers)
        results = listing.json.get("results") if listing.status_code == 200 else None
        if results:
            case.path_parameters["id"] = results[0]["id"]
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error, response_schema_conformance])
