"""Every change to a prompt, a version or a label reaches the gateways' caches (config
version): a label move is seen by the next call on every process within one poll."""

from django.db.models.signals import post_delete, post_save

from workspaces.signals import bump_after_commit

from .models import Prompt, PromptLabel, PromptVersion

for _model in (Prompt, PromptVersion, PromptLabel):
    post_save.connect(bump_after_commit, sender=_model, dispatch_uid=f"bump-{_model.__name__}")
    post_delete.connect(bump_after_commit, sender=_model, dispatch_uid=f"del-{_model.__name__}")
