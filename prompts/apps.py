from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "prompts"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects cache invalidation)
        from .gateway import install

        install()  # the prompt hook, on the relay's arrivals
