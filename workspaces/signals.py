from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver
from django.utils import timezone

from . import config_version
from .models import ROLE_RANK, ApiKey, ManagementKey, Membership, Role, Workspace


def bump_after_commit(**_kwargs) -> None:
    transaction.on_commit(config_version.bump)


for _model in (ApiKey, Workspace):
    post_save.connect(bump_after_commit, sender=_model, dispatch_uid=f"bump-{_model.__name__}")
    post_delete.connect(bump_after_commit, sender=_model, dispatch_uid=f"del-{_model.__name__}")


# --- a member's management keys follow their membership ----------------------------------------
# A management key keeps the role it was made with, which is at most its creator's. When the
# creator leaves the workspace, or is given a lower role, the keys they made above what they
# may now do are revoked: an offboarded admin keeps no admin key.


def _revoke_keys_above(membership: Membership, rank: int) -> None:
    too_high = [role for role, role_rank in ROLE_RANK.items() if role_rank > rank]
    ManagementKey.objects.filter(
        workspace_id=membership.workspace_id,
        created_by_id=membership.user_id,
        role__in=too_high,
        revoked_at__isnull=True,
    ).update(revoked_at=timezone.now())


@receiver(post_save, sender=Membership, dispatch_uid="mgmt-keys-follow-role")
def _on_role_saved(sender, instance: Membership, created: bool, **kwargs) -> None:
    if not created:
        _revoke_keys_above(instance, ROLE_RANK[Role(instance.role)])


# pre_delete: by post_delete, deleting the user has already set the keys' created_by to null.
@receiver(pre_delete, sender=Membership, dispatch_uid="mgmt-keys-follow-removal")
def _on_member_removed(sender, instance: Membership, **kwargs) -> None:
    _revoke_keys_above(instance, -1)
