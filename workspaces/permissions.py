"""DRF permission shared by every app's workspace-scoped management API."""

from rest_framework import exceptions, permissions

from .management_auth import access_of, require_role


class WorkspaceMember(permissions.BasePermission):
    """The caller (a member by session, or a management key of that workspace) may see the
    URL's workspace; else 404, as for a missing one. Viewers may read; developers and above
    may change, unless the view names other roles (`read_role`, `write_role`,
    `method_roles`). Sets `view.workspace` and `view.access`."""

    def has_permission(self, request, view) -> bool:
        access = access_of(request, view.kwargs["workspace"])
        if access is None:
            raise exceptions.NotFound("no such workspace")
        view.access = access
        view.workspace = access.workspace
        return require_role(request, view, access)
