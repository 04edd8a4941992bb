from django.apps import AppConfig


class GuardrailsConfig(AppConfig):
    name = "guardrails"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects cache invalidation)
        from .gateway import install

        install()  # the input screen and the answer watcher, on the relay's hooks
