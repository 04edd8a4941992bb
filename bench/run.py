"""`make bench`: mock upstream, Orca, the bare ASGI proxy and LiteLLM under the same load.

Prints one table and writes it to results/bench-<timestamp>.{json,md}. Asserts nothing.
Env: BENCH_SECONDS (10), BENCH_WARMUP (2), BENCH_CHUNK_DELAY_MS (0), DATABASE_URL and
REDIS_URL (then database `orca_bench` on that server and Redis db 7), BENCH_SKIP_LITELLM=1,
BENCH_ONLY (a comma-separated subset of direct,bare,orca,litellm, for quick comparisons),
BENCH_SOAK_SECONDS (300; Orca under alternating load while its RSS is sampled; 0 skips it),
BENCH_ROUNDS (5: each measurement is split into this many rounds, the targets taking turns),
BENCH_BASELINE (a git revision: Orca at that commit joins the rounds as target orca@<rev>, for
before/after ratios from one run; it runs on this checkout's virtualenv).
Also measured: each streamed chunk's trip from the mock to the client (mock_upstream's
stamped stream), for every target, and the stream load (bench/streamload.py: BENCH_STREAMS
held streams with quick calls beside them; BENCH_STREAM_LOAD_ONLY=1 runs only that).
After chat's rows, the same four runs on POST /v1/responses ("resp non-stream", "resp stream"):
Orca's catalog model lists endpoint types ["chat", "responses"], so Responses calls pass
through to the mock's /responses; `direct` is the mock alone. The bare proxy, LiteLLM and a
baseline without a native Responses upstream get n/a rows. The output adds a line per Orca
target: Responses pass-through CPU per request against chat's, mode by mode.
"""

import atexit
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench import loadgen, streamload
from bench.guard import GUARDED, PROMPTED, guarded_vs_plain, same_worker_targets, scan_figures
from bench.processes import (  # noqa: F401  (re-exported: servers.py, clients.py, profile.py)
    MODEL_ID,
    PROCS,
    PY,
    ROOT,
    cpu_seconds,
    free_port,
    knows_native_responses,
    orca_env,
    peak_rss_mb,
    post,
    process_cpu,
    rss_mb,
    setup_orca,
    start,
    start_mock,
    stop,
    stop_all,
    uvicorn,
    wait_port,
    with_path,
)

LITELLM_VENV = ROOT / "bench" / ".litellm-venv"


