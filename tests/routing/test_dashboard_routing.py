"""Dashboard pages for routers, the playground and the model catalog: role enforcement,
cross-workspace isolation, router validation shared with the API, and the playground calling
the relay in process (its ASGI app stubbed in tests/routing/test_playground.py)."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from routing.models import Model, Provider, Router
from workspaces import services
from workspaces.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    users = {
        role: get_user_model().objects.create_user(f"dash-{role}")
        for role in ("owner", "developer", "viewer", "outsider")
    }
    mine, _ = services.get_or_create_workspace("dash-mine")
    theirs, _ = services.get_or_create_workspace("dash-theirs")
    services.add_member(mine, users["owner"], Role.OWNER)
    services.add_member(mine, users["developer"], Role.DEVELOPER)
    services.add_member(mine, users["viewer"], Role.VIEWER)
    services.add_member(theirs, users["outsider"], Role.OWNER)
    provider = Provider.objects.create(slug="dash-prov", name="Dash provider", kind="demo")
    Model.objects.create(
        public_id="dashtest/alpha",
        provider=provider,
        upstream_name="alpha",
        input_price="0.15",
        output_price="0.60",
        cached_input_price="0.075",
        context_length=128_000,
        capabilities=["tools", "vision"],
    )
    Model.objects.create(
        public_id="dashother/beta",
        provider=provider,
        upstream_name="beta",
        input_price="3",
        output_price="15",
        context_length=200_000,
        capabilities=["reasoning"],
    )
    Model.objects.create(
        public_id="dashtest/hidden", provider=provider, upstream_name="x", enabled=False
    )
    Router.objects.create(workspace=mine, name="mine-router", candidates=["dashtest/*"])
    Router.objects.create(workspace=theirs, name="their-router", candidates=["dashtest/*"])
    return {"users": users, "mine": mine, "theirs": theirs}


def as_user(client, world, role):
    client.force_login(world["users"][role])
    return client


def urls(slug):
    return [
        reverse("dashboard:routers", args=[slug]),
        reverse("dashboard:router_edit", args=[slug, "mine-router"]),
        reverse("dashboard:playground", args=[slug]),
        reverse("dashboard:models", args=[slug]),
    ]


def test_anonymous_is_sent_to_login(client, world):
    for url in urls("dash-mine"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"], url


def names(workspace):
    return set(Router.objects.filter(workspace=workspace).values_list("name", flat=True))


def test_non_member_gets_404(client, world):
    before = names(world["mine"])
    as_user(client, world, "outsider")
    for url in urls("dash-mine"):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"name": "x", "delete": "1"}).status_code == 404, url
    assert names(world["mine"]) == before


def test_viewer_reads_but_cannot_write(client, world):
    as_user(client, world, "viewer")
    for url in urls("dash-mine"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Routers" in response.content  # the nav shows: workspace in the context
    routers = reverse("dashboard:routers", args=["dash-mine"])
    edit = reverse("dashboard:router_edit", args=["dash-mine", "mine-router"])
    play = reverse("dashboard:playground", args=["dash-mine"])
    before = names(world["mine"])
    assert client.post(routers, {"name": "new", "strategy": "cheapest"}).status_code == 403
    assert client.post(edit, {"delete": "1"}).status_code == 403
    chat = reverse("dashboard:playground_chat", args=["dash-mine"])
    assert client.post(play, {"target": "dashtest/alpha"}).status_code == 405  # a page only
    assert client.post(chat, {"target": "dashtest/alpha"}).status_code == 403
    assert names(world["mine"]) == before


def test_another_workspaces_router_name_is_404(client, world):
    as_user(client, world, "owner")
    edit = reverse("dashboard:router_edit", args=["dash-mine", "their-router"])
    assert client.get(edit).status_code == 404
    assert client.post(edit, {"delete": "1"}).status_code == 404
    assert client.post(edit, {"name": "stolen", "strategy": "cheapest"}).status_code == 404
    assert Router.objects.filter(workspace=world["theirs"], name="their-router").exists()
    response = client.get(reverse("dashboard:routers", args=["dash-mine"]))
    assert b"their-router" not in response.content and b"mine-router" in response.content


def test_developer_creates_edits_and_deletes_a_router(client, world):
    as_user(client, world, "developer")
    routers = reverse("dashboard:routers", args=["dash-mine"])
    response = client.post(
        routers,
        {
            "name": "cheap",
            "candidates": "dashtest/*\n\n  dashother/beta  \n",
            "strategy": "cheapest",
            "default_model": "dashtest/alpha",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    router = Router.objects.get(workspace=world["mine"], name="cheap")
    assert router.candidates == ["dashtest/*", "dashother/beta"]
    assert router.strategy == "cheapest" and router.default_model == "dashtest/alpha"
    assert router.enabled
    assert b"orcarouter/cheap" in client.get(routers).content

    edit = reverse("dashboard:router_edit", args=["dash-mine", "cheap"])
    page = client.get(edit)
    assert page.status_code == 200 and b"dashother/beta" in page.content
    response = client.post(
        edit, {"name": "cheap", "candidates": "dashother/beta", "strategy": "fastest"}
    )
    assert response.status_code == 302
    router.refresh_from_db()
    assert router.candidates == ["dashother/beta"] and router.strategy == "fastest"
    assert not router.enabled and router.default_model == ""

    response = client.post(edit, {"delete": "1"})
    assert response.status_code == 302 and response["Location"] == routers
    assert not Router.objects.filter(workspace=world["mine"], name="cheap").exists()


def test_a_name_taken_in_another_workspace_is_free_here(client, world):
    as_user(client, world, "developer")
    response = client.post(
        reverse("dashboard:routers", args=["dash-mine"]),
        {"name": "their-router", "strategy": "balanced"},
    )
    assert response.status_code == 302
    assert Router.objects.filter(name="their-router").count() == 2


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": "Bad Name!"}, "name", "use 1-50 of a-z"),
        ({"name": "orcarouter"}, "name", "is reserved"),
        ({"name": "mine-router"}, "name", "already has a router of that name"),
        ({"name": "ok", "default_model": "nope/missing"}, "default_model", "in the catalog"),
        ({"name": "ok", "default_model": "dashtest/hidden"}, "default_model", "in the catalog"),
    ],
)
def test_invalid_router_shows_the_error_and_creates_nothing(client, world, data, field, message):
    as_user(client, world, "developer")
    before = Router.objects.count()
    response = client.post(
        reverse("dashboard:routers", args=["dash-mine"]), {"strategy": "balanced", **data}
    )
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.encode() in response.content or b"reserved" in response.content
    assert Router.objects.count() == before


def test_renaming_onto_an_existing_name_is_refused(client, world):
    as_user(client, world, "developer")
    Router.objects.create(workspace=world["mine"], name="second")
    edit = reverse("dashboard:router_edit", args=["dash-mine", "second"])
    response = client.post(edit, {"name": "mine-router", "strategy": "balanced"})
    assert response.status_code == 400
    assert Router.objects.filter(workspace=world["mine"], name="second").exists()


def test_models_page_lists_the_enabled_catalog_and_filters(client, world):
    as_user(client, world, "viewer")
    url = reverse("dashboard:models", args=["dash-mine"])
    page = client.get(url).content.decode()
    assert "dashtest/alpha" in page and "dashother/beta" in page
    assert "dashtest/hidden" not in page
    assert "$0.15" in page and "$0.6" in page and "$0.075" in page and "128000" in page
    assert "available" in page

    def ids(**params):
        return [row["public_id"] for row in client.get(url, params).context["rows"]]

    assert "dashother/beta" not in ids(q="ALPHA") and "dashtest/alpha" in ids(q="ALPHA")
    assert ids(q="dash", capability="reasoning") == ["dashother/beta"]
    assert ids(q="dash", capability="vision") == ["dashtest/alpha"]
    assert ids(provider="dashother") == ["dashother/beta"]
    assert ids(provider="dashtest", capability="reasoning") == []
