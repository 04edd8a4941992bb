"""Forms for the dashboard's accounts, workspaces, members, settings and API keys."""

import re
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from .models import ApiKey, Role, Workspace
from .selectors import active_user
from .services import InvalidKeySettings, normalise_ip_allowlist


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        required=True, help_text="Used for password resets.", widget=forms.EmailInput()
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        # One account per address, so a password reset reaches exactly one account.
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists.")
        return email


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)


class InviteForm(forms.Form):
    user = forms.CharField(
        label="Username or email", max_length=254, strip=True, help_text="An existing account."
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.DEVELOPER)

    def clean_user(self):
        user = active_user(self.cleaned_data["user"])
        if user is None:
            raise forms.ValidationError("No account with this username or email address.")
        return user


class RoleForm(forms.Form):
    membership = forms.IntegerField(widget=forms.HiddenInput)
    role = forms.ChoiceField(choices=Role.choices)


class RemoveMemberForm(forms.Form):
    membership = forms.IntegerField(widget=forms.HiddenInput)


class WorkspaceSettingsForm(forms.ModelForm):
    retention_days = forms.IntegerField(
        min_value=1, max_value=180, help_text="How long prompts and outputs are kept (1-180)."
    )

    class Meta:
        model = Workspace
        fields = [
            "rpm_limit",
            "tpm_limit",
            "data_retention",
            "retention_days",
            "keep_response_history",
            "low_balance_threshold_usd",
        ]
        labels = {
            "rpm_limit": "Requests per minute",
            "tpm_limit": "Tokens per minute",
            "data_retention": "Data retention",
            "keep_response_history": "Keep /v1/responses history",
            "low_balance_threshold_usd": "Low-balance alert below (USD)",
        }

    def clean_low_balance_threshold_usd(self):
        value = self.cleaned_data["low_balance_threshold_usd"]
        if value is not None and not Decimal("0.01") <= value <= Decimal("1000000"):
            raise forms.ValidationError("Give an amount from $0.01 to $1,000,000, or leave blank.")
        return value


