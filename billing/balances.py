"""Live balances outside the hot path: a grant made anywhere reaches the gateways' counters.

With Redis, the live balance of a workspace is one integer (`orca:bal:{id}`) that the
gateways reserve from; a grant adds to it if it exists (if not, the next reservation loads
the ledger sum, which already has the grant). Embedded, the config-version bump makes the
gateway reload its in-process balances from the ledger."""

from django.conf import settings

BALANCE_KEY = "orca:bal:{}"


def credit_sync(workspace_id: int, amount_pico: int) -> None:
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        # Only if present: a missing key is loaded from the ledger, grant included.
        client.eval(
            "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end return nil",  # noqa: E501
            1,
            BALANCE_KEY.format(workspace_id),
            amount_pico,
        )
    else:
        from workspaces import config_version

        config_version.bump()


def live_balances(workspace_ids: list[int]) -> dict[int, int]:
    """The balances Redis holds for these workspaces (one MGET), net of calls in flight; a
    workspace Redis has not loaded is left out. Empty without Redis."""
    if not settings.REDIS_URL or not workspace_ids:
        return {}
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    try:
        values = client.mget([BALANCE_KEY.format(i) for i in workspace_ids])
    finally:
        client.close()
    return {i: int(v) for i, v in zip(workspace_ids, values, strict=True) if v is not None}
