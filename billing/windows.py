"""The spend windows of a key (UTC day, week from Monday, calendar month), shared by the
Redis counters' names and the ledger sums that rebuild them."""

import time
from datetime import UTC, datetime, timedelta

DAY = 86_400
SPEND_TTL = 3_000_000  # a window's counter outlives its window (the longest is 31 days)


def window_numbers(now: float) -> tuple[int, int, int]:
    """(day, week, month) numbers of the moment `now` (Unix seconds)."""
    day = int(now // DAY)
    week = int((now // DAY + 3) // 7)  # weeks start on Monday (1970-01-01 was a Thursday)
    gm = time.gmtime(now)
    return day, week, gm.tm_year * 12 + gm.tm_mon


def window_starts(now: float) -> tuple[datetime, datetime, datetime]:
    """When the day, week and month windows that hold `now` began (UTC)."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day - timedelta(days=day.weekday()), day.replace(day=1)


def spend_keys(key_id: int, now: float) -> tuple[str, str, str, str]:
    """The Redis counters of a key's spend: lifetime, and the windows that hold `now`."""
    day, week, month = window_numbers(now)
    return (
        f"orca:spend:k:{key_id}:total",
        f"orca:spend:k:{key_id}:d:{day}",
        f"orca:spend:k:{key_id}:w:{week}",
        f"orca:spend:k:{key_id}:m:{month}",
    )


HOLDS_KEY = "orca:holds:{}"


def call_keys(workspace_id: int, key_id: int, now: float, minute: int) -> tuple[str, ...]:
    """The counters a call of this key admitted at `now` touches: balance, rate-limit
    minutes, spend windows, holds (the admission and settlement scripts' KEYS)."""
    from .balances import BALANCE_KEY

    return (
        BALANCE_KEY.format(workspace_id),
        f"orca:rl:w:{workspace_id}:req:{minute}",
        f"orca:rl:w:{workspace_id}:tok:{minute}",
        f"orca:rl:k:{key_id}:req:{minute}",
        f"orca:rl:k:{key_id}:tok:{minute}",
        *spend_keys(key_id, now),
        HOLDS_KEY.format(workspace_id),
    )
