"""Dashboard views for routers, the playground and the model catalog.

Viewers read every page; developers and above create, change and delete routers and send
playground prompts. Another workspace's router name answers 404 like a missing one."""

import dataclasses
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_safe

from workspaces.access import member_view
from workspaces.keys import hash_key
from workspaces.models import ApiKey, Role, Workspace

from .forms import PlaygroundForm, RouterForm
from .models import Capability, Model, Router
from .playground import client_ip, send_prompt

logger = logging.getLogger(__name__)

# Role members are str at runtime (TextChoices); without Django stubs mypy takes them for
# the (value, label) tuples they are declared with, hence the casts in the decorators.


def _catalog_ids() -> list[str]:
    return list(
        Model.objects.filter(enabled=True, provider__enabled=True).values_list(
            "public_id", flat=True
        )
    )


def _readonly(form) -> None:
    for field in form.fields.values():
        field.disabled = True


def _save_router(form) -> Router | None:
    try:
        with transaction.atomic():
            return form.save()
    except IntegrityError:  # a concurrent request took the name
        form.add_error("name", "this workspace already has a router of that name")
        return None


# --- Routers ---------------------------------------------------------------------------------


@member_view(cast(str, Role.VIEWER), write_minimum=cast(str, Role.DEVELOPER))
def routers(request, slug):
    workspace = request.workspace
    can_write = request.membership.has_role(Role.DEVELOPER)
    status = 200
    if request.method == "POST":
        form = RouterForm(request.POST, workspace=workspace)
        if form.is_valid() and (router := _save_router(form)) is not None:
            messages.success(request, f"Router orcarouter/{router.name} created.")
            return redirect("dashboard:routers", slug)
        status = 400
    else:
        form = RouterForm(workspace=workspace)
    if not can_write:
        _readonly(form)
    context = {
        "workspace": workspace,
        "routers": Router.objects.filter(workspace=workspace).order_by("name"),
        "form": form,
        "can_write": can_write,
        "catalog": _catalog_ids(),
    }
    return render(request, "dashboard/routers.html", context, status=status)


@member_view(cast(str, Role.VIEWER), write_minimum=cast(str, Role.DEVELOPER))
def router_edit(request, slug, name):
    workspace = request.workspace
    router = get_object_or_404(Router, workspace=workspace, name=name)
    can_write = request.membership.has_role(Role.DEVELOPER)
    status = 200
    if request.method == "POST":
        if "delete" in request.POST:
            router.delete()
            messages.success(request, f"Router orcarouter/{name} deleted.")
            return redirect("dashboard:routers", slug)
        form = RouterForm(request.POST, workspace=workspace, instance=router)
        if form.is_valid() and (saved := _save_router(form)) is not None:
            messages.success(request, f"Router orcarouter/{saved.name} saved.")
            return redirect("dashboard:router_edit", slug, saved.name)
        status = 400
    else:
        form = RouterForm(workspace=workspace, instance=router)
    if not can_write:
        _readonly(form)
    context = {
        "workspace": workspace,
        "router": router,
        "form": form,
        "can_write": can_write,
        "catalog": _catalog_ids(),
    }
    return render(request, "dashboard/router_edit.html", context, status=status)


# --- Playground ------------------------------------------------------------------------------


@dataclass
class _Playground:
    form: PlaygroundForm
    status: int = 200
    # What to send once the form is valid and the key is ours; holds the raw key, so it is
    # kept out of repr() (and with it out of any log line or error report that prints one).
    send: dict | None = dataclasses.field(default=None, repr=False)
    result: dict | None = None


