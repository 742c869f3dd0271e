"""Step ``pass_rate``: keep RL prompts that the policy itself answers sometimes right, sometimes wrong.

GRPO takes advantages within a group of completions of one prompt; a group whose completions all score the
same (the policy always right, or always wrong) has zero advantage and carries no gradient. This step samples
``k`` answers per prompt from the policy, scores each with the shared checker (the same one the GRPO
accuracy reward calls), records ``meta.pass_rate`` and ``meta.rollouts``, and keeps the prompts whose pass
rate lies strictly inside ``band`` (default 0 < p < 1).

Each of the ``k`` rollouts is an ordinary ``infimed eval`` run (seed ``seed + i``, ``temperature`` > 0) in
``work_dir/k{i}``, through any registered backend (hf on a CPU, vllm or an OpenAI-compatible server on a
GPU), with the eval runner's crash-safe prediction cache: a killed curation resumes without regenerating a
finished rollout, and a rerun with another band reuses every rollout. Rollouts that failed (a broken image,
a server error) do not count; a prompt with none left is dropped as ``rollout_error``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from infimed.curate.base import STEPS, Drop
from infimed.schema import Sample


class PassRate:
    name = "pass_rate"

    def __init__(self, *, model: str, work_dir: str, backend: str = "hf", k: int = 8, temperature: float = 1.0,
                 top_p: float = 1.0, max_new_tokens: int = 64, mode: str = "direct",
                 band: Sequence[float] = (0.0, 1.0), seed: int = 0, backend_options: dict[str, Any] | None = None):
        if k < 2:
            raise ValueError(f"k: a pass rate needs at least 2 rollouts per prompt, got {k}")
        if temperature <= 0:
            raise ValueError(f"temperature: rollouts must be sampled (> 0), got {temperature}")
        if len(band) != 2 or not 0.0 <= band[0] < band[1] <= 1.0:
            raise ValueError(f"band: expected [low, high] with 0 <= low < high <= 1, got {list(band)}")
        if mode not in ("direct", "reasoning"):
            raise ValueError(f"mode: expected 'direct' or 'reasoning', got {mode!r}")
        self.model, self.backend, self.k, self.mode, self.seed = model, backend, k, mode, seed
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.low, self.high = float(band[0]), float(band[1])
        self.work_dir = Path(work_dir)
        self.backend_options = dict(backend_options or {})
        self._rates: list[float] = []
        self._drops: Counter[str] = Counter()

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        pool = list(samples)
        if not pool:
            return
        passes = self.rollouts(pool)
        for s in pool:
            got = passes.get(s.id, [])
            if not got:
                self._drops["rollout_error"] += 1
                yield Drop(s, "rollout_error", f"none of the {self.k} rollouts produced an answer")
                continue
            rate = sum(got) / len(got)
            self._rates.append(rate)
            s = s.model_copy(update={"meta": {**s.meta, "pass_rate": round(rate, 4), "rollouts": len(got)}})
            detail = f"pass rate {sum(got)}/{len(got)} outside ({self.low:g}, {self.high:g})"
            if rate <= self.low:
                self._drops["pass_rate_below_band"] += 1
                yield Drop(s, "pass_rate_below_band", detail)
            elif rate >= self.high:
                self._drops["pass_rate_above_band"] += 1
                yield Drop(s, "pass_rate_above_band", detail)
            else:
                yield s

    def rollouts(self, pool: list[Sample]) -> dict[str, list[bool]]:
        """Per sample id, whether each finished rollout was right (errors left out)."""
        from infimed.backends import BACKENDS, SamplingParams
        from infimed.eval.runner import run_eval

        engine = BACKENDS.get(self.backend)(model=self.model, **self.backend_options)
        passes: dict[str, list[bool]] = {s.id: [] for s in pool}
        for i in range(self.k):
            params = SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                                    top_p=self.top_p, seed=self.seed + i)
            run_dir = self.work_dir / f"k{i}"
            run_eval(pool, engine, params, run_dir, mode=self.mode,  # type: ignore[arg-type]
                     manifest_extra={"purpose": f"pass_rate rollout {i + 1} of {self.k}"})
            with (run_dir / "samples.jsonl").open(encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    if not row.get("error") and row["id"] in passes:
                        passes[row["id"]].append(bool(row["correct"]))
        return passes

    def report(self) -> dict[str, Any]:
        bins = Counter(min(int(r * 10), 9) for r in self._rates)
        return {
            "k": self.k, "band": [self.low, self.high], "model": self.model, "backend": self.backend,
            "mean_pass_rate": round(sum(self._rates) / len(self._rates), 4) if self._rates else None,
            "pass_rate_histogram": {f"{b / 10:.1f}-{(b + 1) / 10:.1f}": bins[b] for b in range(10)},
            "dropped": dict(self._drops),
        }


@STEPS.register("pass_rate")
def build(**options: Any) -> PassRate:
    return PassRate(**options)
