"""OpenRouter's provisioning API under /api/v1/ (views in workspaces/openrouter_api.py). The
other /api/v1/ endpoints take relay keys and are served by the relay (orca/asgi.py)."""

from django.urls import path

from .openrouter_api import KeyDetailView, KeyListView

urlpatterns = [
    path("keys", KeyListView.as_view(), name="openrouter-keys"),
    path("keys/<str:key_hash>", KeyDetailView.as_view(), name="openrouter-key"),
]
