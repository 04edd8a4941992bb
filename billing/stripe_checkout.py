"""Self-serve top-ups with Stripe Checkout (on when STRIPE_SECRET_KEY is set).

The credits page opens a Checkout Session (mode payment, one line of the amount asked for)
and remembers it as a CheckoutTopUp of the workspace. Stripe then calls the webhook, whose
signature is checked with the endpoint's signing secret before anything is read. A paid
`checkout.session.completed` (or a later `checkout.session.async_payment_succeeded`) credits
the ledger with the session's own `amount_total`, to the workspace the top-up row names, and
only if the session's metadata and client_reference_id name the same one.

Exactly once: the event id is inserted (unique) in the transaction that writes the ledger
entry, and the top-up row is locked and keeps the entry it was credited with. A redelivered
event, or the same event delivered twice at once (the second insert waits for the first
transaction, then fails on the unique id), credits nothing more; two different events for
one session credit it once.
"""

import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from .models import CheckoutTopUp, StripeEvent
from .services import credit_ledger

log = logging.getLogger(__name__)

CURRENCY = "usd"  # the ledger's unit
PICO_PER_CENT = 10**10
METADATA_WORKSPACE = "orca_workspace_id"
METADATA_TOPUP = "orca_topup_id"
TOPUP_ID = re.compile(r"[0-9]{1,18}")  # a bigint primary key
COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"
HANDLED = frozenset({COMPLETED, ASYNC_SUCCEEDED, ASYNC_FAILED, EXPIRED})
# Dashboard-only: a Stripe outage must not hold a page for the library's default 80 s.
TIMEOUT_SECONDS = 20


def enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


class CheckoutFailed(Exception):
    """Stripe did not open a session; the message is safe to show the user."""


@dataclass(frozen=True, slots=True)
class Checkout:
    session_id: str
    url: str


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=1,  # the library sends an idempotency key, so a retry is safe
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def start_checkout(workspace, amount_cents: int, user) -> Checkout:
    """Open a Checkout Session for `amount_cents` and record it as the workspace's top-up.
    The return URLs come from ORCA_PUBLIC_BASE_URL, never from the request. The top-up row
    is written (committed) first and named in the session's metadata: a payment whose
    session id was never stored here is still credited to it."""
    topup = CheckoutTopUp.objects.create(
        workspace=workspace, amount_cents=amount_cents, created_by=user
    )
    credits_url = settings.ORCA_PUBLIC_BASE_URL + reverse(
        "dashboard:credits", args=[workspace.slug]
    )
    params: Any = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": CURRENCY,
                    "unit_amount": amount_cents,
                    "product_data": {"name": f"Orca credits: {workspace.name}"[:250]},
                },
            }
        ],
        "client_reference_id": str(workspace.id),
        "metadata": {
            METADATA_WORKSPACE: str(workspace.id),
            METADATA_TOPUP: str(topup.pk),
            "orca_workspace": workspace.slug,
        },
        # Stripe substitutes the session id for the placeholder.
        "success_url": credits_url + "?checkout=success&session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": credits_url + "?checkout=cancelled",
    }
    if getattr(user, "email", ""):
        params["customer_email"] = user.email
    try:
        session = _client().v1.checkout.sessions.create(params=params)
    except stripe.StripeError as exc:
        _set_status(topup, CheckoutTopUp.Status.FAILED, "")
        # The type, status and code only: a message may quote the request.
        log.warning(
            "stripe: no checkout session for workspace %s: %s (status %s, code %s)",
            workspace.id,
            type(exc).__name__,
            exc.http_status,
            exc.code,
        )
        raise CheckoutFailed("Stripe could not open a checkout page; try again shortly.") from exc
    url = getattr(session, "url", None)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        log.warning("stripe: checkout session %s came without a URL", session.id)
        _set_status(topup, CheckoutTopUp.Status.FAILED, "")
        raise CheckoutFailed("Stripe could not open a checkout page; try again shortly.")
    topup.session_id = session.id
    topup.save(update_fields=["session_id"])
    return Checkout(session.id, url)


# --- the webhook ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookResult:
    status: int  # the HTTP status to answer Stripe with
    outcome: str  # what happened, for the response body and the logs


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What the event's Checkout Session says, checked for type."""

    session_id: str
    client_reference_id: str | None
    metadata_workspace: str | None
    metadata_topup: str | None
    payment_status: str
    amount_total: int | None
    currency: str


class MalformedEvent(ValueError):
    pass


def _facts(session: dict) -> SessionFacts:
    def text(name: str) -> str | None:
        value = session.get(name)
        if value is not None and not isinstance(value, str):
            raise MalformedEvent(f"data.object.{name} is not a string")
        return value

    session_id = text("id")
    if not session_id or session.get("object") != "checkout.session":
        raise MalformedEvent("data.object is not a checkout.session with an id")
    metadata = session.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    workspace, topup = metadata.get(METADATA_WORKSPACE), metadata.get(METADATA_TOPUP)
    amount = session.get("amount_total")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
        raise MalformedEvent("data.object.amount_total is not an integer")
    return SessionFacts(
        session_id=session_id,
        client_reference_id=text("client_reference_id"),
        metadata_workspace=workspace if isinstance(workspace, str) else None,
        metadata_topup=topup if isinstance(topup, str) else None,
        payment_status=text("payment_status") or "",
        amount_total=amount,
        currency=(text("currency") or "").lower(),
    )


