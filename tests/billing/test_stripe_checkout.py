"""Stripe Checkout top-ups in process: the credits page opens sessions on the fake Stripe (the
official library's real requests), and the webhook, fed events the fake signs the way
Stripe does, credits the ledger exactly once."""

import threading
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.urls import reverse

from billing.models import CheckoutTopUp, LedgerEntry, StripeEvent
from billing.selectors import balance_pico
from billing.services import grant_credits
from tests.fakes.stripe_api import parse_form, sign
from workspaces import services
from workspaces.models import Role

User = get_user_model()
PUBLIC = "https://orca.example.test"
WEBHOOK = "/billing/stripe/webhook/"
CENT = 10**10  # pico-dollars


@pytest.fixture
def stripe_on(settings, fake_stripe):
    settings.STRIPE_SECRET_KEY = fake_stripe.api_key
    settings.STRIPE_WEBHOOK_SECRET = fake_stripe.webhook_secret
    settings.STRIPE_API_BASE = fake_stripe.base_url
    settings.ORCA_PUBLIC_BASE_URL = PUBLIC
    settings.ORCA_TOPUP_MIN_USD = 5
    settings.ORCA_TOPUP_MAX_USD = 500
    fake_stripe.reset()
    return fake_stripe


def workspace_with(slug: str, role: str = Role.OWNER):
    workspace, _ = services.get_or_create_workspace(slug, slug.title())
    user = User.objects.create_user(f"{slug}-{role}", f"{slug}-{role}@example.com")
    services.add_member(workspace, user, role)
    client = Client()
    client.force_login(user)
    return workspace, user, client


def credits_url(workspace) -> str:
    return reverse("dashboard:credits", args=[workspace.slug])


def open_session(client, workspace, amount="25") -> str:
    response = client.post(credits_url(workspace), {"amount": amount})
    assert response.status_code == 303, response.content
    return response["Location"].rsplit("/", 1)[1]


def post_event(payload: bytes, secret: str, timestamp: int | None = None, client=None):
    return (client or Client()).post(
        WEBHOOK,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, secret, timestamp),
    )


# --- the credits page -------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_stripe_the_page_says_how_credits_arrive_and_takes_no_payment(settings):
    settings.STRIPE_SECRET_KEY = ""
    workspace, _, client = workspace_with("nostripe")
    page = client.get(credits_url(workspace))
    assert page.status_code == 200
    assert b"Credits are granted by its operator" in page.content
    assert b"Pay with Stripe" not in page.content
    response = client.post(credits_url(workspace), {"amount": "20"})
    assert response.status_code == 302
    assert not CheckoutTopUp.objects.exists()
    assert b"not configured" in client.get(credits_url(workspace)).content
    # Staff grants work as before.
    grant_credits(workspace.id, Decimal("3.50"), note="staff")
    assert balance_pico(workspace.id) == 350 * CENT


