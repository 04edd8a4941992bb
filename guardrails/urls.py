"""Guardrails management API, under /api/workspaces/<slug>/ (views in guardrails/api.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import GuardrailVersionViewSet, GuardrailViewSet, MatchListView

router = SimpleRouter()
router.register("guardrails", GuardrailViewSet, basename="guardrail")
router.register(
    r"guardrails/(?P<guardrail_id>[0-9]{1,18})/versions",
    GuardrailVersionViewSet,
    basename="guardrail-version",
)

urlpatterns = [
    path("guardrails/matches/", MatchListView.as_view(), name="guardrail-matches"),
    *router.urls,
]
