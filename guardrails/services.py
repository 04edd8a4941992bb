"""Writes for guardrails: create, change, promote to default, delete, bind keys; the sandbox.

Every write is one transaction. Rules are validated by the engine (compile_policy) before
anything is stored, and a moderation rule's model must be in the catalog. A change of the
rules writes a new GuardrailVersion (number + 1) and moves the guardrail's pointer; a
version is never updated. The management API and the dashboard both write through here, so
both refuse the same input with the same field names.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from routing.models import Model
from workspaces.models import ApiKey, Workspace

from .models import Guardrail, GuardrailVersion

if TYPE_CHECKING:
    from .engine import Match

# The engine (guardrails/engine, pure) is imported where rules are compiled, not here: the
# dashboard's URLconf imports this module, and pages that compile nothing need no engine.

MAX_RULES = 100
UNSET: Any = object()  # a field the caller did not send


class Refused(Exception):
    """A write refused: `field` is what the answer names (a body field, or "detail");
    `status` is 400 for bad input, 409 for a conflict with the current state."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


def check_rules(rules: Any) -> list[dict]:
    """The rules as stored, or Refused naming the field (as the engine names it)."""
    if not isinstance(rules, list):
        raise Refused("rules", "a JSON list of rules")
    if len(rules) > MAX_RULES:
        raise Refused("rules", f"at most {MAX_RULES} rules")
    from .engine import RuleError, compile_policy

    try:
        compile_policy(rules)
    except RuleError as error:
        raise Refused(error.field, error.message) from None
    models = {
        index: rule.get("model")
        for index, rule in enumerate(rules)
        if isinstance(rule, dict) and rule.get("type") == "moderation"
    }
    if models:
        known = set(
            Model.objects.filter(
                public_id__in=[m for m in models.values() if isinstance(m, str)],
                enabled=True,
                provider__enabled=True,
            ).values_list("public_id", flat=True)
        )
        for index, model in models.items():
            if model not in known:
                raise Refused(f"rules[{index}].model", f"no model {model!r} in the catalog")
    return rules


