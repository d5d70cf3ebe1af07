from . import views

routes = [("meters", views.FacilityMeterViewSet, "facilitymeter")]
urlpatterns = []
