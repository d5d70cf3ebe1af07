from django.urls import path

from . import views

routes = [
    ("power-limit-changes", views.PowerLimitChangeViewSet, "powerlimitchange"),
    ("cap-sweeps", views.CapSweepViewSet, "capsweep"),
]
# Beside the accelerator, node and deployment viewsets, which own /<kind>/<id>/.
urlpatterns = [
    path("accelerators/<int:id>/power-limit/", views.AcceleratorPowerLimitView.as_view(),
         name="accelerator-power-limit"),
    path("nodes/<int:id>/power-limit/", views.NodePowerLimitView.as_view(), name="node-power-limit"),
    path("deployments/<int:id>/cap-sweep/", views.DeploymentCapSweepView.as_view(), name="deployment-cap-sweep"),
    path("capacities/", views.CapacityView.as_view(), name="capacities"),
    path("deployments/<int:id>/power-limit/", views.DeploymentPowerLimitView.as_view(),
         name="deployment-power-limit"),
]
