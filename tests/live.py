"""A live Orca server process for end-to-end tests (uvicorn, production ASGI app)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


UVICORN_ARGS = (
    *("--host", "127.0.0.1", "--lifespan", "on", "--no-access-log"),
    *("--http", "orca.server:HttpProtocol"),  # as `make serve`: the client limits
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the database the test session set up, for the server process."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def server_environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update(
        {
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "ORCA_VAR_DIR": str(settings.VAR_DIR),
            "DEBUG": "0",
            # the fake upstreams listen on 127.0.0.1, which the SSRF guard refuses by default
            "ORCA_UPSTREAM_ALLOW_PRIVATE": "true",
            "ORCA_UPSTREAM_CONNECT_TIMEOUT": "2",
            "ORCA_UPSTREAM_FIRST_BYTE_TIMEOUT": "1.5",
            "ORCA_UPSTREAM_IDLE_TIMEOUT": "1.0",
            "ORCA_UPSTREAM_TOTAL_TIMEOUT": "20",
            "ORCA_USAGE_FLUSH_SECONDS": "0.1",
            "ORCA_MAX_BODY_BYTES": str(256 * 1024),
        }
    )
    env.update(overrides)
    return env


class LiveServer:
    def __init__(
        self,
        log_path: Path,
        app: str = "orca.asgi:application",
        port: int | None = None,  # one chosen beforehand, when the environment names it
        args: tuple[str, ...] = (),
        **env_overrides: str,
    ) -> None:
        self.app = app  # the ASGI application uvicorn serves, as "module:attribute"
        self.args = args  # more uvicorn options, e.g. ("--workers", "2")
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._env = server_environment(**env_overrides)
        self._process: subprocess.Popen | None = None

    def start(self) -> "LiveServer":
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                self.app,
                *UVICORN_ARGS,
                "--port",
                str(self.port),
                *self.args,
            ],
            cwd=ROOT,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log_path}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{self.base_url}/v1/models", timeout=1)
                return self
            time.sleep(0.1)
        raise RuntimeError("server did not start within 30 s")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown flush, no settlement."""
        assert self._process is not None
        self._process.kill()
        self._process.wait()

    def stop(self, timeout: float = 15) -> int:
        assert self._process is not None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode
