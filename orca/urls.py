from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from billing.views import stripe_webhook
from workspaces.api import WorkspaceListView

urlpatterns = [
    path("", include("orca.dashboard_urls")),
    # Browsers ask for /favicon.ico whatever the page links; the one static file, fixed path.
    path(
        "favicon.ico",
        serve,
        {"path": "favicon.ico", "document_root": settings.BASE_DIR / "static" / "orca"},
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("billing/stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/workspaces/", WorkspaceListView.as_view(), name="workspace-list"),
    path("api/workspaces/<slug:workspace>/", include("workspaces.urls")),
    path("api/workspaces/<slug:workspace>/", include("routing.urls")),
    path("api/workspaces/<slug:workspace>/", include("billing.urls")),
    path("api/workspaces/<slug:workspace>/", include("guardrails.urls")),
    path("api/workspaces/<slug:workspace>/", include("prompts.urls")),
    path("api/v1/", include("workspaces.openrouter_urls")),  # OpenRouter's /keys
]

# An unknown URL under /api/ answers DRF's JSON 404, not the dashboard's page.
handler404 = "orca.api_schema.not_found"