def _playground_form(request: HttpRequest, workspace: Workspace) -> _Playground:
    router_names = list(
        Router.objects.filter(workspace=workspace, enabled=True)
        .order_by("name")
        .values_list("name", flat=True)
    )
    choices = {"routers": router_names, "models": _catalog_ids()}
    if request.method != "POST":
        initial = {"target": request.GET["target"]} if request.GET.get("target") else {}
        return _Playground(PlaygroundForm(initial=initial, **choices))
    form = PlaygroundForm(request.POST, **choices)
    if not form.is_valid():
        return _Playground(form, status=400)
    api_key = form.cleaned_data["api_key"]
    if not ApiKey.objects.filter(workspace=workspace, key_hash=hash_key(api_key)).exists():
        form.add_error("api_key", "Not an API key of this workspace.")
        return _Playground(form, status=400)
    send = {
        "api_key": api_key,
        "target": form.cleaned_data["target"],
        "prompt": form.cleaned_data["prompt"],
        "ip": client_ip(request),
    }
    return _Playground(form, send=send)


def _playground_page(request: HttpRequest, page: _Playground) -> HttpResponse:
    if not request.membership.has_role(Role.DEVELOPER):
        _readonly(page.form)
    context = {
        "workspace": request.workspace,
        "form": page.form,
        "result": page.result,
        "can_send": request.membership.has_role(Role.DEVELOPER),
    }
    response = render(request, "dashboard/playground.html", context, status=page.status)
    add_never_cache_headers(response)
    return response


@member_view(cast(str, Role.VIEWER), write_minimum=cast(str, Role.DEVELOPER))
@sensitive_post_parameters("api_key")  # kept out of error reports
async def playground(request: HttpRequest, slug: str) -> HttpResponse:
    """Asynchronous, so a minute-long call waits in the event loop instead of holding a
    worker thread; the ORM and template work runs in a thread around it. The relay is
    called in process (routing/playground.py), never through a URL built from the request."""
    page = await sync_to_async(_playground_form)(request, request.workspace)
    if page.send is not None:
        page.result = await send_prompt(**page.send)
        page.send = None
    return await sync_to_async(_playground_page)(request, page)


# --- Models ----------------------------------------------------------------------------------


def _price(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text


def _health() -> tuple[dict, bool]:
    from .health_store import shared_snapshot

    try:
        return shared_snapshot(), True
    except Exception:  # Redis down: the page still lists the catalog
        logger.warning("model health unavailable", exc_info=True)
        return {}, False


@member_view()
@require_safe
def models_view(request, slug):
    catalog = Model.objects.filter(enabled=True, provider__enabled=True).select_related("provider")
    q = request.GET.get("q", "").strip()
    capability = request.GET.get("capability", "").strip()
    provider = request.GET.get("provider", "").strip().strip("/")
    prefixes = sorted(
        {public_id.split("/", 1)[0] for public_id in _catalog_ids() if "/" in public_id}
    )
    if q:
        catalog = catalog.filter(public_id__icontains=q)
    if provider:
        catalog = catalog.filter(public_id__startswith=f"{provider}/")
    snapshot, health_known = _health()
    rows = []
    for model in catalog:
        capabilities = model.capabilities if isinstance(model.capabilities, list) else []
        if capability and capability not in capabilities:
            continue
        health = snapshot.get(f"{model.provider.slug}|{model.public_id}", {})
        rows.append(
            {
                "public_id": model.public_id,
                "provider": model.provider.name,
                "input": _price(model.input_price),
                "output": _price(model.output_price),
                "cached": _price(model.cached_input_price),
                "context_length": model.context_length,
                "max_output_tokens": model.max_output_tokens,
                "capabilities": capabilities,
                "available": health.get("available", True),
                "cooldown_seconds_left": health.get("cooldown_seconds_left", 0),
                "cooldown_reason": health.get("cooldown_reason", ""),
                "latency_ms": health.get("latency_ms"),
            }
        )
    context = {
        "workspace": request.workspace,
        "rows": rows,
        "q": q,
        "capability": capability,
        "provider": provider,
        "capabilities": Capability.values,
        "prefixes": prefixes,
        "health_known": health_known,
    }
    return render(request, "dashboard/models.html", context)
