"""Who calls the management API (/api/...), and with what rights in which workspace.

Two ways in:
- `Authorization: Bearer sk-orca-mgmt-…`: a management key, scoped to one workspace and one
  role (ManagementKeyAuthentication below);
- the dashboard's session: the user's membership of the workspace in the URL.

Relay keys (`sk-orca-…`) are refused here: they authorise calls to models, not changes to a
workspace. (The relay, in turn, refuses management keys: it looks keys up in ApiKey only.)

Views ask one question, `access_of(request, slug)`: the caller's workspace and role, or None
when the caller may not see that workspace (answer 404, as for a missing one). A view with no
workspace in its URL (the OpenRouter-style /api/v1/keys) calls `access_of(request)`, which
gives the management key's own workspace."""

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .keys import MANAGEMENT_KEY_PREFIX, hash_key, looks_like_key, looks_like_management_key
from .models import ROLE_RANK, ManagementKey, Membership, Role, Workspace
from .selectors import membership_in

# last_used_at is written at most this often per key: a script polling the API does not turn
# every read into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)

RELAY_KEY_REFUSED = (
    "API keys (sk-orca-…) are for the relay and are not accepted on the management API; "
    "send a management key: 'Authorization: Bearer sk-orca-mgmt-…'"
)
INVALID_KEY = "invalid management key"


@dataclass(frozen=True, eq=False)
class ManagementKeyUser:
    """request.user for a call made with a management key: authenticated, nobody's account."""

    key: ManagementKey
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False
    is_active: ClassVar[bool] = True
    is_staff: ClassVar[bool] = False
    is_superuser: ClassVar[bool] = False
    pk: ClassVar[None] = None
    id: ClassVar[None] = None

    @property
    def username(self) -> str:
        return f"management key {self.key.prefix}"

    def __str__(self) -> str:
        return self.username


class ManagementKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer sk-orca-mgmt-…`. A bearer token that is not a management key
    is refused with 401, unless the request also carries a dashboard session, which then
    decides alone (the token grants nothing here)."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        raw = header[1].decode("utf-8", errors="replace") if len(header) == 2 else ""
        if not raw.startswith(MANAGEMENT_KEY_PREFIX):
            session_user = getattr(request._request, "user", None)
            if session_user is not None and session_user.is_authenticated:
                return None
            raise exceptions.AuthenticationFailed(
                RELAY_KEY_REFUSED if looks_like_key(raw) else INVALID_KEY
            )
        key = None
        if looks_like_management_key(raw):
            key = (
                ManagementKey.objects.select_related("workspace")
                .filter(key_hash=hash_key(raw))
                .first()
            )
        if key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("this management key has been revoked")
        now = timezone.now()
        if key.expires_at is not None and key.expires_at <= now:
            raise exceptions.AuthenticationFailed("this management key has expired")
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            ManagementKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return ManagementKeyUser(key), key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (with this challenge), not 403, to an unauthenticated call.
        return 'Bearer realm="orca-management"'


@dataclass(frozen=True)
class WorkspaceAccess:
    """What the caller may do in one workspace."""

    workspace: Workspace
    role: str
    key: ManagementKey | None = None  # set when the caller is a management key
    membership: Membership | None = None  # set when the caller is a dashboard user

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(minimum)]


def management_key_of(request) -> ManagementKey | None:
    """The management key a DRF request authenticated with, if any."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ManagementKey) else None


def access_of(request, slug: str | None = None) -> WorkspaceAccess | None:
    """The caller's workspace and role: a management key's own workspace (None if `slug`
    names another), or the session user's membership of `slug` (None if not a member, or
    if no slug is given)."""
    key = management_key_of(request)
    if key is not None:
        if slug is not None and slug != key.workspace.slug:
            return None
        return WorkspaceAccess(key.workspace, key.role, key=key)
    if slug is None:
        return None
    membership = membership_in(request.user, slug)
    if membership is None:
        return None
    return WorkspaceAccess(membership.workspace, membership.role, membership=membership)


def require_role(request, view, access: WorkspaceAccess) -> bool:
    """The view's `read_role` for safe methods, else its `write_role` (viewer/developer by
    default), or the role it names for this method in `method_roles`."""
    method_roles = getattr(view, "method_roles", {})
    if request.method in method_roles:
        needed = method_roles[request.method]
    elif request.method in permissions.SAFE_METHODS:
        needed = getattr(view, "read_role", Role.VIEWER)
    else:
        needed = getattr(view, "write_role", Role.DEVELOPER)
    return access.has_role(needed)


class ManagementKeyOnly(permissions.BasePermission):
    """For views with no workspace in the URL: the caller must be a management key (a session
    has no single workspace to act on). Sets `view.access` and `view.workspace`; roles as in
    `require_role`."""

    message = "this endpoint needs a management key: 'Authorization: Bearer sk-orca-mgmt-…'"

    def has_permission(self, request, view) -> bool:
        access = access_of(request)
        if access is None:
            if not request.user or not request.user.is_authenticated:
                raise exceptions.NotAuthenticated(self.message)
            return False
        view.access = access
        view.workspace = access.workspace
        return require_role(request, view, access)


class ManagementKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes ManagementKeyAuthentication."""

    target_class = ManagementKeyAuthentication
    name = "managementKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A management key: `Authorization: Bearer sk-orca-mgmt-…`",
        }
