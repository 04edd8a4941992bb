import secrets
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from billing.services import grant_credits
from workspaces import services
from workspaces.keys import hash_key
from workspaces.models import ApiKey, Role

DEMO_CREDITS_USD = "10"
DEMO_USER = "demo"
CATALOG_DIR = Path(settings.BASE_DIR) / "routing" / "catalog"


class Command(BaseCommand):
    help = (
        "Apply the shipped catalogs, ensure a 'demo' workspace with an owner login, and print "
        "three lines: its API key, the owner's user name and password. The key and the "
        "generated password are kept in var/ (mode 600), so repeated runs print the same ones; "
        "a password changed since is not reset (the third line then says so)."
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
            _write_secret(key_file, raw)
        self.stdout.write(raw)
        self.stdout.write(DEMO_USER)
        self.stdout.write(_demo_login(workspace))


def _write_secret(path: Path, value: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(value)


def _demo_login(workspace) -> str:
    """The demo owner's password: generated once (random, never a fixed default: `make run`
    may listen beyond localhost with HOST=), kept in var/demo-password beside the key."""
    password_file = Path(settings.VAR_DIR) / "demo-password"
    user = get_user_model().objects.filter(username=DEMO_USER).first()
    kept = password_file.read_text().strip() if password_file.exists() else ""
    if user is None:
        kept = secrets.token_urlsafe(12)
        user = get_user_model().objects.create_user(DEMO_USER, password=kept)
        _write_secret(password_file, kept)
    services.add_member(workspace, user, Role.OWNER)
    if kept and user.check_password(kept):
        return kept
    return "(changed since it was generated; reset it with: manage.py changepassword demo)"