@pytest.mark.django_db
def test_top_up_opens_a_checkout_session_and_redirects_to_it(stripe_on, settings):
    settings.ALLOWED_HOSTS = ["*"]  # where a forged Host header would get through
    workspace, user, client = workspace_with("topup")
    page = client.get(credits_url(workspace))
    assert b"Pay with Stripe" in page.content
    # The Host header is an attacker's; the return URLs still come from the setting.
    response = client.post(
        credits_url(workspace), {"amount": "25.50"}, HTTP_HOST="evil.example", secure=True
    )
    assert response.status_code == 303
    [call] = [r for r in stripe_on.requests if r.path == "/v1/checkout/sessions"]
    assert call.headers["authorization"] == f"Bearer {stripe_on.api_key}"
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    form = parse_form(call.body)
    assert form["mode"] == "payment"
    [item] = form["line_items"]
    assert item["quantity"] == "1"
    assert item["price_data"]["currency"] == "usd"
    assert item["price_data"]["unit_amount"] == "2550"
    assert form["client_reference_id"] == str(workspace.id)
    assert form["metadata"]["orca_workspace_id"] == str(workspace.id)
    assert form["customer_email"] == user.email
    success, cancel = urlsplit(form["success_url"]), urlsplit(form["cancel_url"])
    assert f"{success.scheme}://{success.netloc}" == PUBLIC
    assert f"{cancel.scheme}://{cancel.netloc}" == PUBLIC
    assert success.path == cancel.path == credits_url(workspace)
    assert parse_qs(success.query)["session_id"] == ["{CHECKOUT_SESSION_ID}"]
    topup = CheckoutTopUp.objects.get()
    assert response["Location"] == stripe_on.sessions[topup.session_id]["url"]
    assert (topup.workspace_id, topup.amount_cents, topup.status) == (workspace.id, 2550, "open")
    assert topup.created_by == user
    assert b"Open" in client.get(credits_url(workspace)).content  # the history shows it


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("4.99", b"greater than or equal to 5"),
        ("500.01", b"less than or equal to 500"),
        ("-5", b"greater than or equal to 5"),
        ("10.001", b"no more than 2 decimal places"),
        ("ten", b"Enter a number"),
        ("", b"This field is required"),
        ("1e9", b"less than or equal to 500"),
        ("NaN", b"Enter a number"),
        ("5\x00", b"Enter a number"),
    ],
)
def test_an_amount_out_of_bounds_is_refused_before_stripe_is_called(stripe_on, amount, message):
    workspace, _, client = workspace_with("bounds")
    response = client.post(credits_url(workspace), {"amount": amount})
    assert response.status_code == 400
    assert message in response.content
    assert stripe_on.requests == []
    assert not CheckoutTopUp.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_below_admin_sees_the_balance_but_cannot_top_up(stripe_on, role):
    workspace, _, client = workspace_with("lowrole", role)
    page = client.get(credits_url(workspace))
    assert page.status_code == 200
    assert b"Only admins and owners" in page.content
    assert client.post(credits_url(workspace), {"amount": "20"}).status_code == 403
    assert stripe_on.requests == []


@pytest.mark.django_db
def test_another_workspace_answers_404(stripe_on):
    _, _, client = workspace_with("mine")
    theirs, _, _ = workspace_with("theirs")
    assert client.get(credits_url(theirs)).status_code == 404
    assert client.post(credits_url(theirs), {"amount": "20"}).status_code == 404
    assert stripe_on.requests == []


@pytest.mark.django_db
def test_stripe_refusing_the_call_is_a_clear_502_without_the_key(stripe_on, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_wrong_CANARY_0d9f"
    workspace, _, client = workspace_with("refused")
    response = client.post(credits_url(workspace), {"amount": "20"})
    assert response.status_code == 502
    assert b"Stripe could not open a checkout page" in response.content
    assert b"CANARY" not in response.content
    assert CheckoutTopUp.objects.get().status == "failed"


# --- the webhook ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_paid_session_is_credited_once_and_a_redelivery_adds_nothing(
    stripe_on, django_capture_on_commit_callbacks
):
    workspace, _, client = workspace_with("paid")
    session_id = open_session(client, workspace, "42")
    payload = stripe_on.paid_event(session_id)
    with django_capture_on_commit_callbacks(execute=True):
        first = post_event(payload, stripe_on.webhook_secret)
    assert first.status_code == 200
    assert first.json() == {"received": True, "outcome": "credited"}
    for _ in range(2):  # Stripe redelivers until it sees a 2xx, and sometimes after
        again = post_event(payload, stripe_on.webhook_secret)
        assert again.json()["outcome"] == "duplicate"
    [entry] = LedgerEntry.objects.filter(workspace=workspace)
    assert entry.kind == "grant"
    assert entry.amount_pico == 4200 * CENT
    assert session_id in entry.note
    assert balance_pico(workspace.id) == 4200 * CENT
    topup = CheckoutTopUp.objects.get(session_id=session_id)
    assert (topup.status, topup.credited_cents, topup.ledger_entry_id) == ("paid", 4200, entry.id)
    assert StripeEvent.objects.get().outcome == "credited"
    # A second, different event for the same session (async success after completed).
    later = stripe_on.event(
        "checkout.session.async_payment_succeeded", stripe_on.sessions[session_id]
    )
    assert post_event(later, stripe_on.webhook_secret).json()["outcome"] == "already credited"
    assert LedgerEntry.objects.filter(workspace=workspace).count() == 1
    page = client.get(credits_url(workspace) + "?checkout=success&session_id=" + session_id)
    assert b"Payment received: $42.00 added to the balance" in page.content
    assert b"Balance: <strong>$42</strong>" in page.content
    # Another workspace's session id on the return URL reads like an unknown one.
    _, _, other = workspace_with("paid-other")
    other_page = other.get(
        reverse("dashboard:credits", args=["paid-other"])
        + "?checkout=success&session_id="
        + session_id
    )
    assert b"$42" not in other_page.content
    assert b"reload to see it" in other_page.content


