"""Dashboard views for accounts, workspaces, members, settings and API keys.

Every workspace view goes through `member_view`: another workspace's slug or object id
answers 404, a role below the view's minimum answers 403."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from billing.selectors import KeySpend, balance_usd, key_spends

from . import reveal, services
from .access import member_view
from .forms import (
    ApiKeyCreateForm,
    ApiKeyEditForm,
    InviteForm,
    RemoveMemberForm,
    RoleForm,
    SignupForm,
    WorkspaceCreateForm,
    WorkspaceSettingsForm,
)
from .keys import hash_key
from .member_rules import MemberRuleError, add_member, change_role, remove_member
from .models import ApiKey, Membership, Role, Workspace

# Slugs that would collide with fixed dashboard paths (/w/new/).
RESERVED_SLUGS = {"new"}
NO_SPEND = KeySpend()
SLUG_MAX = Workspace._meta.get_field("slug").max_length
# How a workspace gets credits, as the home page says it (a payment page may replace it).
CREDITS_HINT = (
    "add credit on the workspace's Credits page (by card when Stripe is set up, otherwise "
    "staff grant it); the demo workspace that make run seeds starts with $10"
)


def _api_base(request) -> str:
    """The API's base URL as this page was reached, for the examples shown (display only:
    nothing is ever sent to it)."""
    return f"{request.scheme}://{request.get_host()}/v1"


def home(request):
    """The landing page for visitors; a signed-in user's workspaces with their balances."""
    if not request.user.is_authenticated:
        return render(request, "home.html", {"api_base": _api_base(request)})
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .annotate(
            active_keys=Count(
                "workspace__api_keys",
                filter=Q(
                    workspace__api_keys__enabled=True,
                    workspace__api_keys__purpose=ApiKey.Purpose.API,  # not session keys
                ),
            )
        )
        .order_by("workspace__name", "workspace__slug")
    )
    workspaces = [
        {
            "workspace": membership.workspace,
            "role": membership.get_role_display(),
            "balance": f"{balance_usd(membership.workspace_id):.2f}",
            "keys": membership.active_keys,
        }
        for membership in memberships
    ]
    context = {
        "workspaces": workspaces,
        "memberships": memberships,
        "api_base": _api_base(request),
        "credits_hint": CREDITS_HINT,
    }
    return render(request, "dashboard/home.html", context)


def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("dashboard:workspace_create")
    return render(request, "dashboard/signup.html", {"form": form})


def _unique_slug(name: str) -> str:
    base = slugify(name)[: SLUG_MAX - 4].strip("-") or "workspace"
    candidate, n = base, 1
    while candidate in RESERVED_SLUGS or Workspace.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@login_required
def workspace_create(request):
    form = WorkspaceCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        for _attempt in range(5):  # another request may take the same slug concurrently
            try:
                with transaction.atomic():
                    workspace = Workspace.objects.create(name=name, slug=_unique_slug(name))
                    services.add_member(workspace, request.user, Role.OWNER)
                break
            except IntegrityError:
                continue
        else:
            form.add_error("name", "Could not pick a unique address for this name; try another.")
            return render(request, "dashboard/workspace_new.html", {"form": form})
        messages.success(request, f"Workspace “{workspace.name}” created.")
        return redirect("dashboard:keys", workspace.slug)
    return render(request, "dashboard/workspace_new.html", {"form": form})


@member_view()
def workspace_home(request, slug):
    return redirect("dashboard:keys", slug)


# --- Members ---------------------------------------------------------------------------------


def _members_page(request, invite_form=None, status=200):
    workspace = request.workspace
    can_manage = request.membership.has_role(Role.ADMIN)
    is_owner = request.membership.has_role(Role.OWNER)
    role_choices = [
        (value, label) for value, label in Role.choices if is_owner or value != Role.OWNER
    ]
    context = {
        "workspace": workspace,
        "memberships": workspace.memberships.select_related("user").order_by("user__username"),
        "can_manage": can_manage,
        "is_owner": is_owner,
        "role_choices": role_choices,
        "invite_form": invite_form or InviteForm(),
    }
    return render(request, "dashboard/members.html", context, status=status)


