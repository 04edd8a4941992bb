from django.db import transaction
from django.db.models.signals import post_delete, post_save

from . import config_version
from .models import ApiKey, Workspace


def bump_after_commit(**_kwargs) -> None:
    transaction.on_commit(config_version.bump)


for _model in (ApiKey, Workspace):
    post_save.connect(bump_after_commit, sender=_model, dispatch_uid=f"bump-{_model.__name__}")
    post_delete.connect(bump_after_commit, sender=_model, dispatch_uid=f"del-{_model.__name__}")
