from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("orca.dashboard_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/workspaces/<slug:workspace>/", include("routing.urls")),
    path("api/workspaces/<slug:workspace>/", include("billing.urls")),
]
