"""Usage management API; the views land in billing/api.py."""

urlpatterns: list = []
