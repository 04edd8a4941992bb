from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve

from billing.views import stripe_webhook

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
    path("api/workspaces/<slug:workspace>/", include("routing.urls")),
    path("api/workspaces/<slug:workspace>/", include("billing.urls")),
]
