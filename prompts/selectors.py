"""Reads for the gateway: a workspace's prompt index (names, labels, newest numbers) in two
queries, and one version's content by id (immutable, so cached for good)."""

from dataclasses import dataclass, field
from typing import Any

from .models import Prompt, PromptLabel, PromptVersion
from .templating import PromptError, Variable, parse_variables


@dataclass(frozen=True, slots=True)
class IndexedPrompt:
    id: int
    name: str
    enabled: bool
    latest: int
    labels: dict[str, int]  # label -> version number


@dataclass(frozen=True, slots=True)
class PromptIndex:
    """The workspace's live prompts (not in the trash), by name and by id."""

    by_name: dict[str, IndexedPrompt] = field(default_factory=dict)
    by_id: dict[int, IndexedPrompt] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What a version puts into a request."""

    system: str
    messages: tuple[dict, ...]
    variables: tuple[Variable, ...]
    model: str
    parameters: dict[str, Any]


EMPTY_INDEX = PromptIndex()


def prompt_index(workspace_id: int) -> PromptIndex:
    rows = Prompt.objects.filter(workspace_id=workspace_id, deleted_at__isnull=True).values(
        "id", "name", "enabled", "latest_version"
    )
    prompts = {row["id"]: row for row in rows}
    if not prompts:
        return EMPTY_INDEX
    labels: dict[int, dict[str, int]] = {pk: {} for pk in prompts}
    for label in PromptLabel.objects.filter(prompt_id__in=prompts).values(
        "prompt_id", "name", "version__number"
    ):
        labels[label["prompt_id"]][label["name"]] = label["version__number"]
    by_id = {
        pk: IndexedPrompt(pk, row["name"], row["enabled"], row["latest_version"], labels[pk])
        for pk, row in prompts.items()
    }
    return PromptIndex({p.name: p for p in by_id.values()}, by_id)


def version_spec(prompt_id: int, number: int) -> VersionSpec | None:
    row = (
        PromptVersion.objects.filter(prompt_id=prompt_id, number=number)
        .values("system", "messages", "variables", "model", "parameters")
        .first()
    )
    if row is None:
        return None
    try:
        variables = parse_variables(row["variables"] or [])
    except PromptError:  # validated when saved; keep the version usable without them
        variables = ()
    return VersionSpec(
        system=row["system"] or "",
        messages=tuple(m for m in row["messages"] or () if isinstance(m, dict)),
        variables=variables,
        model=row["model"] or "",
        parameters=dict(row["parameters"] or {}),
    )
