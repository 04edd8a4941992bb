"""Behaviour that needs more than one gateway process, or a process's whole lifetime."""

import time

import httpx
import pytest

from billing.models import UsageRecord
from tests.live import LiveServer
from tests.usage import wait_for_usage
from workspaces.models import ApiKey

BODY = {"model": "fake/chat", "messages": [{"role": "user", "content": "hi"}]}


def call(base_url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        json=BODY,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


@pytest.mark.parametrize("how", ["save", "queryset update"])
def test_key_revoked_through_the_orm_is_refused_by_every_process_within_a_second(
    live, tmp_path, django_db_blocker, how
):
    second = LiveServer(tmp_path / "second.log").start()
    try:
        with django_db_blocker.unblock():
            key, raw = live.new_key(name="soon revoked")
        # Both processes have now cached the key as valid.
        assert call(live.server.base_url, raw).status_code == 200
        assert call(second.base_url, raw).status_code == 200

        with django_db_blocker.unblock():
            if how == "save":
                row = ApiKey.objects.get(pk=key.pk)
                row.enabled = False
                row.save()
            else:
                ApiKey.objects.filter(pk=key.pk).update(enabled=False)
        revoked_at = time.monotonic()

        pending = {live.server.base_url, second.base_url}
        refused_after: dict[str, float] = {}
        while pending and time.monotonic() - revoked_at < 3:
            for base_url in list(pending):
                if call(base_url, raw).status_code == 401:
                    refused_after[base_url] = time.monotonic() - revoked_at
                    pending.discard(base_url)
            time.sleep(0.02)
        assert not pending, "a process still accepted the revoked key after 3 s"
        assert max(refused_after.values()) <= 1.0, refused_after
    finally:
        second.stop()


def test_without_the_change_signal_a_revoked_key_still_stops_within_seconds(
    live, tmp_path, django_db_blocker
):
    """Redis unreachable for this process: it cannot hear the bump, so it trusts cached keys
    for a second only instead of a minute."""
    blind = LiveServer(tmp_path / "blind.log", REDIS_URL="redis://127.0.0.1:9/0").start()
    try:
        with django_db_blocker.unblock():
            key, raw = live.new_key(name="revoked while blind")
        # Redis is down: authentication still works from the database, and calls are
        # refused with a 503 because balances and limits cannot be checked.
        first = call(blind.base_url, raw)
        assert first.status_code == 503 and first.json()["error"]["code"] == "limits_unavailable"
        with django_db_blocker.unblock():
            ApiKey.objects.filter(pk=key.pk).update(enabled=False)
        revoked_at = time.monotonic()
        while call(blind.base_url, raw).status_code != 401:
            assert time.monotonic() - revoked_at < 3, "revoked key still accepted after 3 s"
            time.sleep(0.05)
        assert time.monotonic() - revoked_at <= 1.5
    finally:
        blind.stop()


def test_normal_shutdown_writes_every_buffered_usage_record(live, tmp_path, django_db_blocker):
    # A flush interval longer than the test: only the shutdown flush can write these.
    server = LiveServer(tmp_path / "shutdown.log", ORCA_USAGE_FLUSH_SECONDS="3600").start()
    request_ids = []
    try:
        for _ in range(5):
            response = call(server.base_url, live.key)
            assert response.status_code == 200
            request_ids.append(response.headers["x-orca-request-id"])
        time.sleep(0.3)
        with django_db_blocker.unblock():
            assert not UsageRecord.objects.filter(request_id__in=request_ids).exists()
    finally:
        # uvicorn re-raises SIGTERM after a graceful shutdown, hence -15 rather than 0.
        assert server.stop() in (0, -15)
    assert "Application shutdown complete" in (tmp_path / "shutdown.log").read_text()
    for request_id in request_ids:
        assert wait_for_usage(django_db_blocker, request_id, timeout=1).status_code == 200


def test_no_key_or_credential_reaches_the_server_log(live, sdk, upstream):
    """Drive the error paths, then look for the planted canaries in everything logged."""
    from tests.conftest import UPSTREAM_CREDENTIAL

    for model in ("fake/leaky", "fake/error-500", "fake/malformed", "fake/nope"):
        call(live.server.base_url, live.key)
        httpx.post(
            f"{live.base_url}/chat/completions",
            json={**BODY, "model": model},
            headers={"Authorization": f"Bearer {live.key}"},
            timeout=10,
        )
    httpx.post(
        f"{live.base_url}/chat/completions",
        json=BODY,
        headers={"Authorization": f"Bearer {live.key}x"},
        timeout=10,
    )
    log = live.log_path.read_text()
    assert "Application startup complete" in log  # the log is the right file and not empty
    for secret in (live.key, live.key[8:], live.other_key, UPSTREAM_CREDENTIAL):
        assert secret not in log
