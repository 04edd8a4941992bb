"""`make bench-clients`: CPU per upstream call, aiohttp's client against Orca's own.

Starts the benchmark's mock upstream, then in this one process posts the same chat body
through each client at concurrency 64 under uvloop (as `make serve` runs) and reports
this process's CPU time per call; the mock's CPU is not counted. This is the measurement
behind routing/providers/http.py (docs/performance.md). Env: CLIENT_CALLS (20000).
"""

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import django
import uvloop

from bench.run import start_mock, stop_all

CONCURRENCY = 64
BODY = b'{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}'
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench"}


async def aiohttp_calls(url: str, calls: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()

        return await _measure(one, calls)


async def orca_calls(url: str, calls: int) -> float:
    from routing.providers import http
    from routing.providers.base import Timeouts

    timeouts = Timeouts(connect=5, first_byte=30, idle=30, total=60)

    async def one() -> None:
        response = await http.post(url, BODY, HEADERS, timeouts)
        try:
            await response.read()
        finally:
            response.close()

    try:
        return await _measure(one, calls)
    finally:
        await http.close()


async def _measure(one, calls: int) -> float:
    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    await asyncio.gather(*(worker(100) for _ in range(CONCURRENCY)))  # warm up, fill pools
    started = time.process_time()
    await asyncio.gather(*(worker(calls // CONCURRENCY) for _ in range(CONCURRENCY)))
    return (time.process_time() - started) / (calls // CONCURRENCY * CONCURRENCY)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orca.settings")
    os.environ["ORCA_UPSTREAM_ALLOW_PRIVATE"] = "true"  # the mock is on 127.0.0.1 (SSRF guard)
    django.setup()
    calls = int(os.environ.get("CLIENT_CALLS", "20000"))
    logs = Path(tempfile.mkdtemp(prefix="orca-bench-clients-"))
    _, port = start_mock(logs)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        results: dict[str, list[float]] = {"aiohttp": [], "orca": []}
        for _ in range(3):  # alternate, so a noisy neighbour hits both alike
            results["aiohttp"].append(uvloop.run(aiohttp_calls(url, calls)))
            results["orca"].append(uvloop.run(orca_calls(url, calls)))
    finally:
        stop_all()
    print(f"CPU per call at concurrency {CONCURRENCY}, best of 3 ({calls} calls each):")
    best = {name: min(values) * 1e6 for name, values in results.items()}
    for name, micros in best.items():
        print(f"  {name:8s} {micros:7.1f} µs")
    print(f"  orca / aiohttp: {best['orca'] / best['aiohttp']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
