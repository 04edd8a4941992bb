"""Dashboard forms for guardrails. The rules are JSON in a textarea; they are checked by
guardrails/services.py (the engine), like the management API's, and an error names the
rule's field as the API would (`rules[2].pattern: …`)."""

import json

from django import forms

from . import services
from .models import Guardrail

PRESET_CHOICES = [
    ("pii-shield", "PII Shield: mask e-mails, phones, SSNs, cards, IPs"),
    ("prompt-size-cap", "Prompt-Size Cap: block prompts over 50,000 characters"),
    ("token-cost-cap", "Token Cost Cap: block prompts over 200,000 characters"),
    ("response-size-cap", "Response Size Cap: block answers over 32,000 characters"),
    ("blank", "Blank: no rules yet"),
]


def rules_text(rules: list) -> str:
    return json.dumps(rules, indent=2, ensure_ascii=False)


class GuardrailCreateForm(forms.Form):
    preset = forms.ChoiceField(label="Start from", choices=PRESET_CHOICES, initial="pii-shield")
    name = forms.CharField(
        max_length=64,
        required=False,
        strip=True,
        help_text="Blank: the preset's name.",
    )

    def clean(self):
        data = super().clean()
        preset = services.PRESETS.get(data.get("preset") or "")
        if preset is not None and not data.get("name"):
            if not preset["name"]:
                self.add_error("name", "A blank guardrail needs a name.")
            data["name"] = preset["name"]
        return data


class GuardrailForm(forms.Form):
    name = forms.CharField(max_length=64, strip=True)
    description = forms.CharField(max_length=500, required=False, strip=True)
    enabled = forms.BooleanField(
        required=False, help_text="Off: bound keys are not screened (the default is not used)."
    )
    is_default = forms.BooleanField(
        label="Workspace default",
        required=False,
        help_text="Screens every key bound to no guardrail; replaces the current default.",
    )
    log_raw = forms.BooleanField(
        label="Keep matched text",
        required=False,
        help_text="Off: the matches feed keeps the rule, entity and a short detail only.",
    )
    rules = forms.CharField(
        label="Rules (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code"}),
        help_text="A JSON list of rules; saving a change makes a new version.",
    )

    @classmethod
    def for_guardrail(cls, guardrail: Guardrail, data=None) -> "GuardrailForm":
        initial = {
            "name": guardrail.name,
            "description": guardrail.description,
            "enabled": guardrail.enabled,
            "is_default": guardrail.is_default,
            "log_raw": guardrail.log_raw,
            "rules": rules_text(services.current_rules(guardrail)),
        }
        return cls(data, initial=initial)

    def clean_rules(self) -> list:
        text = self.cleaned_data["rules"].strip() or "[]"
        try:
            rules = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        try:
            return services.check_rules(rules)
        except services.Refused as error:
            raise forms.ValidationError(f"{error.field}: {error.message}") from None

    def change(self) -> services.Change:
        return services.Change.of(self.cleaned_data)

    def refuse(self, error: services.Refused) -> None:
        """Show a service's refusal on the field it names (rules' own fields on `rules`)."""
        field = error.field if error.field in self.fields else None
        if error.field.startswith("rules"):
            self.add_error("rules", f"{error.field}: {error.message}")
        else:
            self.add_error(field, error.message)
