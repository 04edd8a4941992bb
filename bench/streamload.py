"""Stream load: one worker carrying many long streams while quick calls go through it.

For each target, BENCH_STREAMS (1,000) streams are opened by reader processes (raw asyncio
protocols, BENCH_STREAM_READERS of them, so the client is not what saturates) and held
open by the mock (a stamped chunk every BENCH_STREAM_GAP_MS, 20 ms). Once they all flow,
this process sends quick non-stream calls one at a time, one every BENCH_QUICK_INTERVAL_MS
(20 ms), for BENCH_STREAM_LOAD_SECONDS (20 s). Reported: the quick calls' p50/p99/max,
each streamed chunk's trip from the mock's write to the reader's read (p50/p99), the
target's CPU (cores) and RSS, and the mock's and the readers' CPU. The "direct" row points
readers and quick calls at the mock itself: the mock's own cost under the same load.

Reader mode (a child process): python -m bench.streamload URL KEY MODEL COUNT GAP_MS.
It prints READY once every stream has delivered a stamped chunk, records chunk delays
between GO and STOP lines on stdin, then prints one JSON line and exits.
"""

import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from array import array
from contextlib import nullcontext
from typing import NamedTuple
from urllib.parse import urlsplit

import aiohttp

_STAMP = re.compile(rb't=(\d+)"')


