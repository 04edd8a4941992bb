"""The prompt registry: workspace-scoped prompts, immutable numbered versions, moving labels.

A Prompt is a name; each edit writes a PromptVersion (1, 2, …) that never changes again; a
PromptLabel (`production`, `staging`, custom) points at one version and moves, so rollback
is a move. `latest` is not stored: it always means the highest number. A deleted prompt is
soft-deleted into a trash for 30 days (`deleted_at`) and can be restored. Writes bump the
config version, which every gateway process polls: a label move is seen by the next call
everywhere within one poll interval.
"""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from workspaces.models import Workspace
from workspaces.querysets import VersionedQuerySet

NAME_PATTERN = r"^[a-zA-Z0-9._-]{1,128}$"
LABEL_PATTERN = r"^[a-zA-Z0-9._-]{1,64}$"
LATEST = "latest"  # the label every prompt has: its newest version (never stored)
TRASH_DAYS = 30


class Prompt(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="prompts")
    name = models.CharField(max_length=128, validators=[RegexValidator(NAME_PATTERN)])
    description = models.CharField(max_length=500, blank=True, default="")
    enabled = models.BooleanField(default=True)
    latest_version = models.PositiveIntegerField(default=0, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)  # set: in the trash
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            # A name is taken by one live prompt; the trash may hold older ones of that name.
            models.UniqueConstraint(
                fields=["workspace", "name"],
                condition=Q(deleted_at__isnull=True),
                name="prompt_name_unique_live",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """One immutable version: system text, a few-shot prefix, typed variables, and the
    model and parameters it applies where a request leaves them out."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    system = models.TextField(blank=True, default="")
    # [{"role": "user" | "assistant", "content": str}]: messages sent before the caller's
    messages = models.JSONField(default=list, blank=True)
    # [{"name", "type": "string"|"number"|"integer"|"boolean", "default"?, "required"?,
    #   "description"?}]
    variables = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=200, blank=True, default="")
    # temperature, top_p, max_tokens, response_format (chat's names)
    parameters = models.JSONField(default=dict, blank=True)
    commit_message = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.number}"


class PromptLabel(models.Model):
    """A named pointer at one version (`production`, `staging`, custom); moving it is how a
    release or a rollback happens."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=64, validators=[RegexValidator(LABEL_PATTERN)])
    version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["prompt", "name"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "name"], name="prompt_label_unique")
        ]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.name}"
