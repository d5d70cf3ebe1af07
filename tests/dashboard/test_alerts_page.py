"""The alerts page as served: open alerts first by severity, acknowledgements shown, actions by role; the
critical banner on every page."""

import pytest

from microdc.core.roles import Role
from tests.alerts.alerts import firing, resolve


@pytest.mark.django_db
def test_open_alerts_first_worst_first_with_who_acknowledged(client, users, site):
    warning = firing(node="gpu-1", site=site)
    critical = firing("leak_detected", severity="critical", meter="CDU-1", site=site, simulated="true")
    critical.acknowledged_by, critical.acknowledgement_comment = users["viewer"], "plumber called"
    critical.acknowledged_at = critical.starts_at
    critical.save()
    resolve(firing("ups_on_battery", severity="critical", meter="UPS", site=site), 60)
    client.force_login(users[Role.VIEWER])
    html = client.get(f"/alerts/?site={site.slug}").content.decode()
    open_part, recent_part = html.split('id="recent-alerts"')
    assert open_part.index(f'data-alert="{critical.pk}"') < open_part.index(f'data-alert="{warning.pk}"')
    assert "acknowledged by viewer-user" in open_part and "plumber called" in open_part
    assert 'class="badge sim"' in open_part  # a simulated meter's alert says so
    assert "ups_on_battery" in recent_part
    assert 'data-action="ack"' in html


@pytest.mark.django_db
def test_the_critical_banner_shows_on_every_page_until_nothing_critical_fires(client, users, site):
    client.force_login(users[Role.VIEWER])
    assert 'id="critical-banner" class="critical-banner" role="alert" hidden' in client.get("/").content.decode()
    alert = firing("leak_detected", severity="critical", meter="CDU-1", site=site)
    for path in ("/", "/racks/", "/facility/", "/alerts/", "/energy/", "/jobs/"):
        html = client.get(path).content.decode()
        assert 'class="critical-banner unacknowledged"' in html, path
        assert "leak_detected on the site" in html
    resolve(alert, 10)
    assert 'role="alert" hidden' in client.get("/facility/").content.decode()
