import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from microdc.core.models import ApiToken
from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_obtain_token_with_password_and_use_it(users):
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": "viewer-user", "password": PASSWORD, "name": "cli"},
                           format="json")
    assert response.status_code == 201
    key = response.json()["key"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    me = client.get("/api/v1/auth/me/").json()
    assert me["username"] == "viewer-user" and me["role"] == "viewer"


@pytest.mark.django_db
def test_wrong_password_gets_no_token(users):
    response = APIClient().post("/api/v1/auth/token/", {"username": "viewer-user", "password": "nope"},
                                format="json")
    assert response.status_code == 401
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_missing_fields_are_named(users):
    response = APIClient().post("/api/v1/auth/token/", {"username": "viewer-user"}, format="json")
    assert response.status_code == 400 and "password" in response.json()


@pytest.mark.django_db
def test_key_is_stored_hashed_and_shown_once(users):
    client = APIClient()
    key = client.post("/api/v1/auth/token/", {"username": "admin-user", "password": PASSWORD},
                      format="json").json()["key"]
    token = ApiToken.objects.get()
    assert key not in (token.key_hash, token.key_id)
    assert len(token.key_hash) == 64
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    listing = client.get("/api/v1/auth/tokens/")
    assert listing.status_code == 200
    assert key not in listing.content.decode()
    assert "key" not in listing.json()["results"][0]
    assert client.get("/api/v1/auth/tokens/current/").json()["key_id"] == token.key_id


@pytest.mark.django_db
def test_revoked_token_stops_working(client_for, users):
    client = client_for("viewer")
    token = ApiToken.objects.get(user=users["viewer"])
    assert client.delete(f"/api/v1/auth/tokens/{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked is not None
    assert client.get("/api/v1/nodes/").status_code == 401


@pytest.mark.django_db
def test_expired_and_tampered_tokens_are_refused(users):
    from microdc.core.tokens import issue_token

    _, key = issue_token(users["admin"], expires=timezone.now() - datetime.timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/nodes/").status_code == 401
    _, key = issue_token(users["admin"])
    client.credentials(HTTP_AUTHORIZATION=f"Token {key[:-2]}xx")
    assert client.get("/api/v1/nodes/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/nodes/").status_code == 200


@pytest.mark.django_db
def test_users_see_only_their_tokens_admins_see_all(client_for, users):
    viewer = client_for("viewer")
    admin = client_for("admin")
    assert viewer.get("/api/v1/auth/tokens/").json()["count"] == 1
    assert admin.get("/api/v1/auth/tokens/").json()["count"] == 2
    admin_token = ApiToken.objects.get(user=users["admin"])
    assert viewer.delete(f"/api/v1/auth/tokens/{admin_token.pk}/").status_code == 404


@pytest.mark.django_db
def test_create_extra_token_for_self(client_for):
    client = client_for("operator")
    response = client.post("/api/v1/auth/tokens/", {"name": "ci"}, format="json")
    assert response.status_code == 201
    assert response.json()["key"].startswith("mdc_")
    assert response.json()["username"] == "operator-user"


@pytest.mark.django_db
def test_admin_creates_user_with_role_password_never_returned(admin_api):
    response = admin_api.post("/api/v1/users/", {"username": "facilities", "password": "a-long-enough-passphrase-1",
                                                 "role": "operator"}, format="json")
    assert response.status_code == 201
    assert "password" not in response.json() and response.json()["role"] == "operator"
    weak = admin_api.post("/api/v1/users/", {"username": "weak", "password": "123", "role": "viewer"}, format="json")
    assert weak.status_code == 400 and "password" in weak.json()
    bad_role = admin_api.post("/api/v1/users/", {"username": "x", "password": "a-long-enough-passphrase-1",
                                                 "role": "root"}, format="json")
    assert bad_role.status_code == 400 and "role" in bad_role.json()