# --- LiteLLM --------------------------------------------------------------------------
def litellm_bin(log: Path) -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    deadline = time.monotonic() + 300
    with open(log, "ab") as fh:
        if not (LITELLM_VENV / "bin" / "python").exists():
            subprocess.run(["python3", "-m", "venv", str(LITELLM_VENV)],
                           check=True, timeout=120, stdout=fh, stderr=fh)  # fmt: skip
        pip = [str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", "litellm[proxy]"]
        left = max(10, deadline - time.monotonic())
        subprocess.run(pip, check=True, timeout=left, stdout=fh, stderr=fh)
    if not exe.exists():
        raise RuntimeError("no litellm executable after install")
    return exe


# --- the run --------------------------------------------------------------------------
def body_for(model: str, stream: bool, api: str = "chat") -> bytes:
    """The benchmark's request: Chat Completions, or with api="responses" the same prompt
    and output cap as a Responses request."""
    if api == "responses":
        data = {"model": model, "input": "Say hello.", "max_output_tokens": 16}
    else:
        data = {
            "model": model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 16,
        }
    if stream:
        data["stream"] = True
    return json.dumps(data).encode()


APIS = ("chat", "responses")
SETTLE_SECONDS = float(os.environ.get("BENCH_SETTLE_SECONDS", "1.5"))
MODES = {  # (api, stream) -> the row's mode; chat's two are the original rows
    ("chat", False): "non-stream",
    ("chat", True): "stream",
    ("responses", False): "resp non-stream",
    ("responses", True): "resp stream",
}


def wanted(name: str) -> bool:
    only = os.environ.get("BENCH_ONLY", "")
    return not only or name in only.split(",")


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    key: str
    model: str
    pid: int
    # POST /v1/responses on this target, or None when it has no Responses row (n/a, why)
    responses_url: str | None = None
    responses_na: str = "not measured"

    def url_for(self, api: str) -> str | None:
        return self.url if api == "chat" else self.responses_url


def _median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    return statistics.median(values) if values else None


def measure_all(targets: list[Target], seconds: float, warmup: float, rounds: int, rows) -> None:
    """Every target under the same load, in interleaved rounds: each (mode, concurrency)
    runs `rounds` times per target, taking turns, so a neighbour that slows the machine
    for a while slows every target alike instead of whichever happened to be running."""
    slice_seconds = max(1.0, seconds / rounds)
    for api in APIS:  # chat's rows first, as they always were; then Responses'
        for stream in (False, True):
            for conc in (1, 64):
                _measure_mode(targets, api, stream, conc, warmup, rounds, slice_seconds, rows)


def _measure_mode(targets, api, stream, conc, warmup, rounds, slice_seconds, rows) -> None:
    mode = MODES[api, stream]
    serving = [t for t in targets if t.url_for(api)]
    runs: dict[str, list[tuple[dict, float]]] = {t.name: [] for t in serving}
    for t in serving:
        if warmup > 0:
            body = body_for(t.model, stream, api)
            loadgen.run(t.url_for(api), t.key, body, conc, warmup, 0, stream)
    for r in range(rounds if serving else 0):  # none serving: only n/a rows
        for t in serving[r % len(serving) :] + serving[: r % len(serving)]:
            try:
                before = cpu_seconds(t.pid)
                body = body_for(t.model, stream, api)
                res = loadgen.run(t.url_for(api), t.key, body, conc, slice_seconds, 0, stream)
                # Until the slice's usage rows are written: a worker's background writes
                # count for the slice that made them, not for the next (orca+guard and
                # orca+prompt are orca's own worker, and follow it in each round).
                time.sleep(SETTLE_SECONDS)
                runs[t.name].append((res, cpu_seconds(t.pid) - before))
            except Exception as exc:
                print(f"  {t.name} {mode} c={conc}: failed: {exc}")
    for t in targets:
        row = {"target": t.name, "mode": mode, "concurrency": conc}
        if api != "chat":
            row["api"] = api
        if t.name not in runs:
            rows.append(row | _not_applicable(t.responses_na))
            print(f"  {t.name:<8} {mode:<15} c={conc:<3} n/a ({t.responses_na})")
        elif runs[t.name]:
            rows.append(row | _combine(runs[t.name]))
            print_row(rows[-1])


def _not_applicable(why: str) -> dict:
    """A row for a target that does not serve this API (the bare proxy, LiteLLM, a baseline
    without a native Responses upstream): every figure None, the reason in `na`."""
    return {
        "requests": 0,
        "errors": 0,
        "rps": None,
        "p50_ms": None,
        "p99_ms": None,
        "ttfb_p50_ms": None,
        "rounds": 0,
        "rps_by_round": [],
        "cpu_ms_per_req": None,
        "tool": "n/a",
        "na": why,
    }


def _combine(runs: list[tuple[dict, float]]) -> dict:
    """One row from several rounds: totals for counts, rates and CPU; medians for latency."""
    served = sum(res["requests"] - res["errors"] for res, _ in runs)
    busy = sum((res["requests"] - res["errors"]) / res["rps"] for res, _ in runs if res["rps"])
    cpu = sum(spent for _, spent in runs)
    return {
        "requests": sum(res["requests"] for res, _ in runs),
        "errors": sum(res["errors"] for res, _ in runs),
        "rps": served / busy if busy else 0.0,
        "p50_ms": _median([res["p50_ms"] for res, _ in runs]),
        "p99_ms": _median([res["p99_ms"] for res, _ in runs]),
        "ttfb_p50_ms": _median([res["ttfb_p50_ms"] for res, _ in runs]),
        "rounds": len(runs),
        "rps_by_round": [round(res["rps"]) for res, _ in runs],
        # CPU per request is steadier than req/s on a shared machine: neighbours steal
        # wall time, not the instructions a request costs.
        "cpu_ms_per_req": cpu * 1000 / served if served else None,
        "tool": runs[0][0]["tool"],
    }


def print_row(row: dict) -> None:
    print(
        f"  {row['target']:<8} {row['mode']:<{15 if row.get('api') else 10}}"
        f" c={row['concurrency']:<3}"
        f" {row['rps']:>9.0f} req/s  p50 {fmt(row['p50_ms'])} ms"
        f"  CPU {fmt(row['cpu_ms_per_req'], 3)} ms/req  errors {row['errors']}"
    )


def probe_chunks_and_memory(targets: list[Target], rows: list[dict]) -> None:
    for t in targets:
        try:
            probe = loadgen.chunk_delay(t.url, t.key, t.model)
        except Exception as exc:
            print(f"  {t.name} chunk delay: failed: {exc}")
        else:
            CHUNK_ROWS.append({"target": t.name} | probe)
            print(f"  {t.name:<8} chunk delay p50 {fmt(probe['chunk_p50_ms'], 3)} ms")
        rss = peak_rss_mb(t.pid)
        for row in rows:
            if row["target"] == t.name:
                row["peak_rss_mb"] = rss


CHUNK_ROWS: list[dict] = []


def soak(url: str, key: str, model: str, pid: int, seconds: float) -> dict:
    """Alternate 30-second rounds of non-stream (c=64) and stream (c=16) load for `seconds`,
    reading the gateway's RSS after each; growth is measured from the end of the first
    round (caches warm) to the end."""
    samples: list[float] = []
    requests = errors = 0
    deadline = time.monotonic() + seconds
    stream = False
    while time.monotonic() < deadline:
        left = min(30.0, deadline - time.monotonic())
        if left < 1:
            break
        conc = 16 if stream else 64
        res = loadgen.run(url, key, body_for(model, stream), conc, left, 0, stream)
        requests += res["requests"]
        errors += res["errors"]
        samples.append(rss_mb(pid))
        print(f"  soak: {requests:,} requests, RSS {samples[-1]:.1f} MB")
        stream = not stream
    start, end = samples[0], samples[-1]
    return {
        "seconds": seconds,
        "requests": requests,
        "errors": errors,
        "rss_after_first_round_mb": start,
        "rss_end_mb": end,
        "rss_max_mb": max(samples),
        "growth_pct": round(100 * (end - start) / start, 1),
        "samples_mb": samples,
    }


def fmt(value, digits=2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def finish(rows: list[dict], meta: dict, soaked: dict | None = None, held=()) -> None:
    direct = {(r["mode"], r["concurrency"]): r for r in rows if r["target"] == "direct"}
    for row in rows:
        base = direct.get((row["mode"], row["concurrency"]))
        for field, out in (("p50_ms", "added_p50_ms"), ("ttfb_p50_ms", "added_ttfb_ms")):
            if base and row[field] is not None and base[field] is not None:
                row[out] = row[field] - base[field]
            else:
                row[out] = None
    head = "| target | mode | conc | req/s | p50 ms | p99 ms | added p50 ms | TTFB p50 ms "
    head += "| added TTFB ms | CPU ms/req | peak RSS MB | errors | tool |"
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        if r.get("na"):
            cells = [r["target"], r["mode"], str(r["concurrency"])] + ["n/a"] * 9
            lines.append("| " + " | ".join([*cells, f"n/a: {r['na']}"]) + " |")
            continue
        cells = [r["target"], r["mode"], str(r["concurrency"]), fmt(r["rps"], 0)]
        cells += [fmt(r[k]) for k in ("p50_ms", "p99_ms", "added_p50_ms", "ttfb_p50_ms")]
        cells += [fmt(r["added_ttfb_ms"]), fmt(r.get("cpu_ms_per_req"), 3)]
        cells += [fmt(r.get("peak_rss_mb"), 1), str(r["errors"])]
        cells.append(r["tool"])
        lines.append("| " + " | ".join(cells) + " |")
    lines += responses_vs_chat(rows)
    lines += guarded_vs_plain(rows)
    if any(r["target"] == GUARDED for r in rows):
        lines += scan_figures()
    direct_chunk = next((c for c in CHUNK_ROWS if c["target"] == "direct"), None)
    lines += [
        "",
        "Streamed chunk delay (mock writes a chunk -> client reads it; c=1, 20 ms apart):",
        "",
    ]
    lines += ["| target | chunks | p50 ms | p99 ms | added p50 ms |", "|---|---|---|---|---|"]
    for c in CHUNK_ROWS:
        added = None
        if (
            direct_chunk
            and c["chunk_p50_ms"] is not None
            and direct_chunk["chunk_p50_ms"] is not None
        ):
            added = c["chunk_p50_ms"] - direct_chunk["chunk_p50_ms"]
        c["added_chunk_p50_ms"] = added
        lines.append(
            f"| {c['target']} | {c['chunks']} | {fmt(c['chunk_p50_ms'], 3)} | "
            f"{fmt(c['chunk_p99_ms'], 3)} | {fmt(added, 3)} |"
        )
    if soaked:
        lines += ["", f"Orca soak ({soaked['seconds']:.0f} s, {soaked['requests']:,} requests, "
                  f"{soaked['errors']} errors): RSS {soaked['rss_after_first_round_mb']} MB after "
                  f"the first round, {soaked['rss_end_mb']} MB at the end (max "
                  f"{soaked['rss_max_mb']} MB), growth {soaked['growth_pct']} %"]  # fmt: skip
    lines += streamload.markdown(list(held))
    table = "\n".join(lines)
    print("\n" + table + "\n")
    out_dir = ROOT / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (out_dir / f"bench-{stamp}.json").write_text(
        json.dumps(
            {"meta": meta, "rows": rows, "chunk_delay": CHUNK_ROWS, "soak": soaked}
            | {"stream_load": list(held)},
            indent=2,
        )
    )
    notes = "\n".join(f"- {k}: {v}" for k, v in meta.items())
    (out_dir / f"bench-{stamp}.md").write_text(f"# Orca benchmark {stamp}\n\n{notes}\n\n{table}\n")
    print(f"written: results/bench-{stamp}.json and .md")


def responses_vs_chat(rows: list[dict]) -> list[str]:
    """Per Orca target, Responses pass-through CPU per request against chat's for the same
    mode and concurrency (the gateway's own CPU: the mock's is not in either)."""
    by = {(r["target"], r["mode"], r["concurrency"]): r for r in rows}
    lines: list[str] = []
    for name in dict.fromkeys(r["target"] for r in rows if r["target"].startswith("orca")):
        parts = []
        for stream in (False, True):
            for conc in (1, 64):
                chat = by.get((name, MODES["chat", stream], conc), {}).get("cpu_ms_per_req")
                resp = by.get((name, MODES["responses", stream], conc), {})
                label = f"{'stream' if stream else 'non-stream'} c={conc}"
                if resp.get("na"):
                    parts.append(f"{label} n/a")
                elif chat and resp.get("cpu_ms_per_req") is not None:
                    cpu = resp["cpu_ms_per_req"]
                    parts.append(
                        f"{label} {fmt(cpu, 3)} vs {fmt(chat, 3)} ms/req "
                        f"({cpu / chat:.2f}x, {cpu - chat:+.3f} ms)"
                    )
        if parts:
            lines.append(f"- {name}: " + "; ".join(parts))
    if lines:
        lines[:0] = ["", "Responses pass-through CPU per request vs chat's (same mode and "
                     "concurrency; the gateway's own CPU, responses vs chat):", ""]  # fmt: skip
    return lines


def start_orca(name: str, tree: Path, env: dict, mock_port: int, logs: Path) -> Target:
    """One Orca worker from the checkout at ``tree``, served as `make serve` serves it."""
    # The held streams each keep an upstream connection; quick calls need more.
    limit = str(max(1000, streamload.settings()["streams"] + 100))
    env.setdefault("ORCA_UPSTREAM_MAX_CONNECTIONS", limit)
    key = setup_orca(env, mock_port, tree)
    port = free_port()
    app = "orca.asgi:application"
    http = ("--http", "orca.server:HttpProtocol")  # as `make serve`
    if not (tree / "orca" / "server.py").exists():  # commits before the protocol existed
        http = ("--http", "httptools")
    log = logs / f"{name.replace('@', '-')}.log"
    proc = start(uvicorn(port, app, "--lifespan", "on", *http), env, log, tree)
    wait_port(port, proc, 60)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    status, answer = post(url, body_for(MODEL_ID, False), key)
    if status != 200:
        raise RuntimeError(f"{name} answered {status}: {answer[:300]!r}")
    print(f"{name} on :{port} (database {env['DATABASE_URL'].split(':')[0]})")
    responses_url, why = None, "no native Responses upstream at this commit"
    if knows_native_responses(tree):
        responses_url = f"http://127.0.0.1:{port}/v1/responses"
        why = check_responses(responses_url, key, MODEL_ID)
        if why:
            print(f"{name}: Responses rows n/a: {why}")
            responses_url = None
    return Target(name, url, key, MODEL_ID, proc.pid, responses_url, why or "")


def check_responses(url: str, key: str, model: str) -> str:
    """Why POST /v1/responses at `url` does not pass through to the mock ("" when it does:
    the mock's own response id comes back, and a stream ends with response.completed)."""
    from bench.mock_upstream import RESPONSE_ID

    try:
        return _check_responses(url, key, model, RESPONSE_ID)
    except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
        return f"failed: {exc}"


def _check_responses(url: str, key: str, model: str, response_id: str) -> str:
    status, answer = post(url, body_for(model, False, "responses"), key)
    if status != 200:
        return f"answered {status}: {answer[:200]!r}"
    try:
        data = json.loads(answer)
    except ValueError:
        return f"answered no JSON: {answer[:200]!r}"
    if not isinstance(data, dict) or data.get("id") != response_id:
        got = data.get("id") if isinstance(data, dict) else data
        return f"not passed through (id {got!r}, not the mock's {response_id!r})"
    status, answer = post(url, body_for(model, True, "responses"), key)
    if status != 200 or b"event: response.completed" not in answer:
        return f"stream answered {status} without response.completed: {answer[-200:]!r}"
    return ""


def baseline_tree(rev: str, tmp: Path) -> Path:
    """A detached worktree of ``rev`` (BENCH_BASELINE), run on this checkout's virtualenv."""
    tree = tmp / "baseline"
    git = ["git", "-C", str(ROOT)]
    subprocess.run([*git, "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
    atexit.register(
        lambda: subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)
    )
    # The virtualenv's editable install maps each app package to this checkout as well, so
    # Django's admin autodiscovery would import an admin.py the older tree does not have
    # (against that tree's models). An empty one stands in for it.
    for app in ("orca", "workspaces", "routing", "billing", "guardrails", "prompts"):
        if (ROOT / app / "admin.py").exists() and not (tree / app / "admin.py").exists():
            (tree / app / "admin.py").write_text('"""Stand-in: this commit had none."""\n')
    return tree


def main() -> int:
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    soak_seconds = float(os.environ.get("BENCH_SOAK_SECONDS", "300"))
    rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "5")))
    soaked = None
    warmup = float(os.environ.get("BENCH_WARMUP", "2"))
    tmp = Path(tempfile.mkdtemp(prefix="orca-bench-"))
    logs = ROOT / "results" / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    meta = {
        "seconds": seconds,
        "rounds": rounds,
        "warmup": warmup,
        "chunk_delay_ms": os.environ.get("BENCH_CHUNK_DELAY_MS", "0"),
        "load_generator": "wrk (non-stream) + python (stream)" if loadgen.have_wrk() else "python",
        "cpus": os.cpu_count(),
        "orca_database": "postgresql" if os.environ.get("DATABASE_URL") else "sqlite",
        "orca_redis": bool(os.environ.get("REDIS_URL")),
    }
    cleanups: list = []
    streamload.raise_fd_limit()  # the stream load holds thousands of sockets
    try:
        mock, mock_port = start_mock(logs)
        upstream = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
        print(f"mock upstream on :{mock_port}")
        mock_responses = f"http://127.0.0.1:{mock_port}/v1/responses"
        targets = [Target("direct", upstream, "x", "mock-model", mock.pid, mock_responses)]

        if wanted("bare"):  # the bare ASGI + aiohttp proxy: the ceiling
            port = free_port()
            env = os.environ.copy() | {"BENCH_UPSTREAM": upstream}
            proc = start(uvicorn(port, "bench.bare_proxy:app"), env, logs / "bare.log")
            wait_port(port, proc, 30)
            print(f"bare proxy on :{port}")
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            na = "the bare proxy relays chat only"
            targets.append(Target("bare", url, "x", "mock-model", proc.pid, responses_na=na))

        orca = None
        if wanted("orca"):  # Orca, production-like
            try:
                env, done = orca_env(tmp)
                cleanups.append(done)
                orca = start_orca("orca", ROOT, env, mock_port, logs)
                targets.append(orca)
            except Exception as exc:
                print(f"Orca failed: {exc} (see results/bench-logs/orca.log)")
            if orca is not None:  # the same worker through a guarded and a prompted key
                targets += same_worker_targets(orca, env)
        baseline = os.environ.get("BENCH_BASELINE")
        if baseline and wanted("orca"):  # the same load on an earlier commit, interleaved
            try:
                tree = baseline_tree(baseline, tmp)
                env, done = orca_env(tmp, db="orca_bench_base", redis_db=6)
                cleanups.append(done)
                name = f"orca@{baseline[:12]}"
                targets.append(start_orca(name, tree, env, mock_port, logs))
            except Exception as exc:
                print(f"baseline {baseline} failed: {exc} (see results/bench-logs/)")

        if os.environ.get("BENCH_SKIP_LITELLM") or not wanted("litellm"):  # the peer
            print("LiteLLM skipped (BENCH_SKIP_LITELLM or BENCH_ONLY)")
        else:
            try:
                targets.append(start_litellm(upstream, tmp, logs))
            except Exception as exc:
                print(f"LiteLLM skipped: {exc}")

        if not wanted("direct"):
            targets = targets[1:]
        print(f"{rounds} interleaved rounds of {max(1.0, seconds / rounds):.0f} s per target")
        if not os.environ.get("BENCH_STREAM_LOAD_ONLY"):
            measure_all(targets, seconds, warmup, rounds, rows)
            probe_chunks_and_memory(targets, rows)
        rss_of = lambda pid: (rss_mb(pid), peak_rss_mb(pid))  # noqa: E731
        # The guarded and prompted rows are the same process as orca's: held streams once.
        held_targets = [t for t in targets if t.name not in (GUARDED, PROMPTED)]
        held = streamload.run_all(held_targets, lambda m: body_for(m, False), mock.pid,
                                  cpu_seconds, rss_of)  # fmt: skip
        if orca is not None and soak_seconds > 0:
            print(f"orca soak for {soak_seconds:.0f} s (BENCH_SOAK_SECONDS)")
            soaked = soak(orca.url, orca.key, orca.model, orca.pid, soak_seconds)
        finish(rows, meta, soaked, held)
        return 0
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        stop_all()
        for cleanup in cleanups:
            cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def start_litellm(upstream: str, tmp: Path, logs: Path) -> Target:
    exe = litellm_bin(logs / "litellm-install.log")
    config = tmp / "litellm.yaml"
    api_base = upstream.rsplit("/chat/completions", 1)[0]
    config.write_text(
        "model_list:\n  - model_name: bench-mock\n    litellm_params:\n"
        f"      model: openai/mock-model\n      api_base: {api_base}\n      api_key: sk-bench\n"
        "litellm_settings:\n  telemetry: false\n"
    )
    port = free_port()
    master = "sk-" + secrets.token_hex(24)  # LiteLLM refuses to start without a strong one
    env = os.environ.copy() | {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    env["LITELLM_MASTER_KEY"] = master
    for var in ("DATABASE_URL", "REDIS_URL"):
        env.pop(var, None)
    cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    proc = start([*cmd, "--num_workers", "1"], env, logs / "litellm.log")
    wait_port(port, proc, 180)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    status, answer = post(url, body_for("bench-mock", False), master, timeout=60)
    if status != 200:
        raise RuntimeError(f"LiteLLM answered {status}: {answer[:300]!r}")
    print(f"litellm on :{port}")
    na = "chat only in this benchmark"
    return Target("litellm", url, master, "bench-mock", proc.pid, responses_na=na)


def _on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_term)
    sys.exit(main())
