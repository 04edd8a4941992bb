"""Guardrails: workspace-scoped named policies, their immutable versions, and the matches feed.

A Guardrail holds what is not versioned (name, enabled, default, log_raw) and points at its
current version number; every edit of the rules writes a new GuardrailVersion and moves the
pointer, so a match can always name the exact rules it was found under. Writes bump the
config version (workspaces.config_version), which every gateway process polls: a change is
seen by the next call everywhere within one poll interval.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from workspaces.models import Workspace
from workspaces.querysets import VersionedQuerySet


class Guardrail(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="guardrails")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True, default="")
    enabled = models.BooleanField(default=True)
    # The workspace's default: applies to keys bound to no guardrail. At most one per workspace.
    is_default = models.BooleanField(default=False)
    # Whether matches keep the matched text (off: only type, entity and a short detail).
    log_raw = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=0, editable=False)  # the current number
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="guardrail_name_unique"),
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(is_default=True), name="one_default_guardrail"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def label(self) -> str:
        """What X-Orca-Guardrail and the usage record name: `<name>:v<N>`."""
        return f"{self.name}:v{self.version}"


class GuardrailVersion(models.Model):
    """One immutable set of rules (the JSON the management API takes, validated)."""

    guardrail = models.ForeignKey(Guardrail, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    rules = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["guardrail", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["guardrail", "number"], name="guardrail_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.guardrail.name} v{self.number}"


class GuardrailMatch(models.Model):
    """One finding of one rule on one call: the matches feed. Written in batches off the
    request path (guardrails/feed.py). `raw_text` is kept only under the guardrail's log_raw."""

    class Stage(models.TextChoices):
        INPUT = "input"
        OUTPUT = "output"

    class Action(models.TextChoices):
        BLOCK = "block"
        MASK = "mask"
        FLAG = "flag"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    guardrail = models.ForeignKey(
        Guardrail, null=True, blank=True, on_delete=models.SET_NULL, related_name="matches"
    )
    guardrail_name = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    api_key = models.ForeignKey(
        "workspaces.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_id = models.CharField(max_length=64, db_index=True)
    endpoint = models.CharField(max_length=64, blank=True, default="")
    stage = models.CharField(max_length=8, choices=Stage.choices)
    action = models.CharField(max_length=8, choices=Action.choices)
    rule_index = models.PositiveIntegerField()
    rule_type = models.CharField(max_length=16)
    entity = models.CharField(max_length=32, blank=True, default="")
    detail = models.CharField(max_length=200, blank=True, default="")
    raw_text = models.TextField(blank=True, default="")  # "": not kept (log_raw off)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="guardrail_match_feed")]

    def __str__(self) -> str:
        return f"{self.guardrail_name} v{self.version}: {self.rule_type} {self.action}"
