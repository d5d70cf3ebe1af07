from django.urls import path

from . import views

routes = [
    ("users", views.UserViewSet, "user"),
    ("auth/tokens", views.ApiTokenViewSet, "apitoken"),
    ("audit", views.AuditEventViewSet, "auditevent"),
]
urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="obtain-token"),
    path("auth/me/", views.MeView.as_view(), name="me"),
]
