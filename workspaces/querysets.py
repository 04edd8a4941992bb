"""Querysets whose bulk writes also tell every gateway process to drop its caches.

post_save/post_delete cover single-object saves; update(), bulk_update() and delete() on a
queryset send no such signal, so they bump the config version themselves (after commit)."""

from django.db import models, transaction

from . import config_version


class VersionedQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        changed = super().update(**kwargs)
        if changed:
            transaction.on_commit(config_version.bump)
        return changed

    def bulk_update(self, objs, fields, batch_size=None) -> int:
        changed = super().bulk_update(objs, fields, batch_size=batch_size)
        if changed:
            transaction.on_commit(config_version.bump)
        return changed

    def delete(self):
        result = super().delete()
        transaction.on_commit(config_version.bump)
        return result
