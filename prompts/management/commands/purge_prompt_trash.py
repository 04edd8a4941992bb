from django.core.management.base import BaseCommand

from prompts.models import TRASH_DAYS
from prompts.services import purge_trash


class Command(BaseCommand):
    help = f"Delete prompts that have been in the trash for more than {TRASH_DAYS} days."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days", type=int, default=TRASH_DAYS, help="age in the trash (default: %(default)s)"
        )

    def handle(self, *args, days: int, **options) -> None:
        purged = purge_trash(days=max(days, 0))
        self.stdout.write(f"purged {purged} prompt{'s' if purged != 1 else ''}")
