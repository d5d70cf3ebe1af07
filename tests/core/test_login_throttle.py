"""Failed logins are throttled per user name and per client address on all three login paths, in the shared cache."""

import os
import subprocess
import sys

import pytest
from django.core.cache import caches
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from microdc.core.clients import client_address
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def three_per_minute(settings):
    settings.MICRODC_LOGIN_RATE = "3/min"
    caches["shared"].clear()  # with Redis the counts outlive a test
    yield
    caches["shared"].clear()


def token(username: str, password: str, address: str = "10.0.0.5", **headers):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json",
                            REMOTE_ADDR=address, **headers)


def form_login(path: str, username: str, password: str, address: str = "10.0.0.5"):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def database_url() -> str:
    """This test run's database, as another process would be told it."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_attempts_counted_in_another_process_count_here(users, settings):
    """Another web process (here: a plain Python process on the same settings) fails three logins as viewer-user;
    this process then refuses the fourth. With REDIS_URL the counts are in Redis, else in the database table."""
    script = ("import django; django.setup()\n"
              "from microdc.core.throttles import LoginThrottle\n"
              "for _ in range(3):\n"
              "    assert LoginThrottle('viewer-user', '198.51.100.1').attempt() is None\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "microdc.settings", "DATABASE_URL": database_url(),
           "MICRODC_LOGIN_RATE": settings.MICRODC_LOGIN_RATE}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert token("viewer-user", PASSWORD, address="10.0.0.9").status_code == 429
    assert token("operator-user", PASSWORD, address="10.0.0.9").status_code == 201


def test_token_endpoint_throttles_a_user_name_from_any_address(users):
    for attempt in range(3):
        assert token("viewer-user", "wrong", address=f"10.0.0.{attempt + 1}").status_code == 401
    refused = token("viewer-user", PASSWORD, address="10.0.0.99")  # even the right password is not checked
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Too many failed login attempts" in refused.json()["detail"]
    assert token("operator-user", PASSWORD, address="10.0.0.98").status_code == 201


def test_token_endpoint_throttles_a_client_trying_many_user_names(users):
    for name in ("a", "b", "c"):
        assert token(name, "wrong").status_code == 401
    assert token("viewer-user", PASSWORD).status_code == 429
    assert token("viewer-user", PASSWORD, address="10.0.0.6").status_code == 201


def test_successful_logins_do_not_use_up_the_rate(users):
    for _ in range(5):
        assert token("viewer-user", PASSWORD).status_code == 201


def test_a_spoofed_forwarded_for_does_not_make_a_new_client(users):
    for attempt in range(3):
        forged = {"HTTP_X_FORWARDED_FOR": f"192.0.2.{attempt}"}
        assert token(f"user-{attempt}", "wrong", **forged).status_code == 401
    assert token("user-9", "wrong", HTTP_X_FORWARDED_FOR="192.0.2.77").status_code == 429


def test_behind_a_declared_proxy_the_client_is_the_right_most_untrusted_address(settings):
    settings.MICRODC_TRUSTED_PROXIES = ["127.0.0.1/32", "10.1.0.0/16"]
    factory = RequestFactory()

    def seen(remote: str, forwarded: str | None) -> str:
        headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
        return client_address(factory.get("/", REMOTE_ADDR=remote, **headers))

    # The client wrote the first entry itself; the proxies appended the rest.
    assert seen("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.2.3") == "203.0.113.7"
    assert seen("127.0.0.1", "203.0.113.7") == "203.0.113.7"
    assert seen("127.0.0.1", None) == "127.0.0.1"
    assert seen("198.51.100.4", "203.0.113.7") == "198.51.100.4"  # not from a proxy: the header is ignored
    assert seen("127.0.0.1", "10.1.0.9") == "10.1.0.9"  # only proxies in the chain: the first of them


def test_clients_behind_a_declared_proxy_are_throttled_apart(settings, users):
    settings.MICRODC_TRUSTED_PROXIES = ["10.0.0.5"]
    for name in ("a", "b", "c"):
        assert token(name, "wrong", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 401
    assert token("viewer-user", PASSWORD, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7").status_code == 429
    assert token("viewer-user", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 201


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_login_pages_are_throttled_with_the_reason_on_the_form(users, path):
    for _ in range(3):
        response = form_login(path, "admin-user", "wrong")
        assert response.status_code == 200 and "Retry-After" not in response
    refused = form_login(path, "admin-user", PASSWORD, address="10.0.0.77")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Too many failed login attempts" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_the_three_paths_share_one_count(users):
    assert token("admin-user", "wrong").status_code == 401
    assert form_login("/login/", "admin-user", "wrong").status_code == 200
    assert form_login("/admin/login/", "admin-user", "wrong").status_code == 200
    assert token("admin-user", PASSWORD, address="10.0.0.50").status_code == 429


def test_the_login_page_still_logs_in(users):
    response = form_login("/login/", "viewer-user", PASSWORD)
    assert response.status_code == 302
    wrong = form_login("/login/", "viewer-user", "wrong")
    assert "Wrong username or password." in wrong.content.decode()