EXPIRY_CHOICES = [
    ("never", "Never"),
    ("1d", "1 day"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("1y", "1 year"),
]
EXPIRY_DELTAS = {
    "1d": timedelta(days=1),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}


def _split_entries(text: str) -> list[str]:
    return [entry for entry in (p.strip() for p in re.split(r"[,\n]", text or "")) if entry]


def _usd_field(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=6,
        help_text="USD; blank: no limit.",
    )


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True, initial="default")
    expires_in = forms.ChoiceField(label="Expires in", choices=EXPIRY_CHOICES, initial="never")
    allowed_models = forms.CharField(
        label="Allowed models",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Model ids or globs (openai/*), comma or newline separated; blank: every model.",
    )
    allowed_ips = forms.CharField(
        label="Allowed IPs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="IP addresses or CIDR ranges, comma or newline separated; blank: any address.",
    )
    rpm_limit = forms.IntegerField(
        label="Requests per minute", min_value=0, initial=0, help_text="0: no limit."
    )
    tpm_limit = forms.IntegerField(
        label="Tokens per minute", min_value=0, initial=0, help_text="0: no limit."
    )
    daily_limit_usd = _usd_field("Daily spend limit")
    monthly_limit_usd = _usd_field("Monthly spend limit")

    def clean_allowed_models(self) -> list[str]:
        patterns = _split_entries(self.cleaned_data["allowed_models"])
        for pattern in patterns:
            if len(pattern) > 200 or any(c.isspace() for c in pattern):
                raise forms.ValidationError(f"Not a model id or pattern: {pattern!r}")
        return patterns

    def clean_allowed_ips(self) -> list[str]:
        entries = _split_entries(self.cleaned_data["allowed_ips"])
        try:
            return normalise_ip_allowlist(entries)
        except InvalidKeySettings as exc:
            raise forms.ValidationError(str(exc)) from exc

    def expires_at(self):
        delta = EXPIRY_DELTAS.get(self.cleaned_data["expires_in"])
        return None if delta is None else timezone.now() + delta


class GuardrailChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name if obj.enabled else f"{obj.name} (disabled)"


class PromptChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, prompt) -> str:
        return f"{prompt.name} (in the trash)" if prompt.deleted_at else prompt.name


def _lines(values: list[str]) -> str:
    return "\n".join(values)


class ApiKeyEditForm(forms.Form):
    """Everything about a key but its secret: name, on/off, expiry, models, IPs, limits."""

    name = forms.CharField(max_length=100, strip=True)
    enabled = forms.BooleanField(
        required=False, help_text="Off: every call with the key gets 401 within a second."
    )
    expires_at = forms.DateTimeField(
        label="Expires at (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="Blank: never.",
    )
    allowed_models = ApiKeyCreateForm.base_fields["allowed_models"]
    allowed_ips = ApiKeyCreateForm.base_fields["allowed_ips"]
    rpm_limit = ApiKeyCreateForm.base_fields["rpm_limit"]
    tpm_limit = ApiKeyCreateForm.base_fields["tpm_limit"]
    daily_limit_usd = _usd_field("Daily spend limit")
    weekly_limit_usd = _usd_field("Weekly spend limit")
    monthly_limit_usd = _usd_field("Monthly spend limit")
    spend_limit_usd = _usd_field("Lifetime spend limit")
    guardrail = GuardrailChoiceField(
        queryset=ApiKey.objects.none(),  # for_key: the key's workspace's guardrails
        required=False,
        empty_label="None: the workspace default",
        help_text="A bound key is screened by this guardrail only, even while it is disabled.",
    )
    prompt = PromptChoiceField(
        queryset=ApiKey.objects.none(),  # for_key: the key's workspace's live prompts
        required=False,
        empty_label="None",
        help_text="Every call with the key gets this prompt (a call's own prompt_ref wins).",
    )
    prompt_label = forms.CharField(
        max_length=64,
        required=False,
        strip=True,
        label="Prompt label",
        help_text="A label (staging, …), latest or vN; blank: production, else the newest.",
    )

    clean_allowed_models = ApiKeyCreateForm.clean_allowed_models
    clean_allowed_ips = ApiKeyCreateForm.clean_allowed_ips

    key: ApiKey | None = None  # the key being edited (for_key sets it)

    LIMITS = (
        "rpm_limit",
        "tpm_limit",
        "daily_limit_usd",
        "weekly_limit_usd",
        "monthly_limit_usd",
        "spend_limit_usd",
    )

    def clean_prompt_label(self) -> str:
        from prompts.refs import RefError, parse_selector

        label = self.cleaned_data["prompt_label"]
        try:
            parse_selector("key", label)
        except RefError as error:
            raise forms.ValidationError(error.message) from None
        return label

    def clean_enabled(self) -> bool:
        # A revoked key stays revoked (as through the API): it may have leaked.
        enabled = self.cleaned_data["enabled"]
        if enabled and self.key is not None and self.key.revoked_at is not None:
            raise forms.ValidationError("A revoked key cannot be enabled again; create a new one.")
        return enabled

    @classmethod
    def for_key(cls, key, data=None) -> "ApiKeyEditForm":
        initial = {
            "name": key.name,
            "enabled": key.enabled,
            "expires_at": key.expires_at,
            "allowed_models": _lines(key.allowed_models),
            "allowed_ips": _lines(key.allowed_ips),
            **{field: getattr(key, field) for field in cls.LIMITS},
            "guardrail": key.guardrail_id,
            "prompt": key.prompt_id,
            "prompt_label": key.prompt_label,
        }
        form = cls(data, initial=initial)
        form.key = key
        from guardrails.models import Guardrail

        form.fields["guardrail"].queryset = Guardrail.objects.filter(  # type: ignore[attr-defined]
            workspace_id=key.workspace_id
        ).order_by("name")
        from django.db.models import Q

        from prompts.models import Prompt

        # Live prompts, and the bound one even in the trash (saving must not unbind it).
        form.fields["prompt"].queryset = Prompt.objects.filter(  # type: ignore[attr-defined]
            Q(deleted_at__isnull=True) | Q(pk=key.prompt_id), workspace_id=key.workspace_id
        ).order_by("name", "id")
        return form

    def apply(self, key) -> list[str]:
        """Copy the cleaned values onto `key`; the fields that changed."""
        data = self.cleaned_data
        changed = []
        for field in ("name", "expires_at", "allowed_models", "allowed_ips", *self.LIMITS):
            if getattr(key, field) != data[field]:
                setattr(key, field, data[field])
                changed.append(field)
        if key.enabled != data["enabled"]:
            key.enabled = data["enabled"]
            changed.append("enabled")
        if key.guardrail != data["guardrail"]:  # None: the workspace default
            key.guardrail = data["guardrail"]
            changed.append("guardrail")
        if key.prompt != data["prompt"]:
            key.prompt = data["prompt"]
            changed.append("prompt")
        if key.prompt_label != data["prompt_label"]:
            key.prompt_label = data["prompt_label"]
            changed.append("prompt_label")
        return changed
