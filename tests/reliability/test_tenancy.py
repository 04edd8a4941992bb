"""Cross-workspace isolation of every dashboard and management API URL, generated from the
URLconf.

Every route that takes a URL argument is found by walking `orca.urls`. A member of "acme"
(workspace A) then asks for it with "globex"'s (workspace B's) slug and ids, and with A's
slug and B's ids, by GET and by every writing method: the answer must be exactly the one a
missing workspace or object gives, and B's rows must not change. FILL says how to fill each
URL argument with B's value; a route with an argument FILL does not know fails, so a new URL
is covered the day it is added (or the test says what to add), never silently skipped.

The relay's workspace-scoped lookups (/v1/generation and /api/v1/generation,
previous_response_id, /api/v1/key and /api/v1/credits) get the same check against the live
server with A's API key."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

from billing.models import CheckoutTopUp, LedgerEntry, UsageRecord
from guardrails.models import Guardrail, GuardrailVersion
from prompts.models import Prompt, PromptLabel, PromptVersion
from routing.models import Provider, ProviderCredential, Router, StoredResponse
from workspaces import services
from workspaces.models import ApiKey, ManagementKey, Membership, Role, Workspace

# --- the routes -------------------------------------------------------------------------------

# URL prefixes that take arguments but own no workspace data, and why.
EXEMPT = {
    "admin/": "the Django admin is for staff and spans every workspace by design",
    "accounts/": "login and password reset act on the user's own account",
}
WORKSPACE_KWARGS = frozenset({"slug", "workspace"})
# Routes authenticated by a management key alone (its workspace is the one acted on; a
# session has none there): the session matrix calls them with A's management key too.
MANAGEMENT_KEY_ONLY = ("api/v1/",)
API_PREFIX = "api/"


@dataclass(frozen=True)
class Route:
    name: str | None  # namespaced, for reverse()
    pattern: str
    kwargs: tuple[str, ...]
    callback: object

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith(API_PREFIX)


def _kwargs_of(pattern) -> tuple[str, ...]:
    if isinstance(pattern, RoutePattern):
        return tuple(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return tuple(pattern.regex.groupindex)
    raise TypeError(f"unknown URL pattern type {type(pattern).__name__}")


def walk(patterns, prefix: str = "", namespaces: tuple[str, ...] = (), kwargs=()) -> Iterator:
    """Every URL pattern under `patterns`, nested includes followed, with the arguments it
    collects on the way down."""
    for entry in patterns:
        text = prefix + str(entry.pattern)
        found = (*kwargs, *_kwargs_of(entry.pattern))
        if isinstance(entry, URLResolver):
            inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from walk(entry.url_patterns, text, inner, found)
        elif isinstance(entry, URLPattern):
            name = ":".join((*namespaces, entry.name)) if entry.name else None
            yield Route(name, text, found, entry.callback)


def tenant_routes() -> list[Route]:
    return [
        route
        for route in walk(get_resolver("orca.urls").url_patterns)
        if route.kwargs and not route.pattern.startswith(tuple(EXEMPT))
    ]


ROUTES = tenant_routes()

# --- how to fill them -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    """One workspace's ids, as URLs and forms carry them."""

    slug: str
    router: str
    key_id: int
    key_hash: str  # OpenRouter's id of a key (/api/v1/keys/{hash})
    api_key: str  # the raw key, for forms that take one
    request_id: str
    member_id: int
    entry_id: int
    management_key_id: int
    provider: str  # the slug of a provider the workspace has its own key for (BYOK)
    guardrail_id: int
    guardrail_version: int  # a version number of that guardrail (and of the prompt)
    prompt: str  # a prompt's name
    prompt_label: str  # a label of that prompt


# URL argument or form placeholder -> the Tenant field that fills it. A new URL argument
# naming a workspace-owned row needs a line here (and, if it is a new kind of row, a field
# in Tenant filled in `world` below).
FILL = {
    "slug": "slug",
    "workspace": "slug",
    "name": "router",  # router name: dashboard router_edit, API router-detail
    "key_id": "key_id",
    "key_hash": "key_hash",
    "api_key": "api_key",
    "request_id": "request_id",
    "member_id": "member_id",
    "membership": "member_id",
    "entry_id": "entry_id",
    "management_key_id": "management_key_id",  # API management-key-detail
    "provider": "provider",  # own provider key (BYOK): dashboard provider_delete, API detail
    "guardrail_id": "guardrail_id",  # dashboard guardrail pages, API guardrail(-version) detail
    "number": "guardrail_version",  # API guardrail- and prompt-version-detail
    "prompt_name": "prompt",  # dashboard prompt pages, API prompt(-version, -label) URLs
    "label": "prompt_label",  # API prompt-label-detail
}

