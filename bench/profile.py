"""`make profile`: where one Orca worker spends its time under load.

Starts the mock upstream and Orca exactly as `make bench` does, drives non-stream chat at
concurrency 64 with wrk (or the Python generator), records the worker with py-spy, and
writes the flame graph (SVG) plus a text summary of the busiest functions (inclusive and
self time, as a share of busy samples) to results/. Env: PROFILE_SECONDS (20),
PROFILE_CONCURRENCY (64), PROFILE_STREAM=1 for streamed calls, PROFILE_HELD=1 for the
stream load of bench/streamload.py (BENCH_STREAMS held streams and quick calls beside them,
recorded for PROFILE_SECONDS), plus bench's DATABASE_URL, REDIS_URL and BENCH_CHUNK_DELAY_MS.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from bench import loadgen, streamload
from bench.run import (
    MODEL_ID,
    PY,
    ROOT,
    body_for,
    cpu_seconds,
    free_port,
    orca_env,
    post,
    process_cpu,
    rss_mb,
    setup_orca,
    start,
    start_mock,
    stop_all,
    uvicorn,
    wait_port,
)

TOP = 40
OURS = {"orca", "routing", "billing", "workspaces", "guardrails", "prompts"}


def py_spy() -> str:
    exe = Path(PY).parent / "py-spy"
    if exe.exists():
        return str(exe)
    found = shutil.which("py-spy")
    if found:
        return found
    subprocess.run([PY, "-m", "pip", "install", "--quiet", "py-spy"], check=True, timeout=300)
    return str(exe)


def frame_name(frame: str) -> str:
    """`relay (routing/proxy/pipeline.py:512)` -> `routing/proxy/pipeline.py:relay`."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.removeprefix(str(ROOT) + "/")
    return f"{path}:{name}"


def summarise(collapsed: Path) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = frames.pop(0) if frames[0].startswith("thread (") else "thread"
        threads[thread] += n
        frames = [frame_name(f) for f in frames]
        for name in set(frames):
            inclusive[name] += n
        if frames:
            own[frames[-1]] += n
    if not total:
        return "no samples recorded\n"
    out = [f"busy samples: {total}", "", "per thread %"]
    out += [f"{100 * n / total:10.1f}  {name}" for name, n in threads.most_common(6)]
    out += ["", "inclusive %  function"]
    out += [f"{100 * n / total:10.1f}  {name}" for name, n in inclusive.most_common(TOP)]
    ours = [(k, n) for k, n in inclusive.most_common() if k.split("/")[0] in OURS]
    out += ["", "inclusive %  Orca's own functions"]
    out += [f"{100 * n / total:10.1f}  {name}" for name, n in ours[:TOP]]
    out += ["", "self %      function"]
    out += [f"{100 * n / total:10.1f}  {name}" for name, n in own.most_common(TOP)]
    return "\n".join(out) + "\n"


