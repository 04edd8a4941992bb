"""Dashboard forms of the prompt registry. Messages, variables and parameters are JSON in
textareas, checked by prompts/services.py like the management API's, and an error names
the field as the API would (`variables[1].type: …`)."""

import json

from django import forms

from . import services
from .models import PromptVersion


def pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class JsonField(forms.CharField):
    """JSON text in, the parsed value out ("" counts as `empty`)."""

    def __init__(self, *, empty, **kwargs) -> None:
        self.empty = empty
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}))
        super().__init__(strip=True, **kwargs)

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return self.empty
        try:
            return json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(f"not valid JSON: {error}") from None


class PromptCreateForm(forms.Form):
    name = forms.CharField(
        max_length=128, strip=True, help_text="Letters, digits, '.', '_' or '-', e.g. support."
    )
    description = forms.CharField(max_length=500, required=False, strip=True)


class PromptSettingsForm(forms.Form):
    description = forms.CharField(max_length=500, required=False, strip=True)
    enabled = forms.BooleanField(
        required=False,
        help_text="Off: nothing is injected into bound keys' calls, and a call that names it "
        "is refused (400).",
    )


class VersionForm(forms.Form):
    """A new version; prefilled from the newest one."""

    system = forms.CharField(
        required=False,
        strip=False,
        max_length=services.MAX_SYSTEM,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        help_text="Goes before the caller's own system text. Variables: {{name}}.",
    )
    messages = JsonField(
        empty=[],
        help_text='Few-shot messages sent before the caller\'s: [{"role": "user", "content": '
        '"…"}, {"role": "assistant", "content": "…"}].',
    )
    variables = JsonField(
        empty=[],
        help_text='[{"name": "customer", "type": "string", "required": true}, {"name": '
        '"limit", "type": "integer", "default": 100}]. A {{name}} not declared here is a '
        "required string.",
    )
    model = forms.CharField(
        max_length=services.MAX_MODEL,
        required=False,
        strip=True,
        help_text="Used where a call names none (blank: the caller's).",
    )
    parameters = JsonField(
        empty={},
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text='Used where a call leaves them out: {"temperature": 0.2, "max_tokens": 500}.',
    )
    commit_message = forms.CharField(max_length=500, required=False, strip=True)
    labels = forms.CharField(
        max_length=300,
        required=False,
        strip=True,
        help_text="Labels to point at the new version, comma-separated (e.g. staging).",
    )

    @classmethod
    def for_version(cls, version: PromptVersion | None, data=None) -> "VersionForm":
        initial = {}
        if version is not None:
            initial = {
                "system": version.system,
                "messages": pretty(version.messages) if version.messages else "",
                "variables": pretty(version.variables) if version.variables else "",
                "model": version.model,
                "parameters": pretty(version.parameters) if version.parameters else "",
            }
        return cls(data, initial=initial)

    def draft(self) -> services.Draft:
        data = self.cleaned_data
        labels = [name.strip() for name in data["labels"].split(",") if name.strip()]
        return services.Draft(
            system=data["system"],
            messages=data["messages"],
            variables=data["variables"],
            model=data["model"],
            parameters=data["parameters"],
            commit_message=data["commit_message"],
            labels=labels,
        )

    def refuse(self, error: services.Refused) -> None:
        root = error.field.split(".")[0].split("[")[0]
        field = root if root in self.fields else None
        where = f"{error.field}: " if field is None or error.field != root else ""
        self.add_error(field, f"{where}{error.message}")


class LabelForm(forms.Form):
    label = forms.CharField(max_length=64, strip=True)
    version = forms.IntegerField(min_value=1, max_value=2**31 - 1)