def raise_fd_limit() -> None:
    """Thousands of sockets per process: lift the soft limit to the hard one (inherited by
    the children this process starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def settings() -> dict:
    return {
        "streams": int(os.environ.get("BENCH_STREAMS", "1000")),
        "seconds": float(os.environ.get("BENCH_STREAM_LOAD_SECONDS", "20")),
        "gap_ms": int(os.environ.get("BENCH_STREAM_GAP_MS", "20")),
        "quick_interval_ms": float(os.environ.get("BENCH_QUICK_INTERVAL_MS", "20")),
        "readers": max(1, int(os.environ.get("BENCH_STREAM_READERS", "2"))),
    }


class Target(NamedTuple):
    name: str
    url: str
    key: str
    model: str
    pid: int


# --- the reader process ---------------------------------------------------------------
class _Reader(asyncio.Protocol):
    """One held stream; finds the stamps in whatever bytes arrive (chunk framing and SSE
    events are not parsed: a stamp is the only thing looked for)."""

    def __init__(self, request: bytes, shared: "_Readers") -> None:
        self.request = request
        self.shared = shared
        self.tail = b""
        self.head_seen = False
        self.flowing = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now_us = time.time_ns() // 1000
        shared = self.shared
        if not self.head_seen:
            self.head_seen = True
            if not data.startswith(b"HTTP/1.1 200"):
                shared.failed += 1
                self.transport.close()
                return
        buf = self.tail + data if self.tail else data
        last = 0
        for match in _STAMP.finditer(buf):
            last = match.end()
            if shared.recording:
                shared.delays.append(now_us - int(match[1]) // 1000)
        if last:
            if not self.flowing:
                self.flowing = True
                shared.flowing += 1
            shared.chunks += 1
        self.tail = buf[last:][-64:]

    def connection_lost(self, exc) -> None:
        if not self.shared.closing:
            self.shared.dropped += 1


class _Readers:
    def __init__(self) -> None:
        self.delays = array("q")  # microseconds
        self.recording = False
        self.closing = False
        self.flowing = self.failed = self.dropped = self.chunks = 0


async def _read_streams(url: str, key: str, model: str, count: int, gap_ms: int) -> dict:
    parts = urlsplit(url)
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": f"bench-hold-{gap_ms}"}],
            "stream": True,
            "user": f"bench-hold-{gap_ms}",
        }
    ).encode()
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    shared = _Readers()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "STOP")

    threading.Thread(target=stdin, daemon=True).start()
    transports = []
    for i in range(count):  # opened in small batches: a thousand at once is a SYN flood
        transport, _ = await loop.create_connection(
            lambda: _Reader(request, shared), parts.hostname, parts.port
        )
        transports.append(transport)
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    deadline = time.monotonic() + 60
    while shared.flowing + shared.failed < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    print(f"READY {shared.flowing} {shared.failed}", flush=True)
    cpu0 = time.process_time()
    started = chunks0 = 0.0
    while (command := await commands.get()) != "STOP":
        if command == "GO":
            shared.recording = True
            cpu0, started, chunks0 = time.process_time(), time.monotonic(), shared.chunks
    shared.recording = False
    elapsed = time.monotonic() - started if started else 0.0
    result = {
        "delays_us": shared.delays.tolist(),
        "flowing": shared.flowing,
        "failed": shared.failed,
        "dropped": shared.dropped,
        "reads_per_s": (shared.chunks - chunks0) / elapsed if elapsed else None,
        "cpu_cores": (time.process_time() - cpu0) / elapsed if elapsed else None,
    }
    shared.closing = True
    for transport in transports:
        transport.abort()
    return result


def reader_main(argv: list[str]) -> int:
    url, key, model, count, gap_ms = argv
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(_read_streams(url, key, model, int(count), int(gap_ms)))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# --- the quick calls --------------------------------------------------------------------
async def _quick_calls(url: str, key: str, body: bytes, seconds: float, interval: float) -> dict:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        end = time.perf_counter() + seconds
        due = time.perf_counter()
        while due < end:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1
            due = max(due + interval, time.perf_counter())  # one at a time, never a burst
    return {"latencies": latencies, "errors": errors}


def _pct(values, pct: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(pct / 100 * (len(values) - 1)))]


# --- one target ---------------------------------------------------------------------------
def measure(
    target, quick_body: bytes, mock_pid: int, opts: dict, cpu_of, rss_of, during=nullcontext
) -> dict:
    """One target under the stream load. `target` has url, key, model, pid; cpu_of(pid)
    and rss_of(pid) read the process tree's CPU seconds and (current, peak) RSS in MB;
    `during()` is a context entered for the timed part (make profile records in it)."""
    per_reader = [opts["streams"] // opts["readers"]] * opts["readers"]
    per_reader[0] += opts["streams"] - sum(per_reader)
    command = [sys.executable, "-m", "bench.streamload", target.url, target.key, target.model]
    readers = [
        subprocess.Popen(
            [*command, str(count), str(opts["gap_ms"])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for count in per_reader
        if count
    ]
    try:
        flowing = failed = 0
        for proc in readers:
            words = proc.stdout.readline().split()
            if not words or words[0] != "READY":
                raise RuntimeError("a stream reader did not start")
            flowing, failed = flowing + int(words[1]), failed + int(words[2])
        time.sleep(1.0)  # let the last streams settle before timing anything
        for proc in readers:
            proc.stdin.write("GO\n")
            proc.stdin.flush()
        interval = opts["quick_interval_ms"] / 1000
        with during():
            cpu0, mock0 = cpu_of(target.pid), cpu_of(mock_pid)
            started = time.monotonic()
            calls = _quick_calls(target.url, target.key, quick_body, opts["seconds"], interval)
            quick = asyncio.run(calls)
            elapsed = time.monotonic() - started
            cpu, mock_cpu = cpu_of(target.pid) - cpu0, cpu_of(mock_pid) - mock0
        rss, peak = rss_of(target.pid)
        results = []
        for proc in readers:
            proc.stdin.write("STOP\n")
            proc.stdin.flush()
            results.append(json.loads(proc.stdout.readline()))
    finally:
        for proc in readers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    delays = [d / 1000 for res in results for d in res["delays_us"]]
    lat = quick["latencies"]
    return {
        "target": target.name,
        "streams": opts["streams"],
        "flowing": flowing,
        "failed": failed,
        "dropped": sum(res["dropped"] for res in results),
        "quick_calls": len(lat),
        "quick_errors": quick["errors"],
        "quick_p50_ms": _pct(lat, 50),
        "quick_p99_ms": _pct(lat, 99),
        "quick_max_ms": max(lat) if lat else None,
        "chunks": len(delays),
        "chunks_per_s": len(delays) / elapsed if elapsed else None,
        "chunk_p50_ms": _pct(delays, 50),
        "chunk_p99_ms": _pct(delays, 99),
        "cpu_cores": cpu / elapsed,
        # CPU per relayed chunk: steadier than latency when neighbours take the cores
        "cpu_us_per_chunk": cpu * 1e6 / len(delays) if delays else None,
        "rss_mb": rss,
        "peak_rss_mb": peak,
        "mock_cpu_cores": mock_cpu / elapsed,
        "reader_cpu_cores": sum(res["cpu_cores"] or 0 for res in results),
        "reader_reads_per_s": sum(res["reads_per_s"] or 0 for res in results),
    }


def run_all(targets, quick_body_for, mock_pid: int, cpu_of, rss_of) -> list[dict]:
    opts = settings()
    if opts["streams"] <= 0:
        return []
    print(
        f"stream load: {opts['streams']} streams, a chunk every {opts['gap_ms']} ms, a quick "
        f"call every {opts['quick_interval_ms']:g} ms for {opts['seconds']:g} s per target"
    )
    rows = []
    for target in targets:
        try:
            row = measure(target, quick_body_for(target.model), mock_pid, opts, cpu_of, rss_of)
        except Exception as exc:
            print(f"  {target.name} stream load: failed: {exc}")
            continue
        rows.append(row)
        print(
            f"  {row['target']:<8} quick p50 {fmt(row['quick_p50_ms'])} p99 "
            f"{fmt(row['quick_p99_ms'])} max {fmt(row['quick_max_ms'])} ms; chunk p50 "
            f"{fmt(row['chunk_p50_ms'])} p99 {fmt(row['chunk_p99_ms'])} ms; "
            f"{row['flowing']}/{row['streams']} streams, CPU {fmt(row['cpu_cores'])} cores"
        )
    return rows


def fmt(value, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def markdown(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    opts = settings()
    lines = [
        "",
        f"Stream load (one worker, {opts['streams']} held streams, a chunk every "
        f"{opts['gap_ms']} ms each; a quick non-stream call every "
        f"{opts['quick_interval_ms']:g} ms, one at a time, for {opts['seconds']:g} s; "
        "direct = the mock alone):",
        "",
        "| target | streams flowing | quick calls | quick p50 ms | quick p99 ms | quick max ms "
        "| chunk p50 ms | chunk p99 ms | chunks/s | CPU cores | CPU µs/chunk | RSS MB "
        "| mock CPU cores | reader CPU cores | errors |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        errors = r["quick_errors"] + r["failed"] + r["dropped"]
        cells = [r["target"], f"{r['flowing']}/{r['streams']}", str(r["quick_calls"])]
        cells += [fmt(r[k]) for k in ("quick_p50_ms", "quick_p99_ms", "quick_max_ms")]
        cells += [fmt(r["chunk_p50_ms"]), fmt(r["chunk_p99_ms"]), fmt(r["chunks_per_s"], 0)]
        cells += [fmt(r["cpu_cores"]), fmt(r["cpu_us_per_chunk"], 1), fmt(r["rss_mb"], 1)]
        cells.append(fmt(r["mock_cpu_cores"]))
        cells += [fmt(r["reader_cpu_cores"]), str(errors)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    sys.exit(reader_main(sys.argv[1:]))
