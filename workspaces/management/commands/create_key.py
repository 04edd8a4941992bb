from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from workspaces import services


class Command(BaseCommand):
    help = "Create an API key (and the workspace if needed). Prints only the new key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--name", default="default", help="key name")
        parser.add_argument(
            "--credits",
            help="USD to grant the workspace (prepaid credits arrive with the billing issue)",
        )

    def handle(self, *args, workspace: str, name: str, credits: str | None, **options) -> None:
        if credits is not None:
            try:
                amount = Decimal(credits)
            except InvalidOperation:
                raise CommandError(f"--credits must be a number of USD, got {credits!r}") from None
            if amount < 0:
                raise CommandError("--credits must not be negative")
            # Accepted and validated now; the ledger that holds it lands with billing.
        try:
            ws, _ = services.get_or_create_workspace(workspace)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        _, raw = services.create_api_key(ws, name=name)
        self.stdout.write(raw)
