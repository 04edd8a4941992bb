"""Who may see and do what in the dashboard: every view goes through `member_view`.

A workspace is addressed by its slug in the URL; a slug the user is not a member of answers
404 exactly like one that does not exist, and a role below the view's minimum answers 403.
`member_view` decorates plain and `async def` views alike; for an async view the membership
lookup runs in a worker thread, since the ORM is synchronous."""

from collections.abc import Callable
from functools import wraps
from inspect import iscoroutinefunction

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from .models import ROLE_RANK, Role
from .selectors import membership_in


def _admit(request: HttpRequest, slug: str, minimum: str, write_minimum: str | None) -> None:
    """Set request.membership/workspace, or raise 404 (not a member) / 403 (role too low)."""
    membership = membership_in(request.user, slug)
    if membership is None:
        raise Http404("no such workspace")
    needed = write_minimum if (write_minimum and request.method == "POST") else minimum
    if ROLE_RANK[Role(membership.role)] < ROLE_RANK[Role(needed)]:
        raise PermissionDenied("your role in this workspace does not allow this")
    request.membership = membership
    request.workspace = membership.workspace


def member_view(minimum: str = Role.VIEWER, *, write_minimum: str | None = None):
    """Decorate a view taking (request, slug, ...): sets request.membership/workspace.
    `write_minimum` applies to POST requests."""

    def decorate(view: Callable) -> Callable:
        if iscoroutinefunction(view):

            @login_required
            @wraps(view)
            async def async_wrapper(request, slug: str, *args, **kwargs):
                await sync_to_async(_admit)(request, slug, minimum, write_minimum)
                return await view(request, slug, *args, **kwargs)

            return async_wrapper

        @login_required
        @wraps(view)
        def wrapper(request, slug: str, *args, **kwargs):
            _admit(request, slug, minimum, write_minimum)
            return view(request, slug, *args, **kwargs)

        return wrapper

    return decorate
