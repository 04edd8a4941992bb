"""Prompt registry management API, under /api/workspaces/<slug>/ (views in prompts/api.py)."""

from rest_framework.routers import SimpleRouter

from .api import NAME_REGEX, PromptLabelViewSet, PromptVersionViewSet, PromptViewSet

router = SimpleRouter()
router.register("prompts", PromptViewSet, basename="prompt")
router.register(
    rf"prompts/(?P<prompt_name>{NAME_REGEX})/versions",
    PromptVersionViewSet,
    basename="prompt-version",
)
router.register(
    rf"prompts/(?P<prompt_name>{NAME_REGEX})/labels", PromptLabelViewSet, basename="prompt-label"
)

urlpatterns = router.urls
