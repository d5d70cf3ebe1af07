from . import views

routes = [
    ("model-servers", views.ModelServerViewSet, "modelserver"),
]
urlpatterns = []
