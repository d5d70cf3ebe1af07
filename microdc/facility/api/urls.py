from django.urls import path

from . import views

routes = [
    ("meters", views.FacilityMeterViewSet, "facilitymeter"),
    ("carbon-intensity", views.CarbonIntensityViewSet, "carbonintensity"),
]
urlpatterns = [
    path("pue/", views.PueView.as_view(), name="pue"),
    path("cooling/", views.CoolingView.as_view(), name="cooling"),
]
