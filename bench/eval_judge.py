"""The LLM judge: calls per second through the openai backend, the verdict cache on a rerun, and the report
metrics checked against their reference implementations. Under 2 minutes.

1. A loopback OpenAI-compatible judge (asyncio, in its own process) answers ``<verdict>correct</verdict>``
   after ``--delay``; ``Judge.grade`` sends ``--items`` verdict requests at concurrency 32 through the
   openai backend and the verdict cache (every reply appended and flushed as it arrives).
2. The same items again (every verdict from the cache: no call), then with 10% new candidates; then a
   judge that is down (nothing listening): how long until every item is ``judge_error``.
3. BLEU-1..4 and ROUGE-L of IU X-ray-style reports from ``infimed.eval.text_metrics`` against
   ``sacrebleu.metrics.BLEU.corpus_score`` and ``rouge_score.RougeScorer`` called directly.

    .venv/bin/python bench/eval_judge.py --items 3000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import loopback_server

from infimed.judge import JudgeItem, build_judge


def items(n: int, *, new_every: int = 0) -> list[JudgeItem]:
    return [JudgeItem(str(i), f"Which organ is enlarged? ({i})", "heart",
                      f"cardiac {i}" + (" (new)" if new_every and i % new_every == 0 else ""))
            for i in range(n)]


REPORTS = [  # IU X-ray-style (hypothesis, reference) pairs, as in tests/eval/benchmarks fixtures
    ("The heart is normal in size. The lungs are clear.",
     "Findings: The heart is normal in size. The mediastinum is unremarkable. The lungs are clear.\n"
     "Impression: Normal chest x-ray."),
    ("Mild cardiomegaly. No pleural effusion.",
     "Findings: Mild cardiomegaly. No focal consolidation, pleural effusion or pneumothorax.\n"
     "Impression: Cardiomegaly without acute disease."),
    ("No acute cardiopulmonary abnormality.", "Impression: No acute cardiopulmonary abnormality."),
    ("There is no focal consolidation, pleural effusion or pneumothorax.",
     "Findings: There is no focal consolidation, pleural effusion or pneumothorax. Bilateral nodular opacities "
     "that most likely represent nipple shadows.\nImpression: No acute cardiopulmonary process."),
]


def metrics_check() -> None:
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    from infimed.eval.text_metrics import text_scores

    hyps, refs = [h for h, _ in REPORTS], [r for _, r in REPORTS]
    ours = text_scores(hyps, refs, n_boot=1000, seed=0)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    reference = {f"bleu{n}": BLEU(max_ngram_order=n, lowercase=True).corpus_score(hyps, [refs]).score / 100
                 for n in (1, 2, 3, 4)}
    reference["rouge_l"] = sum(scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)) / len(hyps)
    print(f"report metrics on {len(hyps)} IU X-ray-style reports (ours [95% CI] | reference implementation):")
    for key, ref in reference.items():
        lo, hi = ours[f"{key}_ci95"]
        print(f"  {key:8s} {ours[key]:.4f} [{lo:.4f}, {hi:.4f}] | {ref:.4f}  (diff {abs(ours[key] - ref):.1e})")
    print(f"  meteor   {ours.get('meteor')} ({ours.get('meteor_note') or 'nltk'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.02, help="judge latency per request, seconds")
    args = ap.parse_args()

    server, port = loopback_server.start(args.delay, loopback_server.chat_reply(
        "Same meaning.\n<verdict>correct</verdict>", usage={"completion_tokens": 6}))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "judge_cache.jsonl"

            def judge() -> Any:
                return build_judge("bench-judge", base_url=f"http://127.0.0.1:{port}/v1", cache_path=cache,
                                   concurrency=args.concurrency, backoff_base=0.0)

            first = judge()
            start = time.perf_counter()
            verdicts = first.grade(items(args.items))
            elapsed = time.perf_counter() - start
            rerun = judge()
            start = time.perf_counter()
            rerun.grade(items(args.items))
            rerun_s = time.perf_counter() - start
            partial = judge()
            partial.grade(items(args.items, new_every=10))
            lines = len(cache.read_text().splitlines())
    finally:
        server.terminate()
        server.join()
    ideal = args.concurrency / args.delay
    correct = sum(v.correct is True for v in verdicts.values())
    print(f"judge calls        {first.stats.n_calls} ({correct} verdicts correct, {first.stats.n_errors} judge errors)")
    print(f"concurrency        {args.concurrency}, judge latency {args.delay * 1000:.0f} ms, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"throughput         {first.stats.n_calls / elapsed:.0f} judge calls/s (ideal {ideal:.0f}), {elapsed:.2f} s")
    print(f"rerun              {rerun.stats.n_cached}/{rerun.stats.n_items} from the cache "
          f"({rerun.stats.n_cached / rerun.stats.n_items:.0%} hit rate), {rerun.stats.n_calls} calls, {rerun_s:.2f} s")
    print(f"10% new candidates {partial.stats.n_cached}/{partial.stats.n_items} from the cache "
          f"({partial.stats.n_cached / partial.stats.n_items:.0%}), {partial.stats.n_calls} calls; cache {lines} lines")
    with tempfile.TemporaryDirectory() as tmp:  # a judge that is down: nothing listens on the port
        dead = build_judge("bench-judge", base_url=f"http://127.0.0.1:{loopback_server.free_port()}/v1", concurrency=args.concurrency,
                           cache_path=Path(tmp) / "c.jsonl", backoff_base=0.2)
        start = time.perf_counter()
        down = dead.grade(items(args.items))
        print(f"judge down         {sum(v.correct is None for v in down.values())}/{args.items} judge_error in "
              f"{time.perf_counter() - start:.1f} s ({dead.stats.n_calls} calls, 3 rounds with backoff)")
    metrics_check()


if __name__ == "__main__":
    main()
