"""Dashboard views of the prompt registry: the list (create, the trash and restore), the
editor (a new version from the text, settings, labels and rollback, history with a
side-by-side diff of any two versions, usage and cost per version, bound keys, delete), and
the "try it" endpoint that renders a version for the playground. Viewers read every page;
developers and above write and try. Another workspace's prompt answers 404 like a missing
one."""

import json
from typing import cast

from django.contrib import messages
from django.db.models import Count, F, Q, Sum
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from billing.models import UsageRecord
from billing.pricing import format_usd
from workspaces.access import member_view
from workspaces.models import ApiKey, Role

from . import services
from .api import prompts_of
from .diff import side_by_side, version_lines
from .forms import LabelForm, PromptCreateForm, PromptSettingsForm, VersionForm
from .models import TRASH_DAYS, Prompt, PromptVersion
from .refs import DEFAULT_LABEL
from .templating import variables_in

VIEWER = cast(str, Role.VIEWER)
DEVELOPER = cast(str, Role.DEVELOPER)


def _readonly(*forms) -> None:
    for form in forms:
        for field in form.fields.values():
            field.disabled = True


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


@member_view(VIEWER, write_minimum=DEVELOPER)
def prompts(request, slug):
    """The workspace's prompts; POST creates one (and opens its editor) or restores one."""
    workspace = request.workspace
    can_write = request.membership.has_role(Role.DEVELOPER)
    status = 200
    form = PromptCreateForm(request.POST if request.POST.get("action") == "create" else None)
    if request.method == "POST" and request.POST.get("action") == "restore":
        trashed = get_object_or_404(
            Prompt, pk=request.POST.get("id", "0"), workspace=workspace, deleted_at__isnull=False
        )
        try:
            services.restore_prompt(trashed)
        except services.Refused as error:
            messages.error(request, _sentence(error.message))
        else:
            messages.success(request, f"Prompt “{trashed.name}” restored.")
        return redirect("dashboard:prompts", slug)
    if request.method == "POST":
        if form.is_valid():
            try:
                prompt = services.create_prompt(
                    workspace,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    created_by=request.user,
                )
            except services.Refused as error:
                form.add_error("name" if error.field == "name" else None, error.message)
            else:
                messages.success(
                    request, f"Prompt “{prompt.name}” created: write its first version."
                )
                return redirect("dashboard:prompt_edit", slug, prompt.name)
        status = 400
    context = {
        "workspace": workspace,
        "prompts": prompts_of(workspace),
        "trash": prompts_of(workspace, trash=True),
        "trash_days": TRASH_DAYS,
        "form": form,
        "can_write": can_write,
    }
    return render(request, "dashboard/prompts.html", context, status=status)


def _usage(workspace, name: str) -> list[dict]:
    rows = (
        UsageRecord.objects.filter(workspace=workspace, prompt=name)
        .values("prompt_version")
        .annotate(
            calls=Count("id"),
            input_tokens=Sum("prompt_tokens"),
            output_tokens=Sum("completion_tokens"),
            cost=Sum("cost_pico"),
            errors=Count("id", filter=Q(status_code__gte=400)),
        )
        .order_by(F("prompt_version").desc(nulls_last=True))
    )
    return [{**row, "cost_usd": format_usd(row["cost"] or 0)} for row in rows]


def _diff(versions: list[PromptVersion], params) -> dict | None:
    by_number = {v.number: v for v in versions}
    if len(versions) < 2:
        return None
    try:
        left = int(params.get("a", ""))
        right = int(params.get("b", ""))
    except ValueError:
        left, right = versions[1].number, versions[0].number  # the newest two
    if left not in by_number or right not in by_number:
        left, right = versions[1].number, versions[0].number

    def lines(v: PromptVersion) -> list[str]:
        return version_lines(v.system, v.messages, v.variables, v.model, v.parameters)

    rows = side_by_side(lines(by_number[left]), lines(by_number[right]))
    return {
        "a": left,
        "b": right,
        "rows": rows,
        "changes": sum(row.kind != "same" for row in rows),
    }


