from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.catalog import loader


class Command(BaseCommand):
    help = "Apply a TOML catalog of providers and models (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Disable models of the listed providers that the file no longer names.",
        )

    def handle(self, *args, file: Path, prune: bool, **options) -> None:
        if not file.exists():
            raise CommandError(f"no such catalog file: {file}")
        try:
            providers, models = loader.load_file(file)
            result = loader.apply(providers, models, prune=prune)
        except loader.CatalogError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"providers: {result.providers_created} created, {result.providers_updated} updated; "
            f"models: {result.models_created} created, {result.models_updated} updated, "
            f"{result.models_disabled} disabled"
        )
