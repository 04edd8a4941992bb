"""Reads for the gateway: a workspace's enabled guardrails, compiled, in one query."""

import logging
from dataclasses import dataclass, field

from django.db.models import F

from .engine import Policy, RuleError, compile_policy
from .models import Guardrail, GuardrailVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActiveGuardrail:
    """One enabled guardrail at its current version, ready to screen with."""

    id: int
    name: str
    version: int
    log_raw: bool
    policy: Policy | None  # None: its rules no longer compile (the call is refused, 503)
    # `<name>:v<N>` for the usage record, and the X-Orca-Guardrail header: made once here,
    # not on every call
    label: str = ""
    header: tuple[bytes, bytes] = (b"x-orca-guardrail", b"")

    def __post_init__(self) -> None:
        label = f"{self.name}:v{self.version}"
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "header", (b"x-orca-guardrail", label.encode("utf-8", "replace")))


@dataclass(frozen=True, slots=True)
class WorkspaceGuardrails:
    default: ActiveGuardrail | None = None
    enabled: dict[int, ActiveGuardrail] = field(default_factory=dict)
    known: frozenset[int] = frozenset()  # every guardrail of the workspace, enabled or not

    def for_key(self, bound_id: int | None) -> ActiveGuardrail | None:
        """The key's own guardrail when it is bound to one (nothing while that one is
        disabled: an explicit binding never falls back), else the workspace default."""
        if bound_id is None:
            return self.default
        return self.enabled.get(bound_id)


NO_GUARDRAILS = WorkspaceGuardrails()

# Versions are immutable, so a compiled policy is kept across cache clears; bounded.
_compiled: dict[int, Policy | None] = {}
_MAX_COMPILED = 2_000


def _policy(version_id: int, rules: object, where: str) -> Policy | None:
    if version_id in _compiled:
        return _compiled[version_id]
    try:
        policy: Policy | None = compile_policy(rules)
    except RuleError as exc:  # validated when saved; only an engine change can get here
        log.error("guardrail %s no longer compiles: %s: %s", where, exc.field, exc.message)
        policy = None
    if len(_compiled) >= _MAX_COMPILED:
        _compiled.clear()
    _compiled[version_id] = policy
    return policy


def workspace_guardrails(workspace_id: int) -> WorkspaceGuardrails:
    rows = GuardrailVersion.objects.filter(
        guardrail__workspace_id=workspace_id,
        guardrail__enabled=True,
        number=F("guardrail__version"),
    ).values(
        "id",
        "number",
        "rules",
        "guardrail_id",
        "guardrail__name",
        "guardrail__log_raw",
        "guardrail__is_default",
    )
    enabled: dict[int, ActiveGuardrail] = {}
    default = None
    for row in rows:
        name = row["guardrail__name"]
        active = ActiveGuardrail(
            id=row["guardrail_id"],
            name=name,
            version=row["number"],
            log_raw=row["guardrail__log_raw"],
            policy=_policy(row["id"], row["rules"], f"{name!r} v{row['number']}"),
        )
        enabled[active.id] = active
        if row["guardrail__is_default"]:
            default = active
    known = frozenset(
        Guardrail.objects.filter(workspace_id=workspace_id).values_list("id", flat=True)
    )
    if not known:
        return NO_GUARDRAILS
    return WorkspaceGuardrails(default=default, enabled=enabled, known=known)