def _sentence(message: str) -> str:
    return message[0].upper() + message[1:] + "."


@member_view(Role.VIEWER, write_minimum=Role.ADMIN)
def members(request, slug):
    if request.method != "POST":
        return _members_page(request)
    workspace = request.workspace
    is_owner = request.membership.has_role(Role.OWNER)
    action = request.POST.get("action")

    if action == "invite":
        form = InviteForm(request.POST)
        if not form.is_valid():
            return _members_page(request, form, status=400)
        user, role = form.cleaned_data["user"], form.cleaned_data["role"]
        try:
            add_member(workspace, user, role, by_owner=is_owner)
        except MemberRuleError as error:
            form.add_error("role" if error.status == 403 else "user", _sentence(error.message))
            return _members_page(request, form, status=403 if error.status == 403 else 400)
        messages.success(request, f"{user.username} added as {Role(role).label.lower()}.")
        return redirect("dashboard:members", slug)

    if action in ("role", "remove"):
        form = (RoleForm if action == "role" else RemoveMemberForm)(request.POST)
        if not form.is_valid():
            messages.error(request, "Invalid request.")
            return redirect("dashboard:members", slug)
        with transaction.atomic():
            target = get_object_or_404(
                Membership.objects.select_for_update().select_related("user"),
                pk=form.cleaned_data["membership"],
                workspace=workspace,
            )
            new_role = form.cleaned_data.get("role")
            try:  # the management API's rules (workspaces/member_rules.py)
                if action == "role":
                    change_role(target, new_role, by_owner=is_owner)
                else:
                    remove_member(target, by_owner=is_owner)
            except MemberRuleError as error:
                messages.error(request, _sentence(error.message))
                return redirect("dashboard:members", slug)
            if action == "role":
                messages.success(
                    request, f"{target.user.username} is now {Role(new_role).label.lower()}."
                )
            else:
                messages.success(request, f"{target.user.username} removed.")
        if action == "remove" and target.user_id == request.user.id:
            return redirect("dashboard:home")  # you left the workspace
        return redirect("dashboard:members", slug)

    messages.error(request, "Unknown action.")
    return redirect("dashboard:members", slug)


# --- Settings --------------------------------------------------------------------------------


@member_view(Role.VIEWER, write_minimum=Role.ADMIN)
def settings_view(request, slug):
    workspace = request.workspace
    can_edit = request.membership.has_role(Role.ADMIN)
    status = 200
    if request.method == "POST":
        form = WorkspaceSettingsForm(request.POST, instance=workspace)
        if form.is_valid():
            workspace = form.save(commit=False)
            workspace.save(update_fields=list(form.Meta.fields))
            messages.success(request, "Settings saved.")
            return redirect("dashboard:settings", slug)
        status = 400
    else:
        form = WorkspaceSettingsForm(instance=workspace)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    from guardrails.models import Guardrail

    context = {
        "workspace": workspace,
        "form": form,
        "can_edit": can_edit,
        "balance": balance_usd(workspace.id),
        "default_guardrail": Guardrail.objects.filter(workspace=workspace, is_default=True).first(),
        "prompt_count": workspace.prompts.filter(deleted_at__isnull=True).count(),
        "prompt_keys": ApiKey.objects.filter(
            workspace=workspace, prompt__isnull=False, revoked_at__isnull=True
        ).count(),
    }
    return render(request, "dashboard/settings.html", context, status=status)


# --- API keys --------------------------------------------------------------------------------


def _usd(amount) -> str:
    return f"${amount.normalize():f}" if amount == amount.to_integral() else f"${amount:.2f}"


def _with_limit_lines(key: ApiKey) -> ApiKey:
    lines = []
    if key.allowed_models:
        lines.append("models: " + ", ".join(key.allowed_models))
    if key.allowed_ips:
        lines.append("IPs: " + ", ".join(key.allowed_ips))
    if key.rpm_limit:
        lines.append(f"{key.rpm_limit} rpm")
    if key.tpm_limit:
        lines.append(f"{key.tpm_limit} tpm")
    for field, period in (
        ("daily_limit_usd", "day"),
        ("weekly_limit_usd", "week"),
        ("monthly_limit_usd", "month"),
        ("spend_limit_usd", "total"),
    ):
        amount = getattr(key, field)
        if amount is not None:
            lines.append(
                f"{_usd(amount)}/{period}" if period != "total" else f"{_usd(amount)} total"
            )
    key.limit_lines = lines
    return key


