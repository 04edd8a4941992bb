"""Usage, rollups and the ledger in the admin: read-only, except that staff with the
"add ledger entry" permission grant credits (an audited grant through `grant_credits`)."""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages

from .models import (
    CheckoutTopUp,
    LedgerEntry,
    LowBalanceAlert,
    StoredExchange,
    StripeEvent,
    UsageRecord,
    UsageRollup,
)
from .pricing import format_usd
from .selectors import balance_pico
from .services import grant_credits

MAX_GRANT_USD = Decimal(1_000_000)  # one entry stays far inside a 64-bit pico amount


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + list(self.readonly_fields)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "request_id",
        "workspace",
        "api_key",
        "model",
        "status_code",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "streamed",
        "latency_ms",
        "created_at",
    ]
    list_filter = ["status_code", "streamed", "endpoint", "workspace"]
    list_select_related = ["workspace", "api_key"]
    search_fields = ["request_id", "model", "workspace__slug"]
    date_hierarchy = "created_at"
    readonly_fields = ["cost_usd"]

    @admin.display(description="cost (USD)", ordering="cost_pico")
    def cost_usd(self, record: UsageRecord) -> str:
        return format_usd(record.cost_pico)


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    list_display = [
        "start",
        "period",
        "workspace",
        "api_key",
        "model",
        "requests",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    ]
    list_filter = ["period", "workspace"]
    list_select_related = ["workspace", "api_key"]
    search_fields = ["model", "workspace__slug"]
    date_hierarchy = "start"
    ordering = ["-start", "workspace", "model"]
    readonly_fields = ["cost_usd"]

    @admin.display(description="cost (USD)", ordering="cost_pico")
    def cost_usd(self, rollup: UsageRollup) -> str:
        return format_usd(rollup.cost_pico)


class GrantForm(forms.ModelForm):
    """The only way to add a ledger entry here: a grant of credit, with a note for the audit
    trail (the entry records who granted it)."""

    amount_usd = forms.DecimalField(
        label="Amount (USD)",
        min_value=Decimal("0.000000000001"),
        max_value=MAX_GRANT_USD,
        decimal_places=12,
        help_text="Credit to add, exact to 10^-12 USD.",
    )

    class Meta:
        model = LedgerEntry
        fields = ["workspace", "amount_usd", "note"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["note"].required = True
        self.fields["note"].help_text = "Why (invoice, promotion, goodwill...); kept for audit."


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["workspace", "kind", "amount", "request_id", "note", "created_by", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["workspace", "created_by"]
    search_fields = ["workspace__slug", "note", "request_id"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["workspace"]

    @admin.display(description="USD", ordering="amount_pico")
    def amount(self, entry: LedgerEntry) -> str:
        return format_usd(entry.amount_pico)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = GrantForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["workspace", "amount_usd", "note"]
        return [
            "workspace",
            "kind",
            "amount",
            "request_id",
            "note",
            "created_by",
            "created_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return self.get_fields(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        if change:  # entries are appended, never edited
            raise PermissionError("ledger entries cannot be changed")
        workspace = form.cleaned_data["workspace"]
        entry = grant_credits(
            workspace.id,
            form.cleaned_data["amount_usd"],
            note=form.cleaned_data["note"],
            created_by=request.user,
        )
        # The admin logs the addition and redirects with `obj`: make it the stored entry.
        for field in LedgerEntry._meta.concrete_fields:
            setattr(obj, field.attname, getattr(entry, field.attname))
        obj._state.adding = False
        obj._state.db = entry._state.db
        self.message_user(
            request,
            f"Granted {format_usd(entry.amount_pico)} USD to {workspace}; "
            f"balance now {format_usd(balance_pico(workspace.id))} USD.",
            messages.SUCCESS,
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # entries are appended, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StoredExchange)
class StoredExchangeAdmin(admin.ModelAdmin):
    """Kept prompts and outputs exist for the workspace's own retention; staff see only when
    they go away, not the text."""

    list_display = ["usage", "workspace", "delete_after"]
    list_filter = ["workspace"]
    fields = ["usage", "workspace", "delete_after"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CheckoutTopUp)
class CheckoutTopUpAdmin(ReadOnlyAdmin):
    """Stripe Checkout top-ups as Orca opened and credited them (the webhook writes them)."""

    list_display = ["session_id", "workspace", "amount_cents", "credited_cents", "status"]
    list_display += ["created_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["workspace", "created_by"]
    search_fields = ["session_id", "workspace__slug"]
    date_hierarchy = "created_at"


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "session_id", "outcome", "received_at"]
    list_filter = ["type", "outcome"]
    search_fields = ["event_id", "session_id"]
    date_hierarchy = "received_at"


@admin.register(LowBalanceAlert)
class LowBalanceAlertAdmin(ReadOnlyAdmin):
    """Alerts sent and not yet re-armed; deleting one lets the next check send again."""

    list_display = ["workspace", "balance_pico", "sent_at"]
    list_select_related = ["workspace"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return True
