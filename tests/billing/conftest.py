"""Billing's Redis tests run on a redis-server of their own (never the shared one): they
restart it, stop it and empty it."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest


class PrivateRedis:
    """A throwaway redis-server on a free port that keeps nothing on disk: killing it and
    starting it again on the same port is Redis restarting empty."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("needs a redis-server binary")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """Overrides the shared fixture for billing: a private server rather than a database of
    the machine's Redis that other test runs may be using."""
    server = PrivateRedis()
    server.start()
    try:
        yield server.url
    finally:
        server.kill()
