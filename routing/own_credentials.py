"""A workspace's own provider credentials (BYOK): what may be saved, and saving it.

The dashboard (routing/views.py) and the management API (routing/api.py) both go through
`check` and `save`, so they accept and refuse exactly the same input. A credential is
write-only: it is encrypted on save and only its `hint` (last four characters) is shown.
A base URL (OpenAI-compatible providers only) passes the SSRF guard here, when it is saved,
and again whenever the relay connects (routing/providers/http.py)."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from .models import Provider, ProviderCredential, ProviderKind
from .providers import UpstreamFailure, http, ssrf

MAX_CREDENTIAL = 1000


class Refused(ValueError):
    """Input that cannot be saved; `field` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class OwnCredentialInput:
    provider: Provider
    credential: str
    base_url: str
    allow_fallback: bool


def providers():
    """The catalog providers a workspace may bring its own key for (the demo kind needs none)."""
    return Provider.objects.filter(enabled=True).exclude(kind=ProviderKind.DEMO).order_by("slug")


def provider_named(slug: str) -> Provider:
    provider = providers().filter(slug=slug).first()
    if provider is None:
        raise Refused("provider", f"no provider {slug!r} takes a workspace's own key")
    return provider


def check_credential(secret: str) -> str:
    secret = secret.strip()
    if not secret:
        raise Refused("credential", "the credential is empty")
    if len(secret) > MAX_CREDENTIAL:
        raise Refused("credential", f"the credential is longer than {MAX_CREDENTIAL} characters")
    if not secret.isascii() or not secret.isprintable() or any(c.isspace() for c in secret):
        # it becomes a header value: no spaces, line breaks, NULs or non-ASCII
        raise Refused("credential", "the credential must be printable ASCII without spaces")
    return secret


def check_base_url(url: str, provider: Provider) -> str:
    """The base URL, if the provider's kind takes one and the SSRF guard allows its host."""
    url = url.strip()
    if not url:
        return ""
    if provider.kind != ProviderKind.OPENAI:
        raise Refused(
            "base_url", "only OpenAI-compatible providers take a base URL; leave it empty"
        )
    if len(url) > 300 or not url.isascii() or not url.isprintable():
        raise Refused("base_url", "the base URL must be printable ASCII, at most 300 characters")
    try:
        origin = http.target(url.rstrip("/") + "/chat/completions").origin
    except UpstreamFailure as exc:
        raise Refused("base_url", str(exc)) from None
    if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        raise Refused("base_url", "the base URL must not hold a user name or password")
    _, host, port = origin
    try:
        ssrf.guard_host_sync(host, port)
    except ssrf.UpstreamBlocked as exc:
        raise Refused("base_url", str(exc)) from None
    except UpstreamFailure:
        raise Refused("base_url", f"host {host} cannot be resolved") from None
    return url.rstrip("/")


def check(
    provider: Provider, credential: str, base_url: str, allow_fallback: bool
) -> OwnCredentialInput:
    return OwnCredentialInput(
        provider=provider,
        credential=check_credential(credential),
        base_url=check_base_url(base_url, provider),
        allow_fallback=allow_fallback,
    )


def save(workspace, data: OwnCredentialInput) -> tuple[ProviderCredential, bool]:
    """Add the workspace's credential for the provider, or replace it; (row, created)."""
    for attempt in range(2):
        try:
            with transaction.atomic():
                row = (
                    ProviderCredential.objects.select_for_update()
                    .filter(workspace=workspace, provider=data.provider)
                    .first()
                )
                created = row is None
                if row is None:
                    row = ProviderCredential(workspace=workspace, provider=data.provider)
                row.set_credential(data.credential)
                row.base_url = data.base_url
                row.allow_fallback = data.allow_fallback
                row.save()
            return row, created
        except IntegrityError:  # a concurrent save added it first: replace that one
            if attempt:
                raise
    raise AssertionError("unreachable")


def update(
    row: ProviderCredential, *, base_url: str | None = None, allow_fallback: bool | None = None
) -> ProviderCredential:
    """Change the settings of a saved credential without sending it again."""
    if base_url is not None:
        row.base_url = check_base_url(base_url, row.provider)
    if allow_fallback is not None:
        row.allow_fallback = allow_fallback
    row.save()
    return row
