"""Throughput of the openai backend against a local OpenAI-compatible server that answers after a delay.

The server (a minimal HTTP/1.1 keep-alive server on asyncio, in its own process) waits ``--delay``
seconds per request, so the ideal rate is ``concurrency / delay`` (32 / 0.1 s = 320 requests/s). With
``--fail-rate`` it answers a share of requests with 503 + Retry-After: 0 to exercise the retry path.

    .venv/bin/python bench/eval_openai.py --requests 2000 --concurrency 32 --delay 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import socket
import time

from infimed.eval.backends.base import GenRequest, GenResult, SamplingParams
from infimed.eval.backends.openai import OpenAIBackend


async def _serve(port: int, delay: float, fail_rate: float, ready: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    rng = random.Random(0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = json.loads(await reader.readexactly(length))
                await asyncio.sleep(delay)
                if rng.random() < fail_rate:
                    payload, status = b'{"error": "overloaded"}', b"503 Service Unavailable\r\nRetry-After: 0"
                else:
                    text = body["messages"][-1]["content"][-1]["text"][-1:]
                    payload = json.dumps({"choices": [{"message": {"content": text}}],
                                          "usage": {"completion_tokens": 1}}).encode()
                    status = b"200 OK"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(payload)).encode() + b"\r\n\r\n" + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    ready.set()
    async with server:
        await server.serve_forever()


def _server_main(port: int, delay: float, fail_rate: float, ready: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    asyncio.run(_serve(port, delay, fail_rate, ready))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.1, help="server latency per request, seconds")
    ap.add_argument("--fail-rate", type=float, default=0.0, help="share of answers that are 503 (retried)")
    args = ap.parse_args()

    port = _free_port()
    ready = mp.Event()
    server = mp.Process(target=_server_main, args=(port, args.delay, args.fail_rate, ready), daemon=True)
    server.start()
    if not ready.wait(10):
        raise SystemExit("test server did not start")
    try:
        backend = OpenAIBackend("bench", base_url=f"http://127.0.0.1:{port}/v1", concurrency=args.concurrency,
                                backoff_base=0.01)
        requests = [GenRequest(str(i), [{"role": "user", "content": [{"type": "text", "text": f"q{i}"}]}])
                    for i in range(args.requests)]
        results: list[GenResult] = []
        start = time.perf_counter()
        backend.generate(requests, SamplingParams(max_new_tokens=4), results.append)
        elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.join()

    ideal = args.concurrency / args.delay
    rate = len(results) / elapsed
    errors = sum(r.error is not None for r in results)
    wrong = sum(r.response != r.id[-1:] for r in results if r.error is None)
    print(f"requests           {len(results)} (errors {errors}, mismatched answers {wrong})")
    print(f"concurrency        {args.concurrency}, server delay {args.delay * 1000:.0f} ms, fail rate {args.fail_rate}")
    latencies = sorted(r.seconds for r in results)
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"elapsed            {elapsed:.2f} s")
    print(f"latency            p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (server delay included)")
    print(f"throughput         {rate:.1f} requests/s (ideal {ideal:.0f})")
    print(f"fraction of ideal  {rate / ideal:.1%}")


if __name__ == "__main__":
    main()
