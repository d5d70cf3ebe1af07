from django.urls import path

from . import views

routes = [
    ("model-servers", views.ModelServerViewSet, "modelserver"),
]
# Beside provisioning's deployment viewset, which owns /deployments/<id>/ and has no "energy" action.
urlpatterns = [
    path("deployments/<int:id>/energy/", views.DeploymentEnergyView.as_view(), name="deployment-energy"),
    path("energy/", views.PilotTableView.as_view(), name="energy-pilot-table"),
]
