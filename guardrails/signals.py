"""Every change to a guardrail or its versions reaches the gateways' caches (config version)."""

from django.db.models.signals import post_delete, post_save

from workspaces.signals import bump_after_commit

from .models import Guardrail, GuardrailVersion

for _model in (Guardrail, GuardrailVersion):
    post_save.connect(bump_after_commit, sender=_model, dispatch_uid=f"bump-{_model.__name__}")
    post_delete.connect(bump_after_commit, sender=_model, dispatch_uid=f"del-{_model.__name__}")
