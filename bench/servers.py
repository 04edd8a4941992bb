"""`make bench-servers`: the same Orca under uvicorn, granian and daphne.

Backs the choice of server for `make serve` (docs/performance.md). Each server runs
orca.asgi:application with production settings against the mock upstream, with one worker
and then BENCH_WORKERS (2) workers where the server can fork them (daphne cannot), and is
driven non-stream and stream at concurrency 64 (and non-stream at 1). Env as for `make
bench`: DATABASE_URL, REDIS_URL, BENCH_SECONDS (10), BENCH_WARMUP (2).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from bench import loadgen
from bench.run import (
    MODEL_ID,
    PY,
    ROOT,
    body_for,
    cpu_seconds,
    fmt,
    free_port,
    orca_env,
    peak_rss_mb,
    post,
    setup_orca,
    start,
    start_mock,
    stop,
    stop_all,
    wait_port,
)

BIN = Path(PY).parent


def command(server: str, port: int, workers: int) -> list[str] | None:
    host = ["127.0.0.1"]
    if server == "uvicorn":
        return [str(BIN / "uvicorn"), "--host", *host, "--port", str(port), "--workers",
                str(workers), "--no-access-log", "--no-proxy-headers", "--log-level", "warning",
                "--lifespan", "on", "--http", "orca.server:HttpProtocol",
                "orca.asgi:application"]  # fmt: skip
    if server == "granian":
        return [str(BIN / "granian"), "--interface", "asgi", "--host", *host, "--port",
                str(port), "--workers", str(workers), "--loop", "uvloop", "--log-level",
                "warning", "--no-ws", "orca.asgi:application"]  # fmt: skip
    if server == "daphne" and workers == 1:
        return [str(BIN / "daphne"), "-b", *host, "-p", str(port), "orca.asgi:application"]
    return None


def ensure_granian() -> None:
    """granian is only needed for this comparison: installed on demand, not a dependency."""
    if not (BIN / "granian").exists():
        print("installing granian into the project virtualenv for the comparison")
        subprocess.run([PY, "-m", "pip", "install", "--quiet", "granian"], check=False,
                       timeout=600)  # fmt: skip


def main() -> int:
    ensure_granian()
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    warmup = float(os.environ.get("BENCH_WARMUP", "2"))
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    tmp = Path(tempfile.mkdtemp(prefix="orca-servers-"))
    logs = ROOT / "results" / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    cleanup = lambda: None  # noqa: E731
    try:
        _, mock_port = start_mock(logs)  # stopped with the rest by stop_all()
        env, cleanup = orca_env(tmp)
        key = setup_orca(env, mock_port)
        for server in ("uvicorn", "granian", "daphne"):
            for count in sorted({1, workers}):
                port = free_port()
                cmd = command(server, port, count)
                if cmd is None or not Path(cmd[0]).exists():
                    continue
                proc = start(cmd, env, logs / f"{server}.log")
                try:
                    wait_port(port, proc, 60)
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    status, answer = post(url, body_for(MODEL_ID, False), key)
                    if status != 200:
                        raise RuntimeError(f"answered {status}: {answer[:200]!r}")
                    for stream, conc in ((False, 1), (False, 64), (True, 64)):
                        body = body_for(MODEL_ID, stream)
                        loadgen.run(url, key, body, conc, warmup, 0, stream)
                        before = cpu_seconds(proc.pid)
                        res = loadgen.run(url, key, body, conc, seconds, 0, stream)
                        served = res["requests"] - res["errors"]
                        cpu = (cpu_seconds(proc.pid) - before) * 1000 / served if served else None
                        row = {"server": server, "workers": count, "conc": conc,
                               "mode": "stream" if stream else "non-stream",
                               "cpu_ms_per_req": cpu} | res  # fmt: skip
                        rows.append(row)
                        print(f"  {server:<8} workers={count} {row['mode']:<10} c={conc:<3}"
                              f" {res['rps']:>8.0f} req/s  p50 {fmt(res['p50_ms'])} ms"
                              f"  errors {res['errors']}")  # fmt: skip
                    rss = peak_rss_mb(proc.pid)
                    for row in rows:
                        if row["server"] == server and row["workers"] == count:
                            row["peak_rss_mb"] = rss
                except Exception as exc:
                    print(f"  {server} workers={count}: failed: {exc}")
                finally:
                    stop(proc)
        lines = ["| server | workers | mode | conc | req/s | p50 ms | p99 ms | CPU ms/req "
                 "| peak RSS MB | errors |", "|" + "---|" * 10]  # fmt: skip
        for r in rows:
            lines.append(
                f"| {r['server']} | {r['workers']} | {r['mode']} | {r['conc']} | "
                f"{fmt(r['rps'], 0)} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | "
                f"{fmt(r['cpu_ms_per_req'], 3)} | {fmt(r.get('peak_rss_mb'), 1)} | {r['errors']} |"
            )
        table = "\n".join(lines)
        print("\n" + table + "\n")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = ROOT / "results" / f"servers-{stamp}.md"
        out.write_text(f"# Orca under each ASGI server {stamp}\n\n{table}\n")
        print(f"written: results/servers-{stamp}.md")
        return 0
    finally:
        stop_all()
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
