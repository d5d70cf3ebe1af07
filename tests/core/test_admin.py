"""The Django admin under the one role policy, seen over HTTP: who may do what, and every change audited."""

import pytest
from django.test import Client

from microdc.core.audit import MASK
from microdc.core.models import ApiToken, AuditEvent
from microdc.core.roles import Role
from microdc.core.tokens import issue_token
from microdc.nodes.models import Accelerator, Rack
from microdc.provisioning.models import Deployment, DeploymentRevision, Job, JobEvent, SigningKey

PUBLIC_KEY = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="


@pytest.fixture
def browser(users):
    def login(role):
        client = Client()
        client.force_login(users[role])
        return client

    return login


def form_data(response) -> dict:
    """What a browser posts back from an admin change form, inline formsets included, unchanged."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is True:
                data[form[name].html_name] = "on"
            elif value is not False and value is not None:
                data[form[name].html_name] = value
    return data


@pytest.mark.django_db
def test_only_admins_manage_trusted_signing_keys(browser):
    operator = browser(Role.OPERATOR)
    assert operator.get("/admin/provisioning/signingkey/add/").status_code == 403
    response = operator.post("/admin/provisioning/signingkey/add/", {"name": "mine", "public_key": PUBLIC_KEY})
    assert response.status_code == 403
    key = SigningKey.objects.create(name="registry", public_key=PUBLIC_KEY)
    response = operator.post(f"/admin/provisioning/signingkey/{key.pk}/change/", {"name": "registry",
                                                                                  "public_key": "forged"})
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.public_key == PUBLIC_KEY
    assert not SigningKey.objects.filter(name="mine").exists()

    response = browser(Role.ADMIN).post("/admin/provisioning/signingkey/add/",
                                        {"name": "mine", "public_key": PUBLIC_KEY, "created_0": "2026-01-01",
                                         "created_1": "00:00:00"})
    assert response.status_code == 302, response.content
    created = SigningKey.objects.get(name="mine")
    event = AuditEvent.objects.get(object_type="provisioning.signingkey", object_id=str(created.pk))
    assert (event.source, event.action, event.actor_name) == ("admin", "create", "admin-user")


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
def test_history_cannot_be_deleted_in_the_admin(browser, users, role, node):
    deployment = Deployment.objects.create(name="llm", runtime="vllm", created_by=users[Role.OPERATOR])
    job = Job.objects.create(kind=Job.Kind.DEPLOY, status=Job.Status.RUNNING, deployment=deployment)
    event = JobEvent.objects.create(job=job, counter=1, event="runner_on_ok")
    client = browser(role)
    for url in [f"/admin/provisioning/deployment/{deployment.pk}/delete/", f"/admin/provisioning/job/{job.pk}/delete/",
                f"/admin/provisioning/jobevent/{event.pk}/delete/"]:
        assert client.post(url, {"post": "yes"}).status_code == 403, url
    client.post("/admin/provisioning/job/", {"action": "delete_selected", "_selected_action": [job.pk], "post": "yes"})
    assert Job.objects.filter(pk=job.pk).exists() and JobEvent.objects.filter(pk=event.pk).exists()
    assert Deployment.objects.filter(pk=deployment.pk).exists()
    # Viewing stays open (the API shows deployments and jobs to every role), without a delete action.
    assert client.get(f"/admin/provisioning/job/{job.pk}/change/").status_code == 200
    listing = client.get("/admin/provisioning/job/")
    assert listing.status_code == 200 and 'value="delete_selected"' not in listing.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_non_admins_see_no_users_and_only_their_own_tokens(browser, users, role):
    own, _ = issue_token(users[role], name="own")
    other, _ = issue_token(users[Role.ADMIN], name="other")
    users[Role.ADMIN].email = "root@plant-1.example"
    users[Role.ADMIN].save()
    client = browser(role)
    assert client.get("/admin/core/user/").status_code == 403
    assert client.get(f"/admin/core/user/{users[Role.ADMIN].pk}/change/").status_code == 403
    assert users[Role.ADMIN].email not in client.get("/admin/").content.decode()
    listing = client.get("/admin/core/apitoken/").content.decode()
    assert own.key_id in listing and other.key_id not in listing
    assert client.get(f"/admin/core/apitoken/{other.pk}/change/").status_code == 302  # "doesn't exist"
    assert client.get("/admin/core/auditevent/").status_code == 403
    assert client.get("/admin/django_tasks_database/dbtaskresult/").status_code == 403

    # Revoking, as the API's DELETE does, and only one's own.
    client.post("/admin/core/apitoken/", {"action": "revoke_tokens", "_selected_action": [own.pk, other.pk]})
    own.refresh_from_db()
    other.refresh_from_db()
    assert own.revoked is not None and other.revoked is None
    event = AuditEvent.objects.get(object_type="core.apitoken", object_id=str(own.pk))
    assert (event.source, event.action, event.actor) == ("admin", "update", users[role])
    assert ApiToken.objects.filter(pk=own.pk).exists()  # revoked, not deleted


@pytest.mark.django_db
def test_bulk_delete_is_audited_in_its_transaction(browser, site):
    racks = [Rack.objects.create(site=site, name=f"R{i}", height_u=42) for i in range(2)]
    response = browser(Role.ADMIN).post("/admin/nodes/rack/", {
        "action": "delete_selected", "_selected_action": [r.pk for r in racks], "post": "yes"})
    assert response.status_code == 302
    assert not Rack.objects.filter(pk__in=[r.pk for r in racks]).exists()
    events = AuditEvent.objects.filter(object_type="nodes.rack", action="delete", source="admin")
    assert sorted(e.object_id for e in events) == sorted(str(r.pk) for r in racks)
    assert {e.changes["name"]["old"] for e in events} == {"R0", "R1"}


@pytest.mark.django_db
def test_inline_changes_are_audited(browser, node):
    kept = Accelerator.objects.create(node=node, vendor="nvidia", model="H100", index=0,
                                      uuid="GPU-00000000-0000-0000-0000-000000000000")
    dropped = Accelerator.objects.create(node=node, vendor="nvidia", model="H100", index=1,
                                         uuid="GPU-00000000-0000-0000-0000-000000000001")
    client = browser(Role.ADMIN)
    url = f"/admin/nodes/node/{node.pk}/change/"
    data = form_data(client.get(url))
    rows = {data[k]: k.removesuffix("-id") for k in data if k.startswith("accelerators-") and k.endswith("-id")}
    data[f"{rows[kept.pk]}-model"] = "H200"
    data[f"{rows[dropped.pk]}-DELETE"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, [f.errors for f in response.context["inline_admin_formsets"][0].formset]

    events = {e.object_id: e for e in AuditEvent.objects.filter(object_type="nodes.accelerator", source="admin")}
    assert events[str(kept.pk)].action == "update"
    assert events[str(kept.pk)].changes == {"model": {"old": "H100", "new": "H200"}}
    assert events[str(dropped.pk)].action == "delete"
    assert not Accelerator.objects.filter(pk=dropped.pk).exists()


@pytest.mark.django_db
def test_password_change_in_the_admin_is_audited_masked(browser, users):
    viewer = users[Role.VIEWER]
    response = browser(Role.ADMIN).post(f"/admin/core/user/{viewer.pk}/password/", {
        "password1": "another-long-passphrase-7", "password2": "another-long-passphrase-7",
        "usable_password": "true", "set_usable_password": "true"})
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.check_password("another-long-passphrase-7")
    event = AuditEvent.objects.get(object_type="core.user", object_id=str(viewer.pk), source="admin")
    assert event.changes == {"password": {"old": MASK, "new": MASK}}


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_viewers_are_not_shown_artifact_urls(browser, users, role):
    deployment = Deployment.objects.create(name="llm", runtime="vllm")
    DeploymentRevision.objects.create(deployment=deployment, number=1, port=8001, artifact_sha256="0" * 64,
                                      artifact="https://ci:hunter2@registry.example/llm.tar?sig=abc")
    page = browser(role).get(f"/admin/provisioning/deployment/{deployment.pk}/change/").content.decode()
    assert ("hunter2" in page) == (role != Role.VIEWER)
    assert "0" * 64 in page