def _check_name(workspace_id: int, name: str, exclude: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise Refused("name", "may not be blank")
    if len(name) > 64 or not name.isprintable():
        raise Refused("name", "1-64 printable characters")
    taken = Guardrail.objects.filter(workspace_id=workspace_id, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise Refused("name", "this workspace already has a guardrail of that name")
    return name


def _demote_others(guardrail: Guardrail) -> None:
    """Make `guardrail` the only default. Every guardrail row of the workspace is locked
    first (in id order), so two concurrent promotions run one after the other."""
    list(
        Guardrail.objects.select_for_update()
        .filter(workspace_id=guardrail.workspace_id)
        .order_by("id")
        .values_list("id", flat=True)
    )
    Guardrail.objects.filter(workspace_id=guardrail.workspace_id, is_default=True).exclude(
        pk=guardrail.pk
    ).update(is_default=False)


def _saved(write):
    """Run `write` in a transaction; a unique constraint lost to a concurrent write is 409."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        raise Refused(
            "detail", "a concurrent change conflicts with this one; try again", 409
        ) from None


def create_guardrail(
    workspace: Workspace,
    *,
    name: str,
    rules: Any = None,
    description: str = "",
    enabled: bool = True,
    is_default: bool = False,
    log_raw: bool = False,
    created_by=None,
) -> Guardrail:
    rules = check_rules([] if rules is None else rules)

    def write() -> Guardrail:
        guardrail = Guardrail(
            workspace=workspace,
            name=_check_name(workspace.pk, name),
            description=description,
            enabled=enabled,
            is_default=False,
            log_raw=log_raw,
            version=1,
            created_by=created_by,
        )
        guardrail.save()
        GuardrailVersion.objects.create(
            guardrail=guardrail, number=1, rules=rules, created_by=created_by
        )
        if is_default:
            _demote_others(guardrail)
            guardrail.is_default = True
            guardrail.save(update_fields=["is_default", "updated_at"])
        return guardrail

    return _saved(write)


def current_rules(guardrail: Guardrail) -> list:
    version = guardrail.versions.filter(number=guardrail.version).first()
    return version.rules if version is not None else []


@dataclass
class Change:
    """What an update sends; UNSET fields stay as they are."""

    name: Any = UNSET
    description: Any = UNSET
    enabled: Any = UNSET
    is_default: Any = UNSET
    log_raw: Any = UNSET
    rules: Any = UNSET

    @classmethod
    def of(cls, data: dict) -> "Change":
        known = {"name", "description", "enabled", "is_default", "log_raw", "rules"}
        return cls(**{k: v for k, v in data.items() if k in known})


def update_guardrail(guardrail: Guardrail, change: Change, *, by=None) -> Guardrail:
    """Apply `change`. New rules (different from the current version's) make version N+1;
    the other fields never make a version. Promoting to default demotes the previous one
    in the same transaction."""
    rules = change.rules
    if rules is not UNSET:
        rules = check_rules(rules)

    def write() -> Guardrail:
        row = Guardrail.objects.select_for_update().get(pk=guardrail.pk)
        fields: list[str] = []
        if change.name is not UNSET:
            name = _check_name(row.workspace_id, change.name, exclude=row.pk)
            if name != row.name:
                row.name = name
                fields.append("name")
        for attr in ("description", "enabled", "log_raw"):
            value = getattr(change, attr)
            if value is not UNSET and value != getattr(row, attr):
                setattr(row, attr, value)
                fields.append(attr)
        if rules is not UNSET and rules != current_rules(row):
            row.version += 1
            GuardrailVersion.objects.create(
                guardrail=row, number=row.version, rules=rules, created_by=by
            )
            fields.append("version")
        if change.is_default is not UNSET and change.is_default != row.is_default:
            if change.is_default:
                _demote_others(row)
            row.is_default = bool(change.is_default)
            fields.append("is_default")
        if fields:
            row.save(update_fields=[*fields, "updated_at"])
        return row

    return _saved(write)


def promote_default(guardrail: Guardrail, *, by=None) -> Guardrail:
    return update_guardrail(guardrail, Change(is_default=True), by=by)


def delete_guardrail(guardrail: Guardrail) -> None:
    """Refused (409) while keys are bound to it: they would silently lose their screening."""
    with transaction.atomic():
        row = Guardrail.objects.select_for_update().filter(pk=guardrail.pk).first()
        if row is None:
            return
        bound = ApiKey.objects.filter(guardrail=row).count()
        if bound:
            keys = "1 API key is" if bound == 1 else f"{bound} API keys are"
            raise Refused(
                "detail",
                f"{keys} bound to this guardrail; bind them to another one (or none) first",
                409,
            )
        row.delete()


def bind_key(key: ApiKey, guardrail: Guardrail | None) -> ApiKey:
    """Screen `key` by `guardrail` only (None: the workspace default). Same workspace only."""
    if guardrail is not None and guardrail.workspace_id != key.workspace_id:
        raise Refused("guardrail", "no guardrail with this id in this workspace")
    with transaction.atomic():
        if key.guardrail_id != (guardrail.pk if guardrail else None):
            key.guardrail = guardrail
            key.save(update_fields=["guardrail"])
    return key


# --- the sandbox --------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxResult:
    decision: str  # pass | flag | mask | block
    matches: list[dict]
    masked_text: str
    blocked_by: dict | None


def _match_view(match: "Match", with_text: bool) -> dict:
    view = {
        "rule_index": match.rule_index,
        "type": match.rule_type,
        "action": match.action,
        "stage": match.stage,
        "entity": match.entity,
        "detail": match.detail,
    }
    if with_text:
        view["text"] = match.raw
    return view


def sandbox(rules: list, text: str, stage: str, *, log_raw: bool) -> SandboxResult:
    """Screen one text as the gateway would, with no upstream call and nothing recorded.
    The matched text is shown only when the guardrail keeps it anyway (log_raw)."""
    from .engine import RuleError, compile_policy

    try:
        policy = compile_policy(rules)
    except RuleError as error:  # stored rules the engine no longer takes
        raise Refused("detail", f"this version's rules no longer compile: {error}", 409) from None
    screening = policy.screen([text], stage)
    if screening.blocked is not None:
        decision = "block"
    elif screening.changed:
        decision = "mask"
    elif screening.matches:
        decision = "flag"
    else:
        decision = "pass"
    blocked = screening.blocked
    return SandboxResult(
        decision=decision,
        matches=[_match_view(m, log_raw) for m in screening.matches],
        masked_text=screening.texts[0] if screening.texts else text,
        blocked_by=_match_view(blocked, log_raw) if blocked is not None else None,
    )


# --- presets (the dashboard's "create from") ----------------------------------------------

PRESETS: dict[str, dict] = {
    "pii-shield": {
        "name": "PII Shield",
        "description": "Masks e-mail addresses, phone numbers, SSNs, card numbers and IPs.",
        "rules": [
            {
                "type": "pii",
                "stage": "both",
                "action": "mask",
                "entities": ["email", "phone", "ssn", "credit_card", "ip"],
            }
        ],
    },
    "prompt-size-cap": {
        "name": "Prompt-Size Cap",
        "description": "Blocks prompts over 50,000 characters.",
        "rules": [{"type": "max_chars", "stage": "input", "action": "block", "limit": 50_000}],
    },
    "token-cost-cap": {
        "name": "Token Cost Cap",
        "description": "Blocks prompts over 200,000 characters (a cap on input cost).",
        "rules": [{"type": "max_chars", "stage": "input", "action": "block", "limit": 200_000}],
    },
    "response-size-cap": {
        "name": "Response Size Cap",
        "description": "Blocks answers over 32,000 characters.",
        "rules": [{"type": "max_chars", "stage": "output", "action": "block", "limit": 32_000}],
    },
    "blank": {"name": "", "description": "", "rules": []},
}
