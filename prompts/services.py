"""Writes for the prompt registry, and the render that shows what a call would send.

Every write is one transaction. A new version locks its prompt row (select_for_update), so
two concurrent saves get numbers N+1 and N+2 and `latest_version` moves with them. Labels
are created or moved (PUT semantics); `latest` and `v<n>` are reserved. Deleting puts a
prompt in the trash (deleted_at): bound keys keep their link, and the relay treats a
trashed prompt as absent; restoring is refused while a live prompt has taken the name. The
trash is purged after TRASH_DAYS (purge_trash: a beat task and `manage.py
purge_prompt_trash`). The management API and the dashboard both write through here, so
both refuse the same input with the same field names.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from workspaces.models import ApiKey, Workspace

from .models import TRASH_DAYS, Prompt, PromptLabel, PromptVersion
from .refs import LABEL_RE, LATEST, NAME_RE, RefError, parse_selector, pick, reserved_label
from .templating import PromptError, parse_variables, render_all

MAX_SYSTEM = 100_000
MAX_MESSAGES = 100
MAX_CONTENT = 100_000
MAX_MODEL = 200
ROLES = ("user", "assistant")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
UNSET: Any = object()  # a field the caller did not send


class Refused(Exception):
    """A write refused: `field` is what the answer names (a body field, or "detail");
    `status` is 400 for bad input, 404 for something absent, 409 for a conflict."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


def _saved(write):
    """Run `write` in a transaction; a unique constraint lost to a concurrent write is 409."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        raise Refused(
            "detail", "a concurrent change conflicts with this one; try again", 409
        ) from None


def _by(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


# --- checks ----------------------------------------------------------------------------------


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name.strip()):
        raise Refused("name", "1-128 letters, digits, '.', '_' or '-'")
    name = name.strip()
    if set(name) == {"."}:
        raise Refused("name", "may not be only dots")
    return name


def _check_label(name: Any, field_name: str = "label") -> str:
    if not isinstance(name, str) or not LABEL_RE.match(name):
        raise Refused(field_name, "1-64 letters, digits, '.', '_' or '-'")
    if (why := reserved_label(name)) is not None:
        raise Refused(field_name, why)
    return name


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_parameters(raw: Any, where: str = "parameters") -> dict:
    """Only the parameters a prompt may set, with their types: temperature (0-2), top_p
    (0-1), max_tokens (1-1,000,000), response_format ({"type": text|json_object|json_schema})."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise Refused(where, "an object of parameters")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        at = f"{where}.{key}"
        if key == "temperature":
            if not _number(value) or not 0 <= value <= 2:
                raise Refused(at, "a number from 0 to 2")
        elif key == "top_p":
            if not _number(value) or not 0 <= value <= 1:
                raise Refused(at, "a number from 0 to 1")
        elif key == "max_tokens":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**6:
                raise Refused(at, "an integer from 1 to 1000000")
        elif key == "response_format":
            if not isinstance(value, dict) or value.get("type") not in RESPONSE_FORMATS:
                raise Refused(f"{at}.type", f"one of {', '.join(RESPONSE_FORMATS)}")
            if value["type"] == "json_schema" and not isinstance(value.get("json_schema"), dict):
                raise Refused(f"{at}.json_schema", "an object (name, schema)")
        else:
            raise Refused(
                at, "not a prompt parameter (temperature, top_p, max_tokens, response_format)"
            )
        out[key] = value
    return out


def check_messages(raw: Any, where: str = "messages") -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Refused(where, 'a JSON list like [{"role": "user", "content": "..."}]')
    if len(raw) > MAX_MESSAGES:
        raise Refused(where, f"at most {MAX_MESSAGES} messages")
    out = []
    for index, message in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(message, dict):
            raise Refused(at, 'an object like {"role": "user", "content": "..."}')
        for key in message:
            if key not in ("role", "content"):
                raise Refused(f"{at}.{key}", "not a field (role, content)")
        if message.get("role") not in ROLES:
            raise Refused(f"{at}.role", "user or assistant")
        content = message.get("content")
        if not isinstance(content, str) or len(content) > MAX_CONTENT:
            raise Refused(f"{at}.content", f"a string of at most {MAX_CONTENT} characters")
        out.append({"role": message["role"], "content": content})
    return out


