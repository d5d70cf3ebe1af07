"""One role policy everywhere: the Django admin answers exactly what the policy table says, for every model
registered there, and the table says exactly what the API does, for every model the API serves."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from rest_framework.request import Request

from microdc.api.urls import router
from microdc.core import policy
from microdc.core.admin import AuditedModelAdmin
from microdc.core.permissions import RolePermission
from microdc.core.roles import Role

RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
ROLES = ["viewer", "operator", "admin", "superuser"]
# The viewset methods that carry out each action of the policy, and the HTTP method they answer.
API_METHODS = {"view": [("list", "get"), ("retrieve", "get")], "add": [("create", "post")],
               "change": [("partial_update", "patch"), ("update", "put")], "delete": [("destroy", "delete")]}


@pytest.fixture
def role_users(make_user):
    people = {role.value: make_user(f"{role.value}-person", role) for role in Role}
    people["superuser"] = make_user("root-person", Role.ADMIN, is_superuser=True)
    return people


def expected(role: str, label: str, action: str, *, in_admin: bool) -> bool:
    entry = policy.POLICIES[label]
    required = entry.required(action)
    if required is None or (in_admin and action not in entry.in_admin):
        return False
    return RANK[Role.ADMIN if role == "superuser" else Role(role)] >= RANK[required]


def admin_answers(model_admin, request, action) -> bool:
    check = getattr(model_admin, f"has_{action}_permission")
    if action == "add" and not isinstance(model_admin, admin.options.InlineModelAdmin):
        return check(request)  # a ModelAdmin's add takes no object; an inline's takes its parent
    return check(request, None)


def admin_classes():
    """Every ModelAdmin and inline of the admin site, with the model it manages."""
    for model, model_admin in admin.site._registry.items():
        yield model, model_admin
        for inline_class in model_admin.inlines:
            yield inline_class.model, inline_class(model, admin.site)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_admin_allows_exactly_the_policy(role_users, role):
    request = RequestFactory().get("/admin/")
    request.user = role_users[role]
    registered = list(admin_classes())
    assert len(registered) >= 12  # the registry is populated (admin autodiscovery ran)
    mismatches = []
    for model, model_admin in registered:
        label = model._meta.label_lower
        assert label in policy.POLICIES, f"{label} is in the admin but has no role policy in microdc.core.policy"
        for action in policy.ACTIONS:
            want = expected(role, label, action, in_admin=True)
            if admin_answers(model_admin, request, action) != want:
                mismatches.append(f"{label} {action}: policy says {want}")
            if request.user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}") != (
                    role == "superuser" or expected(role, label, action, in_admin=False)):
                mismatches.append(f"{label} has_perm {action}")
    assert mismatches == []


def test_every_admin_is_audited():
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, AuditedModelAdmin), f"{model._meta.label} is registered without auditing"


def api_allows(viewset, user, action) -> bool:
    allowed = False
    for method_name, http_method in API_METHODS[action]:
        if not hasattr(viewset, method_name):
            continue  # the API has no such endpoint: it allows nobody
        django_request = getattr(RequestFactory(), http_method)("/api/v1/")
        django_request.user = user
        request = Request(django_request)
        request.user = user
        view = viewset(action=method_name, request=request, format_kwarg=None, kwargs={})
        allowed = allowed or RolePermission().has_permission(request, view)
    return allowed


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_policy_is_what_the_api_allows(role_users, role):
    mismatches = []
    for _prefix, viewset, _basename in router.registry:
        model = viewset.queryset.model
        label = model._meta.label_lower
        assert label in policy.POLICIES, f"/api/v1/{_prefix}/ serves {label}, which has no role policy"
        for action in policy.ACTIONS:
            want = expected(role, label, action, in_admin=False)
            if api_allows(viewset, role_users[role], action) != want:
                mismatches.append(f"{label} {action}: policy says {want}")
    assert mismatches == []


def test_the_reviewed_holes_are_closed():
    """The cases the review found, spelled out rather than derived from the table."""
    signing_key, deployment = policy.POLICIES["provisioning.signingkey"], policy.POLICIES["provisioning.deployment"]
    assert signing_key.add == signing_key.change == signing_key.delete == Role.ADMIN
    assert "delete" not in deployment.in_admin  # the API removes through a job; the admin can't
    for label in ["provisioning.job", "provisioning.jobevent", "core.auditevent"]:
        assert policy.POLICIES[label].delete is None
    assert policy.POLICIES["core.user"].view == Role.ADMIN
    assert policy.POLICIES["core.auditevent"].view == Role.ADMIN
