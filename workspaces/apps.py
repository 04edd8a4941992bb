from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects cache invalidation)
