"""The rules for changing a workspace's members, for the management API and the dashboard's
members page alike: admins manage members, only an owner grants, changes or
removes an owner, and a workspace keeps at least one owner."""

from dataclasses import dataclass

from django.db import transaction

from .models import Membership, Role, Workspace


@dataclass
class MemberRuleError(Exception):
    status: int
    message: str


OWNER_ONLY = "only an owner can grant, change or remove an owner"
LAST_OWNER = "a workspace must keep at least one owner"


def _owners_locked(workspace: Workspace) -> int:
    # Locks the owner rows so two concurrent demotions cannot both pass the last-owner check.
    return len(Membership.objects.select_for_update().filter(workspace=workspace, role=Role.OWNER))


def add_member(workspace: Workspace, user, role: str, *, by_owner: bool) -> Membership:
    if role == Role.OWNER and not by_owner:
        raise MemberRuleError(403, "only an owner can make someone an owner")
    with transaction.atomic():
        if Membership.objects.filter(workspace=workspace, user=user).exists():
            raise MemberRuleError(409, "already a member; change their role instead")
        return Membership.objects.create(workspace=workspace, user=user, role=role)


@transaction.atomic
def change_role(target: Membership, role: str, *, by_owner: bool) -> Membership:
    """`target` must come from a select_for_update() inside the caller's transaction."""
    if (target.role == Role.OWNER or role == Role.OWNER) and not by_owner:
        raise MemberRuleError(403, OWNER_ONLY)
    if target.role == Role.OWNER and role != Role.OWNER and _owners_locked(target.workspace) <= 1:
        raise MemberRuleError(409, LAST_OWNER)
    target.role = role
    target.save(update_fields=["role"])
    return target


@transaction.atomic
def remove_member(target: Membership, *, by_owner: bool) -> None:
    if target.role == Role.OWNER:
        if not by_owner:
            raise MemberRuleError(403, OWNER_ONLY)
        if _owners_locked(target.workspace) <= 1:
            raise MemberRuleError(409, LAST_OWNER)
    target.delete()
