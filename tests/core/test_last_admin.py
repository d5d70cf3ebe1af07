"""The site keeps an active admin: the last one can't be deleted, deactivated or demoted, by the API or the admin."""

import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connections, transaction
from django.test import Client

from microdc.core import admins
from microdc.core.models import AuditEvent, User
from microdc.core.roles import Role


def assert_refused(response):
    assert response.status_code == 409, response.content
    assert "last active admin" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("change", [{"role": "operator"}, {"role": "viewer"}, {"is_active": False}])
def test_api_refuses_to_demote_or_deactivate_the_last_admin(admin_api, users, change):
    admin = users[Role.ADMIN]
    assert_refused(admin_api.patch(f"/api/v1/users/{admin.pk}/", change, format="json"))
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN and admin.is_active
    assert not AuditEvent.objects.filter(object_type="core.user").exists()
    # Other changes of the last admin are fine.
    response = admin_api.patch(f"/api/v1/users/{admin.pk}/", {"username": "site-admin"}, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_api_refuses_to_delete_the_last_admin(admin_api, users):
    assert_refused(admin_api.delete(f"/api/v1/users/{users[Role.ADMIN].pk}/"))
    assert User.objects.filter(pk=users[Role.ADMIN].pk).exists()
    assert admin_api.delete(f"/api/v1/users/{users[Role.VIEWER].pk}/").status_code == 204


@pytest.mark.django_db
def test_another_active_admin_lets_one_go(admin_api, users, make_user):
    second = make_user("second-admin", Role.ADMIN)
    assert admin_api.patch(f"/api/v1/users/{second.pk}/", {"role": "operator"}, format="json").status_code == 200
    make_user("inactive-admin", Role.ADMIN, is_active=False)  # can't administer anything
    assert_refused(admin_api.patch(f"/api/v1/users/{users[Role.ADMIN].pk}/", {"role": "operator"}, format="json"))
    root = make_user("root", Role.VIEWER, is_superuser=True)  # a superuser is an admin
    response = admin_api.patch(f"/api/v1/users/{users[Role.ADMIN].pk}/", {"role": "operator"}, format="json")
    assert response.status_code == 200, response.content
    assert admins.is_admin(role=root.role, is_active=True, is_superuser=True)


@pytest.fixture
def admin_browser(users):
    client = Client()
    client.force_login(users[Role.ADMIN])
    return client


@pytest.mark.django_db
def test_admin_change_form_refuses_to_demote_the_last_admin(admin_browser, users):
    admin = users[Role.ADMIN]
    url = f"/admin/core/user/{admin.pk}/change/"
    form = admin_browser.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    data |= {"role": "viewer", "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    response = admin_browser.post(url, data)
    assert response.status_code == 200
    assert "last active admin" in str(response.context["adminform"].form.non_field_errors())
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN


@pytest.mark.django_db
def test_admin_delete_refuses_the_last_admin(admin_browser, users, make_user):
    admin = users[Role.ADMIN]
    response = admin_browser.post(f"/admin/core/user/{admin.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and response.url == f"/admin/core/user/{admin.pk}/change/"
    assert User.objects.filter(pk=admin.pk).exists()
    assert any("last active admin" in str(m) for m in get_messages(response.wsgi_request))

    second = make_user("second-admin", Role.ADMIN)
    response = admin_browser.post("/admin/core/user/", {"action": "delete_selected", "post": "yes",
                                                        "_selected_action": [admin.pk, second.pk]})
    assert User.objects.filter(pk__in=[admin.pk, second.pk]).count() == 2
    assert any("are the last active admins" in str(m) for m in get_messages(response.wsgi_request))

    response = admin_browser.post("/admin/core/user/", {"action": "delete_selected", "post": "yes",
                                                        "_selected_action": [second.pk]})
    assert not User.objects.filter(pk=second.pk).exists()
    assert AuditEvent.objects.filter(object_type="core.user", object_id=str(second.pk), action="delete",
                                     source="admin").exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_demotions_cannot_both_pass(make_user):
    first, second = make_user("admin-a", Role.ADMIN), make_user("admin-b", Role.ADMIN)
    first_locked, release_first, outcome = threading.Event(), threading.Event(), {}

    def demote(user, hold):
        try:
            with transaction.atomic():
                admins.keep_an_admin([user.pk])
                if hold:
                    first_locked.set()
                    release_first.wait(10)
                User.objects.filter(pk=user.pk).update(role=Role.OPERATOR)
            outcome[user.username] = "demoted"
        except admins.LastAdminError:
            outcome[user.username] = "refused"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=demote, args=(first, True))]
    threads[0].start()
    assert first_locked.wait(10)
    threads.append(threading.Thread(target=demote, args=(second, False)))
    threads[1].start()
    threads[1].join(0.5)
    assert threads[1].is_alive()  # waiting on the admin rows the first demotion holds
    release_first.set()
    for thread in threads:
        thread.join(10)
    assert outcome == {"admin-a": "demoted", "admin-b": "refused"}
    assert User.objects.get(pk=second.pk).role == Role.ADMIN
