from . import views

# (prefix, viewset, basename); microdc.api.urls puts every app's routes under one /api/v1/ root.
routes = [
    ("sites", views.SiteViewSet, "site"),
    ("racks", views.RackViewSet, "rack"),
    ("nodes", views.NodeViewSet, "node"),
    ("accelerators", views.AcceleratorViewSet, "accelerator"),
]
urlpatterns = []