@member_view(VIEWER, write_minimum=DEVELOPER)
def prompt_edit(request, slug, prompt_name):
    workspace = request.workspace
    prompt = get_object_or_404(
        prompts_of(workspace), name=prompt_name
    )  # live only: the trash is on the list page
    can_write = request.membership.has_role(Role.DEVELOPER)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    status = 200
    here = reverse("dashboard:prompt_edit", args=[slug, prompt.name])
    latest = prompt.versions.filter(number=prompt.latest_version).first()
    version_form = VersionForm.for_version(latest, request.POST if action == "version" else None)
    settings_form = PromptSettingsForm(
        request.POST if action == "settings" else None,
        initial={"description": prompt.description, "enabled": prompt.enabled},
    )
    label_form = LabelForm(request.POST if action == "label" else None)

    if action == "version":
        if version_form.is_valid():
            try:
                saved = services.create_version(prompt, version_form.draft(), by=request.user)
            except services.Refused as error:
                version_form.refuse(error)
            else:
                moved = ", ".join(version_form.draft().labels)
                note = (
                    f" {moved} now point{'s' if ',' not in moved else ''} at it." if moved else ""
                )
                messages.success(request, f"Version {saved.number} saved.{note}")
                return redirect(here)
        status = 400
    elif action == "settings":
        if settings_form.is_valid():
            services.update_prompt(prompt, **settings_form.cleaned_data)
            messages.success(request, "Settings saved.")
            return redirect(here)
        status = 400
    elif action == "label":
        if label_form.is_valid():
            try:
                label, created = services.move_label(
                    prompt,
                    label_form.cleaned_data["label"],
                    label_form.cleaned_data["version"],
                    by=request.user,
                )
            except services.Refused as error:
                messages.error(request, f"{error.field}: {error.message}")
            else:
                verb = "created at" if created else "moved to"
                messages.success(request, f"Label {label.name} {verb} v{label.version.number}.")
            return redirect(here)
        messages.error(request, "Pick a label name and a version.")
        return redirect(here)
    elif action == "unlabel":
        try:
            services.delete_label(prompt, request.POST.get("label", ""))
        except services.Refused as error:
            messages.error(request, _sentence(error.message))
        else:
            messages.success(request, f"Label {request.POST.get('label')} deleted.")
        return redirect(here)
    elif action == "trash":
        services.trash_prompt(prompt)
        messages.success(
            request, f"Prompt “{prompt.name}” moved to the trash ({TRASH_DAYS} days to restore)."
        )
        return redirect("dashboard:prompts", slug)

    if not can_write:
        _readonly(version_form, settings_form, label_form)
    versions = list(prompt.versions.select_related("created_by").order_by("-number"))
    labels = list(prompt.labels.all())
    by_version = {}  # version number -> its label names
    for label in labels:
        by_version.setdefault(label.version.number, []).append(label.name)
    for version in versions:
        version.label_names = by_version.get(version.number, [])
    detected = []
    if latest is not None:
        contents = [m.get("content", "") for m in latest.messages if isinstance(m, dict)]
        declared = {v.get("name") for v in latest.variables if isinstance(v, dict)}
        detected = [(n, n in declared) for n in variables_in(latest.system, *contents)]
    # Try it starts with the variables a render needs (the required ones), blank.
    needed = [n for n, known in detected if not known] + [
        v["name"] for v in (latest.variables if latest else []) if v.get("required")
    ]
    production = next((label for label in labels if label.name == DEFAULT_LABEL), None)
    from routing.views import _playground_targets

    routers, models = _playground_targets(workspace)
    context = {
        "workspace": workspace,
        "prompt": prompt,
        "latest": latest,
        "versions": versions,
        "labels": labels,
        "production": production,
        "version_form": version_form,
        "settings_form": settings_form,
        "can_write": can_write,
        "diff": _diff(versions, request.GET),
        "detected": detected,
        "try_variables": json.dumps(dict.fromkeys(needed, ""), indent=1) if needed else "{}",
        "usage": _usage(workspace, prompt.name),
        "keys": ApiKey.objects.filter(prompt=prompt).order_by("name", "id"),
        "targets": [*routers, *models],
        "default_target": (latest.model if latest and latest.model in models else "")
        or (routers or models or [""])[0],
    }
    return render(request, "dashboard/prompt_edit.html", context, status=status)


def _json_error(status: int, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"error": {"message": message, "field": field}}, status=status)


@member_view(DEVELOPER)
@require_POST
def prompt_render(request, slug, prompt_name):
    """The editor's "try it": {"ref"?, "variables"?} in, the management API's render answer
    out (the page then sends it to the playground). CSRF-protected; no upstream call."""
    prompt = get_object_or_404(
        Prompt, workspace=request.workspace, name=prompt_name, deleted_at__isnull=True
    )
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _json_error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _json_error(400, "the body is not a JSON object")
    try:
        out = services.render(prompt, body.get("ref"), body.get("variables"))
    except services.Refused as error:
        return _json_error(400, f"{error.field}: {error.message}", error.field)
    response = JsonResponse(
        {
            "prompt": out.prompt,
            "version": out.version,
            "label": out.label,
            "messages": out.messages,
            "model": out.model,
            "parameters": out.parameters,
        }
    )
    add_never_cache_headers(response)
    return response
