"""The declarative TOML catalog: parse strictly, then apply idempotently.

Schema (README, "Catalog file"): `[[providers]]` tables with slug, name, kind, base_url,
credential_env; `[[models]]` tables with id, provider, upstream, input, output,
cached_input, context_length, max_output, capabilities, endpoints, enabled, and
extra_prices (a table of USD per counted unit as decimal strings, e.g.
`extra_prices = { web_search = "0.01" }`; left out, the model's extra prices are not touched).
"""

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, overload

from django.db import transaction

from ..models import Capability, EndpointType, Model, ModelAlternate, Provider, ProviderKind


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class ProviderSpec:
    slug: str
    name: str
    kind: str
    base_url: str
    credential_env: str
    enabled: bool


@dataclass(frozen=True)
class AlternateSpec:
    provider: str
    upstream_name: str
    weight: int
    input_price: Decimal | None
    output_price: Decimal | None
    cached_input_price: Decimal | None


@dataclass(frozen=True)
class ModelSpec:
    public_id: str
    provider: str
    upstream_name: str
    input_price: Decimal
    output_price: Decimal
    cached_input_price: Decimal | None
    context_length: int
    max_output_tokens: int
    capabilities: list[str]
    endpoint_types: list[str]
    enabled: bool
    weight: int = 1
    alternates: tuple[AlternateSpec, ...] = ()
    extra_prices: dict[str, str] | None = None  # None: not given, left as they are


@dataclass(frozen=True)
class ApplyResult:
    providers_created: int
    providers_updated: int
    models_created: int
    models_updated: int
    models_disabled: int


_PROVIDER_KEYS = {"slug", "name", "kind", "base_url", "credential_env", "enabled"}
_MODEL_KEYS = {
    "id", "provider", "upstream", "input", "output", "cached_input", "context_length",
    "max_output", "capabilities", "endpoints", "enabled", "weight", "alternates",
    "extra_prices",
}  # fmt: skip
_ALTERNATE_KEYS = {"provider", "upstream", "weight", "input", "output", "cached_input"}


def _alternates(table: dict[str, Any], where: str) -> tuple[AlternateSpec, ...]:
    specs = []
    for j, alt in enumerate(_optional(table, "alternates", where, list, [])):
        at = f"{where}.alternates[{j}]"
        if not isinstance(alt, dict):
            raise CatalogError(f"{at}: must be a table")
        extra = set(alt) - _ALTERNATE_KEYS
        if extra:
            raise CatalogError(f"{at}: unknown keys {sorted(extra)}")
        weight = _optional(alt, "weight", at, int, 1)
        if weight < 0:
            raise CatalogError(f"{at}: `weight` must not be negative")
        specs.append(
            AlternateSpec(
                provider=_require(alt, "provider", at, str),
                upstream_name=_require(alt, "upstream", at, str),
                weight=weight,
                input_price=_price(alt, "input", at, required=False),
                output_price=_price(alt, "output", at, required=False),
                cached_input_price=_price(alt, "cached_input", at, required=False),
            )
        )
    if len({a.provider for a in specs}) != len(specs):
        raise CatalogError(f"{where}: a provider appears twice in `alternates`")
    return tuple(specs)


def _require(table: dict[str, Any], key: str, where: str, kind: type) -> Any:
    if key not in table:
        raise CatalogError(f"{where}: missing `{key}`")
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CatalogError(f"{where}: `{key}` must be a {kind.__name__}")
    return value


def _optional(table: dict[str, Any], key: str, where: str, kind: type, default: Any) -> Any:
    return _require(table, key, where, kind) if key in table else default


@overload
def _price(
    table: dict[str, Any], key: str, where: str, required: Literal[True] = ...
) -> Decimal: ...
@overload
def _price(table: dict[str, Any], key: str, where: str, required: bool) -> Decimal | None: ...
def _price(table: dict[str, Any], key: str, where: str, required: bool = True) -> Decimal | None:
    if key not in table and not required:
        return None
    raw = _require(table, key, where, str)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise CatalogError(f"{where}: `{key}` is not a decimal number: {raw!r}") from None
    if value < 0 or not value.is_finite():
        raise CatalogError(f"{where}: `{key}` must be a non-negative price")
    return value