MISSING = Tenant(
    slug="tenancy-no-such-workspace",
    router="tenancy-no-such-router",
    key_id=2**31 - 7,
    key_hash="0" * 64,
    api_key="sk-orca-" + "N" * 43,
    request_id="req_tenancy_no_such_call",
    member_id=2**31 - 5,
    entry_id=2**31 - 3,
    management_key_id=2**31 - 11,
    provider="tenancy-no-such-provider",
    guardrail_id=2**31 - 13,
    guardrail_version=2**20 + 1,
    prompt="tenancy-no-such-prompt",
    prompt_label="tenancy-no-such-label",
)

# Form bodies for the writing methods, by URL name: each is sent as it would do its work on
# the workspace's own row ({placeholders} are FILL names). Routes not listed get an empty
# form (dashboard) or a router-shaped JSON body (API).
BODIES: dict[str, list[dict]] = {
    "dashboard:members": [
        {"action": "remove", "membership": "{membership}"},
        {"action": "role", "membership": "{membership}", "role": "viewer"},
        {"action": "invite", "user": "tenancy-acme-owner", "role": "viewer"},
    ],
    "dashboard:settings": [{"name": "Stolen", "markup_percent": "0"}],
    "dashboard:keys": [{"name": "stolen"}],
    "dashboard:key_revoke": [{}],
    "dashboard:key_edit": [{"name": "stolen", "rpm_limit": "1", "tpm_limit": "0"}],
    "dashboard:routers": [{"name": "stolen", "strategy": "cheapest"}],
    "dashboard:router_edit": [
        {"delete": "1"},
        {"name": "{name}", "candidates": "stolen/*", "strategy": "cheapest"},
    ],
    "dashboard:credits": [{"amount": "20"}],
    "dashboard:playground_chat": [{"target": "fake/chat", "prompt": "hi"}],
    "dashboard:management_keys": [{"name": "stolen", "role": "viewer", "expires_in": "never"}],
    "dashboard:management_key_revoke": [{}],
    "dashboard:prompts": [{"action": "create", "name": "stolen"}],
    "dashboard:prompt_edit": [
        {"action": "version", "system": "stolen", "labels": "production"},
        {"action": "label", "label": "{label}", "version": "{number}"},
        {"action": "unlabel", "label": "{label}"},
        {"action": "settings", "description": "stolen"},
        {"action": "trash"},
    ],
    # Management API (JSON bodies)
    "workspace-detail": [{"rpm_limit": 7, "data_retention": "zero"}],
    "member-list": [{"user": "tenancy-acme-owner", "role": "owner"}],
    "member-detail": [{"role": "viewer"}],
    "api-key-list": [{"name": "stolen"}],
    "api-key-detail": [{"allowed_models": ["stolen/*"], "enabled": False, "rpm_limit": 1}],
    "management-key-list": [{"name": "stolen", "role": "owner"}],
    "prompt-list": [{"name": "stolen", "version": {"system": "stolen"}}],
    "prompt-detail": [{"enabled": False, "description": "stolen"}],
    "prompt-restore": [{}],
    "prompt-render": [{"variables": {}}],
    "prompt-version-list": [{"system": "stolen", "labels": ["production"]}],
    "prompt-label-detail": [{"version": "{number}"}],
    # Saving a key of one's own for a catalog provider is no other workspace's row: only the
    # B-workspace form is tried (it must 404 and add nothing).
    "dashboard:providers": [{"provider": "fake", "credential": "stolen-credential-1234"}],
    "dashboard:provider_delete": [{}],
}
API_BODY = {"name": "stolen", "candidates": ["stolen/*"], "strategy": "cheapest"}
# Query strings for GETs that filter by an id.
QUERIES: dict[str, dict] = {
    "dashboard:usage": {"key": "{key_id}"},
    "usage-list": {"key": "{key_id}"},
    "usage-export": {"key": "{key_id}"},
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def unfillable(route: Route) -> list[str]:
    names = set(route.kwargs)
    for template in [*BODIES.get(route.name or "", []), QUERIES.get(route.name or "", {})]:
        for value in template.values():
            names.update(PLACEHOLDER.findall(str(value)))
    return sorted(name for name in names if name not in FILL)


def value(tenant: Tenant, name: str):
    return getattr(tenant, FILL[name])


def fill(template: dict, tenant: Tenant) -> dict:
    return {
        field: PLACEHOLDER.sub(lambda m: str(value(tenant, m.group(1))), str(raw))
        for field, raw in template.items()
    }


def has_placeholders(template: dict) -> bool:
    return any(PLACEHOLDER.search(str(raw)) for raw in template.values())


def url(route: Route, workspace: Tenant, objects: Tenant) -> str:
    kwargs = {
        name: value(workspace if name in WORKSPACE_KWARGS else objects, name)
        for name in route.kwargs
    }
    return reverse(route.name, kwargs=kwargs)


# --- the data ---------------------------------------------------------------------------------


_RAW_KEYS: dict[int, str] = {}  # key id -> raw key, for the keys this module created


def _tenant(workspace: Workspace, tag: str) -> Tenant:
    router, _ = Router.objects.get_or_create(
        workspace=workspace, name=f"tenancy-{tag}-router", defaults={"candidates": [f"{tag}/*"]}
    )
    key = ApiKey.objects.filter(workspace=workspace, name=f"tenancy-{tag}-key").first()
    if key is None or key.id not in _RAW_KEYS:
        if key is not None:
            key.delete()  # left by an earlier session: its raw key is gone
        key, raw = services.create_api_key(workspace, name=f"tenancy-{tag}-key")
        _RAW_KEYS[key.id] = raw
    record, _ = UsageRecord.objects.get_or_create(
        request_id=f"req_tenancy_{tag}",
        defaults={
            "workspace": workspace,
            "api_key": key,
            "endpoint": "chat.completions",
            "model": f"{tag}/model",
            "status_code": 200,
            "created_at": datetime.now(UTC),
        },
    )
    member, _ = get_user_model().objects.get_or_create(username=f"tenancy-{tag}-member")
    membership = services.add_member(workspace, member, Role.DEVELOPER)
    entry = LedgerEntry.objects.filter(workspace=workspace).order_by("pk").first()
    assert entry is not None, "the live fixture grants credits, which writes a ledger entry"
    management_key = (
        ManagementKey.objects.filter(workspace=workspace, name=f"tenancy-{tag}-mgmt").first()
        or services.create_management_key(workspace, role=Role.VIEWER, name=f"tenancy-{tag}-mgmt")[
            0
        ]
    )
    # A provider of its own (no models: the catalog is unchanged) the workspace has a key for.
    provider, _ = Provider.objects.get_or_create(
        slug=f"tenancy-{tag}-provider",
        defaults={"name": f"tenancy {tag}", "kind": "openai", "base_url": "https://x.test/v1"},
    )
    if not ProviderCredential.objects.filter(workspace=workspace, provider=provider).exists():
        own = ProviderCredential(workspace=workspace, provider=provider)
        own.set_credential(f"tenancy-{tag}-own-credential-CANARY")
        own.save()
    guardrail, _ = Guardrail.objects.get_or_create(
        workspace=workspace, name=f"tenancy-{tag}-guardrail", defaults={"version": 1}
    )
    GuardrailVersion.objects.get_or_create(
        guardrail=guardrail,
        number=1,
        defaults={
            "rules": [{"type": "keyword", "stage": "input", "action": "flag", "keywords": [tag]}]
        },
    )
    prompt, _ = Prompt.objects.get_or_create(
        workspace=workspace,
        name=f"tenancy-{tag}-prompt",
        deleted_at=None,
        defaults={"latest_version": 1},
    )
    version, _ = PromptVersion.objects.get_or_create(
        prompt=prompt, number=1, defaults={"system": f"tenancy {tag} system text"}
    )
    PromptLabel.objects.get_or_create(
        prompt=prompt, name=f"tenancy-{tag}-label", defaults={"version": version}
    )
    return Tenant(
        slug=workspace.slug,
        router=router.name,
        key_id=key.id,
        key_hash=key.key_hash,
        api_key=_RAW_KEYS[key.id],
        request_id=record.request_id,
        member_id=membership.id,
        entry_id=entry.id,
        management_key_id=management_key.id,
        provider=provider.slug,
        guardrail_id=guardrail.id,
        guardrail_version=1,
        prompt=prompt.name,
        prompt_label=f"tenancy-{tag}-label",
    )


@dataclass
class World:
    client: Client  # logged in as an owner of A
    key_client: Client  # sends an owner management key of A, no session
    a: Tenant
    b: Tenant
    b_workspace: Workspace
    markers: tuple[str, ...]  # strings only B's rows contain


@pytest.fixture
def world(live, db_access) -> World:
    """Rows of "acme" (A) and "globex" (B), committed, and an owner of A logged in."""
    a = _tenant(live.workspace, "acme")
    b = _tenant(live.other_workspace, "globex")
    owner, _ = get_user_model().objects.get_or_create(username="tenancy-acme-owner")
    services.add_member(live.workspace, owner, Role.OWNER)
    client = Client()
    client.force_login(owner)
    key_prefix = ApiKey.objects.get(pk=b.key_id).prefix
    management_prefix = ManagementKey.objects.get(pk=b.management_key_id).prefix
    markers = (
        "globex/*",
        "globex/model",
        "tenancy-globex-member",
        key_prefix,
        management_prefix,
        "tenancy-globex-mgmt",
        "tenancy-globex-own-credential-CANARY",
        "tenancy-globex-guardrail",
        "tenancy-globex-prompt",
        "tenancy globex system text",
    )
    _, raw = services.create_management_key(live.workspace, role=Role.OWNER, name="tenancy")
    key_client = Client(headers={"Authorization": f"Bearer {raw}"})
    return World(client, key_client, a, b, live.other_workspace, markers)


def b_rows(workspace: Workspace) -> dict:
    """Everything of B's that a leaking write could change."""

    def rows(queryset) -> list:
        return list(queryset.filter(workspace=workspace).order_by("pk").values())

    return {
        "workspace": list(Workspace.objects.filter(pk=workspace.pk).values()),
        "routers": rows(Router.objects),
        "keys": rows(ApiKey.objects),
        "members": rows(Membership.objects),
        "usage": rows(UsageRecord.objects),
        "ledger": rows(LedgerEntry.objects),
        "topups": rows(CheckoutTopUp.objects),
        "management_keys": rows(ManagementKey.objects),
        "own_credentials": rows(ProviderCredential.objects),
        "guardrails": rows(Guardrail.objects),
        "guardrail_versions": list(
            GuardrailVersion.objects.filter(guardrail__workspace=workspace).order_by("pk").values()
        ),
        "prompts": rows(Prompt.objects),
        "prompt_versions": list(
            PromptVersion.objects.filter(prompt__workspace=workspace).order_by("pk").values()
        ),
        "prompt_labels": list(
            PromptLabel.objects.filter(prompt__workspace=workspace).order_by("pk").values()
        ),
    }


# --- the matrix -------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    workspace: Tenant  # fills slug/workspace
    objects: Tenant  # fills every other argument and placeholder
    body: dict | None = None
    query: dict | None = None

    def send(self, client: Client, route: Route):
        path = url(route, self.workspace, self.objects)
        data = fill(self.query, self.objects) if self.query else None
        if self.method == "GET":
            return client.get(path, data)
        body = fill(self.body or {}, self.objects)
        send = getattr(client, self.method.lower())
        if route.is_api:
            return send(path, json.dumps(body), content_type="application/json")
        if self.method == "POST":
            return client.post(path, body)
        return send(path, body)


def calls(route: Route, a: Tenant, b: Tenant) -> Iterator[tuple[str, Call, Call]]:
    """(label, the cross-tenant call, the same call for a missing workspace or object)."""
    has_objects = any(name not in WORKSPACE_KWARGS for name in route.kwargs)
    query = QUERIES.get(route.name)
    writes = ("POST", "PUT", "PATCH", "DELETE") if route.is_api else ("POST",)
    bodies = BODIES.get(route.name, [API_BODY if route.is_api else {}])
    requests = [("GET", None, None)]
    if query:
        requests.append(("GET", None, query))
    requests += [(method, body, None) for method in writes for body in bodies]
    for method, body, q in requests:
        label = f"{method} {body or ''}{q or ''}"
        yield f"B's workspace: {label}", Call(method, b, b, body, q), Call(method, MISSING, MISSING)
        if has_objects or has_placeholders(body or {}) or q:
            yield (
                f"A's workspace, B's ids: {label}",
                Call(method, a, b, body, q),
                Call(method, a, MISSING, body, q),
            )


def normalised(response, *values) -> tuple:
    """Status and content, with the ids that differ between two calls taken out."""
    text = b"".join(response.streaming_content) if response.streaming else response.content
    text = text.decode("utf-8", errors="replace")
    for item in sorted({str(v) for v in values}, key=len, reverse=True):
        text = text.replace(item, "<id>")
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "<csrf>", text)
    return response.status_code, response.get("Location"), text


