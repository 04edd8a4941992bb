"""Dashboard forms for routers and the workspace's own provider keys.

RouterForm validates through the management API's RouterSerializer, so the dashboard and the
API accept and refuse exactly the same routers (name pattern, reserved names, unique per
workspace, default model in the catalog)."""

from django import forms

from .api import RouterSerializer
from .models import Router, RouterStrategy


class RouterForm(forms.Form):
    name = forms.CharField(
        max_length=50,
        help_text="1-50 of a-z, 0-9, '_' and '-'; called as orcarouter/{name}.",
    )
    candidates = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One model id or pattern per line (e.g. openai/*). Empty: every chat model.",
    )
    strategy = forms.ChoiceField(choices=RouterStrategy.choices, initial=RouterStrategy.BALANCED)
    default_model = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"list": "catalog-models"}),
        help_text="Used when no candidate fits the request.",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, workspace, instance: Router | None = None, **kwargs):
        self.workspace = workspace
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name,
                "candidates": "\n".join(instance.candidates),
                "strategy": instance.strategy,
                "default_model": instance.default_model,
                "enabled": instance.enabled,
            }
        super().__init__(*args, **kwargs)
        self.serializer: RouterSerializer | None = None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = {
            "name": cleaned["name"],
            "candidates": [
                line.strip() for line in cleaned.get("candidates", "").splitlines() if line.strip()
            ],
            "strategy": cleaned["strategy"],
            "default_model": cleaned.get("default_model", "").strip(),
            "enabled": cleaned.get("enabled", False),
        }
        serializer = RouterSerializer(
            instance=self.instance, data=data, context={"workspace": self.workspace}
        )
        if not serializer.is_valid():
            for field, messages in serializer.errors.items():
                target = field if field in self.fields else None
                for message in messages:
                    self.add_error(target, str(message))
            return cleaned
        self.serializer = serializer
        return cleaned

    def save(self) -> Router:
        assert self.serializer is not None, "call is_valid() first"
        return self.serializer.save(workspace=self.workspace)


class OwnCredentialForm(forms.Form):
    """Add or replace the workspace's own key for a provider (BYOK); checked by the same
    rules as the API (routing/own_credentials.py)."""

    provider = forms.ChoiceField(choices=())
    credential = forms.CharField(
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only: after saving, only its last four characters are shown.",
    )
    base_url = forms.CharField(
        max_length=300,
        required=False,
        help_text="OpenAI-compatible providers only (e.g. your vLLM server); empty: the catalog's.",
    )
    allow_fallback = forms.BooleanField(
        required=False,
        initial=True,
        help_text="When this key fails, use the platform's key (charged at the model's price).",
    )

    def __init__(self, *args, providers, **kwargs):
        super().__init__(*args, **kwargs)
        self.providers = {p.slug: p for p in providers}
        self.fields["provider"].choices = [(p.slug, f"{p.name} ({p.slug})") for p in providers]
        self.checked = None

    def clean(self):
        from . import own_credentials

        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.checked = own_credentials.check(
                self.providers[cleaned["provider"]],
                cleaned["credential"],
                cleaned.get("base_url", ""),
                cleaned.get("allow_fallback", False),
            )
        except own_credentials.Refused as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned
