from django.urls import reverse

from microdc.alerts import links


def test_alert_links_are_the_dashboards_pages():
    assert reverse("dashboard:facility") == links.FACILITY
    assert links.node(7) == reverse("dashboard:node", args=[7])
    assert links.deployment(12) == reverse("dashboard:deployment", args=[12])