@pytest.mark.django_db
def test_the_amount_is_the_sessions_not_the_clients(stripe_on):
    workspace, _, client = workspace_with("amount")
    session_id = open_session(client, workspace, "10")
    # What Stripe says was paid (say, after a discount) is what is credited.
    payload = stripe_on.paid_event(session_id, amount_total=750)
    assert post_event(payload, stripe_on.webhook_secret).json()["outcome"] == "credited"
    assert balance_pico(workspace.id) == 750 * CENT
    assert CheckoutTopUp.objects.get().credited_cents == 750


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "outcome"),
    [
        ({"currency": "eur"}, "wrong currency"),
        ({"amount_total": 0}, "nothing paid"),
        ({"payment_status": "unpaid"}, "awaiting payment"),
    ],
)
def test_a_session_that_is_not_a_usd_payment_credits_nothing(stripe_on, changes, outcome):
    workspace, _, client = workspace_with("notpaid")
    session_id = open_session(client, workspace)
    payload = stripe_on.paid_event(session_id, **changes)
    assert post_event(payload, stripe_on.webhook_secret).json()["outcome"] == outcome
    assert not LedgerEntry.objects.filter(workspace=workspace).exists()


@pytest.mark.django_db
def test_a_delayed_payment_is_credited_when_it_succeeds(stripe_on):
    workspace, _, client = workspace_with("delayed")
    session_id = open_session(client, workspace, "15")
    pending = stripe_on.paid_event(session_id, payment_status="unpaid")
    assert post_event(pending, stripe_on.webhook_secret).json()["outcome"] == "awaiting payment"
    assert CheckoutTopUp.objects.get().status == "pending"
    succeeded = stripe_on.event(
        "checkout.session.async_payment_succeeded", stripe_on.sessions[session_id]
    )
    assert post_event(succeeded, stripe_on.webhook_secret).json()["outcome"] == "credited"
    assert balance_pico(workspace.id) == 1500 * CENT


@pytest.mark.django_db
def test_an_expired_session_is_marked_and_credits_nothing(stripe_on):
    workspace, _, client = workspace_with("expired")
    session_id = open_session(client, workspace)
    session = {**stripe_on.sessions[session_id], "status": "expired"}
    expired = stripe_on.event("checkout.session.expired", session)
    assert post_event(expired, stripe_on.webhook_secret).json()["outcome"] == "expired"
    assert CheckoutTopUp.objects.get().status == "expired"
    assert not LedgerEntry.objects.filter(workspace=workspace).exists()


