"""GRPO rewards: plain TRL reward functions ``(completions, **columns) -> list[float]`` over the one checker.

A model is rewarded on exactly what evaluation scores (``infimed.checkers``), so it cannot learn a
layout the scorer would not read. ``completions`` are strings, or (conversational prompts) lists of
messages whose last one is the assistant's; the dataset columns ``answer``, ``answer_type`` and
``options`` (JSON text, "" for none) arrive as keyword lists, one entry per completion.

- ``format``: 1 when the completion is exactly ``<think>..</think><answer>..</answer>``, else 0.
- ``accuracy``: 1 for the exact right letter / yes-no / normalised open answer, else 0; an open answer
  that is not exact earns ``partial * token-F1`` (``partial=0`` by default: no partial credit).
- ``judge``: like ``accuracy``, but the samples the judge policy selects (open answers by default) are
  graded by an LLM judge (``infimed.judge``, verdicts cached on disk) exactly as ``eval --judge`` grades
  them; a verdict that cannot be had falls back to the rule reading. Needs the ``question`` column.
- ``length``: DAPO's soft overlong penalty: 0 up to ``max_length - buffer`` tokens, then falling linearly
  to -1 at ``max_length`` (a truncated completion gets -1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from infimed.checkers import check, judge_applies, judge_candidate, parse_think_answer, settle
from infimed.registry import Registry

RewardFn = Callable[..., list[float]]
REWARDS: Registry[Callable[..., RewardFn]] = Registry("reward")


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the last message of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "")
        if isinstance(content, list):
            return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
        return str(content or "")
    return ""


def _options(value: Any) -> dict[str, str] | None:
    if not value:
        return None
    return dict(value) if isinstance(value, dict) else json.loads(value)


@REWARDS.register("format")
def make_format_reward(**_: Any) -> RewardFn:
    def format_reward(completions: Sequence[Any], **_kw: Any) -> list[float]:
        return [1.0 if parse_think_answer(completion_text(c)) is not None else 0.0 for c in completions]

    return format_reward


@REWARDS.register("accuracy")
def make_accuracy_reward(*, partial: float = 0.0, **_: Any) -> RewardFn:
    if not 0.0 <= partial <= 1.0:
        raise ValueError(f"partial: the partial-credit weight must be in [0, 1], got {partial}")

    def accuracy_reward(
        completions: Sequence[Any],
        *,
        answer: Sequence[str],
        answer_type: Sequence[str],
        options: Sequence[Any] | None = None,
        **_kw: Any,
    ) -> list[float]:
        opts = options if options is not None else [None] * len(completions)
        out = []
        for c, gold, kind, opt in zip(completions, answer, answer_type, opts, strict=True):
            result = check(completion_text(c), answer_type=kind, answer=gold, options=_options(opt))
            if result.correct:
                out.append(1.0)
            elif kind == "open" and partial > 0 and result.f1 is not None:
                out.append(partial * result.f1)
            else:
                out.append(0.0)
        return out

    return accuracy_reward


@REWARDS.register("judge")
def make_judge_reward(
    *, judge: Any = None, judge_model: str | None = None, judge_backend: str = "openai",
    judge_base_url: str | None = None, judge_on: str = "open", judge_template: str = "infimed",
    judge_cache: str | None = None, **_: Any,
) -> RewardFn:
    """``judge`` is a built ``infimed.judge.Judge``; else one is built from the ``judge_*`` options."""
    if judge is None:
        if judge_model is None:
            raise ValueError("the judge reward needs a judge model (--judge MODEL, with --judge-base-url for openai)")
        from infimed.judge import build_judge

        judge = build_judge(judge_model, backend=judge_backend, base_url=judge_base_url, template=judge_template,
                            cache_path=judge_cache)
    judge_applies(judge_on, answer_type="open", extracted=None)  # an unknown policy fails here, not mid-training

    def judge_reward(
        completions: Sequence[Any],
        *,
        answer: Sequence[str],
        answer_type: Sequence[str],
        question: Sequence[str],
        options: Sequence[Any] | None = None,
        **_kw: Any,
    ) -> list[float]:
        from infimed.judge.scoring import judge_item

        opts = options if options is not None else [None] * len(completions)
        checks, items = [], []
        for i, (c, gold, kind, q, opt) in enumerate(zip(completions, answer, answer_type, question, opts, strict=True)):
            text, parsed = completion_text(c), _options(opt)
            result = check(text, answer_type=kind, answer=gold, options=parsed)
            checks.append(result)
            candidate = judge_candidate(text)
            if candidate is not None and judge_applies(judge_on, answer_type=kind, extracted=result.extracted):
                items.append(judge_item(str(i), question=q, answer=gold, options=parsed, candidate=candidate))
        verdicts = judge.grade(items) if items else {}
        return [1.0 if settle(r, v.correct if (v := verdicts.get(str(i))) else None).correct else 0.0
                for i, r in enumerate(checks)]

    return judge_reward


@REWARDS.register("length")
def make_length_reward(*, max_length: int = 256, buffer: int | None = None, **_: Any) -> RewardFn:
    buf = buffer if buffer is not None else max(1, max_length // 4)
    if max_length < 1 or not 0 < buf <= max_length:
        raise ValueError(f"length reward: need max_length >= 1 and 0 < buffer <= max_length, got {max_length}, {buf}")

    def length_reward(
        completions: Sequence[Any], completion_ids: Sequence[Sequence[int]] | None = None, **_kw: Any
    ) -> list[float]:
        # token counts when TRL passes them; characters / 4 as a stand-in otherwise (plain calls, tests)
        lengths = (
            [len(ids) for ids in completion_ids]
            if completion_ids is not None
            else [len(completion_text(c)) // 4 for c in completions]
        )
        return [overlong_penalty(n, max_length, buf) for n in lengths]

    return length_reward


def overlong_penalty(n_tokens: int, max_length: int, buffer: int) -> float:
    soft_start = max_length - buffer
    if n_tokens <= soft_start:
        return 0.0
    if n_tokens >= max_length:
        return -1.0
    return (soft_start - n_tokens) / buffer


def build_rewards(names: Sequence[str], **options: Any) -> list[RewardFn]:
    """Reward functions by name (``format``, ``accuracy``, ``judge``, ``length``), each given the flat ``options``."""
    if not names:
        raise ValueError("no reward functions given; choose from " + ", ".join(REWARDS.names()))
    return [REWARDS.get(name.strip())(**options) for name in names]
