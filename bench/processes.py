"""The benchmark's processes: ports, starting and stopping servers, CPU and memory readings,
and a throwaway Orca (its database, Redis db, catalog model, credited workspace and key).
Shared by `make bench` (bench/run.py), `make bench-servers`, `make bench-clients` and
`make profile`."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
MODEL_ID = "benchmock/mock-model"
PROCS: list[subprocess.Popen] = []


# --- processes ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict, log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    fh = open(log, "ab")  # noqa: SIM115 - handed to the child, closed below
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
    )
    fh.close()
    PROCS.append(proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    if proc in PROCS:
        PROCS.remove(proc)


def stop_all() -> None:
    for proc in list(reversed(PROCS)):
        stop(proc)


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} not open after {timeout:.0f} s")


def tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _status_mb(pid: int, field: str) -> float:
    """A /proc status figure (kB) summed over the process tree, in MB."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def peak_rss_mb(pid: int) -> float | None:
    """Peak RSS (VmHWM) of the process tree; psutil is not needed on Linux."""
    return _status_mb(pid, "VmHWM:") or None


def rss_mb(pid: int) -> float:
    """Current RSS (VmRSS) of the process tree."""
    return _status_mb(pid, "VmRSS:")


def process_cpu(pid: int) -> tuple[str, float] | None:
    """(command name, user + system CPU seconds so far) of one process; None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return stat[stat.index("(") + 1 : stat.rindex(")")], seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by the process tree."""
    return sum(used[1] for p in tree(pid) if (used := process_cpu(p)) is not None)


def start_mock(logs: Path) -> tuple[subprocess.Popen, int]:
    """The mock upstream on a free port, ready."""
    port = free_port()
    proc = start([PY, "-m", "bench.mock_upstream", "--port", str(port)],
                 os.environ.copy(), logs / "mock.log")  # fmt: skip
    wait_port(port, proc, 20)
    return proc, port


def uvicorn(port: int, app: str, *extra: str) -> list[str]:
    cmd = [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return [*cmd, "--no-access-log", "--no-proxy-headers", "--log-level", "warning", *extra, app]


def post(url: str, body: bytes, key: str, timeout: float = 10) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- Orca set-up ----------------------------------------------------------------------
def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def orca_env(tmp: Path, db: str = "orca_bench", redis_db: int = 7) -> tuple[dict, callable]:
    """Env for a throwaway Orca; returns it and a clean-up function."""
    env = os.environ.copy()
    env.update(
        DEBUG="0",
        PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(50),
        ORCA_VAR_DIR=str(tmp / "var"),
        DJANGO_SETTINGS_MODULE="orca.settings",
        ORCA_UPSTREAM_ALLOW_PRIVATE="true",  # the mock upstream is on 127.0.0.1 (SSRF guard)
    )
    cleanup = lambda: None  # noqa: E731
    db_url = os.environ.get("DATABASE_URL", "")
    if db_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        admin = with_path(db_url, "/postgres")
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {db}")
        env["DATABASE_URL"] = with_path(db_url, f"/{db}")

        def cleanup() -> None:
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            except Exception as exc:
                print(f"could not drop {db}: {exc}")
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / f'{db}.sqlite3'}"
    if os.environ.get("REDIS_URL"):
        import redis

        env["REDIS_URL"] = with_path(os.environ["REDIS_URL"], f"/{redis_db}")
        env.pop("CELERY_BROKER_URL", None)
        redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5).flushdb()
    else:
        env.pop("REDIS_URL", None)
    return env, cleanup


SETUP = """
from decimal import Decimal
from billing.services import grant_credits
from routing.models import Model, Provider
from workspaces import services
from workspaces.models import Workspace
p = Provider.objects.create(slug="benchmock", name="Bench mock", kind="openai", base_url=%r)
Model.objects.create(public_id=%r, provider=p, upstream_name="mock-model",
    input_price=Decimal("0.15"), output_price=Decimal("0.60"), context_length=128000,
    max_output_tokens=4096, endpoint_types=%r)
ws, _ = services.get_or_create_workspace("bench", "Benchmark")
Workspace.objects.filter(pk=ws.pk).update(rpm_limit=100_000_000, tpm_limit=2_000_000_000)
grant_credits(ws.id, Decimal("1000000"), note="benchmark")
_, raw = services.create_api_key(ws, name="bench")
print("BENCHKEY=" + raw)
"""


