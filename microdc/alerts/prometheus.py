"""/metrics for the alerts app: open alerts by site, state and severity; notifications waiting to go out;
each site's PUE target (for the Prometheus rule that mirrors pue_above_target)."""

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from microdc.nodes.models import Site

from .models import Alert, Notification, Receiver


class AlertsCollector(Collector):
    def collect(self) -> Iterator:
        alerts = GaugeMetricFamily("microdc_alerts", "Open alerts of the appliance's own rules",
                                   labels=["site", "state", "severity"])
        counts = Counter((labels.get("site", ""), state, severity) for labels, state, severity in
                         Alert.objects.filter(state__in=Alert.OPEN_STATES).values_list("labels", "state", "severity"))
        for (site, state, severity), count in sorted(counts.items()):
            alerts.add_metric([site, state, severity], float(count))
        yield alerts
        pending = GaugeMetricFamily("microdc_alert_notifications_pending",
                                    "Notifications not yet delivered (retried with backoff)", labels=["receiver"])
        waiting = Counter(Notification.objects.filter(status=Notification.Status.PENDING)
                          .values_list("receiver__name", flat=True))
        for name in Receiver.objects.order_by("name").values_list("name", flat=True):
            pending.add_metric([name], float(waiting.get(name, 0)))
        yield pending
        target = GaugeMetricFamily("microdc_site_pue_target_ratio", "The PUE the site aims at", labels=["site"])
        for slug, value in Site.objects.filter(pue_target__isnull=False).values_list("slug", "pue_target"):
            target.add_metric([slug], value)
        yield target