def _extra_prices(table: dict[str, Any], where: str) -> dict[str, str] | None:
    """`extra_prices`: unit name -> USD per unit (a decimal string, like every price)."""
    if "extra_prices" not in table:
        return None
    raw = _require(table, "extra_prices", where, dict)
    return {str(unit): str(_price(raw, unit, f"{where}.extra_prices")) for unit in sorted(raw)}


def _subset(values: list[Any], allowed: set[str], where: str, key: str) -> list[str]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise CatalogError(f"{where}: unknown {key} {unknown}; allowed: {sorted(allowed)}")
    return list(values)


def parse(data: dict[str, Any]) -> tuple[list[ProviderSpec], list[ModelSpec]]:
    unknown_top = set(data) - {"providers", "models"}
    if unknown_top:
        raise CatalogError(f"unknown top-level tables: {sorted(unknown_top)}")
    providers: list[ProviderSpec] = []
    for i, table in enumerate(data.get("providers", [])):
        where = f"providers[{i}]"
        extra = set(table) - _PROVIDER_KEYS
        if extra:
            raise CatalogError(f"{where}: unknown keys {sorted(extra)}")
        kind = _require(table, "kind", where, str)
        if kind not in ProviderKind.values:
            raise CatalogError(f"{where}: kind {kind!r} is not one of {ProviderKind.values}")
        base_url = _optional(table, "base_url", where, str, "")
        if kind != ProviderKind.DEMO and not base_url.startswith(("http://", "https://")):
            raise CatalogError(f"{where}: `base_url` must be an http(s) URL")
        providers.append(
            ProviderSpec(
                slug=_require(table, "slug", where, str),
                name=_optional(table, "name", where, str, table.get("slug", "")),
                kind=kind,
                base_url=base_url,
                credential_env=_optional(table, "credential_env", where, str, ""),
                enabled=_optional(table, "enabled", where, bool, True),
            )
        )
    models: list[ModelSpec] = []
    seen: set[str] = set()
    for i, table in enumerate(data.get("models", [])):
        where = f"models[{i}]"
        extra = set(table) - _MODEL_KEYS
        if extra:
            raise CatalogError(f"{where}: unknown keys {sorted(extra)}")
        public_id = _require(table, "id", where, str)
        if "/" not in public_id:
            raise CatalogError(f"{where}: id {public_id!r} must look like vendor/name")
        if public_id.lower() in seen:
            raise CatalogError(f"{where}: duplicate id {public_id!r}")
        seen.add(public_id.lower())
        for key in ("context_length", "max_output"):
            if _optional(table, key, where, int, 0) < 0:
                raise CatalogError(f"{where}: `{key}` must not be negative")
        models.append(
            ModelSpec(
                public_id=public_id,
                provider=_require(table, "provider", where, str),
                upstream_name=_require(table, "upstream", where, str),
                input_price=_price(table, "input", where),
                output_price=_price(table, "output", where),
                cached_input_price=_price(table, "cached_input", where, required=False),
                context_length=_optional(table, "context_length", where, int, 0),
                max_output_tokens=_optional(table, "max_output", where, int, 0),
                capabilities=_subset(
                    _optional(table, "capabilities", where, list, []),
                    set(Capability.values),
                    where,
                    "capabilities",
                ),
                endpoint_types=_subset(
                    # TextChoices members are enum members at runtime; without Django
                    # stubs mypy sees str.
                    _optional(table, "endpoints", where, list, [EndpointType.CHAT.value]),  # type: ignore[attr-defined]
                    set(EndpointType.values),
                    where,
                    "endpoints",
                ),
                enabled=_optional(table, "enabled", where, bool, True),
                weight=_optional(table, "weight", where, int, 1),
                alternates=_alternates(table, where),
                extra_prices=_extra_prices(table, where),
            )
        )
    return providers, models


