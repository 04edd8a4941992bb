from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"

    def ready(self) -> None:
        from . import session_keys, signals  # noqa: F401  (connect logout and cache signals)
