from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from billing.services import grant_credits
from workspaces import services
from workspaces.keys import hash_key
from workspaces.models import ApiKey

DEMO_CREDITS_USD = "10"
CATALOG_DIR = Path(settings.BASE_DIR) / "routing" / "catalog"


class Command(BaseCommand):
    help = (
        "Apply the shipped catalogs, ensure a 'demo' workspace and print its API key. "
        "The key is kept in var/demo-api-key (mode 600) so repeated runs print the same one."
    )

    def handle(self, *args, **options) -> None:
        for name in ("default.toml", "demo.toml"):
            call_command("apply_catalog", str(CATALOG_DIR / name), stdout=self.stderr)
        workspace, created = services.get_or_create_workspace("demo", "Demo workspace")
        if created:  # a starting balance, so configured real providers can be tried
            grant_credits(workspace.id, Decimal(DEMO_CREDITS_USD), note="make run demo credit")
        key_file = Path(settings.VAR_DIR) / "demo-api-key"
        raw = key_file.read_text().strip() if key_file.exists() else ""
        usable = (
            raw
            and ApiKey.objects.filter(
                key_hash=hash_key(raw), workspace=workspace, enabled=True
            ).exists()
        )
        if not usable:
            _, raw = services.create_api_key(workspace, name="demo (make run)")
            key_file.write_text(raw)
            key_file.chmod(0o600)
        self.stdout.write(raw)
