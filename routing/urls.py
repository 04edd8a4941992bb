from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import ModelHealthView, RouterViewSet

router = SimpleRouter()
router.register("routers", RouterViewSet, basename="router")

urlpatterns = [
    *router.urls,
    path("model-health/", ModelHealthView.as_view(), name="model-health"),
]
