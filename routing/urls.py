from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import ModelHealthView, OwnCredentialViewSet, RouterViewSet

router = SimpleRouter()
router.register("routers", RouterViewSet, basename="router")
router.register("providers", OwnCredentialViewSet, basename="own-credential")

urlpatterns = [
    *router.urls,
    path("model-health/", ModelHealthView.as_view(), name="model-health"),
]
