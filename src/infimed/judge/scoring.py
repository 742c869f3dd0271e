"""Send the samples a policy selects to the judge and write its verdicts into the samples.jsonl rows.

Fields added to every row: ``judged`` (the policy sent it to the judge), ``judge_correct`` (True/False, or
None for ``judge_error`` and for rows not judged), ``judge_verdict`` (``correct``/``incorrect``/
``judge_error``), ``judge_reply`` (the judge's raw reply), ``judge_error`` (why no verdict), ``judge_cached``.
Rows whose generation failed are never judged. A response with no answer at all (empty, unclosed
``<think>``) is judged incorrect without a call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infimed.checkers import judge_applies, judge_candidate
from infimed.judge.judge import Judge, JudgeItem
from infimed.schema import Sample


def judge_rows(rows: Sequence[dict[str, Any]], samples: Mapping[str, Sample], judge: Judge, *,
               policy: str = "open") -> None:
    """Judge the rows ``policy`` selects (in place)."""
    items: list[JudgeItem] = []
    for row in rows:
        row.update(judged=False, judge_correct=None, judge_verdict=None, judge_reply=None, judge_error=None,
                   judge_cached=False)
        if row.get("error") is not None:
            continue
        sample = samples[row["id"]]
        if not judge_applies(policy, answer_type=sample.answer_type, extracted=row.get("extracted")):
            continue
        row["judged"] = True
        candidate = judge_candidate(row.get("response"))
        if candidate is None:
            row.update(judge_correct=False, judge_verdict="incorrect", judge_error=None)
            continue
        items.append(judge_item(sample.id, question=sample.question, answer=sample.answer, options=sample.options,
                                candidate=candidate, images=tuple(str(p) for p in sample.image_paths()),
                                report=sample.answer_type == "report"))
    verdicts = judge.grade(items) if items else {}
    for row in rows:
        verdict = verdicts.get(row["id"])
        if verdict is None:
            continue
        row.update(judge_correct=verdict.correct, judge_reply=verdict.reply, judge_error=verdict.error,
                   judge_cached=verdict.cached,
                   judge_verdict="judge_error" if verdict.correct is None
                   else "correct" if verdict.correct else "incorrect")


def judge_item(item_id: str, *, question: str, answer: str, options: dict[str, str] | None, candidate: str,
               images: tuple[str, ...] = (), report: bool = False) -> JudgeItem:
    """What the judge is shown: the question with its options, the reference (a letter with its option
    text), and the candidate answer."""
    if options:
        from infimed.prompts import format_options

        question = f"{question.strip()}\n{format_options(options)}"
        answer = f"{answer}. {options.get(answer, '')}".strip()
    return JudgeItem(item_id, question, answer, candidate, images, report)
