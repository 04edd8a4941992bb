"""Dashboard page for management keys (admins and owners): create, list, revoke.

POST/redirect/GET: the created key's secret rides to the next GET in the session, encrypted,
and is removed the first time it is shown (workspaces/reveal.py)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from . import reveal, services
from .access import member_view
from .forms import EXPIRY_CHOICES, EXPIRY_DELTAS
from .models import ROLE_RANK, ManagementKey, Role

_REVEAL = "orca_new_management_key"


def _roles_up_to(role: str) -> list[tuple[str, str]]:
    rank = ROLE_RANK[Role(role)]
    return [(value, label) for value, label in Role.choices if ROLE_RANK[Role(value)] <= rank]


class ManagementKeyForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True, initial="automation")
    role = forms.ChoiceField(help_text="What the key may do: at most your own role.")
    expires_in = forms.ChoiceField(label="Expires in", choices=EXPIRY_CHOICES, initial="never")

    def __init__(self, *args, roles: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles
        self.fields["role"].initial = Role.VIEWER

    def expires_at(self):
        from django.utils import timezone

        delta = EXPIRY_DELTAS.get(self.cleaned_data["expires_in"])
        return None if delta is None else timezone.now() + delta


@member_view(Role.ADMIN)
def management_keys(request, slug):
    workspace = request.workspace
    roles = _roles_up_to(request.membership.role)
    status = 200
    if request.method == "POST":
        form = ManagementKeyForm(request.POST, roles=roles)
        if form.is_valid():
            key, raw = services.create_management_key(
                workspace,
                role=form.cleaned_data["role"],
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
                created_by=request.user,
            )
            reveal.stash(request.session, _REVEAL, key.id, raw)
            return redirect("dashboard:management_keys", slug)
        status = 400
    else:
        form = ManagementKeyForm(roles=roles)
    revealed = reveal.take(request.session, _REVEAL)
    keys = list(ManagementKey.objects.filter(workspace=workspace).select_related("created_by"))
    new_key = next((k for k in keys if revealed and k.id == revealed[0]), None)
    context = {
        "workspace": workspace,
        "keys": keys,
        "form": form,
        "new_key": new_key,
        "raw_key": revealed[1] if new_key else None,  # shown once in this response
        "is_owner": request.membership.has_role(Role.OWNER),
    }
    response = render(request, "dashboard/management_keys.html", context, status=status)
    add_never_cache_headers(response)  # includes no-store: the raw key must not be cached
    return response


@member_view(Role.ADMIN)
@require_POST
def management_key_revoke(request, slug, management_key_id):
    key = get_object_or_404(ManagementKey, pk=management_key_id, workspace=request.workspace)
    if key.role == Role.OWNER and not request.membership.has_role(Role.OWNER):
        raise PermissionDenied("only an owner can revoke an owner key")
    if key.revoked_at is None:
        services.revoke_management_key(key)
        messages.success(request, f"Management key “{key.name}” ({key.prefix}) revoked.")
    return redirect("dashboard:management_keys", slug)