def ids_of(tenant: Tenant) -> list:
    return [getattr(tenant, field) for field in set(FILL.values())]


def test_the_urlconf_walk_finds_the_workspace_routes():
    names = {route.name for route in ROUTES}
    expected = {
        "dashboard:router_edit",
        "dashboard:key_revoke",
        "dashboard:usage_detail",
        "dashboard:members",
        "router-detail",
        "own-credential-detail",
        "dashboard:provider_delete",
        "usage-list",
        "ledger",
        "workspace-detail",
        "member-detail",
        "api-key-detail",
        "management-key-detail",
        "dashboard:management_key_revoke",
        "openrouter-key",
    }
    assert expected <= names, f"missing from the walk: {expected - names}"
    assert all(not route.pattern.startswith("admin/") for route in ROUTES)


def require_fillable(route: Route) -> None:
    missing = unfillable(route)
    if missing:
        pytest.fail(
            f"URL {route.pattern!r} ({route.name}) takes {missing}, which the tenancy matrix "
            "cannot fill: add to FILL in tests/reliability/test_tenancy.py which of workspace "
            "B's ids goes there (a new kind of row also needs a Tenant field), or list the "
            "URL's prefix in EXEMPT with the reason it owns no workspace data"
        )
    if route.name is None:
        pytest.fail(f"URL {route.pattern!r} has no name; name it so the matrix can reverse it")