@pytest.mark.django_db
def test_bad_signatures_and_stale_timestamps_are_400_and_credit_nothing(stripe_on):
    workspace, _, client = workspace_with("forged")
    session_id = open_session(client, workspace)
    payload = stripe_on.paid_event(session_id)
    wrong = post_event(payload, "whsec_not_the_secret")
    assert wrong.status_code == 400
    assert "bad signature" in wrong.json()["error"]
    stale = post_event(payload, stripe_on.webhook_secret, timestamp=int(time.time()) - 301)
    assert stale.status_code == 400
    assert "stale timestamp" in stale.json()["error"]
    # Signed for one body, sent with another (the amount raised).
    header = sign(payload, stripe_on.webhook_secret)
    tampered = payload.replace(b'"amount_total": 2500', b'"amount_total": 250000')
    assert tampered != payload
    response = Client().post(
        WEBHOOK, data=tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400
    unsigned = Client().post(WEBHOOK, data=payload, content_type="application/json")
    assert unsigned.status_code == 400
    for header in ("", "t=abc,v1=00", "v1=00", "t=1", "\x00"):
        response = Client().post(
            WEBHOOK, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )
        assert response.status_code == 400, header
    assert not LedgerEntry.objects.filter(workspace=workspace).exists()
    assert not StripeEvent.objects.exists()
    # The genuine delivery still works afterwards.
    assert post_event(payload, stripe_on.webhook_secret).json()["outcome"] == "credited"


@pytest.mark.django_db
def test_bodies_that_are_not_events_are_400_and_unknown_types_200(stripe_on):
    secret = stripe_on.webhook_secret
    for body in (b"not json", b"\xff\xfe", b"[]", b'{"id": 5, "type": "x"}'):
        assert post_event(body, secret).status_code == 400, body
    malformed = stripe_on.event("checkout.session.completed", {"object": "checkout.session"})
    assert post_event(malformed, secret).status_code == 400
    unknown = stripe_on.event("invoice.paid", {"object": "invoice", "id": "in_1"})
    response = post_event(unknown, secret)
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored: invoice.paid"
    assert not StripeEvent.objects.exists()
    assert Client().get(WEBHOOK).status_code == 405


@pytest.mark.django_db
def test_without_a_signing_secret_the_webhook_is_404(settings, fake_stripe):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = fake_stripe.event("checkout.session.completed", {"object": "checkout.session"})
    assert post_event(payload, "whsec_anything").status_code == 404


@pytest.mark.django_db
def test_another_workspaces_event_cannot_credit_a_different_workspace(stripe_on):
    victim, _, victim_client = workspace_with("victim")
    attacker, _, attacker_client = workspace_with("attacker")
    session_id = open_session(victim_client, victim, "30")
    genuine = stripe_on.paid_event(session_id)
    assert post_event(genuine, stripe_on.webhook_secret).json()["outcome"] == "credited"
    # Replayed verbatim (within the tolerance): a duplicate, whoever sends it.
    assert post_event(genuine, stripe_on.webhook_secret).json()["outcome"] == "duplicate"
    # The victim's session in an event whose metadata names the attacker's workspace: the
    # session row says whose it is, and the names disagree.
    own_session = open_session(attacker_client, attacker, "5")
    for changes in (
        {
            "client_reference_id": str(attacker.id),
            "metadata": {"orca_workspace_id": str(attacker.id)},
        },
        {"metadata": {"orca_workspace_id": str(attacker.id)}},
        {"client_reference_id": str(attacker.id)},
    ):
        moved = stripe_on.event(
            "checkout.session.async_payment_succeeded",
            {**stripe_on.sessions[session_id], **changes},
        )
        outcome = post_event(moved, stripe_on.webhook_secret).json()["outcome"]
        assert outcome in ("workspace mismatch", "already credited")
    # The attacker's own session, claiming the victim's workspace in its metadata.
    hijack = stripe_on.paid_event(
        own_session,
        client_reference_id=str(victim.id),
        metadata={"orca_workspace_id": str(victim.id)},
    )
    assert post_event(hijack, stripe_on.webhook_secret).json()["outcome"] == "workspace mismatch"
    # A session this Orca never opened.
    stranger = stripe_on.paid_event(own_session, id="cs_test_not_ours")
    assert post_event(stranger, stripe_on.webhook_secret).json()["outcome"] == "unknown session"
    assert balance_pico(victim.id) == 3000 * CENT
    assert balance_pico(attacker.id) == 0


@pytest.mark.django_db
def test_a_paid_session_whose_id_was_never_stored_is_found_by_its_top_up(stripe_on):
    """The top-up row is written before Stripe is called and named in the metadata: if
    storing the session id failed after Stripe answered, the payment still lands."""
    workspace, _, client = workspace_with("lost-id")
    session_id = open_session(client, workspace, "8")
    topup = CheckoutTopUp.objects.get()
    assert stripe_on.sessions[session_id]["metadata"]["orca_topup_id"] == str(topup.pk)
    CheckoutTopUp.objects.filter(pk=topup.pk).update(session_id=None)
    payload = stripe_on.paid_event(session_id)
    assert post_event(payload, stripe_on.webhook_secret).json()["outcome"] == "credited"
    topup.refresh_from_db()
    assert (topup.session_id, topup.status) == (session_id, "paid")
    assert balance_pico(workspace.id) == 800 * CENT
    # Another workspace's session naming this row (now taken) or a row id that is no number.
    other, _, other_client = workspace_with("lost-id-other")
    other_session = open_session(other_client, other, "5")
    for topup_id in (str(topup.pk), "²", "9" * 40):
        moved = stripe_on.paid_event(
            other_session,
            id="cs_test_moved",
            metadata={"orca_workspace_id": str(other.id), "orca_topup_id": topup_id},
        )
        assert post_event(moved, stripe_on.webhook_secret).json()["outcome"] == "unknown session"
    assert balance_pico(workspace.id) == 800 * CENT


@pytest.mark.django_db
def test_a_failed_stripe_call_leaves_a_failed_top_up(stripe_on, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"
    workspace, _, client = workspace_with("failed-call")
    assert client.post(credits_url(workspace), {"amount": "20"}).status_code == 502
    topup = CheckoutTopUp.objects.get()
    assert (topup.status, topup.session_id, topup.ledger_entry) == ("failed", None, None)


# --- concurrency on PostgreSQL ----------------------------------------------------------------


def _deliver_at_once(payloads: list[bytes], secret: str) -> list[str]:
    """Each payload from its own thread (own database connection), released together."""
    barrier = threading.Barrier(len(payloads))
    outcomes: list[str] = [""] * len(payloads)

    def deliver(index: int, payload: bytes) -> None:
        try:
            client = Client()
            barrier.wait(10)
            outcomes[index] = post_event(payload, secret, client=client).json()["outcome"]
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=item) for item in enumerate(payloads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_concurrently_credits_once(stripe_on, settings):
    if connections["default"].vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    workspace, _, client = workspace_with("concurrent")
    for round_ in range(3):
        session_id = open_session(client, workspace, "20")
        payload = stripe_on.paid_event(session_id)
        outcomes = _deliver_at_once([payload] * 6, stripe_on.webhook_secret)
        assert sorted(outcomes) == ["credited"] + ["duplicate"] * 5, outcomes
        assert LedgerEntry.objects.filter(workspace=workspace).count() == round_ + 1
    # Two different events for one session at once: one credit.
    session_id = open_session(client, workspace, "20")
    completed = stripe_on.paid_event(session_id)
    succeeded = stripe_on.event(
        "checkout.session.async_payment_succeeded", stripe_on.sessions[session_id]
    )
    outcomes = _deliver_at_once(
        [completed, succeeded, completed, succeeded], stripe_on.webhook_secret
    )
    assert sorted(outcomes) == ["already credited", "credited", "duplicate", "duplicate"]
    assert balance_pico(workspace.id) == 4 * 2000 * CENT
    assert StripeEvent.objects.count() == 3 + 2


@pytest.mark.django_db(transaction=True)
def test_a_delivery_waits_for_one_in_flight_and_credits_if_that_one_failed(stripe_on):
    """The claim is the unique event id inside the crediting transaction: while another
    delivery holds it uncommitted this one waits; if that one rolls back (its worker died),
    this one credits."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    import json

    from django.db import transaction

    workspace, _, client = workspace_with("inflight")
    session_id = open_session(client, workspace, "12")
    payload = stripe_on.paid_event(session_id)
    event_id = json.loads(payload)["id"]
    holding = threading.Event()
    release = threading.Event()

    def in_flight() -> None:
        try:
            with transaction.atomic():
                StripeEvent.objects.create(event_id=event_id, type="checkout.session.completed")
                holding.set()
                release.wait(10)
                raise RuntimeError("the worker died mid-delivery")
        except RuntimeError:
            pass
        finally:
            connections.close_all()

    holder = threading.Thread(target=in_flight)
    holder.start()
    assert holding.wait(10)
    result: list[str] = []

    def redeliver() -> None:
        try:
            result.append(post_event(payload, stripe_on.webhook_secret).json()["outcome"])
        finally:
            connections.close_all()

    second = threading.Thread(target=redeliver)
    second.start()
    second.join(1.0)
    assert second.is_alive(), "the second delivery did not wait for the first"
    assert not LedgerEntry.objects.filter(workspace=workspace).exists()
    release.set()
    holder.join(10)
    second.join(10)
    assert result == ["credited"]
    assert balance_pico(workspace.id) == 1200 * CENT
    connections.close_all()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STRIPE_WEBHOOK_SECRET": "whsec_x"}, "ORCA_PUBLIC_BASE_URL must be"),
        (
            {"STRIPE_WEBHOOK_SECRET": "whsec_x", "ORCA_PUBLIC_BASE_URL": "orca.test"},
            "not 'orca.test'",
        ),
        ({"ORCA_PUBLIC_BASE_URL": "https://orca.test"}, "STRIPE_WEBHOOK_SECRET (whsec_...) must"),
    ],
)
def test_a_stripe_key_without_the_settings_it_needs_stops_start_up(env, message):
    import subprocess
    import sys

    from tests.live import ROOT, server_environment

    environment = server_environment()
    for name in ("ORCA_PUBLIC_BASE_URL", "STRIPE_WEBHOOK_SECRET"):
        environment.pop(name, None)
    environment.update({"STRIPE_SECRET_KEY": "sk_test_x", **env})
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert message in done.stderr
