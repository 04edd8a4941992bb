"""Waiting for usage records, which the server writes in batches off the request path."""

import time

from billing.models import UsageRecord


def wait_for_usage(django_db_blocker, request_id: str, timeout: float = 5.0) -> UsageRecord:
    deadline = time.monotonic() + timeout
    while True:
        with django_db_blocker.unblock():
            record = UsageRecord.objects.filter(request_id=request_id).first()
        if record is not None:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"no usage record for {request_id} within {timeout} s")
        time.sleep(0.05)
