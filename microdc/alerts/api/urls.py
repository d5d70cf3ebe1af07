from . import views

routes = [
    ("alerts", views.AlertViewSet, "alert"),
    ("silences", views.SilenceViewSet, "silence"),
    ("alert-rules", views.AlertRuleViewSet, "alertrule"),
    ("receivers", views.ReceiverViewSet, "receiver"),
    ("notifications", views.NotificationViewSet, "notification"),
]
urlpatterns = []