def test_a_route_the_matrix_cannot_fill_fails_and_says_what_to_add():
    route = Route("dashboard:gadget", "w/<slug:slug>/gadgets/<int:gadget_id>/", ("slug",), None)
    require_fillable(route)  # a slug alone is known
    unknown = Route(route.name, route.pattern, ("slug", "gadget_id"), None)
    with pytest.raises(pytest.fail.Exception, match=r"takes \['gadget_id'\].*add to FILL"):
        require_fillable(unknown)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name or route.pattern)
def test_another_workspaces_ids_answer_like_missing_ones(world, route):
    # A session has no workspace on management-key-only routes: they take A's key here too.
    key_only = route.pattern.startswith(MANAGEMENT_KEY_ONLY)
    check_isolation(world, route, world.key_client if key_only else world.client)


API_ROUTES = [route for route in ROUTES if route.is_api]


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda route: route.name or route.pattern)
def test_a_management_key_sees_nothing_of_another_workspace(world, route):
    """The same matrix, with an owner management key of A instead of a session."""
    check_isolation(world, route, world.key_client)


def check_isolation(world: World, route: Route, client: Client) -> None:
    require_fillable(route)
    assert resolve(url(route, world.a, world.a)).func is route.callback

    # Control: with A's own ids the route finds its rows, so the 404s below mean something.
    own = client.get(url(route, world.a, world.a))
    assert own.status_code != 404 and own.status_code < 500, (route.pattern, own.status_code)

    before = b_rows(world.b_workspace)
    for label, cross, baseline in calls(route, world.a, world.b):
        got = cross.send(client, route)
        expected = baseline.send(client, route)
        where = f"{route.pattern} {label}"
        assert got.status_code < 500, f"{where}: {got.status_code}"
        if cross.workspace is world.b:
            assert got.status_code == 404, f"{where}: {got.status_code}, not 404"
        secret_ids = [*ids_of(world.b), *ids_of(MISSING)]
        got_n, expected_n = normalised(got, *secret_ids), normalised(expected, *secret_ids)
        if cross.query and got.status_code == expected.status_code == 200:
            # Filtering A's rows by B's id finds nothing, as a missing id does; the pages
            # may still differ in clock-dependent parts, so only B's rows are looked for.
            pass
        else:
            assert got_n == expected_n, f"{where}: answers unlike a missing one"
        for marker in world.markers:
            assert marker not in got_n[2], f"{where}: shows B's {marker!r}"
        assert b_rows(world.b_workspace) == before, f"{where}: changed B's rows"