# The key just created, between the POST that made it and the GET that shows it once.
NEW_KEY_SESSION = "orca_new_key"


def _take_new_key(request) -> tuple[ApiKey | None, str | None]:
    """The key created by this session's last POST, once: popped from the session."""
    pending = reveal.take(request.session, NEW_KEY_SESSION)
    if pending is None:
        return None, None
    key_id, raw = pending
    key = ApiKey.objects.filter(pk=key_id, workspace=request.workspace).first()
    if key is None or hash_key(raw) != key.key_hash:
        return None, None
    return key, raw


def _no_store(response):
    add_never_cache_headers(response)  # includes no-store: a raw key must not be cached
    return response


@member_view(Role.VIEWER, write_minimum=Role.DEVELOPER)
def keys(request, slug):
    """POST creates a key and redirects (the secret rides in the session to the next GET,
    which shows it once), so a reload never creates a second key."""
    workspace = request.workspace
    status = 200
    if request.method == "POST":
        form = ApiKeyCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    new_key, raw_key = services.create_api_key(
                        workspace,
                        name=data["name"],
                        expires_at=form.expires_at(),
                        allowed_models=data["allowed_models"],
                        allowed_ips=data["allowed_ips"],
                        created_by=request.user,
                    )
                    limits = ["rpm_limit", "tpm_limit", "daily_limit_usd", "monthly_limit_usd"]
                    for field in limits:
                        setattr(new_key, field, data[field])
                    new_key.save(update_fields=limits)
            except services.InvalidKeySettings as exc:
                form.add_error(None, str(exc))
            else:
                reveal.stash(request.session, NEW_KEY_SESSION, new_key.pk, raw_key)
                return _no_store(redirect("dashboard:keys", slug))
        status = 400
        new_key = raw_key = None
    else:
        form = ApiKeyCreateForm()
        new_key, raw_key = _take_new_key(request)
    spends = key_spends(workspace.id)
    rows = [_with_limit_lines(key) for key in ApiKey.objects.filter(workspace=workspace)]
    for key in rows:
        key.spend = spends.get(key.pk, NO_SPEND)
    context = {
        "workspace": workspace,
        "keys": rows,
        "form": form,
        "can_write": request.membership.has_role(Role.DEVELOPER),
        "new_key": new_key,
        "raw_key": raw_key,  # shown once in this response, never stored
    }
    return _no_store(render(request, "dashboard/keys.html", context, status=status))


@member_view(Role.VIEWER, write_minimum=Role.DEVELOPER)
def key_edit(request, slug, key_id):
    """One key: its spend, and (developers and above) its settings."""
    key = get_object_or_404(ApiKey, pk=key_id, workspace=request.workspace)
    can_write = request.membership.has_role(Role.DEVELOPER)
    form = ApiKeyEditForm.for_key(key, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changed = form.apply(key)
            if changed:
                key.save(update_fields=changed)  # post_save: every gateway reloads the key
                messages.success(request, f"Key “{key.name}” ({key.prefix}) saved.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("dashboard:key_edit", slug, key.pk)
        status = 400
    if not can_write:
        for field in form.fields.values():
            field.disabled = True
    context = {
        "workspace": request.workspace,
        "key": _with_limit_lines(key),
        "spend": key_spends(request.workspace.id).get(key.pk, NO_SPEND),
        "form": form,
        "can_write": can_write,
    }
    return render(request, "dashboard/key_edit.html", context, status=status)


@member_view(Role.DEVELOPER)
@require_POST
def key_revoke(request, slug, key_id):
    key = get_object_or_404(ApiKey, pk=key_id, workspace=request.workspace)
    if key.revoked_at is None:  # a disabled key can still be revoked for good
        services.revoke_api_key(key)
        messages.success(request, f"Key “{key.name}” ({key.prefix}) revoked.")
    return redirect("dashboard:keys", slug)
