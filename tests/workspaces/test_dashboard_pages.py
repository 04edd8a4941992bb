"""The pages a newcomer meets first: the landing page, the signed-in home, the favicon and
the layout every dashboard page shares (nav with the playground, folding menu, table
wrappers)."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from billing.services import grant_credits
from workspaces import services
from workspaces.models import ApiKey, Role

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def owner():
    workspace, _ = services.get_or_create_workspace("pages-acme", "Acme Pages")
    user = User.objects.create_user("pages-owner", "pages@example.com")
    services.add_member(workspace, user, Role.OWNER)
    grant_credits(workspace.id, Decimal("12.5"), note="test")
    services.create_api_key(workspace, name="one")
    revoked, _ = services.create_api_key(workspace, name="two")
    services.revoke_api_key(revoked)
    session_key, _ = services.create_api_key(workspace, name="playground · pages-owner")
    ApiKey.objects.filter(pk=session_key.pk).update(purpose=ApiKey.Purpose.PLAYGROUND)
    client = Client()
    client.force_login(user)
    return client, workspace


def test_the_landing_page_says_what_orca_is_and_offers_sign_up_and_log_in(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "LLM API gateway" in html
    assert f'href="{reverse("dashboard:signup")}"' in html
    assert f'href="{reverse("login")}"' in html
    assert 'base_url="http://testserver/v1"' in html  # the example points at this server
    assert "Admin" not in html  # the old landing page was one admin link


def test_the_signed_in_home_lists_workspaces_with_balance_and_active_keys(owner):
    client, workspace = owner
    html = client.get("/").content.decode()
    assert "Acme Pages" in html
    assert "$12.50" in html
    assert "1 active key" in html  # neither the revoked one nor the playground's
    assert reverse("dashboard:playground", args=[workspace.slug]) in html


def test_a_user_without_a_workspace_is_offered_to_create_one(client):
    user = User.objects.create_user("pages-lonely")
    client.force_login(user)
    html = client.get("/").content.decode()
    assert reverse("dashboard:workspace_create") in html
    assert "not a member of any workspace" in html


def test_favicon_ico_answers_an_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    body = b"".join(response.streaming_content)
    assert body[:4] == b"\0\0\1\0"  # ICO header, one image
    assert b"\x89PNG" in body


@pytest.mark.parametrize("name", ["keys", "usage", "members"])
def test_every_page_links_the_favicon_and_the_playground_and_folds_its_nav(owner, name):
    client, workspace = owner
    html = client.get(reverse(f"dashboard:{name}", args=[workspace.slug])).content.decode()
    assert 'rel="icon"' in html and "favicon.svg" in html
    assert 'href="/favicon.ico"' in html
    playground = reverse("dashboard:playground", args=[workspace.slug])
    assert f'<a href="{playground}"' in html  # in the top nav, on every workspace page
    assert 'id="nav-toggle"' in html
    assert 'aria-current="page"' in html


def test_tables_sit_in_a_scrolling_wrapper(owner):
    client, workspace = owner
    html = client.get(reverse("dashboard:keys", args=[workspace.slug])).content.decode()
    assert '<div class="table-wrap"><table' in html


def test_the_static_favicon_and_stylesheet_are_served(client):
    from django.contrib.staticfiles import finders

    assert finders.find("orca/favicon.svg")
    assert finders.find("orca/favicon.ico")
    css = Path(finders.find("orca/orca.css")).read_text()
    assert "@media (max-width: 760px)" in css and ".table-wrap" in css