def test_openrouter_key_list_shows_only_the_management_keys_workspace(world):
    listed = world.key_client.get("/api/v1/keys", {"include_disabled": "true"})
    assert listed.status_code == 200
    hashes = [key["hash"] for key in listed.json()["data"]]
    assert world.a.key_hash in hashes and world.b.key_hash not in hashes
    for marker in world.markers:
        assert marker not in listed.content.decode()
    before = b_rows(world.b_workspace)
    made = world.key_client.post(
        "/api/v1/keys",
        json.dumps({"name": "tenancy-made", "workspace_id": world.b.slug}),
        content_type="application/json",
    )
    assert made.status_code == 400  # a key is made in the management key's workspace only
    assert b_rows(world.b_workspace) == before


# --- the relay ------------------------------------------------------------------------------


def _relay(live, method: str, path: str, key: str, **kwargs) -> tuple[int, str]:
    response = httpx.request(
        method,
        live.server.base_url + path,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
        **kwargs,
    )
    return response.status_code, response.text


def test_generation_of_another_workspace_answers_like_a_missing_one(live, world):
    def generation(request_id: str) -> tuple[int, str]:
        return _relay(live, "GET", "/v1/generation", live.key, params={"id": request_id})

    own = generation(world.a.request_id)
    assert own[0] == 200 and world.a.request_id in own[1]
    status, text = generation(world.b.request_id)
    missing = generation(MISSING.request_id)
    assert status == missing[0] == 404
    assert text.replace(world.b.request_id, "<id>") == missing[1].replace(
        MISSING.request_id, "<id>"
    )


