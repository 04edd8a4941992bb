from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing.services import grant_credits
from workspaces import services
from workspaces.models import Role


class Command(BaseCommand):
    help = (
        "Create an API key (and the workspace if needed), or with --management a management "
        "key of the given --role. Prints only the new key."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--name", default="default", help="key name")
        parser.add_argument("--credits", help="USD to grant the workspace's prepaid balance")
        parser.add_argument(
            "--management",
            action="store_true",
            help="a management API key (sk-orca-mgmt-…) instead of a relay key",
        )
        parser.add_argument(
            "--role", choices=Role.values, help="the management key's role (with --management)"
        )

    def handle(
        self,
        *args,
        workspace: str,
        name: str,
        credits: str | None,
        management: bool,
        role: str | None,
        **options,
    ) -> None:
        if role is not None and not management:
            raise CommandError("--role applies to management keys: add --management")
        if management and role is None:
            raise CommandError(f"--management needs --role ({', '.join(Role.values)})")
        amount = None
        if credits is not None:
            try:
                amount = Decimal(credits)
            except InvalidOperation:
                raise CommandError(f"--credits must be a number of USD, got {credits!r}") from None
            if not amount.is_finite() or amount <= 0:
                raise CommandError("--credits must be a positive number of USD")
        with transaction.atomic():
            try:
                ws, _ = services.get_or_create_workspace(workspace)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if management:
                assert role is not None
                _, raw = services.create_management_key(ws, role=role, name=name)
            else:
                _, raw = services.create_api_key(ws, name=name)
            if amount is not None:
                grant_credits(ws.id, amount, note=f"create_key --credits ({name})")
        self.stdout.write(raw)