def handle_webhook(payload: bytes, signature: str | None) -> WebhookResult:
    """Verify and apply one delivery. 400 for a bad signature, a stale timestamp or a body
    that is not a Stripe event; 200 for everything Stripe should not send again."""
    try:
        event = stripe.Webhook.construct_event(
            payload,
            signature,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE,
        )
    except stripe.SignatureVerificationError as exc:
        reason = "stale timestamp" if "tolerance" in str(exc) else "bad signature"
        return WebhookResult(400, f"{reason}: the Stripe-Signature header does not verify")
    except (ValueError, TypeError, AttributeError, KeyError):  # UnicodeDecodeError too
        return WebhookResult(400, "the body is not a JSON Stripe event")
    data = event.to_dict()  # plain dicts from here (the library's objects are not dicts)
    event_id, kind = data.get("id"), data.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
        return WebhookResult(400, "the event has no id or type")
    if kind not in HANDLED:
        return WebhookResult(200, f"ignored: {kind[:100]}")
    try:
        facts = _facts(_object_of(data))
    except MalformedEvent as exc:
        log.error("stripe: event %s (%s) is malformed: %s", event_id, kind, exc)
        return WebhookResult(400, str(exc))
    return WebhookResult(200, apply_event(event_id, kind, facts))


def _object_of(event: dict) -> dict:
    inner = event.get("data")
    obj = inner.get("object") if isinstance(inner, dict) else None
    if not isinstance(obj, dict):
        raise MalformedEvent("data.object is missing")
    return obj


def apply_event(event_id: str, kind: str, facts: SessionFacts) -> str:
    """Apply a verified event once; returns the outcome ("duplicate" for one already seen)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                claim = StripeEvent.objects.create(
                    event_id=event_id[:255], type=kind, session_id=facts.session_id[:255]
                )
        except IntegrityError:
            return "duplicate"
        outcome = _apply(kind, facts)
        claim.outcome = outcome
        claim.save(update_fields=["outcome"])
    log.info("stripe: event %s (%s) for %s: %s", event_id, kind, facts.session_id, outcome)
    return outcome


def _apply(kind: str, facts: SessionFacts) -> str:
    locked = CheckoutTopUp.objects.select_for_update()
    topup = locked.filter(session_id=facts.session_id).first()
    if topup is None and TOPUP_ID.fullmatch(facts.metadata_topup or ""):
        # Opened here, but its session id was never stored (the save after Stripe's answer
        # failed): the metadata names the row, which has no other session.
        topup = locked.filter(pk=int(facts.metadata_topup or 0), session_id__isnull=True).first()
        if topup is not None:
            topup.session_id = facts.session_id
            topup.save(update_fields=["session_id"])
    if topup is None:
        return "unknown session"  # not opened by this Orca (another app on the account)
    own = str(topup.workspace_id)
    if facts.client_reference_id != own or facts.metadata_workspace != own:
        log.warning(
            "stripe: session %s belongs to workspace %s but the event names %r / %r",
            facts.session_id,
            own,
            facts.client_reference_id,
            facts.metadata_workspace,
        )
        return "workspace mismatch"
    if topup.ledger_entry_id is not None or topup.status == CheckoutTopUp.Status.PAID:
        return "already credited"
    if kind == EXPIRED:
        return _set_status(topup, CheckoutTopUp.Status.EXPIRED, "expired")
    if kind == ASYNC_FAILED:
        return _set_status(topup, CheckoutTopUp.Status.FAILED, "payment failed")
    if kind == COMPLETED and facts.payment_status != "paid":
        # A delayed method (bank debit): async_payment_succeeded will follow.
        return _set_status(topup, CheckoutTopUp.Status.PENDING, "awaiting payment")
    if facts.currency != CURRENCY:
        log.error("stripe: session %s was paid in %r, not usd", facts.session_id, facts.currency)
        return "wrong currency"
    if not facts.amount_total or facts.amount_total <= 0:
        return "nothing paid"
    amount = Decimal(facts.amount_total) / 100
    entry = credit_ledger(
        topup.workspace_id,
        facts.amount_total * PICO_PER_CENT,
        f"Stripe Checkout ${amount:.2f} ({facts.session_id})",
        created_by=topup.created_by,
    )
    topup.ledger_entry = entry
    topup.credited_cents = facts.amount_total
    topup.status = CheckoutTopUp.Status.PAID
    topup.save(update_fields=["ledger_entry", "credited_cents", "status"])
    return "credited"


def _set_status(topup: CheckoutTopUp, status: str, outcome: str) -> str:
    topup.status = status
    topup.save(update_fields=["status"])
    return outcome
