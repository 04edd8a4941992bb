"""Dashboard views for guardrails: the list (create from a preset), the editor (rules as
JSON, settings, history, bound keys, the sandbox), the sandbox's JSON endpoint and the
matches feed. Viewers read every page; developers and above change guardrails and run the
sandbox. Another workspace's guardrail id answers 404 like a missing one."""

import json
from typing import cast

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST, require_safe
from rest_framework import exceptions

from workspaces.access import member_view
from workspaces.models import ApiKey, Role

from . import services
from .api import RULE_TYPES, guardrails_of, matches_queryset
from .forms import GuardrailCreateForm, GuardrailForm, rules_text
from .models import Guardrail, GuardrailMatch

FEED_SIZE = 100
SANDBOX_MAX_CHARS = 500_000
FEED_FILTERS = (
    "guardrail",
    "key",
    "stage",
    "action",
    "rule_type",
    "entity",
    "request_id",
    "since",
    "until",
)
VIEWER = cast(str, Role.VIEWER)
DEVELOPER = cast(str, Role.DEVELOPER)


def _readonly(form) -> None:
    for field in form.fields.values():
        field.disabled = True


@member_view(VIEWER, write_minimum=DEVELOPER)
def guardrails(request, slug):
    """The workspace's guardrails; POST creates one from a preset and opens its editor."""
    workspace = request.workspace
    can_write = request.membership.has_role(Role.DEVELOPER)
    status = 200
    form = GuardrailCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            preset = services.PRESETS[form.cleaned_data["preset"]]
            try:
                guardrail = services.create_guardrail(
                    workspace,
                    name=form.cleaned_data["name"],
                    rules=preset["rules"],
                    description=preset["description"],
                    created_by=request.user,
                )
            except services.Refused as error:
                form.add_error("name" if error.field == "name" else None, error.message)
            else:
                messages.success(request, f"Guardrail “{guardrail.name}” created.")
                return redirect("dashboard:guardrail_edit", slug, guardrail.pk)
        status = 400
    context = {
        "workspace": workspace,
        "guardrails": guardrails_of(workspace),
        "form": form,
        "can_write": can_write,
    }
    return render(request, "dashboard/guardrails.html", context, status=status)


@member_view(VIEWER, write_minimum=DEVELOPER)
def guardrail_edit(request, slug, guardrail_id):
    workspace = request.workspace
    guardrail = get_object_or_404(Guardrail, pk=guardrail_id, workspace=workspace)
    can_write = request.membership.has_role(Role.DEVELOPER)
    status = 200
    if request.method == "POST" and "delete" in request.POST:
        try:
            services.delete_guardrail(guardrail)
        except services.Refused as error:
            messages.error(request, error.message[0].upper() + error.message[1:] + ".")
            return redirect("dashboard:guardrail_edit", slug, guardrail.pk)
        messages.success(request, f"Guardrail “{guardrail.name}” deleted.")
        return redirect("dashboard:guardrails", slug)
    if request.method == "POST":
        form = GuardrailForm.for_guardrail(guardrail, request.POST)
        if form.is_valid():
            before = guardrail.version
            try:
                saved = services.update_guardrail(guardrail, form.change(), by=request.user)
            except services.Refused as error:
                form.refuse(error)
            else:
                note = f" Version {saved.version} is live." if saved.version != before else ""
                messages.success(request, f"Guardrail “{saved.name}” saved.{note}")
                return redirect("dashboard:guardrail_edit", slug, saved.pk)
        status = 400
    else:
        form = GuardrailForm.for_guardrail(guardrail)
    if not can_write:
        _readonly(form)
    versions = list(guardrail.versions.select_related("created_by").order_by("-number"))
    for version in versions:
        version.text = rules_text(version.rules)
    context = {
        "workspace": workspace,
        "guardrail": guardrail,
        "form": form,
        "can_write": can_write,
        "versions": versions,
        "keys": ApiKey.objects.filter(guardrail=guardrail).order_by("name", "id"),
        "default": Guardrail.objects.filter(workspace=workspace, is_default=True).first(),
    }
    return render(request, "dashboard/guardrail_edit.html", context, status=status)


def _json_error(status: int, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"error": {"message": message, "field": field}}, status=status)


@member_view(DEVELOPER)
@require_POST
def guardrail_sandbox(request, slug, guardrail_id):
    """The editor's live sandbox: {"text", "stage", "rules"?} in, the management API's
    sandbox answer out. `rules` (the textarea, unsaved) default to the current version's.
    CSRF-protected like every dashboard POST; nothing is recorded."""
    guardrail = get_object_or_404(Guardrail, pk=guardrail_id, workspace=request.workspace)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _json_error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _json_error(400, "the body is not a JSON object")
    text, stage = body.get("text", ""), body.get("stage", "input")
    if not isinstance(text, str) or len(text) > SANDBOX_MAX_CHARS:
        return _json_error(400, f"text: at most {SANDBOX_MAX_CHARS:,} characters", "text")
    if stage not in GuardrailMatch.Stage.values:
        return _json_error(400, "stage: input or output", "stage")
    rules = body.get("rules")
    try:
        rules = services.current_rules(guardrail) if rules is None else services.check_rules(rules)
        result = services.sandbox(rules, text, stage, log_raw=guardrail.log_raw)
    except services.Refused as error:
        return _json_error(400, f"{error.field}: {error.message}", error.field)
    response = JsonResponse(
        {
            "decision": result.decision,
            "matches": result.matches,
            "masked_text": result.masked_text,
            "blocked_by": result.blocked_by,
        }
    )
    add_never_cache_headers(response)
    return response


@member_view(VIEWER)
@require_safe
def guardrail_matches(request, slug):
    """The latest matches with the management API's filters (a bad one: 400 and a note)."""
    workspace = request.workspace
    filters = {name: request.GET.get(name, "").strip() for name in FEED_FILTERS}
    active = {name: value for name, value in filters.items() if value}
    filter_error, status = None, 200
    try:
        rows = list(matches_queryset(workspace, active).select_related("api_key")[:FEED_SIZE])
    except exceptions.ValidationError as exc:
        detail = cast(dict, exc.detail)
        filter_error = "; ".join(
            f"{field}: {' '.join(str(m) for m in problems)}" for field, problems in detail.items()
        )
        rows, status = [], 400
    context = {
        "workspace": workspace,
        "rows": rows,
        "filters": filters,
        "filter_error": filter_error,
        "guardrails": Guardrail.objects.filter(workspace=workspace).order_by("name"),
        "keys": ApiKey.objects.filter(workspace=workspace).order_by("name"),
        "stages": GuardrailMatch.Stage.values,
        "actions": GuardrailMatch.Action.values,
        "rule_types": RULE_TYPES,
        "feed_size": FEED_SIZE,
    }
    return render(request, "dashboard/guardrail_matches.html", context, status=status)
