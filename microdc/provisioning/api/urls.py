from django.urls import path

from . import views

routes = [
    ("deployments", views.DeploymentViewSet, "deployment"),
    ("jobs", views.JobViewSet, "job"),
    ("signing-keys", views.SigningKeyViewSet, "signingkey"),
]
urlpatterns = [
    path("bootstrap/", views.BootstrapView.as_view(), name="bootstrap"),
    path("ssh-key/", views.SshKeyView.as_view(), name="ssh-key"),
]
