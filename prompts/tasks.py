"""Celery tasks of the prompt registry (idempotent: safe to run twice or on two workers)."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def purge_prompt_trash() -> int:
    """Delete prompts trashed more than 30 days ago; returns how many."""
    return services.purge_trash()