@dataclass
class Draft:
    """A version as sent (before numbering); `check` returns it validated."""

    system: Any = ""
    messages: Any = None
    variables: Any = None
    model: Any = ""
    parameters: Any = None
    commit_message: Any = ""
    labels: Any = field(default_factory=list)  # labels to point at the new version

    @classmethod
    def of(cls, data: dict) -> "Draft":
        known = {"system", "messages", "variables", "model", "parameters", "commit_message"}
        draft = cls(**{k: v for k, v in data.items() if k in known})
        if "labels" in data:
            draft.labels = data["labels"]
        return draft

    def check(self, prefix: str = "") -> "Draft":
        system = "" if self.system is None else self.system
        if not isinstance(system, str) or len(system) > MAX_SYSTEM:
            raise Refused(f"{prefix}system", f"a string of at most {MAX_SYSTEM} characters")
        messages = check_messages(self.messages, f"{prefix}messages")
        try:
            parsed = parse_variables(self.variables, f"{prefix}variables")
        except PromptError as error:
            raise Refused(error.field, error.message) from None
        variables = [
            {
                "name": v.name,
                "type": v.type,
                "required": v.required,
                **({"default": v.default} if v.default is not None else {}),
                **({"description": v.description} if v.description else {}),
            }
            for v in parsed
        ]
        model = (self.model or "").strip() if isinstance(self.model, str | None) else None
        if model is None or len(model) > MAX_MODEL or not model.isprintable():
            raise Refused(f"{prefix}model", f"a model id of at most {MAX_MODEL} characters")
        commit = "" if self.commit_message is None else self.commit_message
        if not isinstance(commit, str) or len(commit) > 500:
            raise Refused(f"{prefix}commit_message", "a string of at most 500 characters")
        labels = self.labels or []
        if not isinstance(labels, list):
            raise Refused(f"{prefix}labels", 'a list of label names, e.g. ["production"]')
        labels = [_check_label(name, f"{prefix}labels[{i}]") for i, name in enumerate(labels)]
        return Draft(
            system=system,
            messages=messages,
            variables=variables,
            model=model,
            parameters=check_parameters(self.parameters, f"{prefix}parameters"),
            commit_message=commit.strip(),
            labels=list(dict.fromkeys(labels)),
        )


# --- prompts ---------------------------------------------------------------------------------


def live_prompts(workspace: Workspace):
    return Prompt.objects.filter(workspace=workspace, deleted_at__isnull=True)


def create_prompt(
    workspace: Workspace,
    *,
    name: Any,
    description: str = "",
    enabled: bool = True,
    version: Draft | None = None,
    created_by=None,
) -> Prompt:
    """A new prompt, with its first version when `version` is given (fields named
    `version.system` etc.). The name is unique among the workspace's live prompts."""
    name = check_name(name)
    if not isinstance(description, str) or len(description) > 500:
        raise Refused("description", "a string of at most 500 characters")
    draft = version.check("version.") if version is not None else None
    if live_prompts(workspace).filter(name=name).exists():
        raise Refused("name", "this workspace already has a prompt of that name")

    def write() -> Prompt:
        prompt = Prompt.objects.create(
            workspace=workspace,
            name=name,
            description=description.strip(),
            enabled=bool(enabled),
            created_by=_by(created_by),
        )
        if draft is not None:
            _write_version(prompt, draft, _by(created_by))
        return prompt

    return _saved(write)


def update_prompt(prompt: Prompt, *, description: Any = UNSET, enabled: Any = UNSET) -> Prompt:
    fields = []
    if description is not UNSET:
        if not isinstance(description, str) or len(description) > 500:
            raise Refused("description", "a string of at most 500 characters")
        prompt.description = description.strip()
        fields.append("description")
    if enabled is not UNSET:
        if not isinstance(enabled, bool):
            raise Refused("enabled", "true or false")
        prompt.enabled = enabled
        fields.append("enabled")
    if fields:
        prompt.save(update_fields=[*fields, "updated_at"])
    return prompt


def _locked(prompt: Prompt) -> Prompt:
    row = Prompt.objects.select_for_update().filter(pk=prompt.pk, deleted_at__isnull=True).first()
    if row is None:
        raise Refused("detail", "this prompt is in the trash; restore it first", 409)
    return row


def _write_version(row: Prompt, draft: Draft, by) -> PromptVersion:
    row.latest_version += 1
    version = PromptVersion.objects.create(
        prompt=row,
        number=row.latest_version,
        system=draft.system,
        messages=draft.messages,
        variables=draft.variables,
        model=draft.model,
        parameters=draft.parameters,
        commit_message=draft.commit_message,
        created_by=by,
    )
    row.save(update_fields=["latest_version", "updated_at"])
    for label in draft.labels:
        _point(row, label, version, by)
    return version


def create_version(prompt: Prompt, draft: Draft, *, by=None) -> PromptVersion:
    """Version latest+1 of `prompt`, validated; labels in `draft.labels` move to it."""
    checked = draft.check()
    version = _saved(lambda: _write_version(_locked(prompt), checked, _by(by)))
    prompt.latest_version = version.number  # the caller's copy, too
    return version


# --- labels ----------------------------------------------------------------------------------


