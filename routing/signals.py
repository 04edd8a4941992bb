from django.db.models.signals import post_delete, post_save

from workspaces.models import Workspace
from workspaces.signals import bump_after_commit

from .models import Model, ModelAlternate, Provider, ProviderCredential, Router

for _model in (Model, ModelAlternate, Provider, ProviderCredential, Router):
    post_save.connect(bump_after_commit, sender=_model, dispatch_uid=f"bump-{_model.__name__}")
    post_delete.connect(bump_after_commit, sender=_model, dispatch_uid=f"del-{_model.__name__}")


def seed_auto_router(sender, instance: Workspace, created: bool, **_kwargs) -> None:
    """Every new workspace gets orcarouter/auto: all chat models, the cheapest live one."""
    if created:
        Router.objects.get_or_create(
            workspace=instance, name="auto", defaults={"strategy": "cheapest", "candidates": []}
        )


post_save.connect(seed_auto_router, sender=Workspace, dispatch_uid="seed-auto-router")
