"""The overview's recent changes are the audit trail, which only admins read (as /api/v1/audit/)."""

import pytest
from django.test import Client

from microdc.core import audit
from microdc.core.roles import Role


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_recent_changes_only_for_admins(users, site, role):
    audit.record(actor=users[Role.ADMIN], source="api", action="update", instance=site,
                 changes={"name": {"old": "Plant", "new": site.name}})
    client = Client()
    client.force_login(users[role])
    page = client.get("/").content.decode()
    if role == Role.ADMIN:
        assert "Recent changes" in page and "admin-user" in page
    else:
        assert "Recent changes" not in page and "admin-user" not in page
