"""hooks.finish_all: every watcher's finish() runs, the first block is raised after them."""

from types import SimpleNamespace

import pytest

from routing.proxy.errors import GatewayError
from routing.proxy.pipeline import hooks


class Watcher:
    def __init__(self, log: list, fails: Exception | None = None) -> None:
        self.log, self.fails = log, fails

    def finish(self, call) -> None:
        self.log.append(self)
        if self.fails is not None:
            raise self.fails


def test_every_watcher_finishes_and_the_first_block_wins():
    log: list = []
    first = GatewayError(403, "blocked", code="hook_blocked")
    watchers = [
        Watcher(log, first),
        Watcher(log, RuntimeError("a bug")),  # logged, not raised
        Watcher(log, GatewayError(451, "later", code="hook_blocked")),
        Watcher(log),
    ]
    call = SimpleNamespace(watchers=watchers, request_id="req_x")
    with pytest.raises(GatewayError) as caught:
        hooks.finish_all(call)
    assert caught.value is first
    assert log == watchers


def test_finish_quietly_never_raises():
    log: list = []
    watchers = [
        Watcher(log, GatewayError(403, "x", code="hook_blocked")),
        Watcher(log, ValueError()),
        Watcher(log),
    ]
    hooks.finish_quietly(SimpleNamespace(watchers=watchers, request_id="req_y"))
    assert log == watchers
