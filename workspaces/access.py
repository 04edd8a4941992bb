"""Who may see and do what in the dashboard: every view goes through `member_view`.

A workspace is addressed by its slug in the URL; a slug the user is not a member of answers
404 exactly like one that does not exist, and a role below the view's minimum answers 403."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import ROLE_RANK, Role
from .selectors import membership_in


def member_view(minimum: str = Role.VIEWER, *, write_minimum: str | None = None):
    """Decorate a view taking (request, slug, ...): sets request.membership/workspace.
    `write_minimum` applies to POST requests."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, slug: str, *args, **kwargs):
            membership = membership_in(request.user, slug)
            if membership is None:
                raise Http404("no such workspace")
            needed = write_minimum if (write_minimum and request.method == "POST") else minimum
            if ROLE_RANK[Role(membership.role)] < ROLE_RANK[Role(needed)]:
                raise PermissionDenied("your role in this workspace does not allow this")
            request.membership = membership
            request.workspace = membership.workspace
            return view(request, slug, *args, **kwargs)

        return wrapper

    return decorate