def load_file(path: Path) -> tuple[list[ProviderSpec], list[ModelSpec]]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from None
    return parse(data)


@transaction.atomic
def apply(
    providers: list[ProviderSpec], models: list[ModelSpec], *, prune: bool = False
) -> ApplyResult:
    """Create or update everything named; with prune, disable models of the named providers
    that the file no longer lists. Running it twice changes nothing the second time."""
    p_created = p_updated = m_created = m_updated = 0
    by_slug: dict[str, Provider] = {}
    for provider_spec in providers:
        fields = {
            "name": provider_spec.name,
            "kind": provider_spec.kind,
            "base_url": provider_spec.base_url,
            "credential_env": provider_spec.credential_env,
            "enabled": provider_spec.enabled,
        }
        provider, created = _upsert(Provider, {"slug": provider_spec.slug}, fields)
        p_created += created == "created"
        p_updated += created == "updated"
        by_slug[provider_spec.slug] = provider
    for spec in models:
        provider = by_slug.get(spec.provider) or Provider.objects.filter(slug=spec.provider).first()
        if provider is None:
            raise CatalogError(f"model {spec.public_id}: unknown provider {spec.provider!r}")
        fields = {
            "provider": provider,
            "upstream_name": spec.upstream_name,
            "input_price": spec.input_price,
            "output_price": spec.output_price,
            "cached_input_price": spec.cached_input_price,
            "context_length": spec.context_length,
            "max_output_tokens": spec.max_output_tokens,
            "capabilities": spec.capabilities,
            "endpoint_types": spec.endpoint_types,
            "enabled": spec.enabled,
            "weight": spec.weight,
        }
        if spec.extra_prices is not None:
            fields["extra_prices"] = spec.extra_prices
        model, outcome = _upsert(Model, {"public_id": spec.public_id}, fields)
        alternates_changed = _apply_alternates(model, spec, by_slug, prune=prune)
        m_created += outcome == "created"
        m_updated += outcome == "updated" or (outcome == "unchanged" and alternates_changed)
    disabled = 0
    if prune:
        listed = {m.public_id for m in models}
        for model in Model.objects.filter(provider__slug__in=by_slug, enabled=True):
            if model.public_id not in listed:
                model.enabled = False
                model.save(update_fields=["enabled", "updated_at"])
                disabled += 1
    return ApplyResult(p_created, p_updated, m_created, m_updated, disabled)


def _apply_alternates(model: Model, spec: ModelSpec, by_slug: dict, *, prune: bool) -> bool:
    changed = False
    for alt in spec.alternates:
        provider = by_slug.get(alt.provider) or Provider.objects.filter(slug=alt.provider).first()
        if provider is None:
            raise CatalogError(f"model {spec.public_id}: unknown provider {alt.provider!r}")
        fields = {
            "upstream_name": alt.upstream_name,
            "weight": alt.weight,
            "input_price": alt.input_price,
            "output_price": alt.output_price,
            "cached_input_price": alt.cached_input_price,
            "enabled": True,
        }
        _, outcome = _upsert(ModelAlternate, {"model": model, "provider": provider}, fields)
        changed |= outcome != "unchanged"
    if prune:
        listed = {a.provider for a in spec.alternates}
        stale = ModelAlternate.objects.filter(model=model).exclude(provider__slug__in=listed)
        changed |= stale.delete()[0] > 0
    return changed


def _upsert(model_class, lookup: dict[str, Any], fields: dict[str, Any]):
    """update_or_create that saves only when something differs, so re-runs are no-ops."""
    obj = model_class.objects.filter(**lookup).first()
    if obj is None:
        return model_class.objects.create(**lookup, **fields), "created"
    changed = [name for name, value in fields.items() if getattr(obj, name) != value]
    if not changed:
        return obj, "unchanged"
    for name in changed:
        setattr(obj, name, fields[name])
    obj.save()
    return obj, "updated"
