"""The alerts API: who may do what, filters, acknowledging, silences, rules and receivers, and bad input
refused with a 400 naming the field."""

import datetime

import pytest
from django.utils import timezone

from microdc.alerts.models import Alert, AlertRule, Receiver, Silence
from microdc.core.models import AuditEvent
from microdc.core.roles import Role

from .alerts import firing, resolve


def soon(minutes: float) -> str:
    return (timezone.now() + datetime.timedelta(minutes=minutes)).isoformat()


@pytest.mark.django_db
def test_alerts_list_open_first_worst_first_with_filters(client_for, site):
    warning = firing(node="gpu-1", site=site)
    critical = firing("leak_detected", severity="critical", meter="CDU-1", site=site)
    old = resolve(firing("ups_on_battery", severity="critical", meter="UPS", site=site), 30)
    viewer = client_for(Role.VIEWER)
    rows = viewer.get("/api/v1/alerts/").json()["results"]
    assert [r["id"] for r in rows] == [critical.pk, warning.pk, old.pk]
    assert rows[0]["summary"] and rows[0]["silenced_by"] == [] and rows[0]["acknowledged_by"] is None
    assert [r["id"] for r in viewer.get("/api/v1/alerts/?state=firing&severity=critical").json()["results"]] == \
        [critical.pk]
    assert viewer.get(f"/api/v1/alerts/?site={site.slug}&open=true").json()["count"] == 2
    assert viewer.get("/api/v1/alerts/?acknowledged=true").json()["count"] == 0
    assert client_for(None).get("/api/v1/alerts/").status_code in (401, 403)


