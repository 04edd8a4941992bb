"""Usage and ledger management API, under /api/workspaces/<slug>/ (views in billing/api.py)."""

from django.urls import path

from .api import LedgerView, UsageExportView, UsageListView, UsageSeriesView

urlpatterns = [
    path("usage/", UsageListView.as_view(), name="usage-list"),
    path("usage/export.csv", UsageExportView.as_view(), name="usage-export"),
    path("usage/series/", UsageSeriesView.as_view(), name="usage-series"),
    path("ledger/", LedgerView.as_view(), name="ledger"),
]