def cpu_times() -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by every process on the machine, with its command name."""
    pids = (int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit())
    return {pid: used for pid in pids if (used := process_cpu(pid)) is not None}


def cpu_shares(before: dict, after: dict, wall: float, orca_pid: int, mock_pid: int) -> str:
    """Cores used per program during the load, to show who competes for the CPUs."""
    used: Counter[str] = Counter()
    for pid, (name, seconds) in after.items():
        spent = seconds - before.get(pid, (name, 0.0))[1]
        if spent <= 0:
            continue
        label = {orca_pid: "orca worker", mock_pid: "mock upstream"}.get(pid, name)
        if name.startswith("postgres"):
            label = "postgres"
        used[label] += spent
    lines = ["cores used during the load (2.0 = two cores busy):"]
    lines += [f"{s / wall:10.2f}  {label}" for label, s in used.most_common(8)]
    return "\n".join(lines) + "\n"


def main() -> int:
    seconds = float(os.environ.get("PROFILE_SECONDS", "20"))
    concurrency = int(os.environ.get("PROFILE_CONCURRENCY", "64"))
    stream = os.environ.get("PROFILE_STREAM") == "1"
    held = os.environ.get("PROFILE_HELD") == "1"
    spy = py_spy()
    streamload.raise_fd_limit()
    tmp = Path(tempfile.mkdtemp(prefix="orca-profile-"))
    out_dir = ROOT / "results"
    logs = out_dir / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    cleanup = lambda: None  # noqa: E731
    try:
        mock, mock_port = start_mock(logs)
        env, cleanup = orca_env(tmp)
        limit = str(max(1000, streamload.settings()["streams"] + 100))
        env.setdefault("ORCA_UPSTREAM_MAX_CONNECTIONS", limit)
        key = setup_orca(env, mock_port)
        if os.environ.get("PROFILE_GUARD") == "1":  # through the benchmark guardrail's key
            from bench.processes import setup_guard

            key = setup_guard(env)
        port = free_port()
        proc = start(uvicorn(port, "orca.asgi:application", "--lifespan", "on", "--http",
                             "orca.server:HttpProtocol"), env, logs / "orca.log")  # fmt: skip
        wait_port(port, proc, 60)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        status, answer = post(url, body_for(MODEL_ID, stream), key)
        if status != 200:
            raise RuntimeError(f"Orca answered {status}: {answer[:300]!r}")
        body = body_for(MODEL_ID, stream)
        if not held:  # warm up before recording
            loadgen.run(url, key, body, concurrency, 2, 0, stream)
        collapsed = out_dir / f"profile-{stamp}.txt"
        flame = out_dir / f"profile-{stamp}.svg"
        record = [spy, "record", "--pid", str(proc.pid), "--rate", "250", "--threads"]
        record.append("--nonblocking")  # never pause the worker (--native would, heavily)
        taken: dict = {}

        @contextlib.contextmanager
        def recording():
            spies = [
                subprocess.Popen([*record, "--format", "raw", "-o", str(collapsed)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                subprocess.Popen([*record, "--format", "flamegraph", "-o", str(flame)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            ]  # fmt: skip
            time.sleep(1)
            before, started = cpu_times(), time.monotonic()
            yield
            taken["shares"] = cpu_shares(
                before, cpu_times(), time.monotonic() - started, proc.pid, mock.pid
            )
            for spy_proc in spies:
                spy_proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
                spy_proc.wait(60)

        if held:
            opts = streamload.settings() | {"seconds": seconds}
            target = streamload.Target("orca", url, key, MODEL_ID, proc.pid)
            rss_of = lambda pid: (rss_mb(pid), None)  # noqa: E731
            row = streamload.measure(target, body_for(MODEL_ID, False), mock.pid, opts,
                                     cpu_seconds, rss_of, recording)  # fmt: skip
            head = f"Orca, {row['flowing']} held streams: quick p50 "
            head += f"{streamload.fmt(row['quick_p50_ms'])} ms, p99 "
            head += f"{streamload.fmt(row['quick_p99_ms'])} ms; {row['chunks_per_s']:.0f} "
            head += f"chunks/s, {streamload.fmt(row['cpu_us_per_chunk'], 1)} µs CPU per chunk"
        else:
            with recording():
                result = loadgen.run(url, key, body, concurrency, seconds, 0, stream)
            mode = "stream" if stream else "non-stream"
            head = f"Orca {mode} c={concurrency}: {result['rps']:.0f} req/s"
            head += f", p50 {result['p50_ms']:.2f} ms"
        shares = taken["shares"]
        summary = head + "\n\n" + shares + "\n" + summarise(collapsed)
        report = out_dir / f"profile-{stamp}.md"
        report.write_text(summary)
        print(summary)
        print(f"written: results/profile-{stamp}.md, .svg (flame graph) and .txt (raw stacks)")
        return 0
    finally:
        stop_all()
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