@pytest.mark.django_db
def test_viewers_acknowledge_and_it_is_audited(client_for, site):
    alert = firing(node="gpu-1", site=site)
    response = client_for(Role.VIEWER).post(f"/api/v1/alerts/{alert.pk}/ack/", {"comment": "on my way"},
                                            format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["acknowledged_by"] == "viewer-user" and body["acknowledgement_comment"] == "on my way"
    assert body["state"] == "firing", "acknowledged alerts stay until resolved"
    event = AuditEvent.objects.get(object_type="alerts.alert")
    assert event.actor_name == "viewer-user" and event.changes["acknowledgement_comment"]["new"] == "on my way"
    assert client_for(Role.VIEWER).get("/api/v1/alerts/?acknowledged=true").json()["count"] == 1
    resolve(alert, 60)
    assert client_for(Role.VIEWER).post(f"/api/v1/alerts/{alert.pk}/ack/", {}, format="json").status_code == 409


@pytest.mark.django_db
def test_operators_silence_viewers_do_not_and_delete_expires(client_for, site):
    body = {"matchers": [{"name": "meter", "value": "CDU-1", "isRegex": False, "isEqual": True}],
            "ends_at": soon(60), "comment": "pump swap"}
    assert client_for(Role.VIEWER).post("/api/v1/silences/", body, format="json").status_code == 403
    operator = client_for(Role.OPERATOR)
    response = operator.post("/api/v1/silences/", body, format="json")
    assert response.status_code == 201, response.json()
    silence_id = response.json()["id"]
    assert response.json()["status"] == "active" and response.json()["created_by"] == "operator-user"
    alert = firing("leak_detected", severity="critical", meter="CDU-1", site=site)
    assert client_for(Role.VIEWER).get(f"/api/v1/alerts/{alert.pk}/").json()["silenced_by"] == [silence_id]
    ended = operator.delete(f"/api/v1/silences/{silence_id}/")
    assert ended.status_code == 200 and ended.json()["status"] == "expired"
    assert Silence.objects.filter(pk=silence_id).exists(), "kept, expired"
    assert operator.get("/api/v1/silences/?status=expired").json()["count"] == 1
    actions = list(AuditEvent.objects.filter(object_type="alerts.silence").values_list("action", flat=True))
    assert sorted(actions) == ["create", "update"]


@pytest.mark.django_db
@pytest.mark.parametrize(("matchers", "words"), [
    ([{"name": "site", "value": "a", "isRegex": False, "isEqual": True},
      {"name": "site", "value": "b", "isRegex": False, "isEqual": True}], "can match nothing"),
    ([{"name": "site", "value": ".*", "isRegex": True, "isEqual": True}], "match every alert"),
    ([{"name": "bad-name", "value": "x"}], "label name"),
    ([{"name": "node", "value": "([", "isRegex": True}], "regular expression"),
    ([], "at least one matcher"),
])
def test_a_silence_whose_matchers_are_wrong_is_a_400_naming_matchers(client_for, matchers, words):
    response = client_for(Role.OPERATOR).post("/api/v1/silences/", {"matchers": matchers, "ends_at": soon(60),
                                                                     "comment": "x"}, format="json")
    assert response.status_code == 400 and words in str(response.json()["matchers"]), response.json()


@pytest.mark.django_db
def test_admins_tune_built_in_rules_but_not_their_condition(client_for):
    rule = AlertRule.objects.get(key="gpu_temperature_high")
    admin = client_for(Role.ADMIN)
    assert client_for(Role.OPERATOR).patch(f"/api/v1/alert-rules/{rule.pk}/", {"threshold": 80},
                                           format="json").status_code == 403
    response = admin.patch(f"/api/v1/alert-rules/{rule.pk}/", {"threshold": 83, "for_seconds": 300}, format="json")
    assert response.status_code == 200 and response.json()["threshold"] == 83
    refused = admin.patch(f"/api/v1/alert-rules/{rule.pk}/", {"metric": "power_watts"}, format="json")
    assert refused.status_code == 400 and "metric" in refused.json()
    assert admin.delete(f"/api/v1/alert-rules/{rule.pk}/").status_code == 409
    assert AuditEvent.objects.filter(object_type="alerts.alertrule", action="update").exists()


@pytest.mark.django_db
def test_an_admin_rule_on_an_unknown_metric_is_a_400_naming_metric(client_for):
    body = {"key": "hbm-hot", "name": "HBM hot", "scope": "gpu", "metric": "memory_temprature_celsius",
            "operator": ">", "threshold": 95}
    response = client_for(Role.ADMIN).post("/api/v1/alert-rules/", body, format="json")
    assert response.status_code == 400 and "memory_temperature_celsius" in response.json()["metric"][0]
    good = client_for(Role.ADMIN).post("/api/v1/alert-rules/", body | {"metric": "memory_temperature_celsius"},
                                       format="json")
    assert good.status_code == 201, good.json()
    assert client_for(Role.ADMIN).post("/api/v1/alert-rules/", body | {"key": "x", "metric": "power_watts",
                                                                       "threshold": None},
                                       format="json").status_code == 400


@pytest.mark.django_db
def test_receivers_are_admin_only_and_their_secret_write_only(client_for):
    admin = client_for(Role.ADMIN)
    body = {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": {"hmac_key": "s3cret"}}
    response = admin.post("/api/v1/receivers/", body, format="json")
    assert response.status_code == 201, response.json()
    assert "secret" not in response.json() and response.json()["has_secret"] is True
    assert "s3cret" not in str(admin.get("/api/v1/receivers/").json())
    assert client_for(Role.VIEWER).get("/api/v1/receivers/").status_code == 403
    event = AuditEvent.objects.get(object_type="alerts.receiver")
    assert "s3cret" not in str(event.changes)
    assert Receiver.objects.get().secret == {"hmac_key": "s3cret"}
    assert client_for(Role.OPERATOR).get("/api/v1/notifications/").status_code == 403
    assert admin.get("/api/v1/notifications/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({"name": "a", "kind": "webhook", "url": "ftp://host/hook"}, "url"),
    ({"name": "b", "kind": "webhook", "url": "file:///etc/passwd"}, "url"),
    ({"name": "c", "kind": "webhook"}, "url"),
    ({"name": "d", "kind": "email", "email_to": ["not an address"]}, "email_to"),
    ({"name": "e", "kind": "email"}, "email_to"),
    ({"name": "f", "kind": "webhook", "url": "http://x/", "severities": ["urgent"]}, "severities"),
    ({"name": "g", "kind": "webhook", "url": "http://x/", "group_by": ["a-b"]}, "group_by"),
    ({"name": "h", "kind": "webhook", "url": "http://x/", "secret": {"token": "x"}}, "secret"),
])
def test_bad_receivers_are_400s_naming_the_field(client_for, body, field):
    response = client_for(Role.ADMIN).post("/api/v1/receivers/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not Receiver.objects.exists()


@pytest.mark.django_db
def test_the_delivery_log_shows_each_attempt(client_for, site):
    from microdc.alerts.delivery import deliver_due
    from microdc.alerts.routing import route
    from tests.support import free_port

    Receiver.objects.create(name="down", kind="webhook", url=f"http://127.0.0.1:{free_port()}/", group_wait_seconds=0)
    firing(node="gpu-1", site=site)
    route()
    deliver_due()
    [row] = client_for(Role.ADMIN).get("/api/v1/notifications/").json()["results"]
    assert row["status"] == "pending" and row["receiver"] == "down" and row["attempts"] == 1
    assert row["delivery_attempts"][0]["ok"] is False and "ConnectError" in row["delivery_attempts"][0]["error"]
    assert Alert.objects.count() == 1
