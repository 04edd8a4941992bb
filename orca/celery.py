"""Celery application: video-task polling and billing rollups run here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orca.settings")

app = Celery("orca")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
