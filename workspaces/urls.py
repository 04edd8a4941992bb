"""Workspace management API, under /api/workspaces/<slug>/ (views in workspaces/api.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import ApiKeyViewSet, ManagementKeyViewSet, MemberViewSet, WorkspaceDetailView

router = SimpleRouter()
router.register("members", MemberViewSet, basename="member")
router.register("keys", ApiKeyViewSet, basename="api-key")
router.register("management-keys", ManagementKeyViewSet, basename="management-key")

urlpatterns = [
    path("", WorkspaceDetailView.as_view(), name="workspace-detail"),
    *router.urls,
]
