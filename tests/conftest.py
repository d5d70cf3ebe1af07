"""Fixtures shared by the whole suite: users of each role, API clients, a small site."""

import pytest
from rest_framework.test import APIClient

from microdc.core.roles import Role
from microdc.core.tokens import issue_token

PASSWORD = "correct-horse-battery-staple-9"


@pytest.fixture(autouse=True)
def fresh_process_cache():
    """Each test starts with an empty per-process cache (computed PUE, summaries), as a fresh process would."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Production keeps Django's slow PBKDF2; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, role: str = Role.VIEWER, **extra):
        return django_user_model.objects.create_user(username=username, password=PASSWORD, role=role, **extra)

    return make


@pytest.fixture
def users(make_user):
    return {role.value: make_user(f"{role.value}-user", role) for role in Role}


@pytest.fixture
def client_for(users):
    """An APIClient authenticated with a real API token of the given role (None: anonymous)."""

    def make(role: str | None) -> APIClient:
        client = APIClient()
        if role is not None:
            _, key = issue_token(users[role], name="test")
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture
def admin_api(client_for) -> APIClient:
    return client_for(Role.ADMIN)


@pytest.fixture
def site(db):
    from microdc.nodes.models import Site

    return Site.objects.create(name="Plant 1", slug="plant-1")


@pytest.fixture
def rack(site):
    from microdc.nodes.models import Rack

    return Rack.objects.create(site=site, name="R1", height_u=42)


@pytest.fixture
def node(rack):
    from microdc.nodes.models import Node

    return Node.objects.create(hostname="gpu-01", management_address="10.0.0.11", rack=rack, position_u=1,
                               height_u=2)


@pytest.fixture
def live_appliance(transactional_db):
    """The appliance served over real HTTP on a loopback port (stop() and start() again to simulate an outage)."""
    from tests.live import LiveAppliance

    appliance = LiveAppliance().start()
    yield appliance
    appliance.close()
