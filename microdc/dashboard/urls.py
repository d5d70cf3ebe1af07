from django.urls import path

from . import views

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("racks/", views.racks, name="racks"),
    path("racks/<int:pk>/", views.rack, name="rack"),
    path("nodes/<int:pk>/", views.node, name="node"),
    path("facility/", views.facility_page, name="facility"),
    path("alerts/", views.alerts_page, name="alerts"),
    path("energy/", views.energy_page, name="energy"),
    path("deployments/<int:pk>/", views.deployment, name="deployment"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<int:pk>/", views.job, name="job"),
    path("jobs/<int:pk>/events", views.job_events, name="job-events"),
    path("charts/sites/<int:pk>/it-power", views.chart_site_it, name="chart-site-it"),
    path("charts/nodes/<int:pk>", views.chart_node, name="chart-node"),
    path("charts/meters/<int:pk>", views.chart_meter, name="chart-meter"),
    path("charts/deployments/<int:pk>", views.chart_deployment, name="chart-deployment"),
]
