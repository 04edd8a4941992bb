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
    # The credential as bytes, for scrubbing every relayed stream event (empty: none).
    secrets: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        secret = self.credential.encode() if len(self.credential) >= 4 else b""
        object.__setattr__(self, "secrets", (secret,) if secret else ())


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "deployments", (self, *self.alternates))
        object.__setattr__(self, "health_key", f"{self.provider.slug}|{self.public_id}")

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
    by_id: dict[str, ModelRoute]
    by_bare_name: dict[str, tuple[ModelRoute, ...]]

    @classmethod
    def build(cls, routes: list[ModelRoute]) -> "Catalog":
        by_id = {route.public_id.lower(): route for route in routes}
        bare: dict[str, list[ModelRoute]] = {}
        for route in routes:
            name = route.public_id.split("/", 1)[-1].lower()
            bare.setdefault(name, []).append(route)
        return cls(by_id=by_id, by_bare_name={k: tuple(v) for k, v in bare.items()})

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
