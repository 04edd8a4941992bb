"""An immutable, in-process picture of the catalog for the hot path."""

from dataclasses import dataclass, field
from decimal import Decimal

from billing.pricing import Prices


@dataclass(frozen=True, slots=True)
class ProviderRoute:
    slug: str
    kind: str
    base_url: str
    credential: str = field(repr=False)  # never printed, logged or returned
    max_concurrency: int = 0  # per gateway process; 0 = no cap
    # per-provider overrides of the gateway's upstream timeouts (None: the default)
    connect_timeout: float | None = None
    first_byte_timeout: float | None = None
    idle_timeout: float | None = None
    total_timeout: float | None = None
    credential_env: str = ""  # the variable the operator sets (named by "not configured")
    # A workspace's own credential (BYOK): the id of the workspace it belongs to, else 0.
    owner: int = 0
    # The credential as bytes, for scrubbing every relayed stream event (empty: none).
    secrets: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    # Whether calls can be sent: it has a credential, or needs none (the demo kind, or a
    # provider that names no credential variable, such as a local Ollama). One whose
    # `credential_env` is unset, with no stored credential, is not configured.
    configured: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        secret = self.credential.encode() if len(self.credential) >= 4 else b""
        object.__setattr__(self, "secrets", (secret,) if secret else ())
        configured = bool(self.credential) or not self.credential_env or self.kind == "demo"
        object.__setattr__(self, "configured", configured)

    @property
    def byok(self) -> bool:
        return self.owner != 0


@dataclass(frozen=True, slots=True)
class ModelRoute:
    public_id: str
    upstream_name: str
    provider: ProviderRoute
    input_price: Decimal
    output_price: Decimal
    cached_input_price: Decimal | None
    context_length: int
    max_output_tokens: int
    capabilities: tuple[str, ...]
    endpoint_types: tuple[str, ...]
    created: int  # epoch seconds
    weight: int = 1
    prices: Prices = field(default_factory=lambda: Prices(input=0, output=0))
    # The same public model through other providers; each a full route of its own.
    alternates: tuple["ModelRoute", ...] = ()

    # Derived once, when the catalog is loaded: the hot path reads them on every call.
    deployments: tuple["ModelRoute", ...] = field(init=False, repr=False, compare=False)
    health_key: str = field(init=False, repr=False, compare=False)
    # Some provider of it can be called (the catalog put a configured one first).
    configured: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "deployments", (self, *self.alternates))
        provider = self.provider
        # A workspace's own key fails (429, 401) for that workspace only: its own health.
        slug = f"{provider.slug}~{provider.owner}" if provider.owner else provider.slug
        object.__setattr__(self, "health_key", f"{slug}|{self.public_id}")
        object.__setattr__(self, "configured", provider.configured)

    @property
    def vendor(self) -> str:
        return self.public_id.split("/", 1)[0]


class AmbiguousModel(Exception):
    def __init__(self, name: str, candidates: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.candidates = candidates


@dataclass(frozen=True)
class Catalog:
    """Routes by public id, each with its usable providers (configured ones, a workspace's
    own first) in `deployments`; `raw` keeps every provider, for the workspaces' views."""

    by_id: dict[str, ModelRoute]
    by_bare_name: dict[str, tuple[ModelRoute, ...]]
    raw: tuple[ModelRoute, ...] = ()

    @classmethod
    def build(cls, raw: list[ModelRoute], routes: list[ModelRoute] | None = None) -> "Catalog":
        """`raw`: every enabled route with all its providers; `routes`: the same arranged
        for use (default: `raw` as the platform serves it, see catalog/byok.py)."""
        if routes is None:
            from .byok import arrange

            routes = [arrange(route) for route in raw]
        by_id = {route.public_id.lower(): route for route in routes}
        bare: dict[str, list[ModelRoute]] = {}
        for route in routes:
            name = route.public_id.split("/", 1)[-1].lower()
            bare.setdefault(name, []).append(route)
        return cls(by_id=by_id, by_bare_name={k: tuple(v) for k, v in bare.items()}, raw=tuple(raw))

    def resolve(self, name: str) -> ModelRoute | None:
        """A full public id, or a bare name that exactly one provider serves."""
        key = name.lower()
        route = self.by_id.get(key)
        if route is not None:
            return route
        matches = self.by_bare_name.get(key, ())
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousModel(name, sorted(m.public_id for m in matches))
        return None

    def models(self) -> list[ModelRoute]:
        return sorted(self.by_id.values(), key=lambda r: r.public_id)


@dataclass(frozen=True, slots=True)
class RouterSpec:
    name: str
    candidates: tuple[str, ...]
    strategy: str
    default_model: str
    enabled: bool
