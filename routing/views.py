"""Dashboard views for routers, the playground and the model catalog.

Viewers read every page; developers and above create, change and delete routers and send
playground prompts. Another workspace's router name answers 404 like a missing one."""

import logging
from decimal import Decimal
from typing import cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST, require_safe

from workspaces.access import member_view
from workspaces.models import Role, Workspace
from workspaces.session_keys import playground_key

from . import own_credentials
from .forms import OwnCredentialForm, RouterForm
from .models import Capability, Model, ProviderCredential, Router
from .playground import (
    CHAT_PATH,
    MAX_OUTPUT_TOKENS,
    TIMEOUT_SECONDS,
    BadCall,
    IncompleteReply,
    client_ip,
    open_stream,
    parse_call,
)
from .selectors import configured_providers

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

DEFAULT_TARGET = "orcarouter/auto"
# The relay's headers the page may read: which model answered, the call's id and cost.
PASSED_HEADERS = (b"x-orca-request-id", b"x-orca-resolved-model", b"x-orca-router", b"x-orca-cost")


def _chat_model_ids() -> list[str]:
    return [
        public_id
        for public_id, endpoints in Model.objects.filter(
            enabled=True, provider__enabled=True
        ).values_list("public_id", "endpoint_types")
        if not {"chat", "responses"}.isdisjoint(endpoints or ["chat"])
    ]


def _playground_targets(workspace: Workspace) -> tuple[list[str], list[str]]:
    routers = list(
        Router.objects.filter(workspace=workspace, enabled=True)
        .order_by("name")
        .values_list("name", flat=True)
    )
    return [f"orcarouter/{name}" for name in routers], sorted(_chat_model_ids())


@member_view(cast(str, Role.VIEWER))
@require_safe
def playground(request, slug):
    """The page: model and router pickers, a system message, parameters and the
    conversation; static/orca/playground.js sends it to `playground_chat`."""
    routers, models = _playground_targets(request.workspace)
    wanted = request.GET.get("target", "")
    default = wanted if wanted in routers or wanted in models else DEFAULT_TARGET
    if default not in routers and default not in models:
        default = (routers or models or [""])[0]
    context = {
        "workspace": request.workspace,
        "routers": routers,
        "models": models,
        "default_target": default,
        "can_send": request.membership.has_role(Role.DEVELOPER),
        "max_output_tokens": MAX_OUTPUT_TOKENS,
    }
    return render(request, "dashboard/playground.html", context)


def _error(status: int, message: str, param: str | None = None) -> JsonResponse:
    return JsonResponse({"error": {"message": message, "param": param}}, status=status)


@member_view(cast(str, Role.DEVELOPER))
@require_POST
async def playground_chat(request: HttpRequest, slug: str) -> HttpResponse:
    """One send: the conversation as JSON in, the relay's SSE stream out (or its JSON error
    with its status). Asynchronous, so a long stream waits in the event loop instead of
    holding a worker thread; the relay is called in process (routing/playground.py), never
    through a URL built from the request."""
    workspace = request.workspace
    routers, models = await sync_to_async(_playground_targets)(workspace)
    try:
        call = parse_call(request.body, frozenset(routers) | frozenset(models))
    except BadCall as exc:
        return _error(400, str(exc), exc.param)
    api_key = await sync_to_async(playground_key)(request, workspace)
    try:
        stream = await open_stream(
            CHAT_PATH, call.body(), api_key=api_key, client_ip=client_ip(request)
        )
    except TimeoutError:
        return _error(504, f"the relay did not answer within {TIMEOUT_SECONDS:g} seconds")
    except IncompleteReply:
        return _error(502, "the relay ended the call without an answer")
    content_type = stream.header(b"content-type") or "application/octet-stream"
    response = StreamingHttpResponse(
        stream.chunks(), status=stream.status, content_type=content_type
    )
    for name in PASSED_HEADERS:
        if (value := stream.header(name)) is not None:
            response[name.decode()] = value
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the stream back
    add_never_cache_headers(response)
    return response


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
    catalog = (
        Model.objects.filter(enabled=True, provider__enabled=True)
        .select_related("provider")
        .prefetch_related("alternates")
    )
    usable = configured_providers(request.workspace.id)
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
        providers = [
            model.provider_id,
            *(a.provider_id for a in model.alternates.all() if a.enabled),
        ]
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
                "configured": any(p in usable for p in providers),
                "credential_env": model.provider.credential_env,
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


# --- The workspace's own provider keys (BYOK) -------------------------------------------------


@member_view(cast(str, Role.ADMIN))
@sensitive_post_parameters("credential")  # kept out of error reports
def providers(request, slug):
    """Add or replace (POST, then redirect) the workspace's own key for a provider; the
    list shows each one's last four characters only."""
    workspace = request.workspace
    choices = list(own_credentials.providers())
    status = 200
    if request.method == "POST":
        form = OwnCredentialForm(request.POST, providers=choices)
        if form.is_valid() and form.checked is not None:
            row, created = own_credentials.save(workspace, form.checked)
            verb = "added" if created else "replaced"
            messages.success(request, f"Your key for {row.provider.name} was {verb}.")
            return redirect("dashboard:providers", slug)
        status = 400
    else:
        form = OwnCredentialForm(providers=choices)
    context = {
        "workspace": workspace,
        "credentials": ProviderCredential.objects.filter(workspace=workspace)
        .select_related("provider")
        .order_by("provider__slug"),
        "form": form,
        "fee_percent": settings.ORCA_BYOK_FEE_PERCENT,
    }
    response = render(request, "dashboard/providers.html", context, status=status)
    add_never_cache_headers(response)
    return response


@member_view(cast(str, Role.ADMIN))
@require_POST
def provider_delete(request, slug, provider):
    row = get_object_or_404(
        ProviderCredential, workspace=request.workspace, provider__slug=provider
    )
    name = row.provider.name
    row.delete()
    messages.success(request, f"Your key for {name} was deleted; the platform's key serves it.")
    return redirect("dashboard:providers", slug)
