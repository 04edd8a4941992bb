"""Load generators: wrk (with a Lua script for the POST) when installed, else asyncio+aiohttp.

Both return {"requests", "errors", "rps", "p50_ms", "p99_ms", "ttfb_p50_ms"}. Streams always
use the Python generator, which times the first body byte (TTFB) of each response.
"""

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time

import aiohttp

LUA = """wrk.method = "POST"
wrk.body = [==[%(body)s]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCHJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,"
    .. "\\"p99_us\\":%%d,\\"errors\\":%%d}\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(pct / 100 * (len(values) - 1)))]


def run_wrk(url: str, key: str, body: bytes, concurrency: int, seconds: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA % {"body": body.decode(), "key": key})
        script = fh.name
    threads = 1 if concurrency == 1 else 2
    cmd = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{max(1, int(seconds))}s"]
    cmd += ["--timeout", "10s", "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    match = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk gave no result: {out[-300:]}")
    data = json.loads(match.group(1))
    secs = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "errors": data["errors"],
        "rps": (data["requests"] - data["errors"]) / secs if secs else 0.0,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "ttfb_p50_ms": None,
        "tool": "wrk",
    }


async def _drive(url, key, body, concurrency, seconds, stream) -> dict:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    ttfbs: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        if stream:
                            await resp.content.readany()
                            t1 = time.perf_counter()
                            async for _ in resp.content.iter_any():
                                pass
                        else:
                            await resp.read()
                        ok = resp.status == 200
                except (TimeoutError, aiohttp.ClientError):
                    ok = False
                t2 = time.perf_counter()
                if not ok:
                    errors += 1
                    continue
                latencies.append(t2 - t0)
                if stream:
                    ttfbs.append(t1 - t0)

        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))), seconds + 40
        )
        elapsed = time.perf_counter() - started
    p50, p99, ttfb = (
        _percentile(latencies, 50),
        _percentile(latencies, 99),
        _percentile(ttfbs, 50),
    )
    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": p50 * 1000 if p50 is not None else None,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "ttfb_p50_ms": ttfb * 1000 if ttfb is not None else None,
        "tool": "python",
    }


_STAMP = re.compile(rb"t=([a-p]+) ")  # bench/mock_upstream.py's letter_stamp
_LETTERS_TO_HEX = bytes.maketrans(b"abcdefghijklmnop", b"0123456789abcdef")


async def _chunk_delays(url: str, key: str, model: str, requests: int, gap_ms: int) -> list[float]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": f"bench-stamp-{gap_ms}"}],
            "max_tokens": 16,
            "stream": True,
            "user": f"bench-stamp-{gap_ms}",
        }
    ).encode()
    delays: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for _ in range(requests):
            async with session.post(url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"stamped stream answered {resp.status}")
                async for data in resp.content.iter_any():
                    now = time.time_ns()
                    delays.extend(
                        (now - int(m.translate(_LETTERS_TO_HEX), 16)) / 1e6
                        for m in _STAMP.findall(data)
                    )
    return delays


def chunk_delay(url: str, key: str, model: str, requests: int = 30, gap_ms: int = 20) -> dict:
    """How long each streamed chunk takes from the moment the mock writes it until the
    client reads it (one stream at a time, chunks `gap_ms` apart, so nothing queues)."""
    delays = asyncio.run(_chunk_delays(url, key, model, requests, gap_ms))
    p50, p99 = _percentile(delays, 50), _percentile(delays, 99)
    return {"chunks": len(delays), "chunk_p50_ms": p50, "chunk_p99_ms": p99}


def run_python(url, key, body, concurrency, seconds, stream) -> dict:
    return asyncio.run(_drive(url, key, body, concurrency, seconds, stream))


def run(url, key, body, concurrency, seconds, warmup, stream) -> dict:
    """Warm up (results dropped), then measure for `seconds`."""
    use_wrk = have_wrk() and not stream
    if warmup > 0:
        if use_wrk:
            run_wrk(url, key, body, concurrency, warmup)
        else:
            run_python(url, key, body, concurrency, warmup, stream)
    if use_wrk:
        return run_wrk(url, key, body, concurrency, seconds)
    return run_python(url, key, body, concurrency, seconds, stream)
