"""DRF permission shared by every app's workspace-scoped management API."""

from rest_framework import exceptions, permissions

from .models import Role
from .selectors import membership_in


class WorkspaceMember(permissions.BasePermission):
    """The caller is a member of the URL's workspace (else 404, as for a missing one).
    Viewers may read; developers and above may change. Sets `view.workspace`."""

    def has_permission(self, request, view) -> bool:
        membership = membership_in(request.user, view.kwargs["workspace"])
        if membership is None:
            raise exceptions.NotFound("no such workspace")
        view.workspace = membership.workspace
        if request.method in permissions.SAFE_METHODS:
            return True
        return membership.has_role(Role.DEVELOPER)
