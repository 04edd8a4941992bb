from django import forms
from django.contrib import admin

from .health_store import clear_cooldown, put_in_cooldown
from .models import Model, ModelAlternate, Provider, ProviderCredential, Router, StoredResponse


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(assume_scheme="https", required=False, max_length=300)
    new_credential = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; leave blank to keep the current one. Never shown again.",
    )
    clear_credential = forms.BooleanField(required=False)

    class Meta:
        model = Provider
        fields = [
            "slug", "name", "kind", "base_url", "credential_env", "enabled", "max_concurrency",
            "connect_timeout", "first_byte_timeout", "idle_timeout", "total_timeout",
        ]  # fmt: skip

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        if self.cleaned_data.get("clear_credential"):
            provider.set_credential("")
        elif self.cleaned_data.get("new_credential"):
            provider.set_credential(self.cleaned_data["new_credential"])
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["slug", "name", "kind", "base_url", "credential_source", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["slug", "name", "base_url"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="credential")
    def credential_source(self, provider: Provider) -> str:
        if provider.has_stored_credential:
            return "stored (encrypted)"
        return f"env {provider.credential_env}" if provider.credential_env else "none"


class ModelAlternateInline(admin.TabularInline):
    model = ModelAlternate
    extra = 0
    fields = [
        "provider",
        "upstream_name",
        "weight",
        "input_price",
        "output_price",
        "cached_input_price",
        "enabled",
    ]


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    inlines = [ModelAlternateInline]
    list_display = [
        "public_id",
        "provider",
        "upstream_name",
        "input_price",
        "output_price",
        "cached_input_price",
        "context_length",
        "enabled",
    ]
    list_filter = ["provider", "enabled"]
    search_fields = ["public_id", "upstream_name"]
    list_editable = ["enabled"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["cooldown_five_minutes", "lift_cooldown"]

    @admin.action(description="Put in cooldown for 5 minutes (routers and chains skip it)")
    def cooldown_five_minutes(self, request, queryset) -> None:
        keys = [f"{m.provider.slug}|{m.public_id}" for m in queryset.select_related("provider")]
        put_in_cooldown(keys, 300, f"put in cooldown by {request.user}")
        self.message_user(request, f"{len(keys)} model(s) in cooldown for 5 minutes.")

    @admin.action(description="Lift cooldown")
    def lift_cooldown(self, request, queryset) -> None:
        keys = [f"{m.provider.slug}|{m.public_id}" for m in queryset.select_related("provider")]
        clear_cooldown(keys)
        self.message_user(request, f"cooldown lifted for {len(keys)} model(s).")


@admin.register(Router)
class RouterAdmin(admin.ModelAdmin):
    list_display = ["__str__", "workspace", "strategy", "default_model", "enabled", "updated_at"]
    list_filter = ["strategy", "enabled"]
    search_fields = ["name", "workspace__slug"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(StoredResponse)
class StoredResponseAdmin(admin.ModelAdmin):
    """Metadata only: the stored conversation is the customer's text, not shown here."""

    list_display = ["response_id", "workspace", "model", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["response_id", "workspace__slug"]
    fields = ["response_id", "workspace", "model", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    """Workspaces' own provider keys (BYOK), for staff to see and delete; read-only, and
    never the key: only its last four characters. Workspaces manage them themselves."""

    list_display = ["workspace", "provider", "masked", "base_url", "allow_fallback", "updated_at"]
    list_filter = ["provider", "allow_fallback"]
    search_fields = ["workspace__slug", "provider__slug", "base_url"]
    fields = [
        "workspace",
        "provider",
        "masked",
        "base_url",
        "allow_fallback",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="credential")
    def masked(self, row: ProviderCredential) -> str:
        return f"…{row.hint}" if row.hint else "(stored)"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