# The guardrail of `make bench`'s guarded rows: every PII detector (masking, both stages)
# and 1,000 keywords (blocking; none occurs in the benchmark's prompt or the mock's reply),
# bound to a second key of the same workspace.
GUARD_SETUP = """
from guardrails.engine.pii import ENTITIES
from guardrails.models import Guardrail, GuardrailVersion
from workspaces import services
from workspaces.models import ApiKey, Workspace
ws = Workspace.objects.get(slug="bench")
words = ["zq%04dterm" % i for i in range(1000)]
rules = [
    {"type": "pii", "stage": "both", "action": "mask", "entities": sorted(ENTITIES)},
    {"type": "keyword", "stage": "both", "action": "block", "keywords": words},
]
g = Guardrail.objects.create(workspace=ws, name="bench-shield", version=1)
GuardrailVersion.objects.create(guardrail=g, number=1, rules=rules)
key, raw = services.create_api_key(ws, name="guarded")
ApiKey.objects.filter(pk=key.pk).update(guardrail=g)
print("GUARDKEY=" + raw)
"""


# The prompt of `make bench`'s prompted rows: a registry prompt with a system text and one
# variable at its production label, bound to a third key of the bench workspace.
PROMPT_SETUP = """
from prompts import services as prompts
from prompts.services import Draft
from workspaces import services
from workspaces.models import ApiKey, Workspace
ws = Workspace.objects.get(slug="bench")
system = "You are a concise assistant for {{team}}. Answer in one short sentence."
variables = [{"name": "team", "type": "string", "default": "the benchmark team"}]
p = prompts.create_prompt(ws, name="bench-prompt",
                          version=Draft(system=system, variables=variables, labels=["production"]))
key, raw = services.create_api_key(ws, name="prompted")
ApiKey.objects.filter(pk=key.pk).update(prompt=p, prompt_label="production")
print("PROMPTKEY=" + raw)
"""


def knows_prompts(tree: Path) -> bool:
    """Whether the checkout at ``tree`` puts registry prompts into calls."""
    return (tree / "prompts" / "gateway.py").exists()


def setup_prompt(env: dict, cwd: Path = ROOT) -> str:
    """A key of the bench workspace bound to PROMPT_SETUP's prompt (after setup_orca)."""
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c", PROMPT_SETUP], cwd=cwd, env=env, check=True,
        timeout=120, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("PROMPTKEY="))


def knows_guardrails(tree: Path) -> bool:
    """Whether the checkout at ``tree`` screens calls with guardrails."""
    return (tree / "guardrails" / "gateway.py").exists()


def setup_guard(env: dict, cwd: Path = ROOT) -> str:
    """A key of the bench workspace bound to GUARD_SETUP's guardrail (after setup_orca)."""
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c", GUARD_SETUP], cwd=cwd, env=env, check=True,
        timeout=120, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("GUARDKEY="))


def knows_native_responses(tree: Path) -> bool:
    """Whether the checkout at ``tree`` has the catalog endpoint type "responses" (a native
    Responses upstream); older commits get a chat-only model, as they always did."""
    try:
        models = (tree / "routing" / "models.py").read_text()
    except OSError:
        return False
    return 'RESPONSES = "responses"' in models


def setup_orca(env: dict, mock_port: int, cwd: Path = ROOT) -> str:
    manage = [PY, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--noinput", "-v0"], cwd=cwd, env=env, check=True, timeout=300
    )
    types = ["chat", "responses"] if knows_native_responses(cwd) else ["chat"]
    code = SETUP % (f"http://127.0.0.1:{mock_port}/v1", MODEL_ID, types)
    out = subprocess.run(
        [*manage, "shell", "-c", code], cwd=cwd, env=env, check=True, timeout=120,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("BENCHKEY="))
