"""Gateway overhead and overload behaviour of `infimed serve --upstream`, all on loopback.

A bare asyncio OpenAI-compatible server (its own process) answers every chat request after ``--delay``
seconds. Clients at concurrency 1, 16 and 64 send the same requests straight to it and through the
gateway (another process, `infimed serve --upstream`); the script prints p50/p99 latency and throughput
of both. Then the overload round: a gateway whose limit is 16 requests at once (no queue) gets 4x that
concurrency; it must answer the excess with 429 at once, serve the admitted within their time limit,
stay up, and write exactly one audit line per request. Bounded: ``--seconds`` per level (default 3).

    .venv/bin/python bench/serve_gateway.py [--phi off|mask] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import loopback_server

BODY = {"model": "bench", "max_tokens": 4, "messages": [{"role": "user", "content": "Is the chest X-ray normal?"}]}


def start_gateway(tmp: Path, upstream: int, phi: str, *limits: str) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cli = [sys.executable, "-c", "from infimed.cli import main; main()"]
    folder = Path(tempfile.mkdtemp(dir=tmp))
    users = folder / "users.yaml"
    token = subprocess.run([*cli, "users", "add", "bench", "--users", str(users), "--rate", "1000000"], env=env,
                           check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = loopback_server.free_port()
    proc = subprocess.Popen([*cli, "serve", "--model", "bench", "--upstream", f"http://127.0.0.1:{upstream}/v1",
                             "--port", str(port), "--users", str(users), "--audit", str(folder / "audit"),
                             "--phi", phi, *limits], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url, token, folder / "audit"
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the gateway did not start")


async def load(url: str, token: str | None, concurrency: int, seconds: float) -> list[tuple[int, float]]:
    """``concurrency`` keep-alive clients sending back to back for ``seconds``; (status, latency) each."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    out: list[tuple[int, float]] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await client.post("/v1/chat/completions", json=BODY)
                out.append((r.status_code, time.perf_counter() - t))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), to price the gateway's work per request."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay", type=float, default=0.2, help="upstream latency per request, seconds")
    ap.add_argument("--seconds", type=float, default=3.0, help="load time per concurrency level and target")
    ap.add_argument("--levels", default="1,16,64")
    ap.add_argument("--phi", default="off", choices=["off", "mask", "block"])
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    upstream, up_port = loopback_server.start(
        args.delay, loopback_server.chat_reply("No.", usage={"prompt_tokens": 12, "completion_tokens": 1}))
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        top = str(max(levels))
        gw, url, token, _ = start_gateway(tmp, up_port, args.phi, "--max-inflight", top, "--user-concurrency", top)
        procs.append(gw)
        print(f"upstream delay {args.delay * 1000:.0f} ms, PHI policy {args.phi}, {args.seconds:g} s per run, "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"{'conc':>4} {'direct r/s':>10} {'p50':>7} {'p99':>7} | {'gateway r/s':>11} {'p50':>7} {'p99':>7} "
              f"| {'kept':>6} {'+p50 ms':>8} {'gw cpu ms/req':>13}")
        for c in levels:
            asyncio.run(load(url, token, c, 0.5))  # warm the connections and caches
            direct = asyncio.run(load(f"http://127.0.0.1:{up_port}", None, c, args.seconds))
            cpu = cpu_seconds(gw.pid)
            via = asyncio.run(load(url, token, c, args.seconds))
            cpu_ms = (cpu_seconds(gw.pid) - cpu) / max(1, len(via)) * 1000
            bad = sum(s != 200 for s, _ in via)
            d_rate, g_rate = len(direct) / args.seconds, len(via) / args.seconds
            d50, g50 = pct([t for _, t in direct], 0.5), pct([t for _, t in via], 0.5)
            print(f"{c:>4} {d_rate:>10.1f} {d50:>7.1f} {pct([t for _, t in direct], 0.99):>7.1f} | {g_rate:>11.1f} "
                  f"{g50:>7.1f} {pct([t for _, t in via], 0.99):>7.1f} | {g_rate / d_rate:>6.1%} {g50 - d50:>8.2f} {cpu_ms:>13.2f}"
                  + (f"  ({bad} non-200)" if bad else ""))
        overload(tmp, up_port, args)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=20)
        upstream.terminate()
        upstream.join()


def overload(tmp: Path, up_port: int, args: argparse.Namespace) -> None:
    limit, timeout = 16, 10.0
    gw, url, token, audit = start_gateway(tmp, up_port, args.phi, "--max-inflight", str(limit), "--max-queue", "0",
                                          "--user-concurrency", "1000", "--request-timeout", str(timeout))
    try:
        results = asyncio.run(load(url, token, 4 * limit, args.seconds))
        alive = gw.poll() is None and httpx.get(url + "/healthz").status_code == 200
    finally:
        gw.terminate()
        gw.wait(timeout=20)
    ok = [t for s, t in results if s == 200]
    refused = [t for s, t in results if s == 429]
    other = len(results) - len(ok) - len(refused)
    lines = [json.loads(x) for f in audit.glob("*.jsonl") for x in f.read_text().splitlines()]
    audited = sum(r["event"] == "request" for r in lines)
    print(f"overload: limit {limit} in flight (no queue), {4 * limit} clients for {args.seconds:g} s: "
          f"{len(results)} requests, {len(ok)} served (p50 {pct(ok, 0.5):.0f} ms, p99 {pct(ok, 0.99):.0f} ms, "
          f"max {max(ok, default=0) * 1000:.0f} ms, limit {timeout * 1000:.0f} ms), {len(refused)} refused with 429 "
          f"(p50 {pct(refused, 0.5):.1f} ms, p99 {pct(refused, 0.99):.1f} ms), {other} other")
    print(f"overload: gateway alive afterwards: {alive}; audit lines {audited} for {len(results)} requests "
          f"({'exactly one each' if audited == len(results) else 'MISMATCH'})")


if __name__ == "__main__":
    main()
