"""Throughput of the openai backend against a local OpenAI-compatible server that answers after a delay.

The server (a minimal HTTP/1.1 keep-alive server on a bare asyncio protocol, in its own process so its CPU
is not the client's) waits ``--delay`` seconds per request, like a vision-language model spending a second
of GPU per answer, so the ideal rate is ``concurrency / delay`` (64 / 1 s = 64 requests/s; the goal is 95%
of it; 2,000 requests take at least 32 rounds, so 97.7% is the ceiling). An exact delay keeps the 64
requests in lockstep: their replies arrive together and each round waits for the client's CPU for all 64,
which is the figure this measures. ``--jitter 0.2`` spreads each delay over +-20% (same mean), as a real
server's would be; ``--delay 0`` measures the client's capacity. With ``--fail-rate`` the server answers a
share of requests with 503 + Retry-After: 0 (the retry path). The client's CPU seconds per request are
measured on this process alone (``getrusage``).

    .venv/bin/python bench/eval_openai.py                 # 2,000 requests, concurrency 64, 1 s: ~32 s
    .venv/bin/python bench/eval_openai.py --delay 0.1 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import loopback_server

from infimed.backends.base import GenRequest, GenResult, SamplingParams
from infimed.backends.openai import OpenAIBackend


def echo_last_letter(body: bytes) -> bytes:
    text = json.loads(body)["messages"][-1]["content"][-1]["text"][-1:]
    return json.dumps({"choices": [{"message": {"content": text}}], "usage": {"completion_tokens": 1}}).encode()


def one_round(port: int, args: argparse.Namespace) -> tuple[list[GenResult], float]:
    backend = OpenAIBackend("bench", base_url=f"http://127.0.0.1:{port}/v1", concurrency=args.concurrency,
                            backoff_base=0.01)
    requests = [GenRequest(str(i), [{"role": "user", "content": [{"type": "text", "text": f"q{i}"}]}])
                for i in range(args.requests)]
    results: list[GenResult] = []
    start = time.perf_counter()
    backend.generate(requests, SamplingParams(max_new_tokens=4), results.append)
    return results, time.perf_counter() - start


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only: the server is a child process
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--delay", type=float, default=1.0, help="server latency per request, seconds")
    ap.add_argument("--jitter", type=float, default=0.0, help="spread of each delay, as a fraction (0.2: +-20%%)")
    ap.add_argument("--fail-rate", type=float, default=0.0, help="share of answers that are 503 (retried)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the best is reported (others share the CPU)")
    args = ap.parse_args()

    server, port = loopback_server.start(args.delay, echo_last_letter, jitter=args.jitter, fail_rate=args.fail_rate)
    try:
        cpu_start = client_cpu_seconds()
        rounds = [one_round(port, args) for _ in range(args.repeat)]
        cpu_total = client_cpu_seconds() - cpu_start
        cpu_per_request = cpu_total / (args.repeat * args.requests)
    finally:
        server.terminate()
        server.join()

    ideal = args.concurrency / args.delay if args.delay > 0 else float("inf")
    rates = [len(res) / sec for res, sec in rounds]
    results, elapsed = rounds[max(range(len(rounds)), key=lambda i: rates[i])]
    rate = max(rates)
    errors = sum(r.error is not None for r in results)
    wrong = sum(r.response != r.id[-1:] for r in results if r.error is None)
    latencies = sorted(r.seconds for r in results)
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"requests           {len(results)} per round (errors {errors}, mismatched answers {wrong})")
    print(f"concurrency        {args.concurrency}, server delay {args.delay * 1000:.0f} ms +-{args.jitter:.0%}, "
          f"fail rate {args.fail_rate}")
    print(f"load average       {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"rounds             {', '.join(f'{r:.1f}' for r in rates)} requests/s")
    print(f"best round         {elapsed:.2f} s, latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"client CPU         {cpu_total:.2f} s for {args.repeat} rounds, {cpu_per_request * 1000:.3f} ms per request")
    if args.delay <= 0:
        print(f"capacity           {rate:.1f} requests/s with no server latency ({args.concurrency} in flight)")
        return
    print(f"throughput         {rate:.1f} requests/s (ideal {ideal:.0f})")
    print(f"fraction of ideal  {rate / ideal:.1%} (goal 95%); the client's CPU is "
          f"{ideal * cpu_per_request:.0%} of one core at the ideal rate")


if __name__ == "__main__":
    main()
