"""/api/v1/: one browsable root over every app's API routes, plus the OpenAPI schema and its UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from microdc.alerts.api import urls as alerts_urls
from microdc.core.api import urls as core_urls
from microdc.energy.api import urls as energy_urls
from microdc.facility.api import urls as facility_urls
from microdc.nodes.api import urls as nodes_urls
from microdc.power.api import urls as power_urls
from microdc.provisioning.api import urls as provisioning_urls
from microdc.telemetry.api import urls as telemetry_urls

APP_URLS = [core_urls, nodes_urls, telemetry_urls, facility_urls, provisioning_urls, energy_urls, power_urls,
            alerts_urls]

router = DefaultRouter()
for app_urls in APP_URLS:
    for prefix, viewset, basename in app_urls.routes:
        router.register(prefix, viewset, basename=basename)

v1 = [path("", include(router.urls))]
for app_urls in APP_URLS:
    v1 += app_urls.urlpatterns

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