def test_openrouter_generation_of_another_workspace_answers_like_a_missing_one(live, world):
    def generation(request_id: str) -> tuple[int, str]:
        return _relay(live, "GET", "/api/v1/generation", live.key, params={"id": request_id})

    own = generation(world.a.request_id)
    assert own[0] == 200 and world.a.request_id in own[1]
    status, text = generation(world.b.request_id)
    missing = generation(MISSING.request_id)
    assert status == missing[0] == 404
    assert text.replace(world.b.request_id, "<id>") == missing[1].replace(
        MISSING.request_id, "<id>"
    )


def test_openrouter_key_and_credits_show_only_the_callers_own(live, world):
    """/api/v1/key and /api/v1/credits take no id: each key sees its own key and its own
    workspace's ledger, never the other's."""
    mine = json.loads(_relay(live, "GET", "/api/v1/key", world.a.api_key)[1])["data"]
    theirs = json.loads(_relay(live, "GET", "/api/v1/key", world.b.api_key)[1])["data"]
    a_prefix = ApiKey.objects.get(pk=world.a.key_id).prefix
    b_prefix = ApiKey.objects.get(pk=world.b.key_id).prefix
    assert (mine["label"], mine["workspace_id"]) == (a_prefix, world.a.slug)
    assert (theirs["label"], theirs["workspace_id"]) == (b_prefix, world.b.slug)
    grant = LedgerEntry.objects.create(
        workspace=world.b_workspace, kind=LedgerEntry.Kind.GRANT, amount_pico=7 * 10**12
    )
    try:
        for key, workspace in (
            (world.a.api_key, live.workspace),
            (world.b.api_key, world.b_workspace),
        ):
            credited = sum(
                e.amount_pico
                for e in LedgerEntry.objects.filter(workspace=workspace)
                if e.kind != LedgerEntry.Kind.SPEND
            )
            data = json.loads(_relay(live, "GET", "/api/v1/credits", key)[1])["data"]
            assert data["total_credits"] == credited / 10**12
    finally:
        grant.delete()


def test_previous_response_of_another_workspace_answers_like_a_missing_one(live, world):
    """previous_response_id is looked up in the caller's workspace only."""
    history, _ = services.get_or_create_workspace("tenancy-history")
    history.keep_response_history = True
    history.save()  # a save bumps the config version, so the server re-reads its keys
    ApiKey.objects.filter(workspace=history).delete()
    _, key = services.create_api_key(history, name="tenancy")
    theirs, _ = StoredResponse.objects.get_or_create(
        response_id="resp_tenancy_globex",
        defaults={
            "workspace": live.other_workspace,
            "model": "fake/chat",
            "messages": [{"role": "user", "content": "globex-secret-turn"}],
        },
    )
    missing_id = "resp_tenancy_missing"

    def ask(previous: str) -> tuple[int, str]:
        body = {"model": "fake/chat", "input": "and then?", "previous_response_id": previous}
        return _relay(live, "POST", "/v1/responses", key, json=body)

    status, text = ask(theirs.response_id)
    missing = ask(missing_id)
    assert status == missing[0] == 400, (status, text)
    assert "previous_response_not_found" in text  # looked up (history on), not found
    assert text.replace(theirs.response_id, "<id>") == missing[1].replace(missing_id, "<id>")
    assert "globex-secret-turn" not in text