def _point(row: Prompt, label: str, version: PromptVersion, by) -> tuple[PromptLabel, bool]:
    existing = PromptLabel.objects.select_for_update().filter(prompt=row, name=label).first()
    if existing is None:
        return PromptLabel.objects.create(
            prompt=row, name=label, version=version, updated_by=by
        ), True
    if existing.version_id != version.pk:
        existing.version = version
        existing.updated_by = by
        existing.save(update_fields=["version", "updated_by", "updated_at"])
    return existing, False


def move_label(prompt: Prompt, label: Any, number: Any, *, by=None) -> tuple[PromptLabel, bool]:
    """Point `label` at version `number`, creating the label if needed (a rollback is a
    move to an older number). Returns the label and whether it was created."""
    label = _check_label(label)
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise Refused("version", "a version number (1, 2, ...)")

    def write() -> tuple[PromptLabel, bool]:
        row = _locked(prompt)
        version = PromptVersion.objects.filter(prompt=row, number=number).first()
        if version is None:
            raise Refused("version", f"{row.name} has no version {number}")
        return _point(row, label, version, _by(by))

    return _saved(write)


def delete_label(prompt: Prompt, label: str) -> None:
    if label == LATEST:
        raise Refused("label", "latest always means the newest version; it cannot be deleted")
    if not PromptLabel.objects.filter(prompt=prompt, name=label).delete()[0]:
        raise Refused("label", f"{prompt.name} has no label {label}", 404)


# --- trash -----------------------------------------------------------------------------------


def trash_prompt(prompt: Prompt) -> Prompt:
    """Into the trash; bound keys keep the link (the relay treats it as absent)."""
    if prompt.deleted_at is None:
        prompt.deleted_at = timezone.now()
        prompt.save(update_fields=["deleted_at", "updated_at"])
    return prompt


def restore_prompt(prompt: Prompt) -> Prompt:
    if prompt.deleted_at is None:
        return prompt
    if live_prompts(prompt.workspace).filter(name=prompt.name).exists():
        raise Refused(
            "name", f"a live prompt is named {prompt.name}; rename or delete it first", 409
        )

    def write() -> Prompt:
        prompt.deleted_at = None
        prompt.save(update_fields=["deleted_at", "updated_at"])
        return prompt

    return _saved(write)


def purge_trash(now: datetime | None = None, days: int = TRASH_DAYS) -> int:
    """Delete prompts trashed more than `days` ago, with their versions and labels (keys
    still bound lose the link). Returns how many prompts."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    with transaction.atomic():
        doomed = list(
            Prompt.objects.select_for_update()
            .filter(deleted_at__lt=cutoff)
            .values_list("pk", flat=True)
        )
        if not doomed:
            return 0
        # Labels protect their versions: they go first.
        PromptLabel.objects.filter(prompt_id__in=doomed).delete()
        ApiKey.objects.filter(prompt_id__in=doomed).update(prompt=None, prompt_label="")
        Prompt.objects.filter(pk__in=doomed).delete()
    return len(doomed)


# --- render ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    prompt: str
    version: int
    label: str | None  # the label that chose the version; None when asked for `vN`
    messages: list[dict]  # [{"role": "system", ...}, *the version's messages]
    model: str
    parameters: dict


def resolve(prompt: Prompt, selector: str | None) -> tuple[PromptVersion, str | None]:
    """The version `selector` (`label`, `vN`, `latest`, or None/"" for the default) means;
    Refused naming `ref`."""
    if selector is not None and not isinstance(selector, str):
        raise Refused("ref", "a label or a version, e.g. @production or @v3")
    selector = (selector or "").strip()
    if "@" in selector:
        name, _, selector = selector.partition("@")
        if name and name != prompt.name:
            raise Refused("ref", f"this is {prompt.name}, not {name}")
    try:
        ref = parse_selector(prompt.name, selector)
        labels = dict(prompt.labels.values_list("name", "version__number"))
        number, label = pick(ref, labels, prompt.latest_version)
    except RefError as error:
        raise Refused("ref", error.message) from None
    return prompt.versions.get(number=number), label


def render(prompt: Prompt, selector: str | None = None, values: Any = None) -> Rendered:
    """What a call referencing `prompt@selector` with `values` would be sent before the
    caller's own messages; Refused naming `ref` or `variables.<name>`. No upstream call."""
    version, label = resolve(prompt, selector)
    ref = f"{prompt.name}@v{version.number}" if label is None else f"{prompt.name}@{label}"
    try:
        variables = parse_variables(version.variables)
        system, messages = render_all(version.system, version.messages, variables, values, ref)
    except PromptError as error:
        field_name = error.field.replace("prompt_variables", "variables", 1)
        raise Refused(field_name, error.message) from None
    head = [{"role": "system", "content": system}] if system else []
    return Rendered(
        prompt=prompt.name,
        version=version.number,
        label=label,
        messages=[*head, *messages],
        model=version.model,
        parameters=dict(version.parameters or {}),
    )
