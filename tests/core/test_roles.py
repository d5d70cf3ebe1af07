"""The role matrix: every role against every endpoint family, reading and writing, allowed and refused."""

import pytest

from microdc.core.roles import Role
from microdc.nodes import agent_tokens

ANON = None
ALL_ROLES = [ANON, Role.VIEWER, Role.OPERATOR, Role.ADMIN]


def payloads(site, rack, node):
    return {
        "/api/v1/sites/": {"name": "New site", "slug": "new-site"},
        "/api/v1/racks/": {"site": site.pk, "name": "R9", "height_u": 42},
        "/api/v1/nodes/": {"hostname": "gpu-99", "management_address": "10.0.0.99", "rack": rack.pk,
                           "position_u": 30, "height_u": 1},
        "/api/v1/accelerators/": {"node": node.pk, "kind": "gpu", "vendor": "nvidia", "model": "H100", "index": 7,
                                  "uuid": "GPU-11111111-2222-3333-4444-555555555555"},
        "/api/v1/meters/": {"site": site.pk, "name": "Feed", "kind": "utility_feed", "boundary": "facility_input",
                            "protocol": "modbus", "host": "10.0.0.5", "port": 502,
                            "settings": {"mode": "sunspec"}},
        "/api/v1/users/": {"username": "newbie", "password": "a-long-enough-passphrase-1", "role": "viewer"},
    }


# Which role may read and which may write each endpoint family (ARCHITECTURE.md: roles).
POLICY = {
    "/api/v1/sites/": (Role.VIEWER, Role.ADMIN),
    "/api/v1/racks/": (Role.VIEWER, Role.ADMIN),
    "/api/v1/nodes/": (Role.VIEWER, Role.ADMIN),
    "/api/v1/accelerators/": (Role.VIEWER, Role.ADMIN),
    "/api/v1/meters/": (Role.VIEWER, Role.ADMIN),
    "/api/v1/users/": (Role.ADMIN, Role.ADMIN),
    "/api/v1/audit/": (Role.ADMIN, None),
}
RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def allowed(role, required):
    return role is not None and required is not None and RANK[role] >= RANK[required]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize("url", list(POLICY))
def test_read_policy(client_for, role, url, node):
    response = client_for(role).get(url)
    if role is None:
        assert response.status_code == 401
    elif allowed(role, POLICY[url][0]):
        assert response.status_code == 200, response.content
        assert "results" in response.json()
    else:
        assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize("url", [u for u, (_, write) in POLICY.items() if write])
def test_write_policy(client_for, role, url, site, rack, node):
    body = payloads(site, rack, node)[url]
    response = client_for(role).post(url, body, format="json")
    if role is None:
        assert response.status_code == 401
    elif allowed(role, POLICY[url][1]):
        assert response.status_code == 201, response.content
    else:
        assert response.status_code == 403
        from django.apps import apps

        # Refused means nothing was written.
        assert not apps.get_model("core", "AuditEvent").objects.filter(action="create").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR], ids=str)
def test_non_admins_cannot_update_or_delete_inventory(client_for, role, node):
    client = client_for(role)
    assert client.patch(f"/api/v1/nodes/{node.pk}/", {"status": "maintenance"}, format="json").status_code == 403
    assert client.delete(f"/api/v1/nodes/{node.pk}/").status_code == 403
    assert client.post(f"/api/v1/nodes/{node.pk}/agent-token/").status_code == 403
    node.refresh_from_db()
    assert node.status == "active"


@pytest.mark.django_db
def test_admin_updates_and_deletes_inventory(admin_api, node):
    assert admin_api.patch(f"/api/v1/nodes/{node.pk}/", {"status": "maintenance"}, format="json").status_code == 200
    assert admin_api.delete(f"/api/v1/nodes/{node.pk}/").status_code == 204


@pytest.mark.django_db
def test_node_token_is_refused_everywhere_but_telemetry(client, node):
    key = agent_tokens.issue_agent_token(node)
    for header in (f"Token {key}", f"Bearer {key}"):
        for url in POLICY:
            response = client.get(url, HTTP_AUTHORIZATION=header)
            assert response.status_code == 401, (header.split()[0], url, response.status_code)


@pytest.mark.django_db
def test_session_login_is_role_checked_too(client, users, node):
    client.force_login(users[Role.VIEWER])
    assert client.get("/api/v1/nodes/").status_code == 200
    assert client.get("/api/v1/users/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "can_view", "can_change"),
    [(Role.VIEWER, True, False), (Role.OPERATOR, True, False), (Role.ADMIN, True, True)],
    ids=str,
)
def test_admin_site_follows_roles(client, users, node, role, can_view, can_change):
    client.force_login(users[role])
    assert (client.get(f"/admin/nodes/node/{node.pk}/change/").status_code == 200) == can_view
    response = client.post(f"/admin/nodes/node/{node.pk}/delete/", {"post": "yes"})
    from microdc.nodes.models import Node

    assert Node.objects.filter(pk=node.pk).exists() != can_change
    if not can_change:
        assert response.status_code == 403
    # The audit log is for admins only, and nobody may edit it.
    assert (client.get("/admin/core/auditevent/").status_code == 200) == (role == Role.ADMIN)
